"""One Zarr v3 store per split (rule export_zarr): the split as `open_dataset(...,
resolution="native")` gives it, so that `xarray.open_zarr(store)` reads back the same arrays and
coordinates, for training from object storage.

Layout: each band is an array (patch, rows, columns) at its native grid (the stored digital
numbers: no band is resampled, 20 m and 60 m bands keep their size), chunked one patch per chunk,
`shard_patches` chunks per shard file (sharding codec): one patch or a batch is a few range
reads, and a split of 100,000 patches is about 400 files per band, not 100,000. Chunks are zstd
compressed. The coordinates (metadata columns, labels as (patch, label) booleans, epsg and
bounds of each patch) are arrays of one chunk each, written by xarray; `reben.select_patch`
(or epsg + bounds) places a patch in its CRS for rioxarray, since the patches of a split lie in
many tiles and UTM zones and share no x/y grid.

Reproducible: values come in patch order from the LMDB (else the trees), shards are written
whole in order, zstd runs at a fixed level without threads, and the metadata (consolidated into
the root `zarr.json`) holds no time: two builds of the same dataset give the same bytes. The
store is built in `<store>.tmp` and renamed; a summary lists every file with its size, sha256
and md5 (the MANIFEST.sha256 lines of the store, and what an object store's ETag can be
checked against).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from reben.access.datasets import open_dataset
from reben.errors import AccessError, OutputError
from reben.io import staged_dir, write_json
from reben.logs import LOG, Progress

FILL_VALUE = {"uint16": 0, "float32": float("nan")}


def _coordinate_encoding(ds, level: int) -> dict:
    from zarr.codecs import ZstdCodec

    encoding = {}
    for name, coord in ds.coords.items():
        encoding[name] = {"chunks": coord.shape or None, "compressors": [ZstdCodec(level=level)]}
        if np.issubdtype(coord.dtype, np.datetime64):
            encoding[name].update(units="seconds since 1970-01-01", dtype="int64")
    return encoding


def file_digests(root: Path) -> list[dict]:
    """Every file below `root`, sorted by path: path (relative, /), size, sha256, md5."""
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        sha, md5 = hashlib.sha256(), hashlib.md5()
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                sha.update(block)
                md5.update(block)
        rel = path.relative_to(root).as_posix()
        files.append({"path": rel, "size": path.stat().st_size, "sha256": sha.hexdigest(), "md5": md5.hexdigest()})
    return sorted(files, key=lambda f: f["path"].encode())


def write_split_store(
    dataset,
    split: str | None,
    out_dir,
    *,
    include_flagged: bool = False,
    patch_size_m: int | None = None,
    shard_patches: int = 256,
    zstd_level: int = 3,
    summary_path=None,
) -> dict:
    """Write the Zarr v3 store of one split of `dataset` (None: every split) to `out_dir` (built in
    `<out_dir>.tmp`); the summary (the store relative to the dataset folder, patches, bands, files
    with size, sha256 and md5) goes to `summary_path` and is returned."""
    import zarr
    from zarr.codecs import ZstdCodec

    if shard_patches < 1:
        raise AccessError(f"export_zarr.shard_patches: {shard_patches} must be at least 1")
    out_dir = Path(out_dir)
    ds = open_dataset(dataset, split, resolution="native", include_flagged=include_flagged, patch_size_m=patch_size_m)
    n = ds.sizes["patch"]
    coords = ds.drop_vars(list(ds.data_vars)).load()  # the metadata, and the bounds (a header per tile)
    progress = Progress(f"zarr store {split}: patches", n)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        with staged_dir(out_dir) as tmp, warnings.catch_warnings():
            # consolidated metadata is zarr-python's extension of v3 (one read opens the store)
            warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
            coords.to_zarr(
                tmp, mode="w-", zarr_format=3, consolidated=False, encoding=_coordinate_encoding(coords, zstd_level)
            )
            group = zarr.open_group(tmp, mode="r+", zarr_format=3)
            arrays = {}
            for name, var in ds.data_vars.items():
                side = var.shape[1:]
                arrays[name] = group.create_array(
                    name,
                    shape=var.shape,
                    dtype=var.dtype,
                    chunks=(1, *side),
                    shards=(shard_patches, *side),
                    compressors=[ZstdCodec(level=zstd_level)],
                    fill_value=FILL_VALUE[str(var.dtype)],
                    dimension_names=var.dims,
                    attributes=dict(var.attrs),
                )
            for start in range(0, n, shard_patches):
                batch = ds.isel(patch=slice(start, min(start + shard_patches, n)))
                for name, array in arrays.items():
                    array[start : start + batch.sizes["patch"]] = batch[name].values
                progress.update(start + batch.sizes["patch"])
            zarr.consolidate_metadata(tmp, zarr_format=3)
            files = file_digests(tmp)
    except OSError as e:
        raise OutputError(f"{out_dir}: cannot write the Zarr store ({e.strerror or e})") from None
    summary = {
        "store": os.path.relpath(out_dir, Path(dataset)).replace(os.sep, "/"),
        "split": split,
        "patches": n,
        "bands": list(ds.data_vars),
        "patch_size_m": ds.attrs["patch_size_m"],
        "shard_patches": shard_patches,
        "zstd_level": zstd_level,
        "bytes": sum(f["size"] for f in files),
        "files": files,
    }
    if summary_path is not None:
        write_json(summary, summary_path)
    LOG.info(
        "zarr store %s: %d patches, %d bands, %d files, %.1f MB, %.1f s",
        out_dir,
        n,
        len(summary["bands"]),
        len(files),
        summary["bytes"] / 1e6,
        progress.elapsed(),
    )
    return summary
