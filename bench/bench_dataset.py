"""Benchmark of issue 4's steps on full-size tiles (91 x 91 patches), run by hand:

    .venv/bin/python bench/bench_dataset.py [n_tiles] [threads]

Times assign_splits and assign_countries (real Natural Earth borders from ../shared/data) per
tile, select_patches per tile, stage_tile_trees per tile (13 hard links per kept patch: 12
bands, 1 reference map; no Sentinel-1 here), and assemble_dataset over all tiles twice: moving
the staged trees (the workflow's way), and linking every patch folder itself (no staged trees,
as before stage_tile_trees). Each is printed per kept patch. Patch files are small stand-ins:
linking costs the same whatever their size.
"""

import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

from reben.constants import REBEN_COUNTRIES, S2_BANDS  # noqa: E402
from reben.dataset.assembly import TileInputs, assemble_dataset, stage_tile_trees  # noqa: E402
from reben.dataset.countries import assign_countries, read_borders  # noqa: E402
from reben.dataset.flags import compute_flags  # noqa: E402
from reben.dataset.selection import select_patches  # noqa: E402
from reben.dataset.splits import assign_splits  # noqa: E402
from reben.grid import TileGrid  # noqa: E402

BORDERS = REPO.parent / "shared/data/countries/naturalearth_lowres/naturalearth_lowres.shp"


def timed(what, fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    print(f"{what}: {time.perf_counter() - start:.3f} s")
    return result


def seconds(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def assemble(tiles, d: Path, threads: int) -> float:
    d.mkdir()
    return seconds(
        assemble_dataset,
        tiles,
        s2_tree=d / "BigEarthNet-S2",
        s1_tree=d / "BigEarthNet-S1",
        reference_maps_tree=d / "Reference_Maps",
        metadata=d / "metadata.parquet",
        flagged_metadata=d / "flagged.parquet",
        sidecar=d / "patches.parquet",
        funnel_csv=d / "funnel.csv",
        threads=threads,
    )


def fake_tile(root: Path, grid: TileGrid, borders, rng) -> TileInputs:
    folder = root / "tiles" / grid.tile_key
    folder.mkdir(parents=True)
    ids = grid.patch_ids()
    n = len(ids)
    (folder / "geocoding.json").write_text(json.dumps({"grid": grid.to_dict()}))
    tile = {"tile_key": grid.tile_key, "excluded": False, "sensing_time": "2017-06-13T10:10:31Z", "season": "Summer"}
    (folder / "tile.json").write_text(json.dumps(tile))
    x, y = grid.indices()
    s2 = pd.DataFrame(
        {
            "patch_id": ids,
            "x": x,
            "y": y,
            "valid": rng.random(n) > 0.1,
            "cloud_or_shadow_fraction": (rng.random(n) < 0.2).astype("float32"),
            "snow_fraction": np.zeros(n, "float32"),
        }
    )
    labelled = rng.random(n) > 0.1
    labels = pd.DataFrame(
        {
            "patch_id": ids,
            "unlabeled_fraction": np.zeros(n, "float32"),
            "labelled": labelled,
            "labels": [["Arable land", "Pastures"] if v else [] for v in labelled],
        }
    )
    s2.to_parquet(folder / "s2_patches.parquet")
    labels.to_parquet(folder / "labels.parquet")
    timed(f"{grid.tile_key[-6:]} assign_splits", assign_splits, grid).to_parquet(folder / "splits.parquet")
    timed(f"{grid.tile_key[-6:]} assign_countries", assign_countries, grid, borders).to_parquet(
        folder / "countries.parquet"
    )
    flags = compute_flags(s2, {"contains_cloud_or_shadow": 0.0, "contains_seasonal_snow": 0.0})
    timed(f"{grid.tile_key[-6:]} select_patches", select_patches, tile, s2, labels, flags).to_parquet(
        folder / "selection.parquet"
    )
    for pid, ok in zip(ids, s2["valid"]):
        (folder / "reference_maps" / pid).mkdir(parents=True)
        (folder / "reference_maps" / pid / f"{pid}_reference_map.tif").write_bytes(b"m")
        if ok:
            (folder / "s2" / pid).mkdir(parents=True)
            for band in S2_BANDS:
                (folder / "s2" / pid / f"{pid}_{band}.tif").write_bytes(b"b")
    return TileInputs(
        str(folder / "tile.json"),
        str(folder / "geocoding.json"),
        str(folder / "s2_patches.parquet"),
        str(folder / "labels.parquet"),
        str(folder / "splits.parquet"),
        str(folder / "countries.parquet"),
        str(folder / "selection.parquet"),
        str(folder / "s2"),
        str(folder / "reference_maps"),
    )


def main(n_tiles: int = 2, threads: int = 2) -> None:
    root = REPO / "bench" / "out" / "dataset"
    shutil.rmtree(root, ignore_errors=True)
    borders = read_borders(BORDERS, "name", REBEN_COUNTRIES)
    rng = np.random.default_rng(0)
    tiles = [
        fake_tile(
            root,
            TileGrid(f"S2A_MSIL2A_2017061{i}T101031_N9999_R022_T33UUP", 32633, 300000, 5400000, 109800, 109800),
            borders,
            rng,
        )
        for i in range(n_tiles)
    ]
    staging = []
    for i, t in enumerate(tiles):
        trees = Path(t.selection).with_name("staged_trees")
        staging.append(
            seconds(stage_tile_trees, t.geocoding, t.selection, t.s2_dir, t.reference_maps_dir, trees, threads=1)
        )
        tiles[i] = dataclasses.replace(t, staged_trees=str(trees))
    moving = assemble(tiles, root / "dataset", threads)
    linking = assemble([dataclasses.replace(t, staged_trees=None) for t in tiles], root / "dataset_linked", threads)
    total = pd.read_csv(root / "dataset" / "funnel.csv").tail(1)
    print(total.to_string(index=False))
    kept = int(total["kept"].iloc[0])
    ms = 1000 / kept
    print(
        f"stage_tile_trees: {sum(staging):.3f} s over {n_tiles} tiles (1 thread each; max {max(staging):.3f} s), "
        f"{sum(staging) * ms:.3f} ms per kept patch"
    )
    print(
        f"assemble_dataset, moving the staged trees ({threads} threads): {moving:.3f} s, "
        f"{moving * ms:.3f} ms per kept patch"
    )
    print(
        f"assemble_dataset, linking every patch folder (before stage_tile_trees, {threads} threads): "
        f"{linking:.3f} s, {linking * ms:.3f} ms per kept patch"
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
