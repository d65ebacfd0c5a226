"""sen2cor: synthetic L1C products as CDSE delivers them, the folder repair, the L2A product the
tile key predicts, and one clear line for each way it can go wrong."""

from __future__ import annotations

import copy
import csv
import hashlib
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from conftest import REPO, shared

from reben.config import product_table, validate_config
from reben.errors import Sen2corError
from reben.names import tile_key
from reben.safe import check_l1c_zip
from reben.sentinel2.products import inspect_product, product_grid
from reben.sentinel2.sen2cor import repair_empty_folders, run_sen2cor, sen2cor_arguments
from reben.synthetic.l1c import L1C_DEMO_PRODUCTS, PATH_RADIANCE, TRANSMITTANCE, write_l1c_safe, write_l1c_zip
from reben.synthetic.sentinel2 import product_content

DOUBLE = str(REPO / "tests" / "doubles" / "L2A_Process")
SPEC = replace(L1C_DEMO_PRODUCTS[0], n_patches=2)  # 240 x 240 px at 10 m, corner (394800, 5400000)
L1C = SPEC.name
KEY = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
GRANULE = "GRANULE/L1C_T33UUP_A010290_20170613T101031"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def l1c_zip(tmp_path_factory) -> Path:
    return write_l1c_zip(SPEC, tmp_path_factory.mktemp("l1c") / f"{L1C}.zip")


@pytest.fixture(scope="module")
def l2a(l1c_zip, tmp_path_factory) -> tuple[Path, dict, str]:
    """The L2A product sen2cor (the double) makes of the L1C zip, its record, the zip's hash before."""
    before = sha256(l1c_zip)
    out = tmp_path_factory.mktemp("l2a")
    record = run_sen2cor(
        l1c_zip,
        out / f"{KEY}.SAFE",
        out / f"{KEY}.json",
        DOUBLE,
        "2.11",
        tool_log=out / "logs" / f"{KEY}.L2A_Process.log",
    )
    return out / f"{KEY}.SAFE", record, before


def test_synthetic_l1c_zip_has_the_cdse_layout(l1c_zip):
    with zipfile.ZipFile(l1c_zip) as z:
        names = z.namelist()
        mtd = z.read(f"{L1C}.SAFE/MTD_MSIL1C.xml").decode()
    root = f"{L1C}.SAFE/"
    assert all(n.startswith(root) and not n.endswith("/") for n in names)  # file entries only
    members = {n[len(root) :] for n in names}
    bands = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
    assert {f"{GRANULE}/IMG_DATA/T33UUP_20170613T101031_{b}.jp2" for b in bands} <= members
    assert {
        "MTD_MSIL1C.xml",
        "manifest.safe",
        f"{GRANULE}/MTD_TL.xml",
        "DATASTRIP/DS_SYNT_20170613T101608_S20170613T101031/MTD_DS.xml",
    } <= members
    # The empty folders CDSE drops are not there.
    assert not any("/AUX_DATA" in m or "/QI_DATA" in m or m.startswith("AUX_DATA") for m in members)
    assert "<PROCESSING_LEVEL>Level-1C</PROCESSING_LEVEL>" in mtd
    assert f"<PRODUCT_URI>{L1C}.SAFE</PRODUCT_URI>" in mtd
    assert f"<IMAGE_FILE>{GRANULE}/IMG_DATA/T33UUP_20170613T101031_B8A</IMAGE_FILE>" in mtd
    for band, side in (("B02", 240), ("B05", 120), ("B10", 40)):
        with rasterio.open(f"/vsizip/{l1c_zip}/{root}{GRANULE}/IMG_DATA/T33UUP_20170613T101031_{band}.jp2") as src:
            assert (src.width, src.height, src.dtypes[0]) == (side, side, "uint16")
            assert (src.transform.c, src.transform.f, src.crs.to_epsg()) == (394800, 5400000, 32633)


def test_l1c_top_of_atmosphere_is_surface_seen_through_the_synthetic_atmosphere(l1c_zip):
    surface, _ = product_content(replace(SPEC, boa_add_offset=None))
    with rasterio.open(f"/vsizip/{l1c_zip}/{L1C}.SAFE/{GRANULE}/IMG_DATA/T33UUP_20170613T101031_B04.jp2") as src:
        toa = src.read(1)
    sr = surface["B04"]
    # A pixel of surface reflectance 1000 reads 0.92 * 1000 + 250 = 1170 at the top of the atmosphere.
    expected = np.where(sr == 0, 0, (sr * TRANSMITTANCE + PATH_RADIANCE["B04"]).astype(np.uint16))
    assert np.array_equal(toa, expected)
    assert (toa == 0).any() and (toa > 0).mean() > 0.8  # the nodata swath stays nodata


