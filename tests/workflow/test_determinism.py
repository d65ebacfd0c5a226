"""Every byte reproducible: clean demo runs on 1, 2 and 4 cores, and a run killed in the middle of the patch
cutting and resumed, end with the same MANIFEST.sha256, LMDB content hash and archives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import DEMO_CONFIG, REPO, SNAKEMAKE, run_snakemake

from reben.constants import DATASET_TREES
from reben.run.cores import tail_jobs, tail_shares

pytestmark = pytest.mark.integration

IDENTITY = ("dataset/MANIFEST.sha256", "dataset/LMDB_CONTENT.sha256", "dist/SHA256SUMS")


def identity(workdir: Path) -> dict[str, str]:
    return {name: (workdir / "results" / name).read_text() for name in IDENTITY}


def leftovers(workdir: Path) -> list[str]:
    """Temporary names an interrupted job could leave in the outputs."""
    results = workdir / "results"
    return sorted(str(p.relative_to(results)) for p in results.rglob("*") if ".tmp" in p.name and "demo" not in p.parts)


@pytest.mark.parametrize("cores", [1, 4])
def test_clean_runs_on_1_2_and_4_cores_give_the_same_bytes(demo_run, tmp_path, cores):
    """The dataset-wide jobs take the cores a run is given (reben.run.cores): on 1, 2 (demo_run)
    and 4 cores the archives, the LMDB and the manifest run with other thread counts, and the
    per-tile cut with 1 or 2; not one byte of what they make may change."""
    run_snakemake(tmp_path, "--cores", str(cores))
    assert identity(tmp_path) == identity(demo_run)
    for name in ("dist/TAR_MD5SUMS", "dist/MD5SUMS"):
        assert (tmp_path / "results" / name).read_bytes() == (demo_run / "results" / name).read_bytes()
    first = identity(demo_run)["dataset/MANIFEST.sha256"]
    assert "metadata.parquet" in first and "BigEarthNet-S2/" in first and "Reference_Maps/" in first
    # The runs did differ in threads: the S2 archive ran with its share of each run's cores.
    trees = dict(DATASET_TREES)
    for workdir, run_cores in ((tmp_path, cores), (demo_run, 2)):
        summary = json.loads((workdir / "results/archives/BigEarthNet-S2.json").read_text())
        assert summary["threads"] == tail_shares(tail_jobs(trees), run_cores)["archive:s2"]
    assert {1: 1, 4: 2}[cores] == json.loads((tmp_path / "results/archives/BigEarthNet-S2.json").read_text())["threads"]


def _wait_for_cutting(workdir: Path, proc: subprocess.Popen, timeout: float = 900) -> None:
    """Until a cut_s2_patches job is under way (its temporary patch folder exists)."""
    tiles = workdir / "results" / "tiles"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("the run finished before it could be interrupted")
        if tiles.exists() and any(tiles.glob("*/s2.tmp")):
            return
        time.sleep(0.02)
    pytest.fail("no cut_s2_patches job started writing in time")


def test_run_killed_while_cutting_patches_then_resumed_gives_the_same_bytes(demo_run, tmp_path):
    cmd = [
        SNAKEMAKE,
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--configfile",
        str(DEMO_CONFIG),
        "--cores",
        "2",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for_cutting(tmp_path, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert any((tmp_path / "results" / "tiles").glob("*/s2.tmp"))  # killed mid-job
    run_snakemake(tmp_path, "--unlock")
    run_snakemake(tmp_path, "--rerun-incomplete")
    assert identity(tmp_path) == identity(demo_run)
    assert leftovers(tmp_path) == []
