"""The SLURM profile without a cluster: memory per attempt, the checks before submission, the
memory-kill diagnosis from SLURM's own job output, and the profiles' files themselves."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from reben.errors import SlurmError
from reben.run.slurm import (
    PLACEHOLDERS,
    check_job_resources,
    check_sbatch,
    mem_mb_for_attempt,
    memory_kills,
    parse_sinfo_partitions,
)

SLURM_PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
NOACCOUNTING_PROFILE = REPO / "profiles" / "slurm-noaccounting" / "config.yaml"

# What slurmstepd wrote into a job's output on the CI cluster (JobAcctGatherParams=OverMemoryKill,
# copied from a real run), and the line SLURM's cgroup memory enforcement writes instead.
POLLING_KILL = """\
slurmstepd-localhost: error: StepId=13.batch exceeded memory limit (179683328 > 104857600), being killed
slurmstepd-localhost: error: Exceeded job memory limit
slurmstepd-localhost: error: *** JOB 13 ON localhost CANCELLED AT 2026-11-21T00:08:44 ***
"""
CGROUP_KILL = (
    "slurmstepd: error: Detected 1 oom-kill event(s) in StepId=4321.0. "
    "Some of your processes may have been killed by the cgroup out-of-memory handler.\n"
)
TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


def test_memory_grows_with_the_attempt():
    assert [mem_mb_for_attempt(3500, a) for a in (1, 2, 3)] == [3500, 7000, 10500]
    with pytest.raises(ValueError):
        mem_mb_for_attempt(3500, 0)


def test_no_sbatch_is_one_line_naming_the_fix():
    with pytest.raises(SlurmError) as e:
        check_sbatch(None)
    assert "sbatch" in str(e.value) and "not on the PATH" in str(e.value)
    assert "\n" not in str(e.value)
    check_sbatch("/usr/bin/sbatch")


def test_sinfo_partitions_lose_the_default_mark():
    assert parse_sinfo_partitions("local*\ngpu\nlocal*\n") == ["gpu", "local"]
    assert parse_sinfo_partitions("") == []


def test_unknown_partition_names_it_and_what_exists():
    with pytest.raises(SlurmError) as e:
        check_job_resources([{"slurm_partition": "local"}, {"slurm_partition": "nosuch"}], ["gpu", "local"])
    assert str(e.value).startswith("SLURM partition 'nosuch' does not exist on this cluster")
    assert "sinfo lists: gpu, local" in str(e.value)


@pytest.mark.parametrize("key", sorted(PLACEHOLDERS))
def test_placeholder_left_in_the_profile_is_named(key):
    with pytest.raises(SlurmError) as e:
        check_job_resources([{"slurm_partition": "local", key: PLACEHOLDERS[key]}], ["local"])
    assert str(e.value).startswith(f"{key} is still the placeholder '{PLACEHOLDERS[key]}'")


def test_real_partition_account_or_cluster_default_pass():
    check_job_resources(
        [{"slurm_partition": "local", "slurm_account": "proj42"}, {"slurm_partition": None}, {}], ["local"]
    )


def write_log(root: Path, rule: str, wildcards: str, job: str, text: str, mtime: float) -> Path:
    log = root / f"rule_{rule}" / wildcards / f"{job}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(text)
    os.utime(log, (mtime, mtime))
    return log


def test_memory_kills_found_per_rule_and_tile(tmp_path):
    now = time.time()
    killed = write_log(tmp_path, "cut_s2_patches", TILE, "13", POLLING_KILL, now)
    write_log(tmp_path, "cut_s2_patches", TILE, "9", POLLING_KILL, now - 3600)  # an older run
    write_log(tmp_path, "make_patch_grid", TILE, "14", "Finished job 0.\n", now)
    cgroup = write_log(tmp_path, "inspect_tile", TILE, "4321", CGROUP_KILL, now)

    kills = memory_kills(tmp_path, since=now - 60)

    assert [(k.rule, k.wildcards, k.slurm_job, k.log) for k in kills] == [
        ("cut_s2_patches", TILE, "13", killed),
        ("inspect_tile", TILE, "4321", cgroup),
    ]
    # 179683328 bytes = 171.4 MiB used, 104857600 = 100 MiB requested
    assert (kills[0].used_mb, kills[0].limit_mb) == (171, 100)
    assert kills[0].line() == (
        f"SLURM killed cut_s2_patches ({TILE}), job 13, for exceeding its "
        f"memory: 171 MB used, 100 MB requested; see {killed}"
    )
    assert (kills[1].used_mb, kills[1].limit_mb) == (None, None)
    assert "\n" not in kills[1].line()


def test_no_slurm_logs_no_kills(tmp_path):
    assert memory_kills(tmp_path / "absent") == []


def top_level_keys_without_comment(path: Path) -> list[str]:
    """Top-level keys of a YAML file not directly preceded by a comment line."""
    lines = path.read_text().splitlines()
    missing = []
    for i, line in enumerate(lines):
        match = re.match(r"^([A-Za-z][\w-]*):", line)
        if match and not (i and lines[i - 1].startswith("#")):
            missing.append(match[1])
    return missing


@pytest.mark.parametrize("profile", [SLURM_PROFILE, NOACCOUNTING_PROFILE], ids=["slurm", "noaccounting"])
def test_every_profile_key_is_commented(profile):
    assert top_level_keys_without_comment(profile) == []


def test_slurm_profile_submits_with_retries_and_leaves_placeholders():
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    assert profile["executor"] == "slurm"
    assert profile["retries"] >= 1 and profile["rerun-incomplete"] is True
    assert {k: profile["default-resources"][k] for k in PLACEHOLDERS} == PLACEHOLDERS
    # Real clusters keep the plugin's status checks (sacct, with accounting).
    assert not any(key.startswith("slurm-status") for key in profile)


def test_noaccounting_layer_is_not_overridden_by_the_workflow_profile():
    """The layer is given with --profile; the workflow profile wins key by key, so a key both
    set would silently drop the layer's value."""
    layer = yaml.safe_load(NOACCOUNTING_PROFILE.read_text())
    assert layer["slurm-status-command"] == "squeue"
    assert set(layer) & set(yaml.safe_load(SLURM_PROFILE.read_text())) == set()
