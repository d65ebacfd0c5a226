"""Overlapping footprints of different tiles (reben.dataset.overlaps): leakage counts and the split
options, on hand-made grids with hand-computed overlaps, and the demo's own finding."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from reben.dataset.overlaps import resolve_overlaps, split_overlaps
from reben.grid import TileGrid

A = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
B = "S2B_MSIL2A_20170701T101031_N9999_R022_T33UVP"


def two_tiles(splits_a, splits_b):
    """Tile A: 2 x 1 patches at x 300000; tile B: 2 x 1 patches shifted east by 1600 m (so B's
    first patch overlaps A's second by 800 m x 1200 m = 2/3 of a patch), in EPSG:4326."""
    import geopandas as gpd

    frames = []
    for key, ulx, splits, day in ((A, 300000.0, splits_a, "2017-06-13"), (B, 301600.0, splits_b, "2017-07-01")):
        grid = TileGrid(key, 32633, ulx, 5400000.0, 2400.0, 1200.0)
        f = grid.to_frame()
        f["tile_key"], f["epsg"], f["split"], f["drop_reason"] = key, 32633, splits, ""
        f["sensing_time"] = pd.Timestamp(day, tz="UTC")
        frames.append(f)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=32633).to_crs(4326)


def test_overlap_counts_positive_area_apart_from_touching():
    patches = two_tiles(["train", "train"], ["test", "test"])
    summary, pairs = split_overlaps(patches)
    test = summary["test_vs_train"]
    # B_0 overlaps A_1 by 800 m x 1200 m; B_1 touches nothing of A (it starts 400 m east of A's edge).
    assert test["patches"] == 2 and test["overlapping"] == 1 and test["touching_only"] == 0
    assert test["overlapping_share"] == 0.5
    assert test["max_pair_overlap_share"] == pytest.approx(2 / 3, abs=1e-6)
    assert test["overlap_area_km2"] == pytest.approx(0.96, abs=1e-5)
    assert summary["validation_vs_train"]["overlapping"] == 0
    assert set(pairs["patch_id"]) == {f"{A}_1_0", f"{B}_0_0"}
    assert pairs["overlap_m2"].to_numpy() == pytest.approx([960000, 960000], abs=1)


def test_patches_that_only_touch_do_not_count_as_overlapping():
    patches = two_tiles(["train", "validation"], ["test", "test"])  # within A: train touches validation
    summary, _ = split_overlaps(patches)
    v = summary["validation_vs_train"]
    assert (v["overlapping"], v["touching_only"]) == (0, 1)


def test_same_split_moves_the_overlap_into_train_and_drop_later_drops_it():
    patches = two_tiles(["train", "train"], ["test", "test"])
    same, moved = resolve_overlaps(patches, "same_split")
    assert moved == 1
    assert list(same["split"]) == ["train", "train", "train", "test"]
    assert split_overlaps(same)[0]["test_vs_train"]["overlapping"] == 0
    dropped, n = resolve_overlaps(patches, "drop_later")
    assert n == 1
    assert list(dropped["drop_reason"]) == ["", "", "overlap", ""]  # B is the later tile
    assert list(resolve_overlaps(patches, "none")[0]["split"]) == list(patches["split"])


def test_drop_later_keeps_overlaps_within_one_split():
    patches = two_tiles(["train", "test"], ["test", "test"])
    dropped, n = resolve_overlaps(patches, "drop_later")
    assert n == 0 and (dropped["drop_reason"] == "").all()


def test_leakage_check_fails_unless_the_share_is_accepted():
    from reben.report.stats import leakage_check

    summary, _ = split_overlaps(two_tiles(["train", "train"], ["test", "test"]))
    failed = leakage_check(summary, 0.0)
    assert not failed["ok"] and "test: 1 of 2 overlap train (up to 66.7 % of a patch)" in failed["detail"]
    assert leakage_check(summary, 0.5)["ok"]


@pytest.mark.integration
def test_the_demo_tiles_overlap_as_found_and_the_options_remove_it(demo_run):
    """Recomputed from the demo run's per-tile splits (reBEN's tile-ring split): 18 of the 66
    kept test patches overlap a train patch of the other tile, by up to 2/3 of a patch."""
    import geopandas as gpd

    results = demo_run / "results"
    sidecar = gpd.read_parquet(results / "dataset" / "patches.parquet")
    ring = pd.concat([pd.read_parquet(p) for p in (results / "tiles").glob("*/splits.parquet")])
    kept = sidecar[sidecar["drop_reason"] == ""].drop(columns="split").merge(ring, on="patch_id")
    summary, _ = split_overlaps(kept)
    assert (summary["test_vs_train"]["overlapping"], summary["test_vs_train"]["patches"]) == (18, 66)
    assert summary["test_vs_train"]["max_pair_overlap_share"] == pytest.approx(2 / 3, abs=1e-6)
    report = json.loads((results / "report" / "report.json").read_text())
    assert report["leakage"]["overlaps"]["test_vs_train"]["overlapping"] == 18
    for mode in ("same_split", "drop_later"):
        fixed, _ = resolve_overlaps(kept, mode)
        fixed = fixed[fixed["drop_reason"] == ""]
        after, _ = split_overlaps(fixed)
        assert after["test_vs_train"]["overlapping"] == after["validation_vs_train"]["overlapping"] == 0
