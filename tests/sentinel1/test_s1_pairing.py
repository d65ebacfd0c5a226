"""Pairing: closest in time among the products that cover the whole patch with valid pixels."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import rasterio
from affine import Affine

from reben.grid import TileGrid
from reben.io import write_json
from reben.sentinel1.pairing import choose_partners, pair_tile
from reben.sentinel1.resample import PatchSampler, coverage

S2 = datetime(2017, 6, 13, 10, 10, 31, tzinfo=timezone.utc)
KEY = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


def days(d):
    return S2 + timedelta(days=d)


def test_closest_in_time_among_covering():
    times = [days(-1), days(0.3), days(2)]
    covered = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 0, 0]], bool)
    choice, gap = choose_partners(S2, times, ["a", "b", "c"], covered, 10)
    assert choice.tolist() == [1, 0, 0, -1]
    np.testing.assert_allclose(gap[:3], [0.3, 1, 1])
    assert np.isnan(gap[3])


def test_tie_goes_to_earlier_acquisition():
    times = [days(2), days(-2)]  # same gap, the second is earlier
    choice, gap = choose_partners(S2, times, ["later", "earlier"], np.ones((2, 3), bool), 10)
    assert choice.tolist() == [1, 1, 1]
    np.testing.assert_allclose(gap, 2)


def test_maximum_gap():
    times = [days(-10), days(10.5)]
    choice, _ = choose_partners(S2, times, ["a", "b"], np.ones((2, 2), bool), 10)
    assert choice.tolist() == [0, 0]  # a gap of exactly the maximum is allowed
    choice, gap = choose_partners(S2, times, ["a", "b"], np.array([[0, 0], [1, 1]], bool), 10)
    assert choice.tolist() == [-1, -1] and np.isnan(gap).all()


def test_no_products():
    choice, gap = choose_partners(S2, [], [], np.zeros((0, 5), bool), 10)
    assert choice.tolist() == [-1] * 5 and np.isnan(gap).all()


# --- coverage on hand-made footprints ------------------------------------------------------

GRID = TileGrid(KEY, 32633, 400000, 5400000, 3 * 1200, 1200)  # three patches in a row


def footprint(tmp_path, name, valid_cols, nodata=-99.0, left=400000, res=10, crs="EPSG:32633", width=360):
    """A dB product on a 10 m grid: valid in the given source columns, nodata elsewhere."""
    data = np.full((120, width), nodata, np.float32)
    data[:, valid_cols] = -12.0
    paths = {}
    for pol in ("VV", "VH"):
        path = tmp_path / f"{name}_{pol}.tif"
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=width,
            height=120,
            count=1,
            dtype="float32",
            crs=crs,
            transform=Affine(res, 0, left, 0, -res, 5400000),
            nodata=nodata,
        ) as dst:
            dst.write(data, 1)
            dst.units = ("dB",)
        paths[pol] = str(path)
    return {"name": name, **paths}


def test_full_coverage_required(tmp_path):
    from reben.sentinel1.products import S1Source

    # Valid in columns 0..239 except column 130: patch 0 covered, patch 1 touches nodata, patch 2 outside.
    cols = np.r_[0:130, 131:240]
    p = footprint(tmp_path, "S1A_IW_GRDH_1SDV_20170613T165043", cols)
    with S1Source(p["name"], p["VV"], p["VH"]) as s:
        cov = coverage(PatchSampler(GRID, s.crs, s.transform), s.read_valid, np.ones(3, bool))
    assert cov.tolist() == [True, False, False]


def test_aligned_grid_edge_is_covered_but_half_pixel_shift_is_not(tmp_path):
    from reben.sentinel1.products import S1Source

    # Valid exactly on patch 0's 120 columns: aligned grids touch only those pixels.
    p = footprint(tmp_path, "S1A_IW_GRDH_1SDV_20170613T165043", np.r_[0:120])
    with S1Source(p["name"], p["VV"], p["VH"]) as s:
        assert coverage(PatchSampler(GRID, s.crs, s.transform), s.read_valid, np.ones(3, bool)).tolist() == [
            True,
            False,
            False,
        ]
    # Shifted 5 m east (raster 400005..403605): the first pixel centre (400005) sits half-way
    # between the raster's first pixel and the column west of it, outside; the last pixel
    # centre (403595) between columns 358 and 359, inside.
    q = footprint(tmp_path, "S1B_IW_GRDH_1SDV_20170612T165809", np.r_[0:360], left=400005)
    with S1Source(q["name"], q["VV"], q["VH"]) as s:
        assert coverage(PatchSampler(GRID, s.crs, s.transform), s.read_valid, np.ones(3, bool)).tolist() == [
            False,
            True,
            True,
        ]


def test_pair_tile_table(tmp_path, caplog):
    grid_json = tmp_path / "geocoding.json"
    write_json({"grid": GRID.to_dict()}, grid_json)
    # Close in time but covering only patch 0; a day away covering patches 0 and 1; none covers 2.
    close = footprint(tmp_path, "S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017042_01C6A2_5C2B", np.r_[0:120])
    far = footprint(tmp_path, "S1B_IW_GRDH_1SDV_20170612T101031", np.r_[0:240])
    out = tmp_path / "s1_pairing.parquet"
    pair_tile(KEY, grid_json, [far, close], out, max_gap_days=10)
    t = pd.read_parquet(out)
    assert t.columns.tolist() == ["patch_id", "s1_product", "s1_name", "s1_time_gap_days"]
    assert t["patch_id"].tolist() == [f"{KEY}_{x}_0" for x in range(3)]
    assert t["s1_product"].tolist()[:2] == ["S1A_IW_GRDH_1SDV_20170613T165043", "S1B_IW_GRDH_1SDV_20170612T101031"]
    assert pd.isna(t["s1_product"][2])
    assert t["s1_name"].tolist() == [
        "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_0_0",
        "S1B_IW_GRDH_1SDV_20170612T101031_33UUP_1_0",
        "",
    ]
    np.testing.assert_allclose(t["s1_time_gap_days"][:2], [(6 * 3600 + 40 * 60 + 12) / 86400, 1.0])
    assert np.isnan(t["s1_time_gap_days"][2])
    import pyarrow.parquet as pq

    schema = pq.read_schema(out)
    # Strings as the other per-tile tables store them (pandas writes large_string).
    assert [str(schema.field(c).type).removeprefix("large_") for c in schema.names] == [
        "string",
        "string",
        "string",
        "double",
    ]


def test_tile_without_any_product_is_recorded(tmp_path, caplog):
    grid_json = tmp_path / "geocoding.json"
    write_json({"grid": GRID.to_dict()}, grid_json)
    elsewhere = footprint(tmp_path, "S1A_IW_GRDH_1SDV_20170613T165043", np.r_[0:360], left=500000)
    out = tmp_path / "s1_pairing.parquet"
    with caplog.at_level("INFO"):
        pair_tile(KEY, grid_json, [elsewhere], out, max_gap_days=10)
    t = pd.read_parquet(out)
    assert t["s1_product"].isna().all() and (t["s1_name"] == "").all()
    assert "no Sentinel-1 product within 10 days overlaps the tile; 3 patches without partner" in caplog.text
