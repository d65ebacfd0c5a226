"""Cutting an L2A product into Sentinel-2 patches (rule cut_s2_patches).

Each band is read once, whole, and viewed as (rows, px, cols, px) blocks, so validity, SCL
fractions and each patch's band statistics (reben.bandstats) come from array reductions over all
patches at once; only the writing of each valid patch's 12 files loops over patches.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from reben.bandstats import empty_s2_stats, s2_block_stats, s2_stats_table
from reben.constants import S2_BAND_RESOLUTION, S2_BANDS, S2_NODATA, SCL_CLOUD_OR_SHADOW, SCL_RESOLUTION, SCL_SNOW
from reben.errors import ProductError
from reben.geotiff import PatchTiffWriter
from reben.grid import TileGrid
from reben.hashes import FileHashes, write_empty
from reben.io import read_json, staged_dir, write_parquet
from reben.logs import Progress
from reben.shards import ShardWriter, encode

LOG = logging.getLogger("reben.sentinel2.patches")


def blocks(array: np.ndarray, px: int, n_rows: int, n_cols: int) -> np.ndarray:
    """View the grid part of a tile-sized array as (n_rows, px, n_cols, px) patch blocks."""
    return array[: n_rows * px, : n_cols * px].reshape(n_rows, px, n_cols, px)


def read_band(path: str, product: str, band: str, grid: TileGrid) -> np.ndarray:
    """One band of the product, whole, as stored; a read failure names the file."""
    import rasterio
    from rasterio.errors import RasterioError

    res = S2_BAND_RESOLUTION.get(band, SCL_RESOLUTION)
    px = grid.pixels(res)
    try:
        # One decoding thread per band (bands are decoded in parallel instead): GDAL's
        # multi-threaded JPEG2000 decoding reports a corrupt or truncated stream ("Stream too
        # short") on its own stderr and returns zeros; single-threaded, the read fails.
        with rasterio.Env(GDAL_NUM_THREADS=1), rasterio.open(path) as src:
            rows = min(src.height, grid.n_rows * px)
            cols = min(src.width, grid.n_cols * px)
            data = src.read(1, window=((0, rows), (0, cols)))
    except RasterioError as e:
        detail = str(e.__cause__ or e)
        raise ProductError(
            product,
            f"band {band} could not be decoded ({detail}); the file is corrupt or truncated: fetch the product again",
            path,
        ) from None
    if data.shape != (grid.n_rows * px, grid.n_cols * px):
        raise ProductError(
            product,
            f"band {band} is {data.shape[1]}x{data.shape[0]} px, smaller than the tile geocoding's grid at {res} m",
            path,
        )
    return data


def scl_fractions(scl: np.ndarray, grid: TileGrid) -> tuple[np.ndarray, np.ndarray]:
    """Per-patch fractions (flat, grid order) of cloud-or-shadow and of snow pixels in SCL."""
    b = blocks(scl, grid.pixels(SCL_RESOLUTION), grid.n_rows, grid.n_cols)
    area = b.shape[1] * b.shape[3]
    cloud = np.isin(b, SCL_CLOUD_OR_SHADOW).sum(axis=(1, 3)) / area
    snow = np.isin(b, SCL_SNOW).sum(axis=(1, 3)) / area
    return cloud.ravel().astype("float32"), snow.ravel().astype("float32")


def patch_table(grid: TileGrid, valid: np.ndarray, cloud: np.ndarray, snow: np.ndarray) -> pd.DataFrame:
    x, y = grid.indices()
    return pd.DataFrame(
        {
            "patch_id": grid.patch_ids(),
            "x": x.astype("int32"),
            "y": y.astype("int32"),
            "valid": valid.astype(bool),
            "cloud_or_shadow_fraction": cloud.astype("float32"),
            "snow_fraction": snow.astype("float32"),
        }
    )


def cut_tile(tile_json, out_dir, table_path, shard_path, band_stats_path, threads: int = 1, sha256_path=None) -> dict:
    """Write every valid patch of a product, its validity/SCL table, its safetensors shard,
    the band statistics of each written patch (s2_band_stats, reben.bandstats) and, with
    `sha256_path`, the sha256 of every file written (reben.hashes).

    Outputs appear all at once: patches go to a temporary folder renamed at the end, the tables
    and shard through temporary names. A product excluded for its quality indicators yields an
    empty folder, shard and statistics table, and a table of invalid patches.
    """
    start = time.monotonic()
    tile = read_json(tile_json)
    grid = TileGrid.from_dict(tile["grid"])
    key, product = tile["tile_key"], tile["product"]
    out_dir = Path(out_dir)
    n = grid.n_rows * grid.n_cols

    if tile["excluded"]:
        LOG.info(
            "%s: excluded (%s); %d patches, none cut, in %.1f s",
            key,
            tile["excluded_reason"],
            n,
            time.monotonic() - start,
        )
        zeros = np.zeros(n, dtype="float32")
        with staged_dir(out_dir), ShardWriter(shard_path):
            pass
        write_parquet(empty_s2_stats(), band_stats_path)
        write_parquet(patch_table(grid, np.zeros(n, bool), zeros, zeros), table_path)
        if sha256_path:
            write_empty(sha256_path)
        return {"patches": n, "valid": 0}

    paths = tile["band_paths"]
    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        arrays = dict(
            zip(
                S2_BANDS + ("SCL",),
                pool.map(lambda band: read_band(paths[band], product, band, grid), S2_BANDS + ("SCL",)),
            )
        )
        decoded = time.monotonic()
        LOG.info("%s: decoded 12 bands and SCL in %.1f s", key, decoded - start)
        views = {
            band: blocks(arrays[band], grid.pixels(S2_BAND_RESOLUTION[band]), grid.n_rows, grid.n_cols)
            for band in S2_BANDS
        }
        stats = dict(zip(S2_BANDS, pool.map(lambda band: s2_block_stats(views[band]), S2_BANDS)))
    LOG.info("%s: band statistics of every patch in %.1f s", key, time.monotonic() - decoded)

    # Nodata is 0, the smallest uint16: a patch holds a nodata pixel in a band exactly when its
    # minimum there is 0.
    valid = np.ones((grid.n_rows, grid.n_cols), dtype=bool)
    for band in S2_BANDS:
        valid &= stats[band]["min"] != S2_NODATA
    cloud, snow = scl_fractions(arrays.pop("SCL"), grid)
    valid = valid.ravel()

    writers = {
        res: PatchTiffWriter((grid.pixels(res),) * 2, "uint16", grid.crs, res, nodata=S2_NODATA)
        for res in sorted(set(S2_BAND_RESOLUTION.values()))
    }
    ids = grid.patch_ids()
    xs, ys = grid.indices()
    todo = np.flatnonzero(valid)
    progress = Progress(f"{key}: writing patches", len(todo))
    with staged_dir(out_dir) as tmp_dir:
        files = FileHashes(tmp_dir)
        with ShardWriter(shard_path) as shard:
            for done, i in enumerate(todo, 1):
                x, y, pid = int(xs[i]), int(ys[i]), ids[i]
                left, _, _, top = grid.patch_bounds(x, y)
                folder = tmp_dir / pid
                folder.mkdir()
                tensors = {}
                for band in S2_BANDS:
                    patch = np.ascontiguousarray(views[band][y, :, x, :])
                    files.write(
                        folder / f"{pid}_{band}.tif", writers[S2_BAND_RESOLUTION[band]].to_bytes(patch, left, top)
                    )
                    tensors[band] = patch
                shard.add(pid, encode(tensors))
                progress.update(done)
        kept = {band: {stat: a.ravel()[todo] for stat, a in stats[band].items()} for band in S2_BANDS}
        write_parquet(s2_stats_table([ids[i] for i in todo], kept), band_stats_path)
        write_parquet(patch_table(grid, valid, cloud, snow), table_path)
        if sha256_path:
            files.save(sha256_path)
    LOG.info("%s: %d patches, %d valid, cut in %.1f s", key, n, len(todo), time.monotonic() - start)
    return {"patches": n, "valid": int(len(todo))}
