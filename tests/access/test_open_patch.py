"""reben.open_patch: one patch as an xarray.Dataset in its tile's UTM CRS, its values the
GeoTIFFs' bit for bit, on the demo's dataset (with Sentinel-1, 1200 m patches) and on real
reBEN patch files in the published layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
import rioxarray  # noqa: F401 - the .rio accessor
from affine import Affine
from conftest import shared
from patch_files import RESOLUTION, on_10m, patch_files, read, sample

import reben
from reben.errors import AccessError

# ------------------------------------------------------------------ the demo's dataset


@pytest.fixture(scope="module")
def demo(demo_run) -> Path:
    return demo_run / "results" / "dataset"


@pytest.fixture(scope="module")
def picked(demo) -> pd.DataFrame:
    return sample(demo, 8, seed=3)


def test_every_band_equals_its_geotiff_bit_for_bit(demo, picked):
    for row in picked.itertuples():
        files = patch_files(demo, row.patch_id, row.s1_name)
        assert set(files) == set(reben.open_patch(demo, row.patch_id).data_vars)  # 15 with Sentinel-1
        on_grid = reben.open_patch(demo, row.patch_id)
        native = reben.open_patch(demo, row.patch_id, resolution="native")
        for band, path in files.items():
            values, _, _ = read(path)
            assert native[band].dtype == values.dtype and np.array_equal(native[band].values, values), path
            on_10m_values = on_10m(values, RESOLUTION.get(band, 10))
            assert on_grid[band].dtype == values.dtype, path
            assert np.array_equal(on_grid[band].values, on_10m_values, equal_nan=True), path


def grid_cell(demo: Path, patch_id: str) -> tuple[tuple, int]:
    tile = patch_id.rsplit("_", 2)[0]
    grid = gpd.read_parquet(demo.parent / "tiles" / tile / "grid.parquet").set_index("patch_id")
    return grid.loc[patch_id].geometry.bounds, grid.crs.to_epsg()


def test_coordinates_are_the_patch_grid_cell(demo, picked):
    for row in picked.itertuples():
        (left, bottom, right, top), epsg = grid_cell(demo, row.patch_id)
        p = reben.open_patch(demo, row.patch_id)
        assert p.rio.crs.to_epsg() == epsg
        assert p.rio.bounds() == (left, bottom, right, top)
        assert p.rio.transform() == Affine(10, 0, left, 0, -10, top)
        assert np.array_equal(p.x.values, left + 5 + 10 * np.arange(120))
        assert np.array_equal(p.y.values, top - 5 - 10 * np.arange(120))
        for band, path in patch_files(demo, row.patch_id, row.s1_name).items():
            assert read(path)[2] == p.rio.bounds(), path  # every file covers the cell
        native = reben.open_patch(demo, row.patch_id, resolution="native")
        assert native.rio.transform() == Affine(10, 0, left, 0, -10, top)
        for band, resolution, dims in (("B05", 20, ("x_20m", "y_20m")), ("B01", 60, ("x_60m", "y_60m"))):
            grid = native[band].rio.set_spatial_dims(x_dim=dims[0], y_dim=dims[1])
            assert grid.rio.transform() == Affine(resolution, 0, left, 0, -resolution, top)
            assert grid.rio.bounds() == (left, bottom, right, top)
            assert grid.rio.crs.to_epsg() == epsg


def test_attributes_are_the_patch_metadata(demo, picked):
    sidecar = pd.read_parquet(demo / "patches.parquet").set_index("patch_id")
    for row in picked.itertuples():
        attrs = reben.open_patch(demo, row.patch_id).attrs
        assert attrs["labels"] == list(row.labels)
        for key in ("split", "country", "s1_name", "s2v1_name", "contains_seasonal_snow", "contains_cloud_or_shadow"):
            assert attrs[key] == getattr(row, key), key
        side = sidecar.loc[row.patch_id]
        assert attrs["season"] == side.season
        assert attrs["sensing_time"] == side.sensing_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert attrs["epsg"] == side.epsg and attrs["tile_key"] == side.tile_key


def test_bands_picks_the_variables(demo, picked):
    pid = picked.patch_id[0]
    p = reben.open_patch(demo, pid, bands=["B04", "B03", "B02", "reference_map"])
    assert list(p.data_vars) == ["B04", "B03", "B02", "reference_map"]


# ------------------------------------------------------------------ real reBEN files, published layout

TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
S1_PRODUCT = "S1A_IW_GRDH_1SDV_20170613T165043"
# Real S2 patches of T33UUP (upper-left corner 300000, 5400000, EPSG:32633), each given a real
# S1 patch and the real reference map moved onto its grid cell (their georeference rewritten,
# their pixels as published): the samples hold no complete patch.
REAL = {"75_43": "70_48", "89_18": "89_36"}


def moved_copy(src: Path, dst: Path, left: float, top: float) -> None:
    """A copy of a real patch file whose upper-left corner is set to (left, top)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    with rasterio.open(dst, "r+") as f:
        f.transform = Affine(f.transform.a, 0, left, 0, f.transform.e, top)


