"""config/template.yaml: every key of the schema, at its default, and a working config once its
inputs are filled in (here with the synthetic inputs a demo run made)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from conftest import REPO, demo_config, run_snakemake

from reben.config import load_schema, validate_config

TEMPLATE = REPO / "config" / "template.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def schema_defaults(properties: dict, prefix: str = "") -> dict:
    """Every key of the schema (dotted), with its default; objects with properties are walked."""
    keys = {}
    for name, sub in properties.items():
        if sub.get("type") == "object" and "properties" in sub:
            keys.update(schema_defaults(sub["properties"], f"{prefix}{name}."))
        else:
            keys[prefix + name] = sub.get("default", "<no default in the schema>")
    return keys


def schema_descriptions(properties: dict, prefix: str = "") -> dict:
    """The schema's description of every key (dotted), where it has one."""
    found = {}
    for name, sub in properties.items():
        if sub.get("type") == "object" and "properties" in sub:
            found.update(schema_descriptions(sub["properties"], f"{prefix}{name}."))
        elif "description" in sub:
            found[prefix + name] = " ".join(sub["description"].split())
    return found


def config_values(config: dict, properties: dict, prefix: str = "") -> dict:
    """The template's keys (dotted) and values, walked as the schema nests them."""
    values = {}
    for name, value in config.items():
        sub = properties.get(name, {})
        if isinstance(value, dict) and "properties" in sub:
            values.update(config_values(value, sub["properties"], f"{prefix}{name}."))
        else:
            values[prefix + name] = value
    return values


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.safe_load(TEMPLATE.read_text())


def test_the_template_has_every_schema_key_and_no_other(template):
    properties = load_schema(SCHEMA)["properties"]
    expected = schema_defaults(properties)
    found = config_values(template, properties)
    missing = sorted(set(expected) - set(found))
    unknown = sorted(set(found) - set(expected))
    descriptions = schema_descriptions(properties)
    lines = "\n".join(f"  {k}: {json.dumps(expected[k])}   # {descriptions.get(k, '')}" for k in missing)
    assert not missing, f"config/template.yaml lacks schema keys (default, description):\n{lines}"
    assert not unknown, f"config/template.yaml has keys the schema does not know: {unknown}"


def test_every_template_value_is_the_schema_default(template):
    """All but `results`: the template writes to a folder of its own, never the demo's."""
    properties = load_schema(SCHEMA)["properties"]
    expected = schema_defaults(properties)
    found = config_values(template, properties)
    differ = {k: (found[k], expected[k]) for k in expected if k in found and found[k] != expected[k]}
    assert differ == {"results": ("my_results", "results")}, f"template value != schema default: {differ}"
    assert yaml.safe_load((REPO / "config" / "demo.yaml").read_text())["results"] == "results"


def test_every_template_key_is_commented():
    """Each key line has its comment: on the line itself, or on the line just above it."""
    lines = TEMPLATE.read_text().splitlines()
    uncommented = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or ":" not in stripped:
            continue
        is_object = stripped.endswith(":")  # a section, commented by its heading or above
        above = lines[i - 1].strip() if i else ""
        if "#" not in line and not above.startswith("#") and not is_object:
            uncommented.append(stripped)
    assert not uncommented, f"keys without a comment in config/template.yaml: {uncommented}"


def test_the_template_validates(template):
    validate_config(copy.deepcopy(template), SCHEMA)


def filled_template(demo_run: Path) -> dict:
    """The template with its SET inputs filled in: the synthetic products, CLC, Sentinel-1 and
    borders of a finished demo run (the demo's own product list)."""
    config = yaml.safe_load(TEMPLATE.read_text())
    inputs = demo_run / "results" / "demo"
    config["sentinel2"]["input_dir"] = str(inputs / "sentinel2")
    config["sentinel2"]["products"] = [{"name": p["name"]} for p in demo_config()["sentinel2"]["products"]]
    config["clc"]["path"] = str(inputs / "clc" / "clc2018_demo.gpkg")
    config["sentinel1"]["enabled"] = True
    config["sentinel1"]["input_dir"] = str(inputs / "sentinel1")
    config["countries"]["borders"] = str(inputs / "borders" / "countries.gpkg")
    config["countries"]["names"] = ["Austria", "Czechia"]
    return config


@pytest.mark.integration
def test_the_filled_in_template_validates_and_dry_runs(demo_run, tmp_path):
    config = filled_template(demo_run)
    validate_config(copy.deepcopy(config), SCHEMA)
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump(config))
    workdir = tmp_path / "run"
    workdir.mkdir()
    out = run_snakemake(workdir, "-n", "--logger-reben-detail", configfile=path).stdout
    for rule in (
        "make_patch_grid",
        "cut_s2_patches",
        "rasterize_reference_maps",
        "pair_sentinel1",
        "cut_s1_patches",
        "assemble_dataset",
        "encode_lmdb",
        "write_report",
    ):
        assert f"rule {rule}:" in out, rule
    # Nothing of the demo: the inputs are the configured files, not made by the demo rules.
    assert "synthesize" not in out and "export_v1" not in out
