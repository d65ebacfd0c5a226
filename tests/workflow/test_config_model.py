"""The config model: with no --configfile the workflow builds the embedded demo; with one, the
demo's values are never used (every key left out takes its schema default), demo rules write
only under <results>/demo/, and a run on a user's own inputs leaves their folder untouched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import DEMO_CONFIG, REPO, SNAKEMAKE, run_snakemake
from conftest import planned_jobs as planned

from reben.config import load_schema

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEMO_L2A = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20230105T120000"
DEMO_TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


def loaded(workdir: Path, *configfiles: Path) -> dict:
    """The workflow as Snakemake loads it in `workdir`: resolved config and rules."""
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "load_workflow.py"),
            str(REPO / "Snakefile"),
            str(workdir),
            *map(str, configfiles),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def schema_defaults(schema: dict) -> dict:
    """Every default of the schema, nested objects filled in, read from the schema itself."""
    out = {}
    for name, sub in schema.get("properties", {}).items():
        if "properties" in sub and isinstance(sub.get("default"), dict):
            out[name] = {**sub["default"], **schema_defaults(sub)}
        elif "default" in sub:
            out[name] = sub["default"]
    return out


def tree_digest(root: Path) -> dict[str, str]:
    """Every file below root (relative path -> sha256), and every folder (-> 'dir')."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def user_inputs(demo_run: Path, root: Path) -> Path:
    """A user's own input folder, with inputs of the real formats (taken from a demo run):
    one L2A product, two Sentinel-1 products, a CLC GeoPackage and country borders."""
    demo = demo_run / "results" / "demo"
    shutil.copytree(demo / "sentinel2" / f"{DEMO_L2A}.SAFE", root / "s2" / f"{DEMO_L2A}.SAFE")
    (root / "s1").mkdir(parents=True)
    for tif in (demo / "sentinel1").glob("S1*_20170*.tif"):
        shutil.copy(tif, root / "s1" / tif.name)
    (root / "clc").mkdir()
    shutil.copy(demo / "clc" / "clc2018_demo.gpkg", root / "clc" / "clc.gpkg")
    (root / "borders").mkdir()
    shutil.copy(demo / "borders" / "countries.gpkg", root / "borders" / "countries.gpkg")
    return root


def placeholder_inputs(root: Path) -> Path:
    """Empty stand-ins of a user's input files, for tests that only parse or dry-run."""
    (root / "s2" / f"{DEMO_L2A}.SAFE").mkdir(parents=True)
    for sub in ("s1", "clc", "borders"):
        (root / sub).mkdir()
    (root / "clc" / "clc.gpkg").write_bytes(b"")
    (root / "borders" / "countries.gpkg").write_bytes(b"")
    return root


def minimal_config(inputs: Path) -> dict:
    """A user's own minimal config: their inputs, nothing else."""
    return {
        "results": "out",
        "sentinel2": {"input_dir": str(inputs / "s2"), "products": [{"name": DEMO_L2A}]},
        "clc": {"path": str(inputs / "clc" / "clc.gpkg")},
        "sentinel1": {"enabled": True, "input_dir": str(inputs / "s1")},
        "countries": {"borders": str(inputs / "borders" / "countries.gpkg"), "names": ["Austria", "Czechia"]},
    }


def test_no_configfile_builds_the_demo_from_any_directory(tmp_path):
    """Without --configfile the demo config is loaded (from the checkout, not the working
    directory), and its synthetic inputs are planned."""
    proc = subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "1", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = planned(proc)
    assert jobs["synthesize_sentinel2_product"] == 3 and jobs["synthesize_sentinel1_product"] == 3
    assert loaded(tmp_path)["config"] == loaded(tmp_path, DEMO_CONFIG)["config"]


def test_minimal_own_config_takes_schema_defaults_for_every_key_it_leaves_out(tmp_path):
    inputs = placeholder_inputs(tmp_path / "inputs")
    given = minimal_config(inputs)
    configfile = tmp_path / "my.yaml"
    configfile.write_text(yaml.safe_dump(given))
    resolved = loaded(tmp_path, configfile)["config"]
    defaults = schema_defaults(load_schema(SCHEMA))
    assert set(resolved) == set(defaults)
    for key, default in defaults.items():
        if key not in given:
            assert resolved[key] == default, key
        elif isinstance(default, dict):
            for sub, value in default.items():
                if sub not in given[key]:
                    assert resolved[key][sub] == value, f"{key}.{sub}"
    # The demo differs from the defaults exactly where a leak would show.
    demo = yaml.safe_load(DEMO_CONFIG.read_text())
    assert demo["clc"]["version"] != resolved["clc"]["version"] is None
    assert resolved["sentinel1"]["products"] == [] and resolved["sentinel1"]["input_dir"] == str(inputs / "s1")


def test_own_config_does_not_import_the_demo_generator(tmp_path):
    """A user's config is parsed without the demo's synthetic generators (reben.synthetic), which
    only the demo rules' scripts import."""
    inputs = placeholder_inputs(tmp_path / "inputs")
    configfile = tmp_path / "my.yaml"
    configfile.write_text(yaml.safe_dump(minimal_config(inputs)))
    modules = loaded(tmp_path, configfile)["modules"]
    assert "reben.config" in modules and "reben.sentinel1.products" in modules
    assert not [m for m in modules if m.startswith("reben.synthetic")], modules


def test_every_rule_asks_more_memory_on_each_attempt(tmp_path):
    """A job SLURM killed for its memory gets through on a retry: every rule's mem_mb grows
    with the attempt (profiles/slurm sets retries)."""
    rules = loaded(tmp_path)["rules"]
    with_memory = {name: rule["mem_mb"] for name, rule in rules.items() if rule["mem_mb"] is not None}
    assert len(with_memory) == len(rules) - 1, set(rules) - set(with_memory)  # all but rule all
    for name, (first, second) in with_memory.items():
        assert first > 0 and second == 2 * first, name


