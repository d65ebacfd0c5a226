"""Cutting Sentinel-2 patches: validity, SCL fractions, file format against the real reBEN
files, the shard, atomicity, and one clear line for each kind of broken product."""

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import rasterio
from conftest import folder_sha256, sha256_table_rows, shared

from reben.constants import S2_BAND_RESOLUTION, S2_BANDS
from reben.errors import GridError, ProductError
from reben.geotiff import PatchTiffWriter, write_geotiff
from reben.grid import TileGrid
from reben.sentinel2.patches import cut_tile, scl_fractions
from reben.sentinel2.tiles import inspect_tile, make_patch_grid
from reben.shards import decode, iter_shard
from reben.synthetic.scenario import SyntheticProduct
from reben.synthetic.sentinel2 import rewrite_manifest, write_l2a_product

SMALL = SyntheticProduct(
    name="S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20230105T120000",
    epsg=32633,
    ulx=300000,
    uly=5400000,
    n_patches=3,
    baseline="99.99",
    boa_add_offset=-1000,
    seed=11,
    cloud_fraction=0.1,
)
KEY = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
REAL_PATCH = (
    "reben_samples",
    "BigEarthNet-S2",
    "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP",
    "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43",
)


@pytest.fixture(scope="module")
def small_product(tmp_path_factory):
    return write_l2a_product(SMALL, tmp_path_factory.mktemp("s2") / SMALL.safe_name)


def band_file(product, band):
    res = S2_BAND_RESOLUTION.get(band, 20)
    return next(product.glob(f"GRANULE/*/IMG_DATA/R{res}m/*_{band}_{res}m.jp2"))


def inspect(product, tmp_path, patch_size_m=1200):
    tile_json = tmp_path / "tile.json"
    inspect_tile(product, KEY, patch_size_m, tile_json)
    return tile_json


# --- the file format ------------------------------------------------------------------------


@pytest.mark.parametrize("band", ["B01", "B02", "B05"])
def test_patch_writer_reproduces_the_real_reben_file_byte_for_byte(band):
    real = shared(*REAL_PATCH) / f"{REAL_PATCH[-1]}_{band}.tif"
    with rasterio.open(real) as src:
        data = src.read(1)
    res = S2_BAND_RESOLUTION[band]
    writer = PatchTiffWriter(data.shape, "uint16", "EPSG:32633", res, nodata=0)
    grid = TileGrid(tile_key=KEY, epsg=32633, ulx=300000, uly=5400000, width_m=109800, height_m=109800)
    left, _, _, top = grid.patch_bounds(75, 43)
    assert writer.to_bytes(data, left, top) == real.read_bytes()


