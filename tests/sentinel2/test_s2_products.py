"""Product names, tile keys and metadata parsing over every real XML in ../shared/data."""

import shutil
from pathlib import Path

import pytest
from conftest import SHARED_DATA, shared

from reben.errors import ProductError
from reben.names import parse_product_name, tile_key
from reben.sentinel2.products import (
    ProductFiles,
    check_product_name,
    find_product_metadata,
    find_tile_metadata,
    inspect_product,
    product_grid,
    quality_verdict,
    read_geocoding,
    read_product_metadata,
)

REAL_L2A = "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"


def test_tile_key_of_l2a_drops_processing_time():
    assert (
        tile_key("S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20230105T120000.SAFE")
        == "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
    )


def test_tile_key_of_l1c_is_what_sen2cor_will_name_its_output():
    name = "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608.SAFE"
    assert tile_key(name) == "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
    assert tile_key(name + ".zip", "N0211") == "S2A_MSIL2A_20170613T101031_N0211_R022_T33UUP"


def test_bad_product_name_is_one_line_naming_it():
    with pytest.raises(ProductError, match="^S2A_MSIL2A_bad: not a Sentinel-2"):
        parse_product_name("S2A_MSIL2A_bad")


def metadata_products():
    root = SHARED_DATA / "sentinel2_metadata"
    return sorted(p for p in root.iterdir()) if root.exists() else []


@pytest.mark.parametrize("product", metadata_products(), ids=lambda p: p.name)
def test_every_real_metadata_variant_parses(product):
    files = ProductFiles(product)
    mtd = files.glob("MTD_MSIL*.xml")
    tl = files.glob("*MTD_TL.xml") or files.glob("metadata.xml")
    if mtd:
        meta = read_product_metadata(files.parse_xml(find_product_metadata(files)))
        assert meta["product_uri"].startswith(product.name.removeprefix("esa_")[:44])
        assert meta["processing_baseline"] in {"02.12", "02.14", "04.00", "05.00", "05.09"}
        assert meta["nodata_value"] == 0
        assert meta["quantification_value"] == 10000
        # BOA_ADD_OFFSET exists from baseline 04.00 on, and not before.
        has_offset = meta["processing_baseline"] >= "04.00"
        assert bool(meta["boa_add_offset"]) == has_offset
        if has_offset:
            assert meta["boa_add_offset"]["B02"] == -1000 and len(meta["boa_add_offset"]) == 13
        assert any(f.endswith("_B02_10m") for f in meta["image_files"])
    if tl:
        geo = read_geocoding(files.parse_xml(tl[0]), product.name, tl[0])
        assert geo["sizes"]["10"] == [10980, 10980]
        assert geo["sizes"]["60"] == [1830, 1830]
        assert geo["epsg"] in range(32601, 32761)
        assert geo["geopositions"]["10"][2:] == [10.0, -10.0]


def test_lower_case_metadata_spelling_is_found():
    files = ProductFiles(
        shared("sentinel2_metadata", "S2A_MSIL2A_20180721T053721_N0212_R062_T43MDV_20201011T181419.SAFE")
    )
    assert find_product_metadata(files) == "MTD_MSIL2a.xml"


def test_tile_metadata_in_granule_is_preferred_over_other_copies():
    files = ProductFiles(
        shared("sentinel2_metadata", "S2A_MSIL2A_20230625T234621_N0509_R073_T01WCS_20230626T022157.SAFE")
    )
    assert find_tile_metadata(files).startswith("GRANULE/L2A_T01WCS")


def test_failed_quality_indicator_excludes_with_reason():
    files = ProductFiles(shared("sentinel2_metadata", "S2A_MSIL2A_20150826T185436_N0212_R070_T11SLT_20210412T023147"))
    meta = read_product_metadata(files.parse_xml(find_product_metadata(files)))
    # FORMAT_CORRECTNESS failed there, which is not one of the four indicators reBEN uses.
    assert meta["quality"]["FORMAT_CORRECTNESS"] == "FAILED"
    assert quality_verdict(meta["quality"]) == (True, None)
    assert quality_verdict({**meta["quality"], "SENSOR_QUALITY": "FAILED"}) == (
        False,
        "quality indicator not PASSED: SENSOR_QUALITY=FAILED",
    )


