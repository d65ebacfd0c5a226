"""Shared test fixtures: the package on sys.path, the real data in ../shared/data, and one
finished demo run of the real workflow that integration tests read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

SHARED_DATA = REPO.parent / "shared" / "data"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
DEMO_CONFIG = REPO / "config" / "demo.yaml"


def demo_config() -> dict:
    """The embedded demo's config, as a dict to derive a test config from (the demo is complete:
    a config given with --configfile inherits nothing from it)."""
    import yaml

    return yaml.safe_load(DEMO_CONFIG.read_text())


def shared(*parts) -> Path:
    """A file of ../shared/data; the test is skipped where that folder is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


def folder_sha256(root) -> list[tuple[str, str, str]]:
    """(patch folder relative to `root`, file name, sha256) of every file below `root`, hashed
    from the files: what a tile's `<kind>_sha256.parquet` must list (reben.hashes)."""
    import hashlib

    root = Path(root)
    return sorted(
        (path.parent.relative_to(root).as_posix(), path.name, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in root.rglob("*")
        if path.is_file()
    )


def sha256_table_rows(path) -> list[tuple[str, str, str]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    assert table.column_names == ["folder", "file", "sha256"]
    return sorted(zip(*(table.column(c).to_pylist() for c in table.column_names)))


def run_snakemake(
    workdir: Path, *args, configfile: Path | None = None, check: bool = True, timeout: int = 1800
) -> subprocess.CompletedProcess:
    """Run the real workflow of this checkout in `workdir`; output captured for the assertion."""
    cmd = [
        SNAKEMAKE,
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile or DEMO_CONFIG),
        "--cores",
        "2",
        *args,
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Jobs per rule in a dry run's job stats."""
    jobs, lines = {}, (proc.stdout + proc.stderr).splitlines()
    if "Job stats:" not in lines:
        return jobs
    for line in lines[lines.index("Job stats:") + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """A working directory holding a finished run of the default (demo) configuration."""
    workdir = tmp_path_factory.mktemp("demo")
    run_snakemake(workdir)
    return workdir


def copy_run(run: Path, dst: Path) -> Path:
    """A private copy of a finished run, with mtimes and Snakemake's metadata kept, so that a
    dry-run in the copy sees exactly what it would see in the original."""
    shutil.copytree(run, dst, symlinks=True, copy_function=shutil.copy2)
    return dst


@pytest.fixture
def demo_copy(demo_run, tmp_path) -> Path:
    """A private copy of the finished demo run, for tests that change inputs."""
    return copy_run(demo_run, tmp_path / "demo")
