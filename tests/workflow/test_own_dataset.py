"""README's "A dataset of your own, step by step", followed literally: config/template.yaml copied,
its SET inputs filled in with a user's own folder (the demo's two overlapping tiles, their CLC,
Sentinel-1 and borders), in a working directory that already holds another build (the demo's).

The run ends nonzero on the overlap (and on the classes without train patches) after writing
every output; it ends 0 once the findings are accepted, or the overlap resolved; it never touches
the demo's build; and its card, Croissant and STAC hold no claim of reBEN's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO, demo_config, run_snakemake
from test_config_model import tree_digest

pytestmark = pytest.mark.integration

# What only reBEN may claim (its licence, homepage, authors, paper), and borders this user did not use.
NOT_THEIRS = ("CDLA", "cdla.dev", "bigearth.net", "Clasen", "2407.03653", "IGARSS", "Natural Earth", "BigEarthNet v1")


def user_folder(demo_run: Path, root: Path) -> Path:
    """A user's own inputs: copies of the demo's synthetic products, CLC, Sentinel-1 and borders."""
    demo = demo_run / "results" / "demo"
    for sub in ("sentinel2", "sentinel1", "clc", "borders"):
        shutil.copytree(demo / sub, root / sub)
    return root


def step_by_step(inputs: Path) -> dict:
    """Steps 1-5: the template, with the inputs marked SET filled in."""
    config = yaml.safe_load((REPO / "config" / "template.yaml").read_text())  # 1. copy the template
    config["sentinel2"]["input_dir"] = str(inputs / "sentinel2")  # 2. Sentinel-2 L2A products
    config["sentinel2"]["products"] = [{"name": p["name"]} for p in demo_config()["sentinel2"]["products"]]
    config["clc"]["path"] = str(inputs / "clc" / "clc2018_demo.gpkg")  # 3. label map
    config["sentinel1"].update(enabled=True, input_dir=str(inputs / "sentinel1"))  # 4. Sentinel-1
    config["countries"].update(borders=str(inputs / "borders" / "countries.gpkg"), names=["Austria", "Czechia"])
    config["dataset"]["name"] = "Bohemian Forest"  # the card's title
    return config


def write(config: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def output(proc) -> str:
    return proc.stdout + proc.stderr


def test_a_dataset_of_your_own_step_by_step(demo_copy, tmp_path):
    work = demo_copy  # the demo's build is in work/results
    demo_before = tree_digest(work / "results")
    inputs = user_folder(work, tmp_path / "user data")
    config = step_by_step(inputs)
    assert config["results"] == "my_results"  # the template's own folder, not the demo's
    my_yaml = write(config, work / "my.yaml")

    # 6. Check, then run: the dry run passes; the run builds everything, then fails on its checks.
    run_snakemake(work, "-n", configfile=my_yaml)
    failed = run_snakemake(work, configfile=my_yaml, check=False)
    assert failed.returncode != 0
    text = output(failed)
    closing = [line for line in text.splitlines() if line.startswith("check FAILED: ")]
    assert any(
        "overlapping train" in line and "accept it with report.max_overlapping_share in the config" in line
        for line in closing
    ), closing
    assert any(
        "Urban fabric: 0 train" in line and "accept it with report.min_train_patches_per_class" in line
        for line in closing
    ), closing
    results = work / "my_results"
    for done in ("dataset/metadata.parquet", "dataset/lmdb/data.mdb", "dist/SHA256SUMS", "dist/README.md"):
        assert (results / done).exists(), done  # nothing lost
    assert not (results / "report" / "checks.txt").exists()
    page = (results / "report" / "index.html").read_text()
    assert page.index('id="failed-checks"') < page.index('id="checks"') and "2 checks FAILED" in page
    assert 'class="too-few-train"' in page
    assert tree_digest(work / "results") == demo_before

    # The card, Croissant and STAC of this dataset claim nothing of reBEN's.
    dist = results / "dist"
    said = (dist / "README.md").read_text() + (dist / "croissant.json").read_text()
    said += "".join(p.read_text() for p in (dist / "stac").rglob("*.json"))
    for claim in NOT_THEIRS:
        assert claim not in said, claim
    assert json.loads((dist / "croissant.json").read_text())["name"] == "Bohemian Forest"

    # The same config into the demo's folder is refused before anything is written.
    into_demo = write({**config, "results": "results"}, work / "into_demo.yaml")
    refused = run_snakemake(work, "-n", configfile=into_demo, check=False)
    assert refused.returncode != 0
    assert "results: results holds the dataset 'reben-workflow demo'" in output(refused)
    assert "set results to a folder of its own" in output(refused)
    assert tree_digest(work / "results") == demo_before

    # Accepted in the config: exit 0, and the run says what was accepted.
    config["report"].update(max_overlapping_share=0.3, min_train_patches_per_class=0)
    accepted = run_snakemake(work, configfile=write(config, my_yaml))
    lines = output(accepted).splitlines()
    assert any(line.startswith("accepted (report.max_overlapping_share: 0.3): ") for line in lines)
    assert any(line.startswith("accepted (report.min_train_patches_per_class: 0): ") for line in lines)
    assert (results / "report" / "checks.txt").exists()
    assert 'id="failed-checks"' not in (results / "report" / "index.html").read_text()

    # Or resolved: patches overlapping an earlier tile's are dropped; the overlap check passes.
    config["report"]["max_overlapping_share"] = 0.0
    config["splits"]["overlapping_tiles"] = "drop_later"
    resolved = run_snakemake(work, configfile=write(config, my_yaml))
    assert "settings changed since its last run" in output(resolved)
    report = json.loads((results / "report" / "report.json").read_text())
    overlap = next(c for c in report["checks"] if c["setting"] == "report.max_overlapping_share")
    assert overlap["ok"] and not overlap["accepted"]
    assert tree_digest(work / "results") == demo_before
