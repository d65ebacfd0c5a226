"""S1 patches: resampling of real backscatter onto patch grids, nodata, and the reBEN file format."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from conftest import folder_sha256, sha256_table_rows, shared
from pyproj import Transformer

from reben.geotiff import S1PatchWriter, long_strip_byte_counts
from reben.grid import TileGrid
from reben.io import write_json, write_parquet
from reben.sentinel1.pairing import pair_tile
from reben.sentinel1.patches import cut_tile
from reben.shards import decode, iter_shard

REAL = ("sentinel1", "S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif")
S1_NAME = "S1A_IW_GRDH_1SDV_20150309T173017_20150309T173042_004962_006392_1A2B"
PRODUCT = "S1A_IW_GRDH_1SDV_20150309T173017"
KEY_31 = "S2A_MSIL2A_20150309T103021_N9999_R108_T31TEJ"
KEY_UUP = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


def run_tile(tmp_path, grid, products, key, valid=None):
    """pair_tile then cut_tile on `grid`; returns the pairing table and the output folder."""
    write_json({"grid": grid.to_dict()}, tmp_path / "geocoding.json")
    pairing = pair_tile(key, tmp_path / "geocoding.json", products, tmp_path / "s1_pairing.parquet", 10)
    n = grid.n_rows * grid.n_cols
    x, y = grid.indices()
    write_parquet(
        pd.DataFrame(
            {"patch_id": grid.patch_ids(), "x": x, "y": y, "valid": np.ones(n, bool) if valid is None else valid}
        ),
        tmp_path / "s2_patches.parquet",
    )
    cut_tile(
        key,
        tmp_path / "geocoding.json",
        tmp_path / "s1_pairing.parquet",
        tmp_path / "s2_patches.parquet",
        products,
        tmp_path / "s1",
        tmp_path / "s1_shard.parquet",
        tmp_path / "s1_band_stats.parquet",
        sha256_path=tmp_path / "s1_sha256.parquet",
    )
    assert sha256_table_rows(tmp_path / "s1_sha256.parquet") == folder_sha256(tmp_path / "s1")
    return pairing, tmp_path / "s1"


def assert_band_stats_match_files(s1_dir, stats_path, pairing):
    """One s1_band_stats row per written patch pair, equal to numpy on its files' pixels."""
    stats = pd.read_parquet(stats_path).set_index("patch_id")
    paired = pairing[pairing["s1_name"] != ""].set_index("patch_id")
    written = {p.name for p in Path(s1_dir).glob("*/*")}
    assert sorted(stats["s1_name"]) == sorted(written) and len(written) > 0
    for pid, row in stats.iterrows():
        assert row["s1_name"] == paired.loc[pid, "s1_name"]
        product = paired.loc[pid, "s1_product"]
        for pol in ("VV", "VH"):
            with rasterio.open(Path(s1_dir) / product / row["s1_name"] / f"{row['s1_name']}_{pol}.tif") as f:
                v = f.read(1).astype(np.float64)
            assert row[f"{pol}_count"] == v.size
            assert row[f"{pol}_mean"] == pytest.approx(v.mean(), rel=1e-12)
            assert row[f"{pol}_m2"] == pytest.approx(((v - v.mean()) ** 2).sum(), rel=1e-10)
            assert (row[f"{pol}_min"], row[f"{pol}_max"]) == (v.min(), v.max())


def independent_db(real_path, epsg, left, top, rows, cols):
    """Bilinear in linear power at pixel centres, by hand: exact PROJ transform per pixel."""
    with rasterio.open(real_path) as src:
        db = src.read(1).astype(np.float64)
        inverse = ~src.transform
        crs = src.crs
    power = 10 ** (db / 10)
    tr = Transformer.from_crs(epsg, crs, always_xy=True)
    out = []
    for r, c in zip(rows, cols):
        sx, sy = tr.transform(left + 10 * (c + 0.5), top - 10 * (r + 0.5))
        col, row = inverse @ (sx, sy)
        u, v = col - 0.5, row - 0.5
        j, i = int(np.floor(u)), int(np.floor(v))
        fx, fy = u - j, v - i
        value = (
            power[i, j] * (1 - fx) * (1 - fy)
            + power[i, j + 1] * fx * (1 - fy)
            + power[i + 1, j] * (1 - fx) * fy
            + power[i + 1, j + 1] * fx * fy
        )
        out.append(10 * np.log10(value))
    return np.array(out)


