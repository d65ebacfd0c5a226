"""The closing summary of a successful run: one line a person reads, from funnel.csv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def closing_summary(funnel_csv, products: int, report=None) -> str:
    """`dataset: 549,488 patches (480,038 clean, 69,450 flagged), train/validation/test
    272,544/139,577/137,367, 115 of 125 products; funnel <path>, report <path>`.

    A product counts when it contributes at least one kept patch.
    """
    table = pd.read_csv(funnel_csv)
    total = table[table["tile_key"] == "TOTAL"].iloc[0]
    tiles = table[table["tile_key"] != "TOTAL"]
    contributing = int((tiles["kept"] > 0).sum())
    splits = "/".join(f"{int(total[s]):,}" for s in ("train", "validation", "test"))
    line = (
        f"dataset: {int(total['kept']):,} patches ({int(total['clean']):,} clean, "
        f"{int(total['flagged']):,} flagged), train/validation/test {splits}, "
        f"{contributing} of {products} products; funnel {funnel_csv}"
    )
    if report and Path(report).exists():
        line += f", report {report}"
    return line
