"""Configuration: validation against the JSON schema (defaults filled in) and the product table."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators

from reben.errors import ConfigError
from reben.names import parse_product_name, tile_key


def _with_defaults(cls):
    validate_properties = cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = _copy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(cls, {"properties": set_defaults})


def _copy(value):
    import copy

    return copy.deepcopy(value)


_Validator = _with_defaults(Draft202012Validator)


def load_schema(schema_path) -> dict:
    """The config schema: the main file, plus the `properties` of every other *.schema.yaml
    beside it (one per stage, so that each stage documents its own section)."""
    schema_path = Path(schema_path)
    schema = yaml.safe_load(schema_path.read_text())
    for part in sorted(schema_path.parent.glob("*.schema.yaml")):
        if part != schema_path:
            schema["properties"].update(yaml.safe_load(part.read_text())["properties"])
    return schema


def validate_config(config: dict, schema_path) -> dict:
    """Fill defaults into `config` in place and check it; the first error is raised as one line
    naming the key (`config: sentinel1.max_time_gap_days: -3 is less than the minimum of 0`)."""
    schema = load_schema(schema_path)
    validator = _Validator(schema)
    # Two passes: defaults of nested objects appear in the first, are checked in the second.
    for _ in range(2):
        errors = sorted(
            validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path)))
        )
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        raise ConfigError(f"config: {where}: {e.message}")
    return config


RESULTS_PLACEHOLDER = "{results}"


def resolve_results_placeholder(config: dict) -> dict:
    """Replace `{results}` in every string of the config by the results folder, in place: the
    demo's inputs are made there, and a config derived from it (another `results`) follows."""
    results = config["results"]

    def resolve(node):
        if isinstance(node, dict):
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        if isinstance(node, str):
            return node.replace(RESULTS_PLACEHOLDER, results)
        return node

    for key, value in list(config.items()):
        if key != "results":
            config[key] = resolve(value)
    return config


def read_product_table(table, key: str, basedir: Path | None = None) -> list[dict]:
    """The rows of a product table CSV (config key `key`), which must have a `name` column; a
    relative path not found in the working directory is looked for in `basedir`."""
    table = Path(table)
    if basedir and not table.is_absolute() and not table.exists():
        table = basedir / table
    if not table.is_file():
        raise ConfigError(f"config: {key}: {table} does not exist")
    with open(table, newline="") as f:
        reader = csv.DictReader(f)
        if "name" not in (reader.fieldnames or []):
            raise ConfigError(f"config: {key}: {table} has no 'name' column")
        return list(reader)


def product_table(config: dict, basedir: Path | None = None) -> dict[str, dict]:
    """The configured Sentinel-2 products by tile key: name, level, path, geocoding source.

    Products come from `sentinel2.products` (a list) and `sentinel2.product_table` (a CSV with a
    `name` column and an optional `path` column). A product without a path is looked for as
    `<sentinel2.input_dir>/<name>.SAFE`, then `.zip`. Two products of one acquisition (platform,
    tile, sensing time) are one line of error: `reben search` keeps one per acquisition.
    """
    s2 = config["sentinel2"]
    rows = [dict(r) for r in s2.get("products") or []]
    if s2.get("product_table"):
        rows += [
            {k: v for k, v in r.items() if k in ("name", "path") and v}
            for r in read_product_table(s2["product_table"], "sentinel2.product_table", basedir)
        ]
    products: dict[str, dict] = {}
    acquisitions: dict[tuple, str] = {}
    for row in rows:
        name = Path(row["name"]).name.removesuffix(".zip").removesuffix(".SAFE")
        try:
            parsed = parse_product_name(name)
        except Exception as e:
            raise ConfigError(f"config: sentinel2.products: {e}") from None
        # One acquisition is processed once: its twins (another baseline, processing time or
        # level) would make a second tile of the same pixels, or collide on the L1C tile key.
        acquisition = (parsed.mission, parsed.tile, parsed.sensing)
        if acquisition in acquisitions:
            raise ConfigError(
                f"config: sentinel2.products: {name} and {acquisitions[acquisition]} are one acquisition "
                f"({parsed.mission} {parsed.tile} {parsed.sensing}); keep one"
            )
        acquisitions[acquisition] = name
        key = tile_key(name, s2["l2a_baseline"])
        path = row.get("path")
        if not path:
            base = Path(s2["input_dir"]) / name
            zipped = base.with_name(name + ".zip")
            path = str(
                zipped
                if zipped.exists() and not base.with_name(name + ".SAFE").exists()
                else base.with_name(name + ".SAFE")
            )
        products[key] = {
            "name": name,
            "level": parsed.level,
            "path": str(path),
            "mgrs_tile": parsed.tile,
            "sensing": parsed.sensing,
        }
    if not products:
        raise ConfigError("config: sentinel2: no products configured (products or product_table)")
    return dict(sorted(products.items()))


def expect_retrievals(products: dict[str, dict], input_dir) -> None:
    """With retrieval on: a product that has no path of its own and is not on disk is expected as
    `<input_dir>/<name>.zip`, which rule retrieve_sentinel2 fetches (an L2A zip goes to
    inspect_tile as it is: no sen2cor). Changes `products` in place."""
    for product in products.values():
        default = Path(input_dir) / (product["name"] + ".SAFE")
        if product["path"] == str(default) and not default.exists():
            product["path"] = str(default.with_name(product["name"] + ".zip"))


def put_package_first_for_jobs(workflow_dir) -> None:
    """Rule scripts (here and on cluster nodes, which inherit the environment) import the package
    from this checkout: its folder goes first on PYTHONPATH. The workflow sets the variable
    itself; nothing is asked of the user's environment."""
    import os

    paths = [str(workflow_dir), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
