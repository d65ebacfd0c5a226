"""The workflow on a real single-node SLURM cluster (tests/slurm/cluster.sh): the demo built with
`--workflow-profile profiles/slurm` gives the same files as a local run, every job really ran as
a SLURM job, and the profile's bad inputs (no sbatch, an unknown partition or a placeholder, a job
killed for its memory) each end in one clear line.

The cluster tests are marked `slurm` (`make test-slurm`, which `.ci/run` calls); they are skipped,
with the reason, where SLURM cannot be installed or started (not root, not Debian, ...)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, SNAKEMAKE, run_snakemake

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
SLURM_STATE = Path(os.environ.get("REBEN_SLURM_DIR", "/tmp/reben-slurm"))
PARTITION = "local"  # the partition cluster.sh configures
PROFILES = (
    "--workflow-profile",
    str(REPO / "profiles" / "slurm"),
    "--profile",
    str(REPO / "profiles" / "slurm-noaccounting"),
)
ON_PARTITION = ("--default-resources", f"slurm_partition={PARTITION}")
TIMEOUT = 900  # a run whose status checks never see its jobs finish fails here, not hangs CI
SLURM_COMMANDS = {
    "sbatch",
    "srun",
    "salloc",
    "squeue",
    "sinfo",
    "sacct",
    "sacctmgr",
    "scontrol",
    "scancel",
    "sshare",
    "sstat",
    "sprio",
    "sreport",
    "sdiag",
    "sattach",
    "sbcast",
}
TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


@dataclass
class Run:
    workdir: Path
    output: str  # Snakemake's stdout and stderr
    seconds: float


def snakemake_on_slurm(workdir: Path, *args, check: bool = True) -> Run:
    start = time.monotonic()
    proc = run_snakemake(workdir, *PROFILES, *args, check=check, timeout=TIMEOUT)
    return Run(workdir, proc.stdout + proc.stderr, time.monotonic() - start)


def slurm_run_id(output: str) -> str:
    return re.search(r"^SLURM run ID: (\S+)$", output, re.M)[1]


def submissions(output: str) -> list[tuple[str, str, str, Path]]:
    """(rule, wildcard values, SLURM job id, SLURM output) of every job sbatch accepted. The
    plugin's log path is .snakemake/slurm_logs/rule_<rule>/[<wildcards>/]<job id>.log; a rule
    without wildcards (a dataset-wide step) has no wildcard folder."""
    found = []
    for job, log in re.findall(r"has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.$", output, re.M):
        log = Path(log)
        parts = log.parts[log.parts.index("slurm_logs") + 1 :]
        rule, wildcards = parts[0].removeprefix("rule_"), "/".join(parts[1:-1])
        found.append((rule, wildcards, job, log))
    return found


def completion_records(run_id: str) -> dict[str, dict[str, str]]:
    """SLURM's own record of every finished job of a run: `sacct --completion` (the job
    completion log; this cluster has no accounting database), plus the memory SLURM allocated,
    which only the completion log itself holds."""
    sacct = subprocess.run(
        ["sacct", "--completion", "-P", "-n", "--name", run_id, "-o", "JobID,State,Partition,NodeList"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    records = {}
    for line in sacct.splitlines():
        job, state, partition, nodes = line.split("|")
        records[job] = {"state": state, "partition": partition, "nodes": nodes}
    for line in (SLURM_STATE / "jobcomp.log").read_text().splitlines():
        job, mem = re.search(r"JobId=(\d+) ", line)[1], re.search(r"\bmem=(\d+)M", line)
        if job in records and mem:
            records[job]["mem_mb"] = mem[1]
    return records


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def result_digests(workdir: Path) -> dict[str, str]:
    """The dataset MANIFEST where the distribution stage wrote one; until then the sha256 of
    every Sentinel-2 patch file and every Parquet table."""
    results = workdir / "results"
    manifest = results / "dataset" / "MANIFEST.sha256"
    if manifest.exists():
        return {"dataset/MANIFEST.sha256": manifest.read_text()}
    files = {p for p in results.glob("tiles/*/s2/**/*") if p.is_file()}
    files |= set(results.rglob("*.parquet"))
    return {str(p.relative_to(results)): sha256(p) for p in sorted(files)}


@pytest.fixture(scope="session")
def slurm_cluster() -> Path:
    """The cluster, up for the session and stopped (by the daemons' pids) whatever happens."""
    start = subprocess.run(["bash", str(CLUSTER), "start"], capture_output=True, text=True, timeout=600)
    try:
        if start.returncode == 77:
            pytest.skip(start.stderr.strip().splitlines()[-1])
        assert start.returncode == 0, f"cluster.sh start failed:\n{start.stderr}"
        yield SLURM_STATE
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop"], capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def slurm_run(slurm_cluster, tmp_path_factory) -> Run:
    """The demo built on the cluster, every job through sbatch."""
    run = snakemake_on_slurm(tmp_path_factory.mktemp("slurm"), *ON_PARTITION)
    print(f"\nSLURM demo run: {run.seconds:.0f} s, {len(submissions(run.output))} SLURM jobs")
    return run


@pytest.mark.slurm
def test_every_job_ran_as_a_slurm_job_on_the_partition(slurm_run):
    submitted = submissions(slurm_run.output)
    records = completion_records(slurm_run_id(slurm_run.output))

    assert submitted, "no job was submitted with sbatch"
    assert {job for _, _, job, _ in submitted} == set(records)
    assert {(r["state"], r["partition"], r["nodes"]) for r in records.values()} == {
        ("COMPLETED", PARTITION, "localhost")
    }
    # Every job Snakemake started that is not a localrule went to SLURM, once.
    started = re.findall(r"^rule (\w+):$", slurm_run.output, re.M)
    assert sorted(started) == sorted(rule for rule, _, _, _ in submitted)
    assert "cut_s2_patches" in started and "all" not in started


@pytest.mark.slurm
def test_job_logs_are_found_from_rule_and_tile(slurm_run):
    workdir = slurm_run.workdir
    for rule, wildcards, job, log in submissions(slurm_run.output):
        folder = workdir / ".snakemake" / "slurm_logs" / f"rule_{rule}"
        assert log == (folder / wildcards if wildcards else folder) / f"{job}.log"
        # The rule's own log: named by the tile (wildcards) or, for a dataset-wide step, its one log.
        logs = workdir / "results" / "logs" / rule
        assert (logs / f"{wildcards}.log").is_file() if wildcards else len(list(logs.glob("*.log"))) == 1


@pytest.mark.slurm
def test_slurm_result_is_identical_to_a_local_run(slurm_run, demo_run):
    local, on_slurm = result_digests(demo_run), result_digests(slurm_run.workdir)
    assert any("/s2/" in name for name in local) or "dataset/MANIFEST.sha256" in local
    assert on_slurm.keys() == local.keys()
    assert [name for name in local if on_slurm[name] != local[name]] == []


@pytest.mark.slurm
def test_job_killed_for_its_memory_is_retried_with_more(slurm_run, tmp_path):
    """First attempt of one cut_s2_patches job with 100 MB: SLURM kills it; the profile's retry
    asks for 35x more and passes; the run ends with one line naming the killed job."""
    workdir = tmp_path / "slurm"
    shutil.copytree(slurm_run.workdir, workdir, symlinks=True, copy_function=shutil.copy2)
    run = snakemake_on_slurm(
        workdir,
        *ON_PARTITION,
        "--forcerun",
        "cut_s2_patches",
        "--set-resources",
        "cut_s2_patches:mem_mb=100 * 35 ** (attempt - 1)",
        "--",
        f"results/tiles/{TILE}/s2_patches.parquet",
    )

    attempts = submissions(run.output)
    assert len(attempts) == 2, f"expected a killed attempt and a retry:\n{run.output[-3000:]}"
    (_, _, first, _), (_, _, second, _) = attempts
    records = completion_records(slurm_run_id(run.output))
    assert (records[first]["state"], records[first]["mem_mb"]) in {("FAILED", "100"), ("OUT_OF_MEMORY", "100")}
    assert (records[second]["state"], records[second]["mem_mb"]) == ("COMPLETED", "3500")
    assert re.search(
        rf"^SLURM killed cut_s2_patches \({TILE}\), job {first}, for exceeding its "
        rf"memory.*MB requested; see \S+/{first}\.log$",
        run.output,
        re.M,
    )
    assert sha256(workdir / f"results/tiles/{TILE}/s2_shard.parquet") == sha256(
        slurm_run.workdir / f"results/tiles/{TILE}/s2_shard.parquet"
    )


@pytest.mark.slurm
@pytest.mark.parametrize(
    "resources, line",
    [
        (
            ("--default-resources", "slurm_partition=nosuch"),
            f"SLURM partition 'nosuch' does not exist on this cluster (sinfo lists: {PARTITION})",
        ),
        ((), "slurm_partition is still the placeholder '<partition>' of profiles/slurm/config.yaml"),
    ],
    ids=["unknown-partition", "placeholder"],
)
def test_bad_partition_is_one_line_before_any_submission(slurm_cluster, tmp_path, resources, line):
    run = snakemake_on_slurm(tmp_path, *resources, check=False)
    assert line in run.output
    assert "has been submitted" not in run.output


@pytest.mark.integration
def test_no_sbatch_on_the_path_is_one_line(tmp_path, monkeypatch):
    """A host without SLURM: every command on the PATH but SLURM's."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        for tool in Path(directory).glob("*") if Path(directory).is_dir() else ():
            target = bin_dir / tool.name
            if tool.name not in SLURM_COMMANDS and not target.exists() and not target.is_symlink():
                target.symlink_to(tool)
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(SNAKEMAKE).parent), str(bin_dir)]))
    workdir = tmp_path / "work"
    workdir.mkdir()

    run = snakemake_on_slurm(workdir, *ON_PARTITION, check=False)

    assert "the slurm profile submits jobs with sbatch, which is not on the PATH of this host" in run.output
    assert "has been submitted" not in run.output