def test_demo_rules_write_only_under_results_demo(tmp_path):
    """Every rule of demo.smk, under the demo and under a config with another results folder and
    input folders of its own, writes only below <results>/demo/."""
    inputs = placeholder_inputs(tmp_path / "inputs")
    configfile = tmp_path / "my.yaml"
    configfile.write_text(yaml.safe_dump(minimal_config(inputs)))
    for workflow in (loaded(tmp_path), loaded(tmp_path, configfile)):
        results = workflow["config"]["results"]
        demo_rules = {
            name: rule for name, rule in workflow["rules"].items() if Path(rule["snakefile"]).name == "demo.smk"
        }
        assert len(demo_rules) == 5
        for name, rule in demo_rules.items():
            for output in rule["outputs"]:
                assert output.startswith(f"{results}/demo/"), (name, output)


def test_reben_config_dry_run_plans_no_synthetic_job(tmp_path):
    """config/reben.yaml as a user runs it (placeholders stand in for the 8 GB CLC file and the
    55 GB BigEarthNet-S1 v1.0 archive):
    it plans the retrieval of reBEN's 125 L1C products and sen2cor, and no synthetic input."""
    clc = tmp_path / "resources" / "clc" / "U2018_CLC2018_V2020_20u1.gpkg"
    clc.parent.mkdir(parents=True)
    clc.write_bytes(b"")
    (tmp_path / "resources" / "BigEarthNet-S1-v1.0.tar.gz").write_bytes(b"")
    proc = run_snakemake(tmp_path, "--dry-run", configfile=REPO / "config" / "reben.yaml")
    jobs = planned(proc)
    assert jobs["retrieve_sentinel2"] == 125 and jobs["sen2cor"] == 125, jobs
    assert not [rule for rule in jobs if rule.startswith("synthesize_")], jobs


def test_minimal_own_config_dry_run_plans_no_synthetic_job(tmp_path):
    demo_like = placeholder_inputs(tmp_path / "inputs")
    configfile = tmp_path / "my.yaml"
    configfile.write_text(yaml.safe_dump(minimal_config(demo_like)))
    proc = run_snakemake(tmp_path, "--dry-run", configfile=configfile)
    jobs = planned(proc)
    assert jobs["cut_s2_patches"] == 1 and jobs["rasterize_reference_maps"] == 1, jobs
    assert not [rule for rule in jobs if rule.startswith("synthesize_")], jobs


@pytest.mark.integration
def test_own_config_on_a_user_folder(demo_run, tmp_path):
    """A run of a minimal own config on inputs in a user's folder: its Sentinel-1 folder is
    scanned (no product list), nothing of the demo is made, the user's folder is byte-identical
    afterwards, and new content in the user's CLC file reruns the reference maps."""
    inputs = user_inputs(demo_run, tmp_path / "user data")
    before = tree_digest(inputs)
    workdir = tmp_path / "run"
    workdir.mkdir()
    configfile = workdir / "my.yaml"
    # One window of the demo: too few patches for 10 train patches per class; accepted, so that
    # the run ends 0 (the check that would stop it: tests/workflow/test_own_dataset.py).
    configfile.write_text(yaml.safe_dump({**minimal_config(inputs), "report": {"min_train_patches_per_class": 0}}))
    run_snakemake(workdir, configfile=configfile)
    assert tree_digest(inputs) == before
    assert not (workdir / "out" / "demo").exists()
    import pyarrow.parquet as pq

    pairing = pq.read_table(workdir / "out" / "tiles" / DEMO_TILE / "s1_pairing.parquet").to_pandas()
    paired = {name.rsplit("_", 3)[0] for name in pairing["s1_name"] if name}
    assert paired and paired <= {"S1A_IW_GRDH_1SDV_20170613T165043", "S1B_IW_GRDH_1SDV_20170612T165809"}
    metadata = pq.read_table(workdir / "out" / "dataset" / "metadata.parquet").to_pandas()
    assert len(metadata) > 0 and (metadata["s1_name"] != "").all()

    # Copying the CLC file unchanged (new mtime) reruns nothing; new content reruns the maps.
    clc = inputs / "clc" / "clc.gpkg"
    os.utime(clc, (clc.stat().st_atime + 3600, clc.stat().st_mtime + 3600))
    assert "Nothing to be done" in (lambda p: p.stdout + p.stderr)(
        run_snakemake(workdir, "--dry-run", configfile=configfile)
    )
    import geopandas as gpd

    frame = gpd.read_file(clc)
    code = next(c for c in frame.columns if c.lower() == "code_18")
    frame[code] = frame[code].where(frame[code] != "311", "312")
    frame.to_file(clc, layer=gpd.list_layers(clc)["name"][0], driver="GPKG")
    jobs = planned(run_snakemake(workdir, "--dry-run", configfile=configfile))
    assert jobs.get("rasterize_reference_maps") == 1 and "cut_s2_patches" not in jobs, jobs


def test_reben_countries_have_one_value():
    """The 10 countries of reBEN: the package's constant, the schema default of countries.names
    and config/reben.yaml name the same ones."""
    from reben.constants import REBEN_COUNTRIES

    defaults = schema_defaults(load_schema(SCHEMA))
    reben = yaml.safe_load((REPO / "config" / "reben.yaml").read_text())
    assert len(REBEN_COUNTRIES) == 10
    assert defaults["countries"]["names"] == list(REBEN_COUNTRIES) == reben["countries"]["names"]