def test_patch_grid_comes_from_the_l1c_zip_and_folder(l1c_zip, tmp_path):
    grid, geo = product_grid(l1c_zip, KEY, 1200)
    assert (grid.epsg, grid.ulx, grid.uly, grid.width_m, grid.height_m) == (32633, 394800, 5400000, 2400, 2400)
    assert geo["tile_id"].startswith("S2A_OPER_MSI_L1C_TL_")
    folder = write_l1c_safe(SPEC, tmp_path / f"{L1C}.SAFE")
    assert product_grid(folder, KEY, 1200)[0] == grid


def test_sen2cor_makes_the_product_the_tile_key_predicts(l2a, l1c_zip):
    product, record, zip_hash_before = l2a
    assert product.name == f"{KEY}.SAFE"
    # sen2cor's own name (with its processing time) is recorded beside it.
    assert record["l2a_product"].startswith(KEY + "_") and len(record["l2a_product"]) == len(KEY) + 16
    assert record["l1c_product"] == L1C and record["sen2cor"]["version"] == "2.11"
    assert f"{GRANULE}/AUX_DATA" in record["repaired_folders"]
    assert "DATASTRIP/DS_SYNT_20170613T101608_S20170613T101031/QI_DATA" in record["repaired_folders"]
    assert yaml.safe_load((product.parent / f"{KEY}.json").read_text()) == record
    assert sorted(p.name for p in product.parent.iterdir()) == [f"{KEY}.SAFE", f"{KEY}.json", "logs"]
    assert sha256(l1c_zip) == zip_hash_before  # the input is never touched
    assert "TEST DOUBLE" in (product.parent / "logs" / f"{KEY}.L2A_Process.log").read_text()


def test_the_l2a_product_reads_like_any_l2a_product(l2a):
    product, _, _ = l2a
    tile = inspect_product(product, KEY, 1200)
    assert tile["excluded"] is False and tile["boa_add_offset"]["B04"] == -1000
    assert tile["band_paths"]["B8A"].endswith("IMG_DATA/R20m/T33UUP_20170613T101031_B8A_20m.jp2")
    assert tile["grid"]["ulx"] == 394800
    # The double inverts the synthetic atmosphere: surface reflectance back, plus the 1000 offset.
    surface, _ = product_content(replace(SPEC, boa_add_offset=None))
    with rasterio.open(tile["band_paths"]["B04"]) as src:
        b04 = src.read(1).astype(int)
    valid = surface["B04"] > 0
    assert np.array_equal(b04 == 0, ~valid)
    assert np.abs(b04[valid] - 1000 - surface["B04"][valid]).max() <= 2


def test_the_l1c_quality_checks_reach_the_l2a_product(tmp_path):
    failed = replace(L1C_DEMO_PRODUCTS[2], n_patches=1)
    l1c = write_l1c_zip(failed, tmp_path / f"{failed.name}.zip")
    key = tile_key(failed.name)
    run_sen2cor(l1c, tmp_path / f"{key}.SAFE", tmp_path / f"{key}.json", DOUBLE, "2.11")
    tile = inspect_product(tmp_path / f"{key}.SAFE", key, 1200)
    assert tile["excluded"] and tile["excluded_reason"] == "quality indicator not PASSED: SENSOR_QUALITY=FAILED"