@pytest.mark.parametrize("epsg", [32631, 32632])
def test_real_backscatter_on_patch_grids(tmp_path, epsg):
    real = shared(*REAL)
    # A 3 x 2 patch grid inside the real scene (EPSG:32631, 20 m, origin off any 1200 m grid),
    # in the scene's own UTM zone and in the next one (rotated by about 2 degrees).
    x, y = Transformer.from_crs(32631, epsg, always_xy=True).transform(620600, 4829800)
    grid = TileGrid(KEY_31, epsg, round(x / 10) * 10, round(y / 10) * 10, 3 * 1200, 2 * 1200)
    products = [{"name": S1_NAME, "VV": str(real), "VH": str(real)}]
    pairing, out = run_tile(tmp_path, grid, products, KEY_31)
    paired = pairing[pairing["s1_product"].notna()]
    assert len(paired) >= 5
    rng = np.random.default_rng(epsg)
    for row in paired.itertuples():
        px, py = map(int, row.patch_id.rsplit("_", 2)[1:])
        assert row.s1_name == f"{PRODUCT}_31TEJ_{px}_{py}"
        path = out / PRODUCT / row.s1_name / f"{row.s1_name}_VV.tif"
        with rasterio.open(path) as f:
            ours = f.read(1)
            assert (f.dtypes[0], f.shape, f.nodata, f.crs.to_epsg()) == ("float32", (120, 120), None, epsg)
            left, _, _, top = grid.patch_bounds(px, py)
            assert f.transform == Affine(10, 0, left, 0, -10, top)
        rows, cols = rng.integers(0, 120, 6), rng.integers(0, 120, 6)
        rows[:2], cols[:2] = (0, 119), (0, 119)  # the corners too
        expected = independent_db(real, epsg, left, top, rows, cols)
        np.testing.assert_allclose(ours[rows, cols], expected, atol=2e-3)
        assert np.isfinite(ours).all()
    assert_band_stats_match_files(out, tmp_path / "s1_band_stats.parquet", pairing)


def test_agrees_with_gdal_bilinear(tmp_path):
    """A second independent computation: GDAL's warper (exact transforms) on linear power."""
    from rasterio.warp import Resampling, reproject

    real = shared(*REAL)
    x, y = Transformer.from_crs(32631, 32632, always_xy=True).transform(620600, 4829800)
    grid = TileGrid(KEY_31, 32632, round(x / 10) * 10, round(y / 10) * 10, 1200, 1200)
    pairing, out = run_tile(tmp_path, grid, [{"name": S1_NAME, "VV": str(real), "VH": str(real)}], KEY_31)
    name = pairing["s1_name"][0]
    with rasterio.open(out / PRODUCT / name / f"{name}_VH.tif") as f:
        ours = f.read(1)
    with rasterio.open(real) as src:
        power = 10 ** (src.read(1).astype(np.float64) / 10)
        gdal = np.zeros((120, 120))
        reproject(
            power,
            gdal,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=grid.patch_transform(0, 0, 10),
            dst_crs=grid.crs,
            resampling=Resampling.bilinear,
            tolerance=0,
        )
    np.testing.assert_allclose(ours, 10 * np.log10(gdal), atol=5e-3)


