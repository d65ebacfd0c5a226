"""A results folder holds one dataset's build (reben.run.ownership): a run of another dataset is
refused before anything is written, a rerun of the same one with changed settings names them."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from conftest import DEMO_CONFIG, REPO, run_snakemake

from reben.config import validate_config
from reben.errors import ConfigError
from reben.run.ownership import (
    IDENTITY_FILE,
    claim_results,
    config_identity,
    refuse_results_of_another_dataset,
    stored_identity,
)

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture
def demo() -> dict:
    return validate_config(yaml.safe_load(DEMO_CONFIG.read_text()), SCHEMA)


def test_a_results_folder_of_another_dataset_is_refused_with_the_way_out(tmp_path, demo):
    results = tmp_path / "results"
    claim_results(results, config_identity(demo, [DEMO_CONFIG]))
    mine = copy.deepcopy(demo)
    mine["dataset"]["name"] = "Alpine forests"
    with pytest.raises(ConfigError) as refused:
        refuse_results_of_another_dataset(results, config_identity(mine, [tmp_path / "my.yaml"]))
    message = str(refused.value)
    assert "\n" not in message
    assert f"holds the dataset 'reben-workflow demo' (built from {DEMO_CONFIG})" in message
    assert "this config builds 'Alpine forests'" in message and "set results to a folder of its own" in message


def test_the_same_dataset_with_changed_settings_is_a_rerun_that_names_them(tmp_path, demo):
    results = tmp_path / "results"
    claim_results(results, config_identity(demo, [DEMO_CONFIG]))
    assert refuse_results_of_another_dataset(results, config_identity(demo, [DEMO_CONFIG])) == []
    changed = copy.deepcopy(demo)
    changed["report"]["max_overlapping_share"] = 0.0
    changed["clc"]["version"] = "synthetic-demo-2"
    changed["sen2cor"]["threads"] = 64  # how, not what: not a setting of the build
    # Another config file with the same dataset name: the same dataset (file names play no part).
    found = refuse_results_of_another_dataset(results, config_identity(changed, [tmp_path / "copy.yaml"]))
    assert found == ["clc.version", "report.max_overlapping_share"]


def test_a_build_from_before_the_identity_is_known_by_its_provenance(tmp_path, demo):
    results = tmp_path / "results"
    (results / "dataset").mkdir(parents=True)
    provenance = results / "dataset" / "PROVENANCE.json"
    provenance.write_text(json.dumps({"config": {"results": "results"}}))
    assert stored_identity(results) is None  # no dataset name recorded: taken over by the next run
    provenance.write_text(json.dumps({"config": {"dataset": {"name": "Alpine forests"}}}))
    assert stored_identity(results)["dataset"] == "Alpine forests"
    with pytest.raises(ConfigError, match="holds the dataset 'Alpine forests'"):
        refuse_results_of_another_dataset(results, config_identity(demo))
    assert not (results / IDENTITY_FILE).exists()


def test_a_run_refuses_at_parse_time_before_writing_anything(tmp_path):
    """The demo config, run where results/ holds another dataset's build: one line, exit 1,
    nothing written (not even the input check's settings)."""
    results = tmp_path / "results"
    results.mkdir()
    (results / IDENTITY_FILE).write_text(json.dumps({"dataset": "Alpine forests", "configfiles": ["/data/my.yaml"]}))
    before = sorted(p.name for p in results.rglob("*"))
    proc = run_snakemake(tmp_path, "--dry-run", check=False)
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "holds the dataset" in line]
    assert lines == [
        "results: results holds the dataset 'Alpine forests' (built from /data/my.yaml), and this config builds "
        "'reben-workflow demo' (dataset.name): set results to a folder of its own, or remove results (or its "
        f"{IDENTITY_FILE}, to rename that build)"
    ]
    assert sorted(p.name for p in results.rglob("*")) == before
