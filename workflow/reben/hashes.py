"""sha256 of the per-tile patch files, taken from their bytes as the per-tile jobs write them
(cut_s2_patches, rasterize_reference_maps, cut_s1_patches; take_v1_s1_patches hashes the files
it links), so that MANIFEST.sha256 is a merge of these tables (reben.distribution.provenance.write_manifest)
and not a second read of the whole dataset.

`<kind>_sha256.parquet` beside a tile's patch folder: one row per file in that folder, in the
order written, with columns `folder` (the patch folder, relative to the tile's patch folder:
`<patch_id>` for S2 and reference maps, `<S1 product>/<s1_name>` for S1), `file` (the file's
name) and `sha256` (hex).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow as pa

from reben.io import sha256_file, write_arrow, write_bytes

SCHEMA = pa.schema([("folder", pa.string()), ("file", pa.string()), ("sha256", pa.string())])


class FileHashes:
    """Writes files below `root` (the tile's patch folder being built) and records the sha256
    of each, computed on the bytes written."""

    def __init__(self, root):
        self._root = os.path.join(str(root), "")
        self._folders: list[str] = []
        self._files: list[str] = []
        self._digests: list[str] = []

    def write(self, path, data: bytes) -> None:
        write_bytes(path, data)
        self._record(path, hashlib.sha256(data).hexdigest())

    def add(self, path) -> None:
        """Record a file already in place (a hard link or a copy): hashed from the file."""
        self._record(path, sha256_file(path))

    def _record(self, path, digest: str) -> None:
        path = str(path)
        if not path.startswith(self._root):
            raise ValueError(f"{path}: not below {self._root}")
        folder, _, name = path[len(self._root) :].rpartition(os.sep)
        self._folders.append(folder.replace(os.sep, "/"))
        self._files.append(name)
        self._digests.append(digest)

    def drop(self, folders) -> None:
        """Forget the files recorded in these folders (relative to the root: patches a job
        wrote files for and then removed)."""
        if not folders:
            return
        keep = [i for i, folder in enumerate(self._folders) if folder not in folders]
        self._folders = [self._folders[i] for i in keep]
        self._files = [self._files[i] for i in keep]
        self._digests = [self._digests[i] for i in keep]

    def __len__(self) -> int:
        return len(self._files)

    def table(self) -> pa.Table:
        return pa.table({"folder": self._folders, "file": self._files, "sha256": self._digests}, schema=SCHEMA)

    def save(self, path) -> None:
        """The table to `path`, atomically."""
        write_arrow(self.table(), path)


def write_empty(path) -> None:
    """The table of a tile that wrote no file (an excluded product)."""
    write_arrow(SCHEMA.empty_table(), Path(path))