def test_nodata_never_leaks(tmp_path):
    real = shared(*REAL)
    holed = tmp_path / "S1A_holed_VV_db.tif"
    shutil.copy(real, holed)
    with rasterio.open(holed, "r+") as f:
        data = f.read(1)
        data[100:103, 120:122] = -99  # a small nodata hole inside the scene
        f.write(data, 1)
        hole_x, hole_y = f.transform @ (121, 101.5)
    grid = TileGrid(KEY_31, 32631, 620400, 4830000, 4 * 1200, 3 * 1200)
    pairing, out = run_tile(tmp_path, grid, [{"name": S1_NAME, "VV": str(holed), "VH": str(real)}], KEY_31)
    hx, hy = int((hole_x - 620400) // 1200), int((4830000 - hole_y) // 1200)
    unpaired = set(pairing.loc[pairing["s1_product"].isna(), "patch_id"])
    assert f"{KEY_31}_{hx}_{hy}" in unpaired  # the patch over the hole has no partner
    assert len(unpaired) < len(pairing)
    written = sorted(out.rglob("*.tif"))
    assert len(written) == 2 * (len(pairing) - len(unpaired))
    for path in written:
        with rasterio.open(path) as f:
            a = f.read(1)
        assert np.isfinite(a).all() and a.min() > -60 and a.max() < 30
    shard = dict(iter_shard(tmp_path / "s1_shard.parquet"))
    assert sorted(shard) == sorted(pairing.loc[pairing["s1_product"].notna(), "s1_name"])
    for value in shard.values():
        tensors = decode(value)
        assert sorted(tensors) == ["VH", "VV"]
        assert all(t.dtype == np.float32 and t.shape == (120, 120) for t in tensors.values())


def test_only_patches_valid_on_the_s2_side_are_cut(tmp_path):
    real = shared(*REAL)
    grid = TileGrid(KEY_31, 32631, 620400, 4830000, 3 * 1200, 1200)
    pairing, out = run_tile(
        tmp_path,
        grid,
        [{"name": S1_NAME, "VV": str(real), "VH": str(real)}],
        KEY_31,
        valid=np.array([True, False, True]),
    )
    assert pairing["s1_product"].notna().all()
    assert sorted(p.name for p in (out / PRODUCT).iterdir()) == [f"{PRODUCT}_31TEJ_0_0", f"{PRODUCT}_31TEJ_2_0"]
    stats = pd.read_parquet(tmp_path / "s1_band_stats.parquet")
    assert stats["patch_id"].tolist() == [f"{KEY_31}_0_0", f"{KEY_31}_2_0"]


# --- the reBEN file format ------------------------------------------------------------------


def real_s1_files():
    root = shared("reben_samples", "BigEarthNet-S1")
    return sorted(root.rglob("*.tif")) + sorted(shared("reben_samples", "S1").rglob("*.tif*"))


def test_writer_reproduces_the_published_files_byte_for_byte():
    writer = S1PatchWriter(rasterio.crs.CRS.from_epsg(32633), 120)
    files = real_s1_files()
    assert len(files) == 8
    for path in files:
        with rasterio.open(path) as f:
            data, t = f.read(1), f.transform
        assert writer.to_bytes(data, t.c, t.f) == path.read_bytes(), path.name


def test_long_strip_byte_counts_is_idempotent():
    header = S1PatchWriter("EPSG:32633", 120).header
    assert long_strip_byte_counts(header) == header


def test_our_files_match_the_published_layout(tmp_path):
    """Patch 33UUP_70_48 cut from a linear-power product in EPSG:32632: same folders, names,
    and header bytes as the published file of that patch (only the pixels differ)."""
    real = shared(
        "reben_samples",
        "BigEarthNet-S1",
        "S1A_IW_GRDH_1SDV_20170613T165043",
        "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_70_48",
    )
    grid = TileGrid(KEY_UUP, 32633, 300000, 5400000, 109800, 109800)
    left, bottom, right, top = grid.patch_bounds(70, 48)
    sx, sy = Transformer.from_crs(32633, 32632, always_xy=True).transform(left - 500, top + 500)
    products = []
    for pol, level in (("VV", 0.08), ("VH", 0.015)):
        path = tmp_path / f"S1A_IW_GRDH_1SDV_20170613T165043_{pol}.tif"
        data = (level * np.random.default_rng(1).gamma(4.4, 1 / 4.4, (120, 120))).astype(np.float32)
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=120,
            height=120,
            count=1,
            dtype="float32",
            crs="EPSG:32632",
            transform=Affine(20, 0, sx, 0, -20, sy),
            nodata=0,
        ) as dst:
            dst.write(data, 1)
            dst.update_tags(UNIT="linear")
        products.append(str(path))
    product = {"name": "S1A_IW_GRDH_1SDV_20170613T165043", "VV": products[0], "VH": products[1]}
    ids = grid.patch_ids()
    chosen = ids.index(grid.patch_id(70, 48))
    pairing = pd.DataFrame(
        {"patch_id": ids, "s1_product": [None] * len(ids), "s1_name": [""] * len(ids), "s1_time_gap_days": np.nan}
    )
    pairing.loc[chosen, ["s1_product", "s1_name"]] = [product["name"], real.name]
    write_parquet(pairing, tmp_path / "s1_pairing.parquet")
    write_parquet(pd.DataFrame({"patch_id": ids, "valid": np.ones(len(ids), bool)}), tmp_path / "s2.parquet")
    write_json({"grid": grid.to_dict()}, tmp_path / "geocoding.json")
    cut_tile(
        KEY_UUP,
        tmp_path / "geocoding.json",
        tmp_path / "s1_pairing.parquet",
        tmp_path / "s2.parquet",
        [product],
        tmp_path / "s1",
        tmp_path / "s1_shard.parquet",
        tmp_path / "s1_band_stats.parquet",
    )
    ours = sorted(str(p.relative_to(tmp_path / "s1")) for p in (tmp_path / "s1").rglob("*.tif"))
    theirs = sorted(str(p.relative_to(real.parents[1])) for p in real.rglob("*.tif"))
    assert ours == theirs
    for rel in ours:
        mine, published = (tmp_path / "s1" / rel).read_bytes(), (real.parents[1] / rel).read_bytes()
        assert len(mine) == len(published)
        assert mine[: -120 * 120 * 4] == published[: -120 * 120 * 4]  # every tag, offset and the tie point
        with rasterio.open(tmp_path / "s1" / rel) as a, rasterio.open(real.parents[1] / rel) as b:
            assert a.profile == b.profile and a.tags() == b.tags()
            assert np.isfinite(a.read(1)).all()
