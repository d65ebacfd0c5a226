"""The closing summary of a successful run: one line a person reads, from funnel.csv, counted
against the run's own config."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def closing_summary(funnel_csv, tiles, report=None) -> str:
    """`dataset: 549,488 patches (480,038 clean, 69,450 flagged), train/validation/test
    272,544/139,577/137,367, 115 of 125 products; funnel <path>, report <path>`.

    `tiles` are the tile keys of the run's config. A product counts when it contributes at least
    one kept patch. A funnel of other tiles than the config's describes another build: the line
    says so instead of counting it.
    """
    table = pd.read_csv(funnel_csv)
    total = table[table["tile_key"] == "TOTAL"].iloc[0]
    rows = table[table["tile_key"] != "TOTAL"]
    built, configured = set(rows["tile_key"]), set(tiles)
    if built != configured:
        return (
            f"dataset: {funnel_csv} describes {len(built)} tiles ({len(built - configured)} not in this config), "
            f"this config has {len(configured)} ({len(configured - built)} not in the dataset): "
            f"the dataset is not this config's; run the default target to rebuild it"
        )
    contributing = int((rows["kept"] > 0).sum())
    splits = "/".join(f"{int(total[s]):,}" for s in ("train", "validation", "test"))
    line = (
        f"dataset: {int(total['kept']):,} patches ({int(total['clean']):,} clean, "
        f"{int(total['flagged']):,} flagged), train/validation/test {splits}, "
        f"{contributing} of {len(configured)} products; funnel {funnel_csv}"
    )
    if report and Path(report).exists():
        line += f", report {report}"
    return line