def test_without_the_repair_l2a_process_fails_on_a_cdse_zip(l1c_zip, tmp_path):
    with zipfile.ZipFile(l1c_zip) as z:
        z.extractall(tmp_path)
    safe = tmp_path / f"{L1C}.SAFE"
    proc = subprocess.run(
        [DOUBLE, str(safe), "--output_dir", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={"REBEN_PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 1 and "AUX_DATA" in proc.stdout
    made = repair_empty_folders(safe)
    assert made == [
        "AUX_DATA",
        "HTML",
        "rep_info",
        f"{GRANULE}/AUX_DATA",
        f"{GRANULE}/QI_DATA",
        "DATASTRIP/DS_SYNT_20170613T101608_S20170613T101031/QI_DATA",
    ]
    assert repair_empty_folders(safe) == []


def test_a_safe_folder_input_is_mirrored_not_changed(tmp_path):
    folder = write_l1c_safe(replace(SPEC, n_patches=1), tmp_path / "in" / f"{L1C}.SAFE")
    shutil.rmtree(folder / GRANULE / "AUX_DATA")
    listing = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    run_sen2cor(folder, tmp_path / f"{KEY}.SAFE", tmp_path / f"{KEY}.json", DOUBLE, "2.11")
    assert (tmp_path / f"{KEY}.SAFE" / "MTD_MSIL2A.xml").exists()
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == listing


def test_command_line_is_the_real_l2a_process_one():
    assert sen2cor_arguments("/w/in/X.SAFE", "/w/out", None, []) == ["/w/in/X.SAFE", "--output_dir", "/w/out"]
    assert sen2cor_arguments("/w/in/X.SAFE", "/w/out", 20, ["--GIP_L2A", "/g.xml"]) == [
        "/w/in/X.SAFE",
        "--output_dir",
        "/w/out",
        "--resolution",
        "20",
        "--GIP_L2A",
        "/g.xml",
    ]


def test_a_missing_l2a_process_is_one_line(l1c_zip, tmp_path):
    with pytest.raises(Sen2corError) as e:
        run_sen2cor(l1c_zip, tmp_path / f"{KEY}.SAFE", tmp_path / f"{KEY}.json", "no-such-L2A_Process", "2.11")
    assert str(e.value) == (
        "sen2cor command 'no-such-L2A_Process' not found or not executable: install "
        "sen2cor and set config sen2cor.command to its L2A_Process"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_failing_l2a_process_keeps_its_log(l1c_zip, tmp_path):
    failing = tmp_path / "L2A_Process"
    failing.write_text(
        "#!/bin/sh\necho \"Progress[%]: 10.00 : Resolution: 20\"\necho 'MemoryError: out of memory'\nexit 3\n"
    )
    failing.chmod(0o755)
    out = tmp_path / "l2a"
    log = tmp_path / "logs" / f"{KEY}.L2A_Process.log"
    with pytest.raises(Sen2corError) as e:
        run_sen2cor(l1c_zip, out / f"{KEY}.SAFE", out / f"{KEY}.json", str(failing), "2.11", tool_log=log)
    assert str(e.value) == (
        f"{L1C}: L2A_Process exited with status 3 (MemoryError: out of memory); its output is in {log}"
    )
    assert "Progress[%]: 10.00" in log.read_text()
    assert list(out.iterdir()) == []  # no product, no temporary folder


def test_a_baseline_other_than_the_configured_one_is_named(l1c_zip, tmp_path):
    with pytest.raises(
        Sen2corError,
        match=r"sen2cor named its product S2A_MSIL2A_20170613T101031_N0211_R022_T33UUP_\d{8}T\d{6}"
        r"\.SAFE, whose tile key is not " + KEY + "; set sentinel2.l2a_baseline",
    ):
        run_sen2cor(
            l1c_zip,
            tmp_path / f"{KEY}.SAFE",
            tmp_path / f"{KEY}.json",
            DOUBLE,
            "2.11",
            extra_args=["--processing_baseline", "02.11"],
        )
    assert not (tmp_path / f"{KEY}.SAFE").exists()


def test_a_corrupt_zip_is_one_line(l1c_zip, tmp_path):
    truncated = tmp_path / f"{L1C}.zip"
    truncated.write_bytes(l1c_zip.read_bytes()[: l1c_zip.stat().st_size // 2])
    with pytest.raises(
        Sen2corError, match=rf"^{L1C}: .*{L1C}\.zip is not a readable zip \(.*\); delete it and fetch it again$"
    ):
        run_sen2cor(truncated, tmp_path / f"{KEY}.SAFE", tmp_path / f"{KEY}.json", DOUBLE, "2.11")
    # A flipped byte inside a stored band file: the zip opens, the member's CRC does not match.
    data = bytearray(l1c_zip.read_bytes())
    with zipfile.ZipFile(l1c_zip) as z:
        info = z.getinfo(f"{L1C}.SAFE/{GRANULE}/IMG_DATA/T33UUP_20170613T101031_B02.jp2")
    data[info.header_offset + 30 + len(info.filename) + 100] ^= 0xFF
    flipped = tmp_path / "flipped" / f"{L1C}.zip"
    flipped.parent.mkdir()
    flipped.write_bytes(bytes(data))
    with pytest.raises(Sen2corError, match=r"corrupt zip \(member .*_B02\.jp2 fails its CRC check\)"):
        check_l1c_zip(flipped)
    assert not (tmp_path / f"{KEY}.SAFE").exists()


def test_reben_config_selects_the_125_bigearthnet_v1_products():
    """config/reben.yaml, on its own (it inherits nothing from the demo), validates and lists
    the 125 L1C products of the shared facts file, each with its own tile key."""
    config = yaml.safe_load((REPO / "config/reben.yaml").read_text())
    validate_config(config, REPO / "workflow/schemas/config.schema.yaml")
    assert config["retrieval"]["enabled"] and config["sen2cor"]["version"] == "2.11"
    products = product_table(copy.deepcopy(config), REPO)
    assert len(products) == 125 and {p["level"] for p in products.values()} == {"MSIL1C"}
    first = products["S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"]
    assert first["name"] == "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608"
    with open(shared("reben", "bigearthnet_s2_l1c_products.csv"), newline="") as f:
        facts = {r["tile"].removesuffix(".SAFE"): r["id"] for r in csv.DictReader(f)}
    with open(REPO / "resources/bigearthnet_v1_l1c_products.csv", newline="") as f:
        shipped = {r["name"]: r["cdse_id"] for r in csv.DictReader(f)}
    assert shipped == facts
