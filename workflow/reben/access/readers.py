"""Reading patch values from a dataset's stores, a stack of patches at a time: the LMDB (the
rico-hdl layout: safetensors values under `patch_id`, `s1_name` and `<patch_id>_reference_map`)
or the GeoTIFF trees; and the georeference of the patches, from one GeoTIFF header per tile.

Both readers answer `read(band, keys, out)`: the tensor of `band` for each key, into `out`
(patches, rows, columns). A key that is "" (a patch without a Sentinel-1 partner) gives NaN.
A value of another shape or dtype than the dataset's patch size calls for is one line naming
the entry or the file. The LMDB is opened on first read and again in a new process (a
DataLoader worker), never shared across a fork.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from reben.access.layout import REFERENCE_MAP, Band
from reben.constants import DATASET_TREES
from reben.errors import AccessError
from reben.grid import tile_key_of
from reben.sentinel1.products import s1_product_of

REFERENCE_MAP_SUFFIX = "_" + REFERENCE_MAP
_SAFETENSORS_DTYPE = {"U16": np.dtype("<u2"), "F32": np.dtype("<f4")}

READS = {"lmdb": 0, "tiff": 0}
"""How many LMDB values and GeoTIFF files this process has read: what tests count to show that
opening a split reads nothing."""


_ENVIRONMENTS: dict[tuple[str, int], object] = {}


def lmdb_environment(path: Path):
    """The process's read-only environment of an LMDB folder: LMDB allows one per process and
    folder, so every split opened on it shares it (none is shared across a fork). Code that reads
    the same LMDB beside open_dataset in one process opens it through this."""
    key = (os.path.realpath(path), os.getpid())
    if key not in _ENVIRONMENTS:
        import lmdb

        for inherited in [k for k in _ENVIRONMENTS if k[0] == key[0]]:
            # a forked worker: the parent's environment may not be used here, and lmdb refuses
            # a second one while it counts the parent's as open; closing it in this process
            # (read-only, no lock file) leaves the parent's untouched
            _ENVIRONMENTS.pop(inherited).close()
        try:
            _ENVIRONMENTS[key] = lmdb.open(
                str(path), readonly=True, lock=False, subdir=True, readahead=False, max_readers=512
            )
        except lmdb.Error as e:
            raise AccessError(f"{path}: not a readable LMDB ({e})") from None
    return _ENVIRONMENTS[key]


def store_key(band: Band, patch_id: str, s1_name: str) -> str:
    """The LMDB key (and tree folder name) of a band's value for one patch: "" for an S1 band of
    a patch without an S1 partner."""
    if band.kind == "s1":
        return s1_name
    return patch_id + REFERENCE_MAP_SUFFIX if band.kind == "reference_maps" else patch_id


class LmdbReader:
    """Values from the dataset's LMDB: one get per patch, and the tensor copied out of the
    memory-mapped value (the safetensors header of every value of a kind is the same, so it is
    parsed once per distinct header)."""

    def __init__(self, lmdb_dir):
        self.path = Path(lmdb_dir)
        self._env = None
        self._pid = None
        self._headers: dict[bytes, dict] = {}

    def _open(self):
        if self._env is None or self._pid != os.getpid():
            self._env, self._pid = lmdb_environment(self.path), os.getpid()
        return self._env

    def __getstate__(self):
        return {"path": self.path, "_env": None, "_pid": None, "_headers": {}}

    def _tensors(self, key: str, value) -> dict:
        n = int.from_bytes(value[:8], "little")
        raw = bytes(value[8 : 8 + n])
        tensors = self._headers.get(raw)
        if tensors is None:
            try:
                header = json.loads(raw)
                tensors = {
                    name: (_SAFETENSORS_DTYPE[t["dtype"]], tuple(t["shape"]), 8 + n + t["data_offsets"][0])
                    for name, t in header.items()
                    if name != "__metadata__"
                }
            except (ValueError, KeyError, TypeError) as e:
                raise AccessError(f"{self.path}: the value of {key} is not safetensors ({e})") from None
            self._headers[raw] = tensors
        return tensors

    def read(self, band: Band, keys, out: np.ndarray, origins=None) -> np.ndarray:
        shape = out.shape[1:]
        with self._open().begin(buffers=True) as txn:
            for i, key in enumerate(keys):
                if not key:
                    out[i] = np.nan
                    continue
                value = txn.get(key.encode())
                if value is None:
                    raise AccessError(f"{self.path}: no entry {key}")
                READS["lmdb"] += 1
                try:
                    dtype, tshape, offset = self._tensors(key, value)[band.tensor]
                except KeyError:
                    raise AccessError(f"{self.path}: the value of {key} holds no tensor {band.tensor}") from None
                if tshape != shape or dtype != out.dtype:
                    raise AccessError(
                        f"{self.path}: {key}: tensor {band.tensor} is {dtype} {'x'.join(map(str, tshape))}, the "
                        f"dataset's patches need {out.dtype} {'x'.join(map(str, shape))} (patch_size_m?)"
                    )
                out[i] = np.frombuffer(value, dtype, count=out[i].size, offset=offset).reshape(shape)
        return out


def tree_path(trees: dict[str, Path], band: Band, key: str) -> Path:
    """The GeoTIFF of a band for a key (store_key), in the published layout."""
    if band.kind == "s1":
        return trees["s1"] / s1_product_of(key) / key / f"{key}_{band.tensor}.tif"
    if band.kind == "reference_maps":
        pid = key[: -len(REFERENCE_MAP_SUFFIX)]
        return trees["reference_maps"] / tile_key_of(pid) / pid / f"{key}.tif"
    return trees["s2"] / tile_key_of(key) / key / f"{key}_{band.tensor}.tif"


class TreeReader:
    """Values from the dataset's GeoTIFF trees: one file per band and patch, read with rasterio."""

    def __init__(self, trees: dict[str, Path]):
        self.trees = trees

    def read(self, band: Band, keys, out: np.ndarray, origins=None) -> np.ndarray:
        """`origins`: the (left, top) of each patch, where given each file must lie there (on
        its patch's grid cell), else one line naming the file."""
        import rasterio

        if band.kind not in self.trees and any(keys):
            raise AccessError(f"no {DATASET_TREES[band.kind]}/ tree beside the metadata to read {band.name} from")
        shape = out.shape[1:]
        for i, key in enumerate(keys):
            if not key:
                out[i] = np.nan
                continue
            path = tree_path(self.trees, band, key)
            try:
                with rasterio.open(path) as src:
                    if src.shape != shape or src.dtypes[0] != out.dtype:
                        raise AccessError(
                            f"{path}: {src.dtypes[0]} {src.height}x{src.width}, the dataset's patches need "
                            f"{out.dtype} {'x'.join(map(str, shape))} (patch_size_m?)"
                        )
                    if origins is not None and (src.transform.c, src.transform.f) != tuple(origins[i]):
                        raise AccessError(
                            f"{path}: its upper-left corner is ({src.transform.c}, {src.transform.f}), its patch's "
                            f"grid cell starts at ({origins[i][0]}, {origins[i][1]})"
                        )
                    src.read(1, out=out[i])
            except rasterio.RasterioIOError as e:
                reason = "missing" if not path.exists() else f"not a readable GeoTIFF ({e})"
                raise AccessError(f"{path}: {reason}") from None
            READS["tiff"] += 1
        return out


