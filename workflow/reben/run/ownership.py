"""Which dataset a results folder belongs to: a run never builds into a folder that holds another
dataset's build.

The first real run in a results folder stores the identity of its config there
(`<results>/build_config.json`: the dataset's name, `dataset.name`, the config files, and the
config as PROVENANCE.json records it, `provenance_config`). Every later parse compares: another
dataset name is refused, with one line and the way out, before anything is written; the same
dataset with changed settings is a rerun, and the settings that changed are named. File dates
play no part. A folder built before the identity was stored is identified by its
`dataset/PROVENANCE.json`, where that records a dataset name, and is otherwise taken over.
"""

from __future__ import annotations

import json
from pathlib import Path

from reben.distribution.provenance import provenance_config
from reben.errors import ConfigError
from reben.io import write_json

IDENTITY_FILE = "build_config.json"


def config_identity(config: dict, configfiles=()) -> dict:
    """What identifies the build of `config`: its dataset name, its config files and its config
    as PROVENANCE.json records it."""
    return {
        "dataset": config["dataset"]["name"],
        "configfiles": [str(Path(f).resolve()) for f in configfiles],
        "config": json.loads(json.dumps(provenance_config(config), default=str)),
    }


def stored_identity(results) -> dict | None:
    """The identity stored in a results folder: its build_config.json, else the dataset name of
    its PROVENANCE.json (a build made before build_config.json), else None."""
    results = Path(results)
    for path, read in (
        (results / IDENTITY_FILE, lambda record: record),
        (results / "dataset" / "PROVENANCE.json", lambda record: {"config": record.get("config", {})}),
    ):
        if path.is_file():
            try:
                record = read(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
            name = record.get("dataset") or (record.get("config", {}).get("dataset") or {}).get("name")
            if name:
                return {"dataset": name, "configfiles": [], "config": {}, **record, "source": str(path)}
    return None


def changed_settings(old: dict, new: dict, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two configs."""
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += changed_settings(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(prefix + key)
    return keys


def refuse_results_of_another_dataset(results, identity: dict) -> list[str]:
    """Raise ConfigError (one line, with the way out) when `results` holds the build of another
    dataset than `identity`'s; return the settings changed since the stored build otherwise."""
    stored = stored_identity(results)
    if stored is None:
        return []
    if stored["dataset"] != identity["dataset"]:
        built_from = f" (built from {', '.join(stored['configfiles'])})" if stored["configfiles"] else ""
        raise ConfigError(
            f"results: {results} holds the dataset {stored['dataset']!r}{built_from}, and this config builds "
            f"{identity['dataset']!r} (dataset.name): set results to a folder of its own, or remove {results} "
            f"(or its {IDENTITY_FILE}, to rename that build)"
        )
    return changed_settings(stored.get("config") or {}, identity["config"]) if stored.get("config") else []


def claim_results(results, identity: dict) -> None:
    """Store `identity` in `results` (at the start of a real run)."""
    path = Path(results) / IDENTITY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(identity, path)
