"""Benchmark of rule rasterize_reference_maps on a full-size tile (run by hand, not in CI).

A full T33UUP grid (10980 x 10980 px, 91 x 91 = 8,281 patches; reben.grid.TileGrid, no
Sentinel-2 product needed) over a synthetic CLC GeoPackage in EPSG:3035 of 200,000 polygons
spread over about 400 km x 400 km, so that some 15,000 of them meet the tile and the spatial
filter matters. Measured, in a fresh process pinned to one core: reading the tile's polygons,
rasterizing, and writing the 8,281 reference maps, the shard and labels.parquet; wall time and
peak resident memory.

    .venv/bin/python bench/bench_reference_maps.py [--polygons 200000] [--out bench/out]

The GeoPackage is made once and kept in the output folder (about a minute to make).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
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


def make_clc(path: Path, polygons: int) -> None:
    import pyogrio
    import shapely

    from reben.grid import TileGrid
    from reben.synthetic.clc import synthetic_clc, write_clc

    grid = TileGrid(**TILE)
    cx, cy = grid.ulx + grid.width_m / 2, grid.uly - grid.height_m / 2
    # Area per polygon such that ~15,000 cells cover the tile: side of the whole region.
    side = (polygons * grid.width_m * grid.height_m / 15000) ** 0.5
    start = time.monotonic()
    frame = synthetic_clc(
        (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2),
        grid.epsg,
        n_polygons=polygons,
        seed=5,
        coast=False,
        n_invalid=50,
        merge=False,
        segment_m=50.0,
        bend_m=40.0,
    )
    write_clc(frame, path)
    info = pyogrio.read_info(path)
    print(
        f"made {path}: {info['features']} polygons, "
        f"{shapely.get_num_coordinates(frame.geometry.values).sum():,} vertices, "
        f"{path.stat().st_size / 1e6:.0f} MB, in {time.monotonic() - start:.0f} s",
        flush=True,
    )


def measure(clc: Path, out: Path) -> None:
    """One run of the job's function in this (fresh) process; prints a JSON line."""
    import logging
    import shutil

    from reben.grid import TileGrid
    from reben.io import write_json
    from reben.labels.clc import rasterize_reference_maps

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    grid = TileGrid(**TILE)
    out.mkdir(parents=True, exist_ok=True)
    write_json({"tile_key": grid.tile_key, "grid": grid.to_dict()}, out / "geocoding.json")
    shutil.rmtree(out / "reference_maps", ignore_errors=True)
    start, cpu = time.monotonic(), time.process_time()
    summary = rasterize_reference_maps(
        out / "geocoding.json",
        clc,
        out / "reference_maps",
        out / "reference_maps_shard.parquet",
        out / "labels.parquet",
    )
    wall, cpu = time.monotonic() - start, time.process_time() - cpu
    # VmHWM is this process's own peak (ru_maxrss would carry the parent's across fork and exec).
    hwm_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    peak = hwm_kib / 2**20
    print(json.dumps({**summary, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_gib": round(peak, 3)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--polygons", type=int, default=200_000)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "reference_maps")
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        measure(args.measure, args.out)
        return
    clc = args.out / f"synthetic_clc_{args.polygons}.gpkg"
    if not clc.exists():
        args.out.mkdir(parents=True, exist_ok=True)
        make_clc(clc, args.polygons)
    env = {**os.environ, "GDAL_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--measure", str(clc), "--out", str(args.out)]
    if hasattr(os, "sched_setaffinity"):
        cmd = ["taskset", "-c", str(min(os.sched_getaffinity(0))), *cmd]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    sys.stderr.write(result.stderr)
    if result.returncode:
        sys.exit(result.returncode)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        f"one core: {figures['polygons']:,} polygons read, {figures['patches']:,} reference maps "
        f"+ shard + labels ({figures['labelled']:,} labelled) in {figures['wall_s']:.1f} s wall "
        f"({figures['cpu_s']:.1f} s CPU), "
        f"peak RSS {figures['peak_rss_gib']:.2f} GiB (target < 30 s, < 2 GiB)"
    )


if __name__ == "__main__":
    main()
