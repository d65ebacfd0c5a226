"""Benchmark of the BigEarthNet v1 layout export (rule export_v1) on full-size tiles, run by hand:

    .venv/bin/python bench/bench_v1_export.py [n_tiles] [threads]

Each tile holds 91 x 91 = 8,281 kept patches with an S1 partner: 14 hard links and 2 JSON files
per patch. Band files are small stand-ins: linking costs the same whatever their size. Prints
the wall time of export_v1 and the peak memory of the process.
"""

import json
import resource
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

from reben.constants import S1_POLARISATIONS, S2_BANDS  # noqa: E402
from reben.distribution.v1_export import export_v1  # noqa: E402
from reben.grid import TileGrid  # noqa: E402
from reben.sentinel1.products import s1_name  # noqa: E402

S1_PRODUCT = "S1A_IW_GRDH_1SDV_20170613T165043"


def fake_tile(root: Path, grid: TileGrid) -> pd.DataFrame:
    """A tile's geocoding.json, S2 and S1 trees of kept patches, and its sidecar rows."""
    (root / "tiles" / grid.tile_key).mkdir(parents=True)
    (root / "tiles" / grid.tile_key / "geocoding.json").write_text(json.dumps({"grid": grid.to_dict()}))
    x, y = grid.indices()
    ids = grid.patch_ids()
    s1_names = [s1_name(S1_PRODUCT, "T33UUP", i, j) for i, j in zip(x, y)]
    for pid, s1 in zip(ids, s1_names):
        folder = root / "dataset" / "BigEarthNet-S2" / grid.tile_key / pid
        folder.mkdir(parents=True)
        for band in S2_BANDS:
            (folder / f"{pid}_{band}.tif").write_bytes(b"b")
        folder = root / "dataset" / "BigEarthNet-S1" / S1_PRODUCT / s1
        folder.mkdir(parents=True)
        for pol in S1_POLARISATIONS:
            (folder / f"{s1}_{pol}.tif").write_bytes(b"b")
    n = len(ids)
    return pd.DataFrame(
        {
            "patch_id": ids,
            "tile_key": grid.tile_key,
            "x": x,
            "y": y,
            "drop_reason": "",
            "split": ["train", "validation", "test"] * (n // 3) + ["train"] * (n % 3),
            "s1_name": s1_names,
            "s2v1_name": "",
            "contains_seasonal_snow": False,
            "contains_cloud_or_shadow": [i % 10 == 0 for i in range(n)],
            "labels_43": [["Non-irrigated arable land", "Pastures"]] * n,
        }
    )


def main(n_tiles: int = 1, threads: int = 2) -> None:
    root = REPO / "bench" / "out" / "v1_export"
    shutil.rmtree(root, ignore_errors=True)
    grids = [
        TileGrid(f"S2A_MSIL2A_2017061{i}T101031_N9999_R022_T33UUP", 32633, 300000, 5400000, 109800, 109800)
        for i in range(n_tiles)
    ]
    start = time.perf_counter()
    sidecar = pd.concat([fake_tile(root, g) for g in grids], ignore_index=True)
    sidecar.to_parquet(root / "dataset" / "patches.parquet")
    print(f"fake dataset ({len(sidecar)} patches): {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    n = export_v1(
        sidecar=root / "dataset" / "patches.parquet",
        s2_tree=root / "dataset" / "BigEarthNet-S2",
        out_dir=root / "export" / "bigearthnet_v1",
        geocodings=[root / "tiles" / g.tile_key / "geocoding.json" for g in grids],
        tile_sources={g.tile_key: g.tile_key for g in grids},
        s1_tree=root / "dataset" / "BigEarthNet-S1",
        threads=threads,
    )
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"export_v1 ({n} patches, {threads} threads): {seconds:.1f} s, {n / seconds:.0f} patches/s, "
        f"peak memory {peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