def test_real_product_grid_comes_from_mtd_tl():
    grid, geo = product_grid(shared("sentinel2", REAL_L2A), "KEY", 1200)
    assert (grid.epsg, grid.ulx, grid.uly) == (32629, 499980, 5900040)
    assert (grid.n_cols, grid.n_rows) == (91, 91)


def test_inspecting_the_real_product_names_exactly_the_missing_band_files():
    with pytest.raises(ProductError) as err:
        inspect_product(shared("sentinel2", REAL_L2A), "KEY", 1200)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{REAL_L2A}: 10 band file(s) missing: ")
    missing = message.split("missing: ")[1].split(", ")
    names = sorted(Path(m).name for m in missing)
    assert names == sorted(
        f"T29UNU_20221005T115411_{b}.jp2"
        for b in [
            "B02_10m",
            "B03_10m",
            "B04_10m",
            "B08_10m",
            "B05_20m",
            "B06_20m",
            "B07_20m",
            "B8A_20m",
            "B11_20m",
            "B12_20m",
        ]
    )


def test_real_product_without_its_missing_bands_inspects(tmp_path):
    """With the absent 10 m and 20 m files stood in by copies of the real 60 m ones at the right
    size (written by rasterio), the real SAFE is found, parsed and checked end to end."""
    import rasterio

    src = shared("sentinel2", REAL_L2A)
    product = tmp_path / REAL_L2A
    shutil.copytree(src, product)
    img = next(product.glob("GRANULE/*/IMG_DATA"))
    with rasterio.open(next(img.glob("R60m/*_B01_60m.jp2"))) as b01:
        profile = b01.profile
    for band, res in [
        ("B02", 10),
        ("B03", 10),
        ("B04", 10),
        ("B08", 10),
        ("B05", 20),
        ("B06", 20),
        ("B07", 20),
        ("B8A", 20),
        ("B11", 20),
        ("B12", 20),
    ]:
        size = 109800 // res
        p = dict(
            profile,
            driver="GTiff",
            width=size,
            height=size,
            transform=rasterio.Affine(res, 0, 499980, 0, -res, 5900040),
        )
        p.pop("blockxsize", None), p.pop("blockysize", None), p.pop("tiled", None)
        with rasterio.open(
            img / f"R{res}m" / f"T29UNU_20221005T115411_{band}_{res}m.jp2",
            "w",
            **{k: v for k, v in p.items() if k not in ("compress",)},
            sparse_ok=True,
        ):
            pass
    # The stand-ins are not the files manifest.safe lists (their real sizes and SHA3-256): the
    # manifest check is tested on the real files in tests/run/test_check.py.
    (product / "manifest.safe").unlink()
    info = inspect_product(product, "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU", 1200)
    assert info["processing_baseline"] == "04.00"
    assert info["boa_add_offset"]["B04"] == -1000
    assert info["season"] == "Autumn"
    assert info["excluded"] is False
    assert info["band_paths"]["SCL"].endswith("R20m/T29UNU_20221005T115411_SCL_20m.jp2")
    assert set(info["band_paths"]) == {
        "B01",
        "B02",
        "B03",
        "B04",
        "B05",
        "B06",
        "B07",
        "B08",
        "B8A",
        "B09",
        "B11",
        "B12",
        "SCL",
    }


def test_scl_of_the_real_product_reads_at_20_m():
    import numpy as np
    import rasterio

    scl = next(shared("sentinel2", REAL_L2A).glob("GRANULE/*/IMG_DATA/R20m/*_SCL_20m.jp2"))
    with rasterio.open(scl) as src:
        assert (src.width, src.height, src.res) == (5490, 5490, (20.0, 20.0))
        assert src.crs.to_epsg() == 32629
        window = src.read(1, window=((2000, 2600), (2000, 2600)))
    values = set(np.unique(window).tolist())
    assert values <= set(range(12))
    assert len(values) > 2  # a real scene, not a constant


# ------------------------------------------------------------------ the name against the product


def named_products():
    """Real products whose folder holds their product and tile metadata (the renamed `esa_`
    copy aside: its folder name is not its product's)."""
    return [
        p
        for p in metadata_products()
        if not p.name.startswith("esa_") and list(p.glob("MTD_MSIL2*.xml")) and list(p.rglob("MTD_TL.xml"))
    ]


@pytest.mark.parametrize("product", named_products(), ids=lambda p: p.name)
def test_every_real_product_agrees_with_its_own_name(product):
    check_product_name(product, product.name.removesuffix(".SAFE"))


