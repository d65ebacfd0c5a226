"""Benchmark of the report's table work at scale: leakage check, label statistics, funnel recount.

Run by hand: .venv/bin/python bench/bench_report.py [tiles]
Builds a sidecar of `tiles` full-size tiles (91 x 91 patches, reBEN's tile-ring split, two UTM
zones, random labels) and times the parts of reben.report.stats that grow with the patch count.
"""

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from reben.grid import TileGrid  # noqa: E402
from reben.report.stats import CLASSES_19, label_statistics, nearest_train_distances, sidecar_funnel  # noqa: E402


def sidecar(n_tiles: int):
    import geopandas as gpd

    frames = []
    side = 109800.0
    for t in range(n_tiles):
        epsg = 32633 if t % 2 == 0 else 32634
        grid = TileGrid(
            f"S2A_MSIL2A_20170613T101031_N9999_R022_T33U{chr(65 + t % 26)}{chr(65 + t // 26)}",
            epsg,
            300000.0 + 100000 * (t % 5),
            5400000.0 - 100000 * (t // 5),
            side,
            side,
        )
        frame = grid.to_frame()
        cx = frame.geometry.centroid.x - grid.ulx
        cy = grid.uly - frame.geometry.centroid.y
        d = np.minimum.reduce([cx, cy, side - cx, side - cy])
        frame["split"] = np.where(d < side * (2 - 2**0.5) / 4, "train", np.where(d < side / 4, "validation", "test"))
        frame["tile_key"] = grid.tile_key
        frame["epsg"] = epsg
        frames.append(frame.to_crs(4326))
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326)
    rng = np.random.default_rng(0)
    out["drop_reason"] = np.where(rng.random(len(out)) < 0.3, "invalid", "")
    out["contains_cloud_or_shadow"] = rng.random(len(out)) < 0.1
    out["contains_seasonal_snow"] = False
    classes = list(CLASSES_19)
    out["labels"] = [sorted(rng.choice(classes, rng.integers(1, 5), replace=False)) for _ in range(len(out))]
    return out


def main(n_tiles: int) -> None:
    start = time.monotonic()
    side = sidecar(n_tiles)
    print(f"{n_tiles} tiles, {len(side)} patches: built in {time.monotonic() - start:.1f} s")
    kept = side[side["drop_reason"] == ""]
    for name, fn in [
        ("funnel recount", lambda: sidecar_funnel(side)),
        ("label statistics", lambda: label_statistics(pd.DataFrame(kept), list(CLASSES_19))),
        ("leakage check", lambda: nearest_train_distances(kept)),
    ]:
        t = time.monotonic()
        fn()
        print(f"{name}: {time.monotonic() - t:.1f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
