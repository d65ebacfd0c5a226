"""Benchmark of the Sentinel-1 stage on one full-size tile (not a test; run by hand).

A full T33UUP grid (91 x 91 patches, EPSG:32633) and a Sentinel-1 scene covering it in the
neighbouring UTM zone (EPSG:32632, 10 m, dB, nodata -99 beyond the tile), written once into
a work folder; then pairing + resampling + writing of the 8,281 patch pairs (files and shard)
run in a child process whose wall time and peak memory (max RSS) are reported.

    .venv/bin/python bench/bench_sentinel1.py [--workdir /tmp/reben_bench_s1]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

KEY = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
NAME = "S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017042_01C6A2_5C2B"


def make_inputs(work: Path) -> list[dict]:
    import numpy as np
    import pandas as pd
    import rasterio
    from affine import Affine
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window

    from reben.grid import TileGrid
    from reben.io import write_json, write_parquet

    grid = TileGrid(KEY, 32633, 300000, 5400000, 109800, 109800)
    write_json({"grid": grid.to_dict()}, work / "geocoding.json")
    x, y = grid.indices()
    write_parquet(
        pd.DataFrame({"patch_id": grid.patch_ids(), "x": x, "y": y, "valid": np.ones(len(x), bool)}),
        work / "s2_patches.parquet",
    )
    paths = {pol: work / f"{NAME}_{pol}.tif" for pol in ("VV", "VH")}
    if not all(p.exists() for p in paths.values()):
        left, bottom, right, top = transform_bounds("EPSG:32633", "EPSG:32632", 300000, 5290200, 409800, 5400000)
        left, bottom, right, top = left - 3000, bottom - 3000, right + 3000, top + 3000
        width, height = int((right - left) // 10), int((top - bottom) // 10)
        transform = Affine(10, 0, left, 0, -10, top)
        rng = np.random.default_rng(0)
        for pol, level in (("VV", -10.0), ("VH", -17.0)):
            profile = dict(
                driver="GTiff",
                width=width,
                height=height,
                count=1,
                dtype="float32",
                crs="EPSG:32632",
                transform=transform,
                nodata=-99.0,
                tiled=True,
                blockxsize=512,
                blockysize=512,
            )
            with rasterio.open(paths[pol], "w", **profile) as dst:
                dst.units = ("dB",)
                cols = np.arange(width)
                for r0 in range(0, height, 1024):
                    rows = np.arange(r0, min(r0 + 1024, height))[:, None]
                    db = (
                        level
                        + 3 * np.sin(cols / 300.0) * np.cos(rows / 410.0)
                        + 10 * np.log10(rng.gamma(4.4, 1 / 4.4, (len(rows), width)))
                    ).astype("float32")
                    db[(cols[None, :] + rows) < 600] = -99.0  # a nodata corner outside the tile
                    dst.write(db, 1, window=Window(0, r0, width, len(rows)))
        print(f"S1 scene written: {width} x {height} px at 10 m, EPSG:32632, 2 bands")
    return [{"name": NAME, "VV": str(paths["VV"]), "VH": str(paths["VH"])}]


def timed(work: Path) -> None:
    import logging

    from reben.sentinel1.pairing import pair_tile
    from reben.sentinel1.patches import cut_tile

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    products = [{"name": NAME, "VV": str(work / f"{NAME}_VV.tif"), "VH": str(work / f"{NAME}_VH.tif")}]
    start = time.monotonic()
    pairing = pair_tile(KEY, work / "geocoding.json", products, work / "s1_pairing.parquet", 10)
    paired = time.monotonic()
    result = cut_tile(
        KEY,
        work / "geocoding.json",
        work / "s1_pairing.parquet",
        work / "s2_patches.parquet",
        products,
        work / "s1",
        work / "s1_shard.parquet",
    )
    done = time.monotonic()
    # VmHWM is this process's own peak (ru_maxrss would carry the parent's peak across exec).
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(
        f"pairing {paired - start:.1f} s ({int(pairing['s1_product'].notna().sum())} paired), "
        f"resampling + writing {done - paired:.1f} s ({result['written']} pairs), "
        f"peak memory {hwm / 1024**2:.2f} GiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/reben_bench_s1"))
    parser.add_argument("--timed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.timed:
        timed(args.workdir)
        return
    make_inputs(args.workdir)
    start = time.monotonic()
    subprocess.run([sys.executable, __file__, "--timed", "--workdir", str(args.workdir)], check=True)
    wall = time.monotonic() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"sentinel1 bench: pairing + resampling + writing 8,281 patch pairs: wall {wall:.1f} s, "
        f"CPU {usage.ru_utime:.1f} s user + {usage.ru_stime:.1f} s system (targets: < 60 s, < 3 GiB)"
    )


if __name__ == "__main__":
    main()