def test_a_real_product_under_another_products_name_is_one_line_naming_the_mismatch(tmp_path):
    real = shared("sentinel2", REAL_L2A)
    other = "S2A_MSIL2A_20221015T115421_N0400_R023_T29UNU_20221015T164454"
    copy = tmp_path / f"{other}.SAFE"  # product C's content in a folder named as product A
    for member in ("MTD_MSIL2A.xml", *(str(p.relative_to(real)) for p in real.glob("GRANULE/*/MTD_TL.xml"))):
        (copy / member).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(real / member, copy / member)
    with pytest.raises(ProductError) as e:
        check_product_name(copy, other)
    assert str(e.value) == (
        f"{other}: {copy}: its PRODUCT_URI is {REAL_L2A.removesuffix('.SAFE')}, not the configured name's: "
        "the name and the product disagree"
    )


def test_the_folder_name_must_be_the_configured_name(tmp_path):
    real = shared("sentinel2", REAL_L2A)
    with pytest.raises(ProductError, match=r"the product's file name is S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU"):
        check_product_name(real, "S2B_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454")


def test_a_tile_or_date_that_disagrees_with_the_name_is_named(tmp_path):
    real = shared("sentinel2", REAL_L2A)
    name = REAL_L2A.removesuffix(".SAFE")
    copy = tmp_path / REAL_L2A
    for member in ("MTD_MSIL2A.xml", *(str(p.relative_to(real)) for p in real.glob("GRANULE/*/MTD_TL.xml"))):
        (copy / member).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(real / member, copy / member)
    mtd = copy / "MTD_MSIL2A.xml"
    mtd.write_text(mtd.read_text().replace("2022-10-05T11:54:11.024Z", "2022-10-25T11:54:11.024Z"))
    with pytest.raises(ProductError, match=r"its PRODUCT_START_TIME is 2022-10-25T11:54:11.024Z"):
        check_product_name(copy, name)
    shutil.copy(real / "MTD_MSIL2A.xml", mtd)
    tl = next(copy.glob("GRANULE/*/MTD_TL.xml"))
    tl.write_text(tl.read_text().replace("_T29UNU_N04.00", "_T29UNV_N04.00"))
    with pytest.raises(
        ProductError, match=r"the TILE_ID of its MTD_TL.xml is S2A_OPER_MSI_L2A_TL_ATOS_.*_T29UNV_N04.00"
    ):
        check_product_name(copy, name)


# ------------------------------------------------------------------ every file inside the product


def test_a_band_linked_out_of_the_product_is_refused(tmp_path):
    real = shared("sentinel2", REAL_L2A)
    copy = Path(shutil.copytree(real, tmp_path / REAL_L2A, symlinks=True))
    band = next(copy.glob("GRANULE/*/IMG_DATA/R60m/*_B01_60m.jp2"))
    band.unlink()
    band.symlink_to("/etc/passwd")
    with pytest.raises(ProductError) as e:
        ProductFiles(copy)
    assert str(e.value) == (
        f"{REAL_L2A}: {band}: a link to /etc/passwd, outside the product: refused (every file of a product "
        "must be inside its folder)"
    )


def test_a_link_inside_the_product_and_a_linked_product_folder_are_fine(tmp_path):
    real = shared("sentinel2", REAL_L2A)
    copy = Path(shutil.copytree(real, tmp_path / "store" / REAL_L2A, symlinks=True))
    (copy / "INSPIRE_link.xml").symlink_to(copy / "INSPIRE.xml")
    linked = tmp_path / "data" / REAL_L2A
    linked.parent.mkdir()
    linked.symlink_to(copy)
    assert "INSPIRE_link.xml" in ProductFiles(linked).glob("INSPIRE_link.xml")


@pytest.mark.parametrize("member", ["../../etc/passwd", "/etc/passwd", "link"])
def test_a_zip_member_outside_the_product_is_refused(tmp_path, member):
    import stat
    import zipfile

    path = tmp_path / f"{REAL_L2A.removesuffix('.SAFE')}.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{REAL_L2A}/MTD_MSIL2A.xml", "<x/>")
        if member == "link":  # a symbolic link member pointing out of the SAFE folder
            info = zipfile.ZipInfo(f"{REAL_L2A}/GRANULE/B01.jp2")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "../../../etc/passwd")
        else:
            z.writestr(member, "x")
    with pytest.raises(ProductError, match=r"zip member .* resolves outside the product .*: refused"):
        ProductFiles(path)
