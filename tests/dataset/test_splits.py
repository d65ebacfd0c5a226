"""reBEN's tile-ring split, against distances worked out by hand."""

import math

import pytest

from reben.dataset.splits import assign_splits, split_thresholds
from reben.grid import TileGrid

KEY = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


def full_tile():
    return TileGrid(KEY, 32633, 300000, 5400000, 109800, 109800)


def split_of(table, grid, x, y):
    return table.loc[table["patch_id"] == grid.patch_id(x, y), "split"].item()


def test_thresholds_of_a_real_tile():
    train, validation = split_thresholds(109800)
    assert train == pytest.approx(109800 * (2 - math.sqrt(2)) / 4)
    assert train == pytest.approx(16079.84, abs=0.01)
    assert validation == 27450


@pytest.mark.parametrize(
    "x, y, expected",
    [
        (0, 45, "train"),  # centre 600 m from the west edge
        (12, 45, "train"),  # 15000 m < 16079.8 m
        (13, 45, "validation"),  # 16200 m
        (22, 45, "validation"),  # 27000 m < 27450 m
        (23, 45, "test"),  # 28200 m
        (45, 45, "test"),  # the centre of the tile
        (45, 90, "train"),  # 109800 - 108600 = 1200 m from the south edge (the tile is 109800 m)
        (77, 45, "validation"),  # 109800 - 93000 = 16800 m from the east edge
        (78, 45, "train"),  # 15600 m from the east edge
        (68, 68, "test"),  # 109800 - 82200 = 27600 m from the east and south edges
        (69, 45, "validation"),  # 109800 - 83400 = 26400 m from the east edge
    ],
)
def test_patches_of_a_real_tile(x, y, expected):
    grid = full_tile()
    table = assign_splits(grid)
    assert split_of(table, grid, x, y) == expected


def test_counts_of_a_real_tile():
    # Per axis: train indices 0..12 and 78..90 (13 + 13), test 23..68 (46); the rings are squares.
    table = assign_splits(full_tile())
    counts = table["split"].value_counts().to_dict()
    assert counts == {"test": 46 * 46, "train": 91 * 91 - 65 * 65, "validation": 65 * 65 - 46 * 46}
    assert list(table["patch_id"][:2]) == [f"{KEY}_00_00", f"{KEY}_01_00"]


def test_a_tile_of_another_size():
    # 12 x 12 patches, side 14400 m: train under 2108.8 m, validation under 3600 m.
    # Centres at 600, 1800 (train), 3000 (validation), 4200.. (test) from each edge.
    grid = TileGrid(KEY, 32633, 394800, 5400000, 14400, 14400)
    table = assign_splits(grid)
    row = [split_of(table, grid, x, 6) for x in range(12)]
    assert row == ["train", "train", "validation"] + ["test"] * 6 + ["validation", "train", "train"]
    assert table["split"].value_counts().to_dict() == {"train": 144 - 64, "validation": 64 - 36, "test": 36}


def test_a_rectangular_tile_uses_its_width_and_its_own_edges():
    # 4 x 2 patches: width 4800 m (train under 702.9 m, validation under 1200 m); every centre
    # is 600 m from the north or south edge, so every patch is train.
    grid = TileGrid(KEY, 32633, 0, 2400, 4800, 2400)
    assert set(assign_splits(grid)["split"]) == {"train"}
