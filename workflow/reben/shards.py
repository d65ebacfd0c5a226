"""Per-tile shards of encoded patches: (key, safetensors bytes) rows in a Parquet file.

cut_s2_patches, rasterize_reference_maps and cut_s1_patches each write one shard per tile,
keyed as the LMDB will be (patch_id, <patch_id>_reference_map, s1_name); encode_lmdb copies
the values without reading any GeoTIFF again. Values are safetensors without __metadata__.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from reben.io import naming_a_full_disk

SCHEMA = pa.schema([("key", pa.string()), ("value", pa.large_binary())])


def encode(tensors: dict[str, np.ndarray]) -> bytes:
    """safetensors bytes of named 2-D arrays, with no __metadata__ (the rico-hdl layout)."""
    return st_save({k: np.ascontiguousarray(v) for k, v in tensors.items()})


def decode(value: bytes) -> dict[str, np.ndarray]:
    return st_load(bytes(value))


class ShardWriter:
    """Streams (key, value) rows to `path` through a temporary file renamed on close."""

    def __init__(self, path, batch_rows: int = 256):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.batch_rows = batch_rows
        self._keys: list[str] = []
        self._values: list[bytes] = []
        self._writer = pq.ParquetWriter(self.tmp, SCHEMA, compression="none")
        self.rows = 0

    def add(self, key: str, value: bytes) -> None:
        self._keys.append(key)
        self._values.append(value)
        if len(self._keys) >= self.batch_rows:
            self._flush()

    def _flush(self) -> None:
        if self._keys:
            with naming_a_full_disk(self.path):
                self._writer.write_table(pa.table({"key": self._keys, "value": self._values}, schema=SCHEMA))
            self.rows += len(self._keys)
            self._keys, self._values = [], []

    def close(self) -> None:
        try:
            self._flush()
            with naming_a_full_disk(self.path):
                self._writer.close()
                os.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        try:
            self._writer.close()
        except Exception:  # closing writes the footer, which a full disk refuses too
            pass
        self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        self.abort() if kind else self.close()


def iter_shard(path, columns=("key", "value")) -> Iterator[tuple[str, bytes]]:
    """(key, value) rows of a shard, streamed one row group at a time."""
    f = pq.ParquetFile(path)
    for i in range(f.num_row_groups):
        t = f.read_row_group(i, columns=list(columns))
        keys = t.column("key").to_pylist()
        values = t.column("value").to_pylist()
        yield from zip(keys, values)


def shard_keys(path) -> list[str]:
    return pq.read_table(path, columns=["key"]).column("key").to_pylist()
