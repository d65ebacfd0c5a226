"""Sentinel-1 products: names, discovery, configuration, reading, and bad inputs."""

from datetime import datetime, timezone

import numpy as np
import pytest
import rasterio
from affine import Affine

from reben.errors import ConfigError, RebenError, Sentinel1Error
from reben.sentinel1.products import (
    S1Source,
    candidates,
    configured_products,
    discover_products,
    parse_s1_name,
    s1_name,
    unit_from_metadata,
)

FULL = "S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017042_01C6A2_5C2B"


def write(
    path, data, crs="EPSG:32633", transform=Affine(10, 0, 400000, 0, -10, 5400000), nodata=None, units=None, tags=None
):
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(data, 1)
        if units:
            dst.units = (units,)
        if tags:
            dst.update_tags(**tags)
    return str(path)


def test_product_name_parts():
    p = parse_s1_name(FULL + "_VV.tif")
    assert p.name == FULL
    assert p.product == "S1A_IW_GRDH_1SDV_20170613T165043"
    assert p.acquisition_time == datetime(2017, 6, 13, 16, 50, 43, tzinfo=timezone.utc)
    assert parse_s1_name("S1B_IW_GRDH_1SDV_20170612T165809_VH.tif").product == "S1B_IW_GRDH_1SDV_20170612T165809"


def test_s1_name_is_not_padded():
    assert s1_name("S1B_IW_GRDH_1SDV_20170612T165809", "T33UUP", 26, 7) == "S1B_IW_GRDH_1SDV_20170612T165809_33UUP_26_7"


def test_bad_name_is_one_line():
    with pytest.raises(Sentinel1Error, match="not a Sentinel-1 product name") as e:
        parse_s1_name("S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif")
    assert "\n" not in str(e.value)


def test_discovery_files_and_folders(tmp_path):
    a = np.ones((4, 4), np.float32)
    write(tmp_path / f"{FULL}_VV.tif", a)
    write(tmp_path / f"{FULL}_VH.tif", a)
    folder = tmp_path / "S1B_IW_GRDH_1SDV_20170612T165809_20170612T165834_006062_00AA4E_3E1F"
    folder.mkdir()
    write(folder / "Sigma0_VV_db.tif", a)
    write(folder / "Sigma0_VH_db.tif", a)
    (tmp_path / "README.txt").write_text("not a raster")
    found = discover_products(tmp_path)
    assert sorted(found) == [FULL, folder.name]
    assert found[folder.name]["VH"].endswith("Sigma0_VH_db.tif")


def test_discovery_bad_inputs(tmp_path):
    a = np.ones((4, 4), np.float32)
    write(tmp_path / "dem.tif", a)
    with pytest.raises(ConfigError, match="dem.tif: no Sentinel-1 product name"):
        discover_products(tmp_path)
    (tmp_path / "dem.tif").unlink()
    write(tmp_path / f"{FULL}_VV.tif", a)
    with pytest.raises(ConfigError, match=f"{FULL}: no VH file .*needs both VV and VH"):
        configured_products({"input_dir": str(tmp_path), "products": []})


def test_listed_products_default_paths_and_duplicates(tmp_path):
    cfg = {"input_dir": "in", "products": [{"name": FULL}]}
    p = configured_products(cfg)[FULL]
    assert (p["VV"], p["VH"], p["product"]) == (
        f"in/{FULL}_VV.tif",
        f"in/{FULL}_VH.tif",
        "S1A_IW_GRDH_1SDV_20170613T165043",
    )
    cfg["products"].append({"name": "S1A_IW_GRDH_1SDV_20170613T165043"})
    with pytest.raises(ConfigError, match="same product S1A_IW_GRDH_1SDV_20170613T165043"):
        configured_products(cfg)
    with pytest.raises(ConfigError, match="not a Sentinel-1 product name"):
        configured_products({"input_dir": "in", "products": [{"name": "S2A_MSIL2A_x"}]})


def test_candidates_by_time_gap():
    products = configured_products(
        {
            "input_dir": "in",
            "products": [
                {"name": "S1A_IW_GRDH_1SDV_20170603T165043"},  # 9.3 days before
                {"name": "S1A_IW_GRDH_1SDV_20170601T165043"},  # 11.7 days before
                {"name": "S1B_IW_GRDH_1SDV_20170623T101031"},
            ],
        }
    )  # exactly 10 days after
    s2 = datetime(2017, 6, 13, 10, 10, 31, tzinfo=timezone.utc)
    assert candidates(products, s2, 10) == ["S1A_IW_GRDH_1SDV_20170603T165043", "S1B_IW_GRDH_1SDV_20170623T101031"]


def test_unit_from_metadata(tmp_path):
    a = np.ones((4, 4), np.float32)
    with rasterio.open(write(tmp_path / "a.tif", a, units="dB")) as src:
        assert unit_from_metadata(src, src.name) == "dB"
    with rasterio.open(write(tmp_path / "b.tif", a, tags={"UNIT": "linear power"})) as src:
        assert unit_from_metadata(src, src.name) == "linear"
    with rasterio.open(write(tmp_path / "x_VV_grd_mli_geo_norm_db.tif", a)) as src:
        assert unit_from_metadata(src, src.name) == "dB"
    with rasterio.open(write(tmp_path / "c.tif", a)) as src:
        assert unit_from_metadata(src, src.name) is None


def test_read_linear_honours_nodata_units_and_edges(tmp_path):
    db = np.array([[-10, -99], [0, np.nan]], np.float32)
    vv = write(tmp_path / "vv.tif", db, nodata=-99)
    lin = np.array([[0.1, 0.0], [1.0, -1.0]], np.float32)
    vh = write(tmp_path / "vh.tif", lin, nodata=None)
    with S1Source(FULL, vv, vh, unit="dB") as s:
        s.units["VH"] = "linear"
        out = s.read_linear("VV", (-1, 2), (0, 3))
        np.testing.assert_allclose(out[1:, :2], [[0.1, np.nan], [1.0, np.nan]], rtol=1e-6)
        assert np.isnan(out[0]).all() and np.isnan(out[:, 2]).all()  # outside the raster
        valid = s.read_valid((0, 2), (0, 2))
        # VV: -99 nodata and NaN; VH: 0 and negative power are not valid backscatter.
        assert valid.tolist() == [[True, False], [True, False]]


def test_bad_products_fail_in_one_line(tmp_path):
    a = np.ones((4, 4), np.float32)
    vv = write(tmp_path / "vv.tif", a, units="dB")
    moved = write(tmp_path / "vh_moved.tif", a, units="dB", transform=Affine(10, 0, 400010, 0, -10, 5400000))
    with pytest.raises(Sentinel1Error, match="VV and VH are on different grids") as e:
        S1Source(FULL, vv, moved)
    assert "\n" not in str(e.value)
    no_crs = tmp_path / "vh_nocrs.tif"
    with rasterio.open(no_crs, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32") as dst:
        dst.write(a, 1)
    with pytest.raises(Sentinel1Error, match="VH file has no CRS"):
        S1Source(FULL, vv, str(no_crs))
    silent = write(tmp_path / "vh_silent.tif", a)
    with pytest.raises(Sentinel1Error, match="does not say whether it holds dB or linear.*sentinel1.unit"):
        S1Source(FULL, vv, silent)
    with pytest.raises(RebenError, match="could not be opened"):
        S1Source(FULL, vv, str(tmp_path / "absent.tif"))
    S1Source(FULL, vv, silent, unit="dB").close()  # configured unit settles it
