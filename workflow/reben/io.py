"""Atomic writes of small outputs (JSON, Parquet, GeoParquet): temporary name, then rename."""

from __future__ import annotations

import json
import os
from pathlib import Path


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def write_json(obj, path) -> None:
    path = Path(path)
    tmp = _tmp(path)
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def write_parquet(frame, path) -> None:
    """A pandas DataFrame (or GeoDataFrame, as GeoParquet) to `path`, atomically, without index."""
    path = Path(path)
    tmp = _tmp(path)
    try:
        if hasattr(frame, "geometry") and hasattr(frame, "to_wkb"):
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False, engine="pyarrow")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_arrow(table, path) -> None:
    """A pyarrow Table to Parquet at `path`, atomically; pyarrow keeps list<string> columns as
    such for every reader (pandas' own metadata would not)."""
    import pyarrow.parquet as pq

    path = Path(path)
    tmp = _tmp(path)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