class TileCorners:
    """The upper-left corner of each tile's patch grid, from the header of one S2 patch file of
    the tile (the first asked for): patch (x, y) then lies at corner + size (x, -y). Each tile's
    header is read once, when a patch of it is first located."""

    def __init__(self, s2_tree: Path | None, patch_size_m: int):
        self.tree = s2_tree
        self.size = patch_size_m
        self._corners: dict[str, tuple[float, float]] = {}

    def corner(self, patch_id: str, x: int, y: int, epsg: int) -> tuple[float, float]:
        """(ulx, uly) of the grid of the tile of `patch_id`, patch (x, y) of it, in EPSG `epsg`."""
        tile = tile_key_of(patch_id)
        if tile not in self._corners:
            import rasterio

            if self.tree is None:
                raise AccessError(
                    f"patch {patch_id}: no {DATASET_TREES['s2']}/ tree to read its georeference from (an LMDB "
                    "holds none)"
                )
            path = self.tree / tile / patch_id / f"{patch_id}_B02.tif"
            try:
                with rasterio.open(path) as src:
                    left, top, crs = src.transform.c, src.transform.f, src.crs
            except rasterio.RasterioIOError:
                raise AccessError(f"{path}: missing; the georeference of tile {tile} is read from it") from None
            READS["tiff"] += 1
            if crs is None or crs.to_epsg() != epsg:
                raise AccessError(f"{path}: CRS {crs}, its tile {tile} lies in EPSG:{epsg}")
            self._corners[tile] = (left - self.size * x, top + self.size * y)
        return self._corners[tile]
