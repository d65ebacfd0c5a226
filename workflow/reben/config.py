"""Configuration: the config files read strictly (no duplicate key, no tab in the indentation),
validation against the JSON schema (defaults filled in), where the results folder may be, and the
product table."""

from __future__ import annotations

import csv
import json
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


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key given twice in one mapping is an error (PyYAML keeps
    the last value silently, so `patch_size_m: 1200` then `patch_size_m: 600` gives 600)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    f"{self.name}:{line}: duplicate key {key!r} (first at line {seen[key]}); keep one of them"
                )
            seen[key] = line
        return super().construct_mapping(node, deep)


def _refuse_duplicate_json_keys(pairs):
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(f"duplicate key {twice[0]!r}; keep one of them")
    return dict(pairs)


def load_config_file(path) -> dict:
    """A config file read strictly: YAML (or JSON, as Snakemake accepts both) whose syntax
    error, duplicate key or tab in the indentation is one line naming the file and the line.
    Snakemake reads --configfile itself and keeps the last of two equal keys; the workflow reads
    every config file again through this (reben.config is the only reader of `reben check`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the config ({getattr(e, 'strerror', None) or e})") from None
    try:
        config = json.loads(text, object_pairs_hook=_refuse_duplicate_json_keys)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    except ValueError:
        config = _load_strict_yaml(text, path)
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: not a mapping of keys at its top level")
    return config


def _load_strict_yaml(text: str, path: Path):
    for number, line in enumerate(text.splitlines(), 1):
        indentation = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indentation and line.strip():
            raise ConfigError(f"{path}:{number}: a tab in the indentation; YAML indents with spaces only")
    loader = _StrictLoader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    finally:
        loader.dispose()


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


FOLDER, PRODUCT, FILE = "folder", "product", "file"


def configured_inputs(config: dict, products: dict[str, dict]) -> list[tuple[str, Path, str]]:
    """(config key, path, kind) of every input the run reads. FOLDER: a folder the workflow
    reads products or tables from (`*.input_dir`, the v1 tables, an extracted v1 archive);
    PRODUCT: a product, read from its folder (Sentinel-2 SAFE folders and zips, Sentinel-1 files,
    GRD products); FILE: a single file (the label source, class and product tables, the borders,
    a DEM, the v1 archive)."""
    s2, s1 = config["sentinel2"], config["sentinel1"]
    labels = config.get("labels") or {}
    inputs = [(f"sentinel2.products: {p['name']}", p["path"], PRODUCT) for p in products.values()]
    if config.get("retrieval", {}).get("enabled"):
        inputs.append(("sentinel2.input_dir", s2["input_dir"], FOLDER))
    inputs += [
        ("sentinel2.product_table", s2.get("product_table"), FILE),
        ("clc.path", (config.get("clc") or {}).get("path"), FILE),
        ("labels.raster.path", (labels.get("raster") or {}).get("path"), FILE),
        ("labels.class_table", labels.get("class_table"), FILE),
        ("countries.borders", (config.get("countries") or {}).get("borders"), FILE),
    ]
    tables = (config.get("bigearthnet_v1") or {}).get("tables")
    if tables and tables != "bigearthnet-common":
        inputs.append(("bigearthnet_v1.tables", tables, FOLDER))
    if s1.get("enabled") and s1.get("source", "backscatter") == "backscatter":
        inputs.append(("sentinel1.input_dir", s1["input_dir"], FOLDER))
        for row in s1.get("products") or []:
            inputs += [(f"sentinel1.products: {row['name']}", row.get(pol), PRODUCT) for pol in ("vv", "vh")]
        grd = s1.get("grd") or {}
        if grd.get("gpt"):
            inputs += [("sentinel1.grd.products", p, PRODUCT) for p in grd.get("products") or []]
            inputs += [
                ("sentinel1.grd.input_dir", grd.get("input_dir"), FOLDER),
                ("sentinel1.product_table", s1.get("product_table"), FILE),
                ("sentinel1.grd.external_dem", grd.get("external_dem"), FILE),
            ]
    elif s1.get("enabled"):
        archive = (s1.get("v1_archive") or {}).get("path")
        inputs.append(("sentinel1.v1_archive.path", archive, FOLDER if archive and Path(archive).is_dir() else FILE))
    return [(key, Path(path), kind) for key, path, kind in inputs if path]


def results_folder_problems(config: dict, products: dict[str, dict], checkout) -> list[str]:
    """Where the results folder must not be, one line each: the file system root; a folder
    holding the workflow's checkout; inside (or equal to) a folder the workflow reads inputs
    from, an input folder or the folder of a product (the next run would read its own outputs
    as inputs); and the reverse, any input inside the results folder (a rebuild may remove it),
    but the demo's own inputs, which the workflow makes in `<results>/demo/`."""
    results = Path(config["results"]).resolve()
    key = f"config: results: {config['results']}"
    if results == Path(results.anchor):
        return [f"{key} is the file system root; give a folder of its own, e.g. results"]
    if Path(checkout).resolve().is_relative_to(results):
        return [f"{key} holds the workflow's checkout {Path(checkout).resolve()}; give a folder of its own inside it"]
    problems = []
    for input_key, path, kind in configured_inputs(config, products):
        resolved = path.resolve()
        folder = {FOLDER: resolved, PRODUCT: resolved.parent}.get(kind)
        if folder is not None and results.is_relative_to(folder):
            problems.append(
                f"{key} is inside {folder}, the folder of {input_key} ({path}): "
                f"the next run would read its own outputs as inputs; put the results elsewhere"
            )
        elif resolved.is_relative_to(results) and not resolved.is_relative_to(results / "demo"):
            problems.append(
                f"config: {input_key}: {path} is inside the results folder {config['results']}: "
                f"a rebuild may replace it; keep inputs outside the results"
            )
    return list(dict.fromkeys(problems))


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