def published(root: Path, with_s1: bool = True, move_s1: bool = True) -> Path:
    """A dataset folder in the published layout (trees and metadata.parquet only) of the real patches."""
    samples = shared("reben_samples")
    d = root / "reben"
    rows = []
    for xy, s1_xy in REAL.items():
        pid = f"{TILE}_{xy}"
        src = samples / "BigEarthNet-S2" / TILE / pid
        shutil.copytree(src, d / "BigEarthNet-S2" / TILE / pid)
        x, y = map(int, xy.split("_"))
        left, top = 300000 + 1200 * x, 5400000 - 1200 * y
        ref = samples / "Reference_Maps" / TILE / f"{TILE}_26_57" / f"{TILE}_26_57_reference_map.tif"
        moved_copy(ref, d / "Reference_Maps" / TILE / pid / f"{pid}_reference_map.tif", left, top)
        s1_name = f"{S1_PRODUCT}_33UUP_{x}_{y}" if with_s1 else ""
        if with_s1:
            real_s1 = f"{S1_PRODUCT}_33UUP_{s1_xy}"
            for pol in ("VV", "VH"):
                src = samples / "BigEarthNet-S1" / S1_PRODUCT / real_s1 / f"{real_s1}_{pol}.tif"
                dst = d / "BigEarthNet-S1" / S1_PRODUCT / s1_name / f"{s1_name}_{pol}.tif"
                if move_s1:
                    moved_copy(src, dst, left, top)
                else:
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dst)
        rows.append((pid, ["Arable land", "Pastures"], "train", "Austria", s1_name))
    table = pa.table(
        {
            "patch_id": [r[0] for r in rows],
            "labels": [r[1] for r in rows],
            "split": [r[2] for r in rows],
            "country": [r[3] for r in rows],
            "s1_name": [r[4] for r in rows],
            "s2v1_name": [""] * len(rows),
            "contains_seasonal_snow": [False] * len(rows),
            "contains_cloud_or_shadow": [False] * len(rows),
        }
    )
    pq.write_table(table, d / "metadata.parquet")
    return d


def test_real_published_patches_open_on_their_grid_cell(tmp_path):
    d = published(tmp_path)
    pid = f"{TILE}_75_43"
    p = reben.open_patch(d, pid)
    # patch (75, 43) of T33UUP starts at (300000 + 75 * 1200, 5400000 - 43 * 1200)
    assert p.rio.bounds() == (390000, 5347200, 391200, 5348400)
    assert p.rio.transform() == Affine(10, 0, 390000, 0, -10, 5348400)
    assert p.rio.crs.to_epsg() == 32633
    real = shared("reben_samples", "BigEarthNet-S2", TILE, pid)
    for band in ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"):
        values, transform, _ = read(real / f"{pid}_{band}.tif")
        assert np.array_equal(p[band].values, on_10m(values, int(transform.a))), band
    assert p.attrs["sensing_time"] == "2017-06-13T10:10:31Z" and p.attrs["season"] == "Summer"
    assert p.attrs["s1_name"] == f"{S1_PRODUCT}_33UUP_75_43"
    assert p.attrs["patch_size_m"] == 1200  # no PROVENANCE.json: reBEN's size
    s1 = read(d / "BigEarthNet-S1" / S1_PRODUCT / p.attrs["s1_name"] / f"{p.attrs['s1_name']}_VV.tif")[0]
    assert np.array_equal(p.VV.values, s1)


def test_a_file_off_its_patch_grid_cell_is_one_line(tmp_path):
    d = published(tmp_path, move_s1=False)  # the real S1 files stay on (70, 48) and (89, 36)
    with pytest.raises(AccessError) as e:
        reben.open_patch(d, f"{TILE}_75_43")
    message = str(e.value)
    assert "\n" not in message
    assert message.endswith(
        "_VV.tif: its upper-left corner is (384000.0, 5342400.0), its patch's grid cell starts at (390000.0, 5348400.0)"
    )


# ------------------------------------------------------------------ bad input: one line each


def one_line(call) -> str:
    with pytest.raises(AccessError) as e:
        call()
    assert "\n" not in str(e.value)
    return str(e.value)


def test_an_unknown_patch_id_is_one_line(tmp_path):
    d = published(tmp_path)
    assert one_line(lambda: reben.open_patch(d, f"{TILE}_11_11")) == f"{d}: no patch {TILE}_11_11 in metadata.parquet"


def test_a_folder_that_is_not_a_dataset_is_one_line(tmp_path):
    assert (
        one_line(lambda: reben.open_patch(tmp_path / "nowhere", "x"))
        == f"{tmp_path / 'nowhere'}: no such dataset folder"
    )
    (tmp_path / "BigEarthNet-S2").mkdir()
    assert one_line(lambda: reben.open_patch(tmp_path, "x")).startswith(
        f"{tmp_path}: not a dataset folder: no metadata.parquet"
    )
    d = published(tmp_path / "other")
    shutil.rmtree(d / "BigEarthNet-S2")
    assert "neither a BigEarthNet-S2/ tree nor an lmdb/" in one_line(lambda: reben.open_patch(d, f"{TILE}_75_43"))


def test_a_band_the_dataset_does_not_hold_is_one_line(tmp_path):
    d = published(tmp_path, with_s1=False)
    pid = f"{TILE}_75_43"
    assert list(reben.open_patch(d, pid).data_vars)[-1] == "reference_map"  # no VV, VH
    assert (
        one_line(lambda: reben.open_patch(d, pid, bands=["B04", "VV"]))
        == f"{d}: holds no Sentinel-1 patches, so no band VV"
    )
    assert one_line(lambda: reben.open_patch(d, pid, bands="B10")).startswith(
        "band 'B10': not a band of a reBEN patch (one of B01,"
    )
