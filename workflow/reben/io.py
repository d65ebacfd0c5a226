"""Atomic writes of small outputs (JSON, Parquet, GeoParquet): temporary name, then rename.

The dataset's metadata files are written by DuckDB's Parquet writer with the settings of the
release (write_release_parquet), so that the same rows give the same bytes."""

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


RELEASE_ROW_GROUP_SIZE = 122_880
"""The row_group_size the release passed to DuckDB. DuckDB 1.0 on one thread closes a row group
at the first 2048-row vector past it, so its files hold row groups of 124,928 rows; on more
threads the sizes depend on the scheduling, hence one thread."""


def write_release_parquet(table, path, order_by: str = "patch_id") -> None:
    """A pyarrow Table to Parquet at `path` as the reBEN release wrote its metadata files:
    DuckDB 1.0 (`created_by: DuckDB`, format 1.0), ZSTD, PLAIN encoding, rows sorted by
    `order_by`, 124,928-row row groups; atomically."""
    import duckdb

    path = Path(path)
    tmp = _tmp(path)
    target = str(tmp).replace("'", "''")  # a quote in a folder name stays part of the name
    con = duckdb.connect(config={"threads": 1})
    try:
        con.register("metadata_rows", table)
        con.execute(f"COPY (SELECT * FROM metadata_rows ORDER BY \"{order_by}\") TO '{target}' "
                    f"(FORMAT parquet, ROW_GROUP_SIZE {RELEASE_ROW_GROUP_SIZE}, CODEC 'zstd')")
        os.replace(tmp, path)
    finally:
        con.close()
        tmp.unlink(missing_ok=True)
