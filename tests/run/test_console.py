"""What a person sees of a run (reben.run.console, the logger plugin `reben` of profiles/default):
the progress and the workflow's own lines; Snakemake's detail only with --logger-reben-detail, and
always in .snakemake/log/. The set-up (make venv) resolves nothing and prints no warning of ours."""

from __future__ import annotations

import re
import time

import pytest
from conftest import REPO, run_snakemake

from reben.run.console import SNAKEMAKE, Console


def test_a_finished_job_is_one_progress_line_and_snakemakes_detail_is_left_out(monkeypatch):
    monkeypatch.setattr(time, "strftime", lambda fmt: "12:00:00")
    console = Console()
    job = {
        "jobid": 7,
        "rule_name": "cut_s2_patches",
        "wildcards": {"tile": "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"},
    }
    assert console.line("workflow_started", {}, 20, "") is None  # the SNAKEMAKE header
    assert console.line("job_info", job, 20, "") is None  # the rule block: input, output, reason
    assert console.line("shellcmd", {"shellcmd": None}, 20, "Shell command: None") is None
    assert console.line(None, {}, 20, "Select jobs to execute...") is None
    assert console.line(None, {}, 20, "Execute 1 jobs...") is None
    assert console.line("job_finished", {"job_id": 7}, 20, "Finished jobid: 7") is None
    line = console.line("progress", {"done": 12, "total": 51}, 20, "")
    assert line == "12:00:00 12 of 51 steps (24%) done: cut_s2_patches S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
    assert console.line("run_info", {}, 20, "Job stats:\n...") == "Job stats:\n..."


def test_the_workflows_own_lines_warnings_and_errors_are_shown():
    console = Console()
    closing = "dataset: 192 patches (107 clean, 85 flagged), train/validation/test 73/53/66"
    assert console.line(None, {}, 20, closing) == closing
    assert console.line(None, {}, 30, "check FAILED: ...") == "check FAILED: ..."
    assert console.line(None, {}, 40, "Execute this") == "Execute this"  # an error is never chatter
    assert console.line("job_error", {"rule_name": "check_dataset"}, 40, "") is SNAKEMAKE


@pytest.mark.integration
def test_a_run_shows_progress_and_the_switch_shows_snakemakes_detail(demo_copy):
    proc = run_snakemake(demo_copy, "--forcerun", "write_dataset_card")
    out = proc.stdout + proc.stderr
    assert re.search(r"^\d\d:\d\d:\d\d 1 of 3 steps \(33%\) done: write_dataset_card$", out, re.MULTILINE), out
    assert "3 of 3 steps (100%) done: all" in out and "dataset: 192 patches" in out
    for detail in ("reason:", "Shell command", "localrule", "input:", "SNAKEMAKE", "Select jobs to execute"):
        assert detail not in out, detail
    assert max(len(line) for line in out.splitlines() if not line.startswith(("accepted", "20"))) < 300
    # Everything is still in Snakemake's own log.
    log = sorted((demo_copy / ".snakemake" / "log").glob("*.snakemake.log"))[-1].read_text()
    assert "reason: Forced execution" in log and "localrule write_dataset_card:" in log

    detail = run_snakemake(demo_copy, "--forcerun", "write_dataset_card", "--logger-reben-detail")
    out = detail.stdout + detail.stderr
    assert "localrule write_dataset_card:" in out and "reason: Forced execution" in out
    assert "Shell command" not in out  # no shell rules: printshellcmds is off


def test_make_venv_installs_the_complete_set_without_resolving():
    """envs/requirements.txt is installed with --no-deps (pip resolves nothing, so no extra such as
    bigearthnet-common's `typer[all]` is looked for), and it is complete: every requirement of every
    pinned package is pinned too, as `pip check` confirms after make venv."""
    from importlib.metadata import distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    makefile = (REPO / "Makefile").read_text()
    assert "pip install --quiet --no-deps -r envs/requirements.txt" in makefile and "pip check" in makefile
    pins = {}
    for line in (REPO / "envs" / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    missing = []
    for name in pins:
        for text in distribution(name).requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue  # an extra's requirement, or another platform's
            if canonicalize_name(requirement.name) not in pins:
                missing.append(f"{name} needs {requirement}")
    assert not missing, missing
    assert 'license = "MIT"' in (REPO / "pyproject.toml").read_text()  # a table is deprecated by setuptools
