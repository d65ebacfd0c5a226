"""Partial reruns users can trust, shown on a finished run of config/demo_l1c.yaml (which starts
from L1C products): what `snakemake --dry-run` schedules after a change, and file hashes after
the rerun. sen2cor is the test double tests/doubles/L2A_Process."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO, copy_run, run_snakemake

pytestmark = pytest.mark.integration

RESULTS = "results/demo_l1c"
SEN2COR_BRANCH = {"sen2cor", "inspect_tile", "cut_s2_patches"}
NEVER_AFTER_SEN2COR = {
    "make_patch_grid",
    "rasterize_reference_maps",
    "synthesize_l1c_product",
    "synthesize_sentinel2_product",
    "retrieve_sentinel2",
    "retrieve_sentinel1",
    "pair_sentinel1",
    "cut_s1_patches",
    "assign_splits",
    "assign_countries",
}


def demo_l1c_config() -> dict:
    """config/demo_l1c.yaml, complete on its own (a --configfile inherits nothing from the demo)."""
    return yaml.safe_load((REPO / "config/demo_l1c.yaml").read_text())


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def scheduled(workdir: Path, configfile: Path) -> dict[str, int]:
    """Jobs per rule that a dry run schedules ({} when there is nothing to do)."""
    proc = run_snakemake(workdir, "--dry-run", "--quiet", "rules", configfile=configfile)
    out = proc.stdout + proc.stderr
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:", 1)[1]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M))
    return {rule: int(n) for rule, n in jobs.items() if rule not in ("total", "all")}


GRID_AND_REFERENCE = (
    "tiles/*/grid.parquet",
    "tiles/*/geocoding.json",
    "tiles/*/labels.parquet",
    "tiles/*/reference_maps_shard.parquet",
    "tiles/*/reference_maps/*/*.tif",
)
S2_PATCHES = ("tiles/*/s2/*/*.tif", "tiles/*/s2_patches.parquet", "tiles/*/s2_shard.parquet")


def files(root: Path, patterns) -> list[Path]:
    return sorted(p for pattern in patterns for p in root.glob(pattern) if p.is_file())


def hashes(root: Path, patterns) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files(root, patterns)}


def mtimes(root: Path, patterns) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in files(root, patterns)}


@pytest.fixture(scope="session")
def l1c_run(tmp_path_factory) -> Path:
    """A working directory holding a finished run of config/demo_l1c.yaml (made once)."""
    workdir = tmp_path_factory.mktemp("demo_l1c")
    configfile = write_config(workdir / "config.yaml", demo_l1c_config())
    run_snakemake(workdir, configfile=configfile)
    return workdir


@pytest.fixture
def run_copy(l1c_run, tmp_path) -> Path:
    """A private copy of the finished L1C run."""
    return copy_run(l1c_run, tmp_path / "run")


def changed(workdir: Path, **sen2cor) -> Path:
    config = demo_l1c_config()
    config["sen2cor"].update(sen2cor)
    return write_config(workdir / "changed.yaml", config)


def test_a_finished_run_has_nothing_to_do(l1c_run):
    assert scheduled(l1c_run, l1c_run / "config.yaml") == {}
    assert len(list((l1c_run / RESULTS / "l2a").glob("*.SAFE"))) == 3


def test_touching_inputs_without_changing_them_reruns_nothing(run_copy):
    inputs = [p for p in (run_copy / RESULTS / "demo").rglob("*") if p.is_file()]
    assert any(p.suffix == ".zip" for p in inputs)
    later = os.stat(run_copy / "config.yaml").st_mtime + 3600
    for path in inputs:
        os.utime(path, (later, later))
    assert scheduled(run_copy, run_copy / "config.yaml") == {}


def test_a_new_sen2cor_version_reruns_sen2cor_and_the_s2_branch_only(run_copy):
    configfile = changed(run_copy, version="2.12")
    jobs = scheduled(run_copy, configfile)
    assert {r: jobs.get(r) for r in SEN2COR_BRANCH} == {"sen2cor": 3, "inspect_tile": 3, "cut_s2_patches": 3}
    assert not set(jobs) & NEVER_AFTER_SEN2COR, jobs

    results = run_copy / RESULTS
    before, before_times = hashes(results, GRID_AND_REFERENCE), mtimes(results, GRID_AND_REFERENCE)
    s2_times = mtimes(results, S2_PATCHES)
    run_snakemake(run_copy, configfile=configfile)
    assert hashes(results, GRID_AND_REFERENCE) == before  # grid and reference maps untouched
    assert mtimes(results, GRID_AND_REFERENCE) == before_times
    assert all(t > s2_times[f] for f, t in mtimes(results, S2_PATCHES).items() if f in s2_times)
    for record in results.glob("l2a/*.json"):
        assert yaml.safe_load(record.read_text())["sen2cor"]["version"] == "2.12"
    assert scheduled(run_copy, configfile) == {}


def test_a_changed_sen2cor_argument_reruns_sen2cor_and_the_s2_branch(run_copy):
    jobs = scheduled(run_copy, changed(run_copy, extra_args=["--debug"]))
    assert {r: jobs.get(r) for r in SEN2COR_BRANCH} == {"sen2cor": 3, "inspect_tile": 3, "cut_s2_patches": 3}
    assert not set(jobs) & NEVER_AFTER_SEN2COR, jobs
    jobs = scheduled(run_copy, changed(run_copy, resolution=10))
    assert jobs.get("sen2cor") == 3 and "make_patch_grid" not in jobs


def test_more_threads_for_sen2cor_rerun_nothing(run_copy):
    assert scheduled(run_copy, changed(run_copy, threads=2, mem_mb=2000)) == {}


def test_a_failing_l2a_process_leaves_its_log_next_to_the_jobs_log(run_copy, tmp_path):
    failing = tmp_path / "L2A_Process"
    failing.write_text("#!/bin/sh\necho 'Sen2Cor 2.12: reading GIPP'\necho 'ERROR: DEM not found'\nexit 2\n")
    failing.chmod(0o755)
    configfile = changed(run_copy, command=str(failing), version="2.12")
    proc = run_snakemake(run_copy, "--keep-going", configfile=configfile, check=False)
    assert proc.returncode != 0
    logs = run_copy / RESULTS / "logs" / "sen2cor"
    key = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
    assert "ERROR: DEM not found" in (logs / f"{key}.L2A_Process.log").read_text()
    job_log = (logs / f"{key}.log").read_text()
    assert (
        f"ERROR S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608: L2A_Process exited "
        f"with status 2 (ERROR: DEM not found); its output is in {RESULTS}/logs/sen2cor/{key}.L2A_Process.log"
    ) in job_log
    assert not list((run_copy / RESULTS / "l2a").glob(".*sen2cor*"))  # no temporary folder left


def test_an_l2a_process_that_is_not_installed_is_one_line(run_copy):
    configfile = changed(run_copy, command="L2A_Process_not_installed", version="2.12")
    proc = run_snakemake(run_copy, "--keep-going", configfile=configfile, check=False)
    assert proc.returncode != 0
    key = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
    job_log = (run_copy / RESULTS / "logs" / "sen2cor" / f"{key}.log").read_text()
    assert job_log.strip().endswith(
        "ERROR sen2cor command 'L2A_Process_not_installed' not found or not "
        "executable: install sen2cor and set config sen2cor.command to its L2A_Process"
    )


def test_a_new_clc_version_reruns_reference_maps_and_no_sen2cor_or_patch_job(run_copy):
    config = demo_l1c_config()
    if "clc" not in config:
        pytest.skip("the CLC stage (issue 3) is not on this branch yet")
    config["clc"]["version"] = "a-new-clc-release"
    configfile = write_config(run_copy / "changed.yaml", config)
    jobs = scheduled(run_copy, configfile)
    assert jobs.get("rasterize_reference_maps") == 3
    assert not set(jobs) & (
        SEN2COR_BRANCH
        | {"make_patch_grid", "pair_sentinel1", "cut_s1_patches", "synthesize_l1c_product", "synthesize_clc"}
    ), jobs
    results = run_copy / RESULTS
    s2_before, s2_times = hashes(results, S2_PATCHES), mtimes(results, S2_PATCHES)
    l2a_times = mtimes(results, ("l2a/*.json",))
    labels_times = mtimes(results, ("tiles/*/labels.parquet",))
    run_snakemake(run_copy, configfile=configfile)
    assert hashes(results, S2_PATCHES) == s2_before and mtimes(results, S2_PATCHES) == s2_times
    assert mtimes(results, ("l2a/*.json",)) == l2a_times
    assert all(t > labels_times[f] for f, t in mtimes(results, ("tiles/*/labels.parquet",)).items())


def test_sen2cor_jobs_killed_during_a_version_change_are_redone_and_leave_no_staging_folder(run_copy, tmp_path):
    """kill -9 of the running sen2cor jobs only (their script and L2A_Process, as an
    out-of-memory killer or a cluster does), during a change of sen2cor.version. Snakemake removes
    their outputs; no staging folder stays; the next run makes every tile's L2A product with the
    new version and inspects and cuts it again, and then there is nothing left to do."""
    import signal
    import subprocess
    import time

    from conftest import SNAKEMAKE

    gate, pids = tmp_path / "gate", tmp_path / "pids"
    pids.mkdir()
    # L2A_Process that records (its job's script, itself) and waits at the gate, then runs the double.
    wrapper = tmp_path / "L2A_Process"
    wrapper.write_text(
        f'#!/bin/sh\necho "$PPID $$" > "{pids}/$$"\n'
        f'while [ ! -e "{gate}" ]; do sleep 0.1; done\n'
        f'exec "{REPO}/tests/doubles/L2A_Process" "$@"\n'
    )
    wrapper.chmod(0o755)
    configfile = changed(run_copy, version="2.12", command=str(wrapper))
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(run_copy), "--configfile", str(configfile)]
    run = subprocess.Popen([*cmd, "--cores", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while len(list(pids.iterdir())) < 2 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        killed = [line.split() for line in (p.read_text() for p in pids.iterdir())]
        assert len(killed) == 2, run.communicate(timeout=60)[0][-3000:] if run.poll() is not None else killed
        l2a = run_copy / RESULTS / "l2a"
        assert len(list(l2a.glob(".*.sen2cor.*"))) == 2  # the two jobs' staging folders
        for job_script, l2a_process in killed:
            for pid in (job_script, l2a_process):
                os.kill(int(pid), signal.SIGKILL)
        out, _ = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode != 0, out[-3000:]
    assert not list(l2a.glob(".*.sen2cor.*")), "staging folders left by the killed jobs"

    gate.touch()
    l2a_before = mtimes(run_copy / RESULTS, ("l2a/*.json",))
    run_snakemake(run_copy, configfile=configfile)
    results = run_copy / RESULTS
    for record in sorted(results.glob("l2a/*.json")):
        key = record.name.removesuffix(".json")
        assert yaml.safe_load(record.read_text())["sen2cor"]["version"] == "2.12", key
        tile_json = results / "tiles" / key / "tile.json"
        shard = results / "tiles" / key / "s2_shard.parquet"
        assert record.stat().st_mtime_ns <= tile_json.stat().st_mtime_ns <= shard.stat().st_mtime_ns, key
    assert len(l2a_before) == 1  # Snakemake had removed the killed jobs' outputs
    assert len(list(results.glob("l2a/*.json"))) == 3
    assert scheduled(run_copy, configfile) == {}
