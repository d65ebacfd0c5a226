"""The patch grid and patch ids, against hand-computed expectations."""

import pytest

from reben.errors import GridError
from reben.grid import TileGrid

KEY = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


def full_tile(**kw):
    return TileGrid(tile_key=KEY, epsg=32633, ulx=300000, uly=5400000, width_m=109800, height_m=109800, **kw)


def test_full_tile_has_91_by_91_patches_with_two_digit_ids():
    grid = full_tile()
    assert (grid.n_cols, grid.n_rows) == (91, 91)
    assert len(grid.patch_ids()) == 8281
    assert grid.index_digits == 2
    assert grid.patch_id(3, 7) == f"{KEY}_03_07"
    assert grid.patch_ids()[-1] == f"{KEY}_90_90"


def test_patch_75_43_starts_where_the_real_reben_patch_does():
    grid = full_tile()
    left, bottom, right, top = grid.patch_bounds(75, 43)
    assert (left, top) == (390000, 5348400)
    assert (right, bottom) == (391200, 5347200)
    t = grid.patch_transform(75, 43, 60)
    assert (t.a, t.c, t.e, t.f) == (60, 390000, -60, 5348400)


def test_only_complete_patches_count():
    grid = TileGrid(tile_key=KEY, epsg=32633, ulx=0, uly=0, width_m=15000, height_m=3599)
    assert (grid.n_cols, grid.n_rows) == (12, 2)
    assert grid.index_digits == 2  # largest index 11
    small = TileGrid(tile_key=KEY, epsg=32633, ulx=0, uly=0, width_m=4800, height_m=4800)
    assert small.patch_id(3, 0) == f"{KEY}_3_0"


def test_grid_order_is_row_major_and_footprints_match_bounds():
    grid = TileGrid(tile_key=KEY, epsg=32633, ulx=1000, uly=9000, width_m=3600, height_m=2400)
    frame = grid.to_frame()
    assert list(zip(frame.x, frame.y)) == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]
    assert frame.geometry.iloc[4].bounds == (2200, 6600, 3400, 7800)
    assert frame.crs.to_epsg() == 32633


def test_patch_size_must_be_a_multiple_of_60_m():
    with pytest.raises(GridError, match="not a multiple of 60 m"):
        full_tile(patch_size_m=1250)


def test_tile_smaller_than_a_patch_is_an_error():
    with pytest.raises(GridError, match="no complete 1200 m patch"):
        TileGrid(tile_key=KEY, epsg=32633, ulx=0, uly=0, width_m=1000, height_m=5000)


def test_round_trip_through_dict():
    grid = full_tile(patch_size_m=600)
    assert TileGrid.from_dict(grid.to_dict()) == grid
    assert grid.n_cols == 183


def test_ids_and_file_names_are_those_of_the_real_reben_patches():
    from conftest import shared

    from reben.constants import S2_BANDS

    root = shared("reben_samples", "BigEarthNet-S2", KEY)
    grid = full_tile()
    folders = sorted(p.name for p in root.iterdir())
    assert folders == [grid.patch_id(75, 43), grid.patch_id(89, 18)]
    for folder in folders:
        assert sorted(p.name for p in (root / folder).iterdir()) == sorted(f"{folder}_{b}.tif" for b in S2_BANDS)
    ref = shared("reben_samples", "Reference_Maps", KEY)
    assert [p.name for p in ref.iterdir()] == [grid.patch_id(26, 57)]


def test_tile_key_and_s1_product_are_recovered_from_patch_names():
    from reben.grid import tile_key_of
    from reben.sentinel1.products import s1_name, s1_product_of

    grid = full_tile()
    assert tile_key_of(grid.patch_id(75, 43)) == KEY
    name = s1_name("S1B_IW_GRDH_1SDV_20170612T165809", "T33UUP", 26, 57)
    assert name == "S1B_IW_GRDH_1SDV_20170612T165809_33UUP_26_57"
    assert s1_product_of(name) == "S1B_IW_GRDH_1SDV_20170612T165809"


@pytest.mark.parametrize(
    "size, per_side, digits, pixels",
    [
        (600, 183, 3, (60, 30, 10)),  # 109,800 m / 600 m; largest index 182
        (1200, 91, 2, (120, 60, 20)),
        (2400, 45, 2, (240, 120, 40)),  # 45 complete patches, 1,800 m left over
        (60000, 1, 1, (6000, 3000, 1000)),
    ],
)
def test_other_patch_sizes_size_the_grid_ids_and_pixels(size, per_side, digits, pixels):
    grid = full_tile(patch_size_m=size)
    assert (grid.n_cols, grid.n_rows) == (per_side, per_side)
    assert grid.index_digits == digits
    assert grid.patch_id(3, 7) == f"{KEY}_{3:0{digits}d}_{7:0{digits}d}"
    assert (grid.pixels(10), grid.pixels(20), grid.pixels(60)) == pixels
    assert grid.patch_bounds(1, 2) == (300000 + size, 5400000 - 3 * size, 300000 + 2 * size, 5400000 - 2 * size)


def test_pixels_at_a_resolution_that_does_not_divide_the_size_is_an_error():
    with pytest.raises(GridError, match="patch size 1200 m is not a multiple of 70 m"):
        full_tile().pixels(70)