def test_patch_writer_equals_a_rasterio_write_anywhere(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(1, 20000, (60, 60), dtype=np.uint16)
    writer = PatchTiffWriter((60, 60), "uint16", "EPSG:32629", 20, nodata=0)
    for left, top in [(499980, 5900040), (600000.5, 5790000), (100, 200)]:
        write_geotiff(tmp_path / "ref.tif", data, "EPSG:32629", left, top, 20, nodata=0)
        assert writer.to_bytes(data, left, top) == (tmp_path / "ref.tif").read_bytes()


# --- cutting -----------------------------------------------------------------------------------


def test_cut_writes_every_valid_patch_in_the_design_layout(small_product, tmp_path):
    tile_json = inspect(small_product, tmp_path)
    out, table, shard = tmp_path / "s2", tmp_path / "s2_patches.parquet", tmp_path / "shard.parquet"
    result = cut_tile(
        tile_json,
        out,
        table,
        shard,
        tmp_path / "s2_band_stats.parquet",
        threads=2,
        sha256_path=tmp_path / "s2_sha256.parquet",
    )
    t = pd.read_parquet(table)
    assert len(t) == 9 and result["patches"] == 9
    assert list(t.columns) == ["patch_id", "x", "y", "valid", "cloud_or_shadow_fraction", "snow_fraction"]
    valid_ids = sorted(t.patch_id[t.valid])
    assert sorted(p.name for p in out.iterdir()) == valid_ids
    # The synthetic product has a nodata swath on its west edge: column 0 is invalid.
    assert not t.valid[t.x == 0].any() and t.valid[t.x == 2].all()

    tile = json.loads(tile_json.read_text())
    pid = valid_ids[0]
    x, y = (int(v) for v in pid.rsplit("_", 2)[1:])
    files = sorted(p.name for p in (out / pid).iterdir())
    assert files == sorted(f"{pid}_{b}.tif" for b in S2_BANDS)
    for band in S2_BANDS:
        res = S2_BAND_RESOLUTION[band]
        with rasterio.open(out / pid / f"{pid}_{band}.tif") as src:
            assert (src.dtypes[0], src.nodata, src.count) == ("uint16", 0, 1)
            assert src.shape == (1200 // res,) * 2
            assert src.crs.to_epsg() == 32633 and src.compression is None
            assert (src.transform.c, src.transform.f) == (300000 + 1200 * x, 5400000 - 1200 * y)
            patch = src.read(1)
        with rasterio.open(tile["band_paths"][band]) as whole:
            px = 1200 // res
            expected = whole.read(1, window=((y * px, (y + 1) * px), (x * px, (x + 1) * px)))
        np.testing.assert_array_equal(patch, expected)  # the digital numbers as stored

    entries = dict(iter_shard(shard))
    assert sorted(entries) == valid_ids
    tensors = decode(entries[pid])
    assert list(tensors) == list(S2_BANDS) or sorted(tensors) == sorted(S2_BANDS)
    with rasterio.open(out / pid / f"{pid}_B8A.tif") as src:
        np.testing.assert_array_equal(tensors["B8A"], src.read(1))
    assert tensors["B01"].dtype == np.uint16 and tensors["B01"].shape == (20, 20)
    # The sha256 of every file written, as the manifest merges them.
    assert sha256_table_rows(tmp_path / "s2_sha256.parquet") == folder_sha256(out)
    assert len(folder_sha256(out)) == 12 * len(valid_ids)


def test_cut_records_the_band_statistics_of_every_written_patch(small_product, tmp_path):
    tile_json = inspect(small_product, tmp_path)
    out, stats_path = tmp_path / "s2", tmp_path / "s2_band_stats.parquet"
    cut_tile(tile_json, out, tmp_path / "t.parquet", tmp_path / "sh.parquet", stats_path, threads=2)
    stats = pd.read_parquet(stats_path)
    valid = pd.read_parquet(tmp_path / "t.parquet").query("valid")["patch_id"]
    assert stats["patch_id"].tolist() == valid.tolist()  # the written patches, grid order
    assert stats["B02_sum"].dtype == np.int64 and stats["B02_min"].dtype == np.uint16
    for row in stats.itertuples(index=False):
        for band in S2_BANDS:
            with rasterio.open(out / row.patch_id / f"{row.patch_id}_{band}.tif") as src:
                v = src.read(1).astype(np.int64)
            got = [getattr(row, f"{band}_{s}") for s in ("count", "sum", "sum_sq", "min", "max")]
            assert got == [v.size, v.sum(), (v * v).sum(), v.min(), v.max()], (row.patch_id, band)


def test_validity_needs_every_band_free_of_zero(small_product, tmp_path):
    """A single 0 in one 60 m band invalidates exactly the patch it falls in."""
    product = tmp_path / SMALL.safe_name
    shutil.copytree(small_product, product)
    b09 = band_file(product, "B09")
    with rasterio.open(b09) as src:
        profile, data = src.profile, src.read(1)
    data[20 + 7, 40 + 3] = 0  # the 60 m pixel in patch x=2, y=1
    with rasterio.open(b09, "w", **profile) as dst:
        dst.write(data, 1)
    rewrite_manifest(product)
    tile_json = inspect(product, tmp_path)
    out, sha256 = tmp_path / "s2", tmp_path / "s2_sha256.parquet"
    cut_tile(
        tile_json, out, tmp_path / "t.parquet", tmp_path / "sh.parquet", tmp_path / "st.parquet", sha256_path=sha256
    )
    t = pd.read_parquet(tmp_path / "t.parquet").set_index(["x", "y"])
    assert not t.loc[(2, 1), "valid"]
    assert t.loc[(2, 0), "valid"] and t.loc[(2, 2), "valid"] and t.loc[(1, 1), "valid"]
    # B09 is cut after B01..B8A: the files written for the patch before B09 showed its 0 are
    # gone, from the folder and from the sha256 the manifest merges, and from the shard.
    invalid = t.loc[(2, 1), "patch_id"]
    assert not (out / invalid).exists() and (out / t.loc[(2, 0), "patch_id"]).is_dir()
    assert sorted(p.name for p in out.iterdir()) == sorted(t.patch_id[t.valid])
    assert sha256_table_rows(sha256) == folder_sha256(out)
    assert sorted(dict(iter_shard(tmp_path / "sh.parquet"))) == sorted(t.patch_id[t.valid])


def test_scl_fractions_count_cloud_shadow_cirrus_and_snow():
    grid = TileGrid(tile_key=KEY, epsg=32633, ulx=0, uly=0, width_m=2400, height_m=1200)
    scl = np.full((60, 120), 4, dtype=np.uint8)
    scl[:30, :60] = 8  # a quarter... half of patch 0's rows and all its columns: 50 %
    scl[:6, 60:120] = 3  # shadow: 10 % of patch 1
    scl[6:12, 60:120] = 10  # cirrus: another 10 %
    scl[30:, 60:] = 11  # snow: half of patch 1
    cloud, snow = scl_fractions(scl, grid)
    np.testing.assert_allclose(cloud, [0.5, 0.2])
    np.testing.assert_allclose(snow, [0.0, 0.5])


def test_excluded_product_cuts_nothing_and_records_all_patches_invalid(small_product, tmp_path):
    product = tmp_path / SMALL.safe_name
    shutil.copytree(small_product, product)
    mtd = product / "MTD_MSIL2A.xml"
    mtd.write_text(
        mtd.read_text().replace(
            '<quality_check checkType="GEOMETRIC_QUALITY">PASSED', '<quality_check checkType="GEOMETRIC_QUALITY">FAILED'
        )
    )
    tile_json = inspect(product, tmp_path)
    tile = json.loads(tile_json.read_text())
    assert tile["excluded"] and "GEOMETRIC_QUALITY=FAILED" in tile["excluded_reason"]
    cut_tile(
        tile_json,
        tmp_path / "s2",
        tmp_path / "t.parquet",
        tmp_path / "sh.parquet",
        tmp_path / "st.parquet",
        sha256_path=tmp_path / "h.parquet",
    )
    assert list((tmp_path / "s2").iterdir()) == []
    assert not pd.read_parquet(tmp_path / "t.parquet").valid.any()
    assert list(iter_shard(tmp_path / "sh.parquet")) == []
    stats = pd.read_parquet(tmp_path / "st.parquet")
    assert len(stats) == 0 and "B12_sum_sq" in stats.columns
    assert sha256_table_rows(tmp_path / "h.parquet") == []


def test_a_failed_cut_leaves_no_partial_output(small_product, tmp_path, monkeypatch):
    tile_json = inspect(small_product, tmp_path)
    import reben.sentinel2.patches as patches

    calls = {"n": 0}
    real_encode = patches.encode

    def failing_encode(tensors):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as if the job were stopped mid-way
        return real_encode(tensors)

    monkeypatch.setattr(patches, "encode", failing_encode)
    with pytest.raises(KeyboardInterrupt):
        cut_tile(tile_json, tmp_path / "s2", tmp_path / "t.parquet", tmp_path / "sh.parquet", tmp_path / "st.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tile.json"]


# --- broken products: one line naming product, file and problem --------------------------------


def broken_copy(small_product, tmp_path):
    product = tmp_path / SMALL.safe_name
    shutil.copytree(small_product, product)
    return product


def one_line(err) -> str:
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(SMALL.safe_name + ": ")
    return message


def test_missing_band_file(small_product, tmp_path):
    product = broken_copy(small_product, tmp_path)
    band_file(product, "B8A").unlink()
    with pytest.raises(ProductError) as err:
        inspect(product, tmp_path)
    assert re.search(r"1 band file\(s\) missing: GRANULE/.*/R20m/T33UUP_20170613T101031_B8A_20m\.jp2$", one_line(err))


def test_truncated_jpeg2000(small_product, tmp_path):
    product = broken_copy(small_product, tmp_path)
    f = band_file(product, "B03")
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(ProductError) as err:
        tile_json = inspect(product, tmp_path)
        cut_tile(tile_json, tmp_path / "s2", tmp_path / "t.parquet", tmp_path / "sh.parquet", tmp_path / "st.parquet")
    message = one_line(err)
    assert "B03" in message and "truncated" in message  # manifest.safe lists its size
    assert not (tmp_path / "s2").exists() and not (tmp_path / "t.parquet").exists()


def test_corrupt_jpeg2000_header(small_product, tmp_path):
    product = broken_copy(small_product, tmp_path)
    f = band_file(product, "B11")
    f.write_bytes(b"\0" * 64 + f.read_bytes()[64:])
    rewrite_manifest(product)  # as a product whose manifest lists the broken file
    with pytest.raises(ProductError) as err:
        inspect(product, tmp_path)
    assert "_B11_20m.jp2: unreadable JPEG2000" in one_line(err)


def rewrite_band(product, band, **changes):
    f = band_file(product, band)
    with rasterio.open(f) as src:
        profile, data = src.profile, src.read(1)
    profile.update(changes)
    with rasterio.open(f, "w", **profile) as dst:
        dst.write(data, 1)
    rewrite_manifest(product)


def test_band_in_another_crs(small_product, tmp_path):
    product = broken_copy(small_product, tmp_path)
    rewrite_band(product, "B05", crs="EPSG:32632")
    with pytest.raises(ProductError) as err:
        inspect(product, tmp_path)
    assert "_B05_20m.jp2: CRS EPSG:32632 differs from the tile's EPSG:32633" in one_line(err)


def test_band_with_another_extent(small_product, tmp_path):
    product = broken_copy(small_product, tmp_path)
    rewrite_band(product, "B02", transform=rasterio.Affine(10, 0, 300020, 0, -10, 5400000))
    with pytest.raises(ProductError) as err:
        inspect(product, tmp_path)
    assert "_B02_10m.jp2: extent disagrees with the tile geocoding" in one_line(err)


def test_metadata_without_geoposition(small_product, tmp_path):
    product = broken_copy(small_product, tmp_path)
    mtd_tl = next(product.glob("GRANULE/*/MTD_TL.xml"))
    text = mtd_tl.read_text()
    mtd_tl.write_text(re.sub(r"<Geoposition.*?</Geoposition>", "", text, flags=re.S))
    with pytest.raises(ProductError) as err:
        inspect(product, tmp_path)
    assert "MTD_TL.xml: no 10 m Geoposition (ULX/ULY) in the tile geocoding" in one_line(err)


def test_patch_size_not_a_multiple_of_60_m(small_product, tmp_path):
    with pytest.raises(GridError, match=r"^S2A_\S+: patch size 1000 m is not a multiple of 60 m"):
        make_patch_grid(small_product, KEY, 1000, tmp_path / "grid.parquet", tmp_path / "geo.json")
    assert not (tmp_path / "grid.parquet").exists()


def test_grid_and_geocoding_from_the_product(small_product, tmp_path):
    import geopandas as gpd

    make_patch_grid(small_product, KEY, 1200, tmp_path / "grid.parquet", tmp_path / "geo.json")
    grid = gpd.read_parquet(tmp_path / "grid.parquet")
    assert list(grid.columns) == ["patch_id", "x", "y", "geometry"]
    assert grid.crs.to_epsg() == 32633 and len(grid) == 9
    assert grid.geometry.iloc[5].bounds == (302400, 5397600, 303600, 5398800)  # x=2, y=1
