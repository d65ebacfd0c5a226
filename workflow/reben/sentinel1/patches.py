"""Sentinel-1 patches on the Sentinel-2 grid (rule cut_s1_patches).

For every patch that has a partner product, VV and VH are resampled bilinearly in linear power
onto the patch's pixels at 10 m in the tile CRS (120 x 120 for reBEN's 1200 m patches; the grid's
size decides) (reben.sentinel1.resample), turned into dB, and written as
`<S1 product>/<s1_name>/<s1_name>_VV.tif|_VH.tif` plus one shard row (key s1_name, tensors VV
and VH float32) and one row of band statistics (s1_band_stats.parquet, reben.bandstats). The
GeoTIFFs are byte for byte what the published reBEN S1 files are for the same pixels: float32,
uncompressed, strips of 17 rows, no nodata tag.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from reben.bandstats import S1StatsRows, float_block_stats
from reben.constants import S1_POLARISATIONS
from reben.errors import Sentinel1Error
from reben.geotiff import S1PatchWriter
from reben.grid import read_grid_json
from reben.hashes import FileHashes
from reben.io import staged_dir
from reben.logs import Progress
from reben.sentinel1.products import S1Source, parse_s1_name
from reben.sentinel1.resample import RESOLUTION, PatchSampler, Taps, patch_blocks
from reben.shards import ShardWriter, encode

LOG = logging.getLogger("reben.sentinel1.patches")


def to_db(linear: np.ndarray) -> np.ndarray:
    """10 log10 of linear power, float32, in place."""
    np.log10(linear, out=linear)
    linear *= np.float32(10)
    return linear


def cut_tile(
    tile_key: str,
    grid_json,
    pairing_path,
    s2_patches_path,
    products: list[dict],
    out_dir,
    shard_path,
    band_stats_path,
    unit: str = "auto",
    nodata: float | None = None,
    sha256_path=None,
) -> dict:
    """Write the S1 patch pair of every paired patch (of those valid on the Sentinel-2 side
    only, where `s2_patches_path` is given), its shard row, its band statistics row and (with
    `sha256_path`) the sha256 of every file written (reben.hashes).

    `products`: [{name, VV, VH}], at least every product the pairing names. The workflow passes
    no s2_patches table, so that S1 patches are not downstream of sen2cor (see sentinel1.smk).
    """
    start = time.monotonic()
    grid = read_grid_json(grid_json)
    pairing = pd.read_parquet(pairing_path)
    ids = grid.patch_ids()
    s2 = (
        pd.read_parquet(s2_patches_path, columns=["patch_id", "valid"])
        if s2_patches_path
        else pd.DataFrame({"patch_id": ids, "valid": np.ones(len(ids), bool)})
    )
    for name, table in (("s1_pairing", pairing), ("s2_patches", s2)):
        if table["patch_id"].tolist() != ids:
            raise Sentinel1Error(
                tile_key, f"{name} table does not list the grid's patches in grid order; rerun its rule"
            )
    needed = pairing["s1_product"].notna().to_numpy() & s2["valid"].to_numpy(dtype=bool)
    by_product = {parse_s1_name(p["name"]).product: p for p in products}
    out_dir = Path(out_dir)
    px = grid.pixels(RESOLUTION)
    writer = S1PatchWriter(grid.crs, px, RESOLUTION)
    xs, ys = grid.indices()
    s1_names = pairing["s1_name"].to_numpy(dtype=object)
    stats = S1StatsRows()
    progress = Progress(f"{tile_key}: writing S1 patches", int(needed.sum()))
    done, resampling = 0, 0.0
    with staged_dir(out_dir) as tmp_dir:
        files = FileHashes(tmp_dir)
        with ShardWriter(shard_path) as shard:
            for product in sorted(pairing.loc[needed, "s1_product"].unique()):
                if product not in by_product:
                    raise Sentinel1Error(
                        tile_key,
                        f"paired with {product}, which is not among the "
                        "configured Sentinel-1 products; rerun pair_sentinel1",
                    )
                p = by_product[product]
                mine = (needed & (pairing["s1_product"] == product).to_numpy()).reshape(grid.n_rows, grid.n_cols)
                (tmp_dir / product).mkdir()
                with S1Source(p["name"], p["VV"], p["VH"], unit=unit, nodata=nodata) as source:
                    sampler = PatchSampler(grid, source.crs, source.transform)
                    for y0, y1 in sampler.chunks(np.flatnonzero(mine.any(axis=1))):
                        cols = np.flatnonzero(mine[y0:y1].any(axis=0))
                        x0, x1 = int(cols.min()), int(cols.max()) + 1
                        t0 = time.monotonic()
                        rows_w, cols_w = sampler.window(y0, y1, x0, x1)
                        taps = Taps(*sampler.positions(y0, y1, x0, x1), rows_w, cols_w)
                        bands = {
                            pol: patch_blocks(to_db(taps.bilinear(source.read_linear(pol, rows_w, cols_w))), px)
                            for pol in S1_POLARISATIONS
                        }
                        del taps
                        resampling += time.monotonic() - t0
                        for dy, dx in zip(*np.nonzero(mine[y0:y1, x0:x1])):
                            i = (y0 + dy) * grid.n_cols + x0 + dx
                            name = s1_names[i]
                            tensors = {pol: np.ascontiguousarray(bands[pol][dy, :, dx, :]) for pol in ("VV", "VH")}
                            if not all(np.isfinite(t).all() for t in tensors.values()):
                                raise Sentinel1Error(
                                    p["name"],
                                    f"patch {name} touches nodata although the "
                                    "pairing found it covered; did the file change? rerun "
                                    "pair_sentinel1",
                                    p["VV"],
                                )
                            folder = tmp_dir / product / name
                            folder.mkdir()
                            left, _, _, top = grid.patch_bounds(int(xs[i]), int(ys[i]))
                            for pol, patch in tensors.items():
                                files.write(folder / f"{name}_{pol}.tif", writer.to_bytes(patch, left, top))
                            shard.add(name, encode(tensors))
                            done += 1
                            progress.update(done)
                        dys, dxs = np.nonzero(mine[y0:y1, x0:x1])
                        flat = (y0 + dys) * grid.n_cols + x0 + dxs
                        chunk_stats = {pol: float_block_stats(bands[pol]) for pol in S1_POLARISATIONS}
                        stats.add(
                            [ids[i] for i in flat],
                            s1_names[flat].tolist(),
                            {pol: {k: v[dys, dxs] for k, v in chunk_stats[pol].items()} for pol in S1_POLARISATIONS},
                        )
            stats.write(band_stats_path)
        if sha256_path:
            files.save(sha256_path)
    LOG.info(
        "%s: %d patches paired%s: %d S1 patch pairs written in %.1f s (%.1f s reading and resampling)",
        tile_key,
        int(pairing["s1_product"].notna().sum()),
        f", {int(s2['valid'].sum())} valid on the S2 side" if s2_patches_path else "",
        done,
        time.monotonic() - start,
        resampling,
    )
    return {"written": done}
