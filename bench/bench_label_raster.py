"""Benchmark of rule rasterize_reference_maps with a land-cover raster as the label source
(run by hand, not in CI).

A full T33UUP grid (10980 x 10980 px, 8,281 patches) and a synthetic 10 m land-cover raster in
EPSG:3035 (uint16 CLC codes in 500 m blocks, DEFLATE, tiled) that covers the tile with a
margin, as CLC+ Backbone or WorldCover would. Measured in this process: the window read and
nearest-neighbour warp onto the tile's 10 m grid (reben.labels.raster.read_tile_codes), then
the whole job (reference maps, shard, labels with labels_43); wall time and peak resident
memory.

    .venv/bin/python bench/bench_label_raster.py [--out bench/out]

The raster is made once and kept in the output folder.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

TILE = dict(
    tile_key="S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP",
    epsg=32633,
    ulx=300000.0,
    uly=5400000.0,
    width_m=109800.0,
    height_m=109800.0,
)
CODES = (111, 112, 211, 231, 242, 243, 311, 312, 313, 324, 512)


def make_raster(path: Path, grid) -> None:
    import numpy as np
    import rasterio
    from affine import Affine
    from rasterio.warp import transform_bounds

    left, bottom, right, top = transform_bounds(
        grid.crs, "EPSG:3035", grid.ulx, grid.uly - grid.height_m, grid.ulx + grid.width_m, grid.uly, densify_pts=21
    )
    left, top = np.floor(left / 1000) * 1000 - 2000, np.ceil(top / 1000) * 1000 + 2000
    width = int((right - left) // 10) + 400
    height = int((top - bottom) // 10) + 400
    rng = np.random.default_rng(3)
    blocks = rng.choice(np.array(CODES, dtype=np.uint16), size=(height // 50 + 1, width // 50 + 1))
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="uint16",
        crs="EPSG:3035",
        transform=Affine(10, 0, left, 0, -10, top),
        nodata=0,
        compress="deflate",
        tiled=True,
        blockxsize=512,
        blockysize=512,
    )
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, height, 512):
            rows = min(512, height - row)
            strip = np.repeat(np.repeat(blocks[row // 50 : (row + rows) // 50 + 1], 50, axis=0), 50, axis=1)[
                row % 50 : row % 50 + rows, :width
            ]
            dst.write(strip, 1, window=rasterio.windows.Window(0, row, width, rows))
    print(f"made {path}: {width} x {height} px, {path.stat().st_size / 1e6:.0f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args()

    from reben.grid import TileGrid
    from reben.io import write_json
    from reben.labels.clc import rasterize_reference_maps
    from reben.labels.raster import open_label_raster, read_tile_codes

    grid = TileGrid(**TILE)
    args.out.mkdir(parents=True, exist_ok=True)
    raster = args.out / "landcover_10m_3035.tif"
    if not raster.exists():
        make_raster(raster, grid)
    start = time.monotonic()
    _, covered = read_tile_codes(open_label_raster(raster), grid, 999)
    warp = time.monotonic() - start
    work = args.out / "label_raster_job"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    write_json({"tile_key": grid.tile_key, "grid": grid.to_dict()}, work / "geocoding.json")
    start = time.monotonic()
    summary = rasterize_reference_maps(
        work / "geocoding.json",
        raster,
        work / "reference_maps",
        work / "shard.parquet",
        work / "labels.parquet",
        raster=True,
    )
    job = time.monotonic() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "read_and_warp_s": round(warp, 1),
                "job_s": round(job, 1),
                "covered": covered,
                "peak_rss_mb": round(peak_mb),
                **summary,
            }
        )
    )


if __name__ == "__main__":
    main()
