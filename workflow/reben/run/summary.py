"""The closing lines of a run: what was built (one line from funnel.csv, counted against the run's
own config), then every check of the report that failed, with the setting that accepts it, and
every check the config accepted."""

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


def checks_summary(report_json, verdict=None) -> list[str]:
    """The report's failed and accepted checks, one line each (reben.report.verdict). Failed
    checks are said only while the run's verdict (`verdict`, rule check_dataset's output) is
    missing: once it is written, the report it judged passed."""
    from reben.io import read_json
    from reben.report.verdict import acceptance_line, accepted_checks, failed_checks, failure_line

    if not Path(report_json).exists():
        return []
    report = read_json(report_json)
    lines = [acceptance_line(c) for c in accepted_checks(report)]
    if not (verdict and Path(verdict).exists()):
        lines = [failure_line(c) for c in failed_checks(report)] + lines
    return lines
