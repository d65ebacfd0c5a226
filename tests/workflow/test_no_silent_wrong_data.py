"""No run ends 0 on data that is not what its config says, or writes where it must not: a config
change with a rerun input check still rebuilds in one run, bad results folders, products under
another's name, duplicate YAML keys and links out of a product are refused when the workflow is
parsed (a dry run shows them, one line each), and a failed rebuild marks its folders incomplete.
(A killed sen2cor job: tests/workflow/test_reruns.py; a full disk: tests/core/test_full_disk.py.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, demo_config, run_snakemake

from reben.names import tile_key

pytestmark = pytest.mark.integration


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def output(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


def reben(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reben", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(REPO / "workflow"), "PATH": "/usr/bin:/bin"},
    )


def refused_by_a_dry_run(workdir: Path, configfile: Path) -> list[str]:
    """The lines of a dry run that stopped when the workflow was parsed (no job planned)."""
    proc = run_snakemake(workdir, "--dry-run", configfile=configfile, check=False)
    text = output(proc)
    assert proc.returncode != 0 and "Job stats" not in text and "Traceback" not in text, text[-3000:]
    return text.splitlines()


# ------------------------------------------------------------------ 1. a check that reruns


def test_a_config_change_with_a_rerun_check_rebuilds_the_dataset_in_one_run(demo_copy):
    """The config drops a product, and the input check must run again: its code changed (an
    update of the workflow, a results folder carried to another checkout). One run builds the
    dataset of the new config, and its closing line counts it against that config. (Where the
    check was a job, whose report the tiles took as an ancient() input, that run ran the check
    alone and ended 0 on the previous dataset.)"""
    import base64
    import json

    config = demo_config()
    dropped = config["sentinel2"]["products"].pop(0)["name"]
    configfile = write_config(demo_copy / "two.yaml", config)
    record = demo_copy / ".snakemake" / "metadata" / base64.urlsafe_b64encode(b"results/check/inputs.txt").decode()
    if record.exists():  # Snakemake's record of a check job: its code is not this workflow's
        record.write_text(json.dumps({**json.loads(record.read_text()), "code": "an older input check"}))
    proc = run_snakemake(demo_copy, configfile=configfile)
    keys = sorted(tile_key(p["name"], "N9999") for p in config["sentinel2"]["products"])
    funnel = pd.read_csv(demo_copy / "results" / "dataset" / "funnel.csv")
    assert sorted(set(funnel["tile_key"]) - {"TOTAL"}) == keys
    patches = pd.read_parquet(demo_copy / "results" / "dataset" / "metadata.parquet")["patch_id"]
    assert len(patches) and not patches.str.startswith(tile_key(dropped, "N9999")).any()
    assert "1 of 2 products; funnel results/dataset/funnel.csv" in output(proc)
    report = demo_copy / "results" / "check" / "inputs.txt"
    assert dropped.removesuffix("_20230105T120000") not in report.read_text()  # rewritten by this run
    again = run_snakemake(demo_copy, "--dry-run", configfile=configfile)
    assert "Nothing to be done" in output(again)


# ------------------------------------------------------------------ 3. where results must not be


@pytest.mark.parametrize("where", ["root", "around the checkout", "inside the S1 folder", "input inside"])
def test_a_results_folder_where_it_must_not_be_is_refused_by_a_dry_run(demo_run, tmp_path, where):
    config = demo_config()
    inputs = demo_run / "results" / "demo"
    s1 = tmp_path / "my_s1"
    shutil.copytree(inputs / "sentinel1", s1)
    config["sentinel1"]["input_dir"] = str(s1)
    config["results"] = {
        "root": "/",
        "around the checkout": str(REPO.parent),
        "inside the S1 folder": str(s1 / "results"),
        "input inside": "results",
    }[where]
    if where == "input inside":
        clc = tmp_path / "results" / "clc" / "clc.gpkg"
        clc.parent.mkdir(parents=True)
        shutil.copy(inputs / "clc" / "clc2018_demo.gpkg", clc)
        config["clc"]["path"] = str(clc)
    expected = {
        "root": "config: results: / is the file system root; give a folder of its own, e.g. results",
        "around the checkout": f"config: results: {REPO.parent} holds the workflow's checkout {REPO}; "
        "give a folder of its own inside it",
        "inside the S1 folder": f"config: results: {s1 / 'results'} is inside {s1}, the folder of "
        f"sentinel1.input_dir ({s1}): the next run would read its own outputs as inputs; put the results elsewhere",
        "input inside": f"config: clc.path: {tmp_path / 'results' / 'clc' / 'clc.gpkg'} is inside the results "
        "folder results: a rebuild may replace it; keep inputs outside the results",
    }[where]
    lines = refused_by_a_dry_run(tmp_path, write_config(tmp_path / "my.yaml", config))
    assert expected in lines
    assert not (tmp_path / "results" / "check").exists()


# ------------------------------------------------------------------ 4. a product under another's name


def test_a_product_configured_under_another_products_name_is_refused(demo_run, tmp_path):
    config = demo_config()
    products = config["sentinel2"]["products"]
    folder = demo_run / "results" / "demo" / "sentinel2"
    a, c = products[0]["name"], products[2]["name"]
    config["sentinel2"]["products"] = [{"name": a, "path": str(folder / f"{c}.SAFE")}]
    lines = refused_by_a_dry_run(tmp_path, write_config(tmp_path / "my.yaml", config))
    assert "1 input problem(s):" in lines
    assert (
        f"{a}: {folder / f'{c}.SAFE'}: the product's file name is {c}, not the configured name's: "
        "the name and the product disagree"
    ) in lines


# ------------------------------------------------------------------ 5. duplicate keys, tabs


def test_a_duplicate_key_is_refused_with_its_line(tmp_path):
    text = (REPO / "config" / "demo.yaml").read_text()
    first = next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith("patch_size_m:"))
    configfile = tmp_path / "my.yaml"
    configfile.write_text(text + "patch_size_m: 600\n")
    last = len(text.splitlines()) + 1
    lines = refused_by_a_dry_run(tmp_path, configfile)
    assert f"{configfile}:{last}: duplicate key 'patch_size_m' (first at line {first}); keep one of them" in lines


def test_a_tab_in_the_indentation_is_refused_and_reben_check_names_its_line(tmp_path):
    text = (
        (REPO / "config" / "demo.yaml").read_text().replace('  input_dir: "{results}/demo/sentinel2"', "\tinput_dir: x")
    )
    number = next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith("\tinput_dir"))
    configfile = tmp_path / "my.yaml"
    configfile.write_text(text)
    # Snakemake reads --configfile before the workflow and refuses it in its own words.
    proc = run_snakemake(tmp_path, "--dry-run", configfile=configfile, check=False)
    assert proc.returncode != 0 and "tab indentation" in output(proc)
    check = reben("check", "--configfile", configfile, cwd=tmp_path)
    assert check.returncode == 1
    assert (
        check.stderr == f"reben check: {configfile}:{number}: a tab in the indentation; YAML indents with spaces only\n"
    )


# ------------------------------------------------------------------ 6. a file outside its product


def test_a_band_linked_out_of_its_product_is_refused_by_a_dry_run(demo_run, tmp_path):
    config = demo_config()
    name = config["sentinel2"]["products"][0]["name"]
    product = Path(
        shutil.copytree(demo_run / "results" / "demo" / "sentinel2" / f"{name}.SAFE", tmp_path / "s2" / f"{name}.SAFE")
    )
    (product / "manifest.safe").unlink()
    band = next(product.glob("GRANULE/*/IMG_DATA/R10m/*_B04_10m.jp2"))
    band.unlink()
    band.symlink_to("/etc/passwd")
    config["sentinel2"]["products"] = [{"name": name, "path": str(product)}]
    lines = refused_by_a_dry_run(tmp_path, write_config(tmp_path / "my.yaml", config))
    assert (
        f"{name}.SAFE: {band}: a link to /etc/passwd, outside the product: refused (every file of a "
        "product must be inside its folder)"
    ) in lines


# ------------------------------------------------------------------ 8. a failed rebuild


def test_a_failed_rebuild_marks_the_dataset_and_the_distribution_incomplete(demo_copy):
    """A rebuild whose assembly fails (no patch kept: every CLC code but agro-forestry, which
    covers at most 23 % of a demo patch, counts as UNLABELED) leaves the previous build's LMDB,
    manifest and archives beside the new state: both folders say so, and `reben verify` fails on
    them, until a run ends without error."""
    import csv

    results = demo_copy / "results"
    config = demo_config()
    with open(REPO / "resources" / "clc_classes.csv") as f:
        codes = [int(row["code"]) for row in csv.DictReader(f)]
    config["labels"]["unlabeled_codes"] = [code for code in codes if code != 244]
    proc = run_snakemake(demo_copy, configfile=write_config(demo_copy / "none.yaml", config), check=False)
    assert proc.returncode != 0 and "no patch kept" in output(proc)
    for folder in ("dataset", "dist"):
        marker = results / folder / "INCOMPLETE"
        assert marker.is_file(), folder
        verdict = reben("verify", results / folder, cwd=demo_copy)
        assert verdict.returncode == 1
        assert f"{marker}: an unfinished rebuild: A rebuild of results started at " in verdict.stderr
    assert "results/dataset and results/dist hold files of two builds until a run ends without error" in output(proc)

    run_snakemake(demo_copy)  # the demo's config again: a complete build
    assert not (results / "dataset" / "INCOMPLETE").exists() and not (results / "dist" / "INCOMPLETE").exists()
    for folder in ("dataset", "dist"):
        assert reben("verify", results / folder, cwd=demo_copy).returncode == 0, folder
