"""Cutting an L2A product into Sentinel-2 patches (rule cut_s2_patches).

Each band is read once, whole, and viewed as (rows, px, cols, px) blocks, so validity, SCL
fractions and each patch's band statistics (reben.bandstats) come from array reductions over all
patches at once; only the writing of the patches' files loops over patches. Each band is cut and
its files written as soon as it is decoded, while the next bands decode: the writing hides behind
the decoding instead of following it.
"""

from __future__ import annotations

import logging
import os
import shutil
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
    writers = {
        res: PatchTiffWriter((grid.pixels(res),) * 2, "uint16", grid.crs, res, nodata=S2_NODATA)
        for res in sorted(set(S2_BAND_RESOLUTION.values()))
    }
    ids = grid.patch_ids()
    xs, ys = grid.indices()
    # Nodata is 0, the smallest uint16: a patch holds a nodata pixel in a band exactly when its
    # minimum there is 0. `valid` is what the bands decoded so far allow.
    valid = np.ones(n, dtype=bool)
    views, stats = {}, {}
    progress = Progress(f"{key}: bands decoded and cut", len(S2_BANDS))
    with staged_dir(out_dir) as tmp_dir:
        files = FileHashes(tmp_dir)
        made = np.zeros(n, dtype=bool)  # patch folders made
        with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
            # Bands are decoded in the pool while this thread cuts and writes each one as it
            # comes: the files of a band go to disk while the next is decoded, instead of all
            # 12 x 8,281 after the last. A patch that a later band shows to hold nodata loses
            # the files written for it (below); where nodata is rare, almost nothing is undone.
            decoded = pool.map(lambda band: read_band(paths[band], product, band, grid), S2_BANDS + ("SCL",))
            for done, (band, array) in enumerate(zip(S2_BANDS + ("SCL",), decoded), 1):
                if band == "SCL":
                    cloud, snow = scl_fractions(array, grid)
                    continue
                views[band] = view = blocks(array, grid.pixels(S2_BAND_RESOLUTION[band]), grid.n_rows, grid.n_cols)
                stats[band] = s2_block_stats(view)
                valid &= stats[band]["min"].ravel() != S2_NODATA
                writer = writers[S2_BAND_RESOLUTION[band]]
                for i in np.flatnonzero(valid):
                    x, y, pid = int(xs[i]), int(ys[i]), ids[i]
                    folder = f"{tmp_dir}/{pid}"
                    if not made[i]:
                        os.mkdir(folder)
                        made[i] = True
                    left, _, _, top = grid.patch_bounds(x, y)
                    files.write(f"{folder}/{pid}_{band}.tif", writer.to_bytes(view[y, :, x, :], left, top))
                progress.update(done)
        LOG.info("%s: decoded and cut 12 bands and SCL in %.1f s", key, time.monotonic() - start)
        undone = np.flatnonzero(made & ~valid)
        for i in undone:
            shutil.rmtree(f"{tmp_dir}/{ids[i]}")
        files.drop({ids[i] for i in undone})
        todo = np.flatnonzero(valid)
        with ShardWriter(shard_path) as shard:
            for i in todo:
                x, y = int(xs[i]), int(ys[i])
                shard.add(ids[i], encode({band: views[band][y, :, x, :] for band in S2_BANDS}))
        kept = {band: {stat: a.ravel()[todo] for stat, a in stats[band].items()} for band in S2_BANDS}
        write_parquet(s2_stats_table([ids[i] for i in todo], kept), band_stats_path)
        write_parquet(patch_table(grid, valid, cloud, snow), table_path)
        if sha256_path:
            files.save(sha256_path)
    LOG.info("%s: %d patches, %d valid, cut in %.1f s", key, n, len(todo), time.monotonic() - start)
    return {"patches": n, "valid": int(len(todo))}
