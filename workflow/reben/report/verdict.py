"""The verdict on a built dataset (rule check_dataset, the last job of a run): a check of the report
that failed, and that no setting of the config accepts, fails the run after every output is
written; a check that passes only because the config accepts its finding is said, with the
setting that accepts it.

A check of report.json is {name, ok, detail, setting, accepted, ...}: `setting` is the config key
that accepts its finding (None where nothing may: the dataset's own tables disagree), `remedy`
what to do when it fails (naming that setting), `accepted` true when it passes only because that
setting is off its default, `finding` what was accepted.
"""

from __future__ import annotations

from pathlib import Path

from reben.errors import DatasetCheckError
from reben.io import read_json, write_text


def failed_checks(report: dict) -> list[dict]:
    return [c for c in report["checks"] if not c["ok"]]


def accepted_checks(report: dict) -> list[dict]:
    return [c for c in report["checks"] if c["ok"] and c.get("accepted")]


NO_SETTING = "no setting accepts it: the dataset's own tables disagree; rerun with --forcerun assemble_dataset"


def failure_line(check: dict) -> str:
    """`check FAILED: <name>: <detail>; <remedy, naming the setting that accepts it>`."""
    return f"check FAILED: {check['name']}: {check['detail']}; {check.get('remedy') or NO_SETTING}"


def acceptance_line(check: dict) -> str:
    """`accepted (<setting>: <value>): <finding>`."""
    return f"accepted ({check['setting']}: {check['value']:g}): {check['finding']}"


def verdict_lines(report: dict) -> list[str]:
    """One line per failed check, then one per accepted check."""
    return [failure_line(c) for c in failed_checks(report)] + [acceptance_line(c) for c in accepted_checks(report)]


def enforce_checks(report_path, out_path) -> list[str]:
    """Write `out_path` (each check's outcome, one a line) when no check failed; else raise
    DatasetCheckError naming every failed check and the setting that accepts it."""
    report = read_json(report_path)
    failed = failed_checks(report)
    if failed:
        page = Path(report_path).with_name("index.html")
        raise DatasetCheckError(
            f"{len(failed)} check(s) of the dataset failed (report {page}); every output is written:\n"
            + "\n".join(failure_line(c) for c in failed)
        )
    lines = []
    for c in report["checks"]:
        lines.append(acceptance_line(c) if c.get("accepted") else f"passed: {c['name']}")
    write_text("\n".join(lines) + "\n", out_path)
    return lines
