"""The real workflow on the demo inputs: the Sentinel-2 branch, read back with rasterio."""

import json

import pandas as pd
import pytest
import rasterio
from conftest import run_snakemake

from reben.constants import S2_BANDS
from reben.synthetic.scenario import DEMO_PRODUCTS

pytestmark = pytest.mark.integration

UUP = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
FAILED = "S2A_MSIL2A_20180525T100031_N9999_R122_T33UUP"


def test_demo_tiles_are_inspected_and_cut(demo_run):
    tiles = demo_run / "results" / "tiles"
    assert sorted(p.name for p in tiles.iterdir()) == sorted(p.name.rsplit("_", 1)[0] for p in DEMO_PRODUCTS)
    tile = json.loads((tiles / UUP / "tile.json").read_text())
    assert (tile["epsg"], tile["ulx"], tile["uly"]) == (32633, 394800, 5400000)
    assert tile["season"] == "Summer" and tile["boa_add_offset"]["B02"] == -1000
    table = pd.read_parquet(tiles / UUP / "s2_patches.parquet")
    assert len(table) == 144
    assert 0 < table.valid.sum() < 144  # the nodata swath invalidates the west edge
    assert (table.cloud_or_shadow_fraction > 0).any()
    folders = sorted(
        p.name for p in (tiles / UUP / "s2").iterdir() if not p.name.startswith(".")
    )  # Snakemake adds .snakemake_timestamp
    assert folders == sorted(table.patch_id[table.valid])
    pid = folders[len(folders) // 2]
    for band in S2_BANDS:
        with rasterio.open(tiles / UUP / "s2" / pid / f"{pid}_{band}.tif") as src:
            data = src.read(1)
            assert src.dtypes[0] == "uint16" and src.nodata == 0 and src.crs.to_epsg() == 32633
            assert (data > 0).all()


def test_product_failing_quality_is_recorded_and_the_run_goes_on(demo_run):
    tile = json.loads((demo_run / "results" / "tiles" / FAILED / "tile.json").read_text())
    assert tile["excluded"] and tile["excluded_reason"] == "quality indicator not PASSED: SENSOR_QUALITY=FAILED"
    assert [p for p in (demo_run / "results" / "tiles" / FAILED / "s2").iterdir() if not p.name.startswith(".")] == []


def test_second_run_with_no_change_rebuilds_nothing(demo_copy):
    proc = run_snakemake(demo_copy, "--dry-run", "--quiet", "rules")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_invalid_config_stops_before_any_job_with_one_line(demo_copy, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "sentinel2:\n  l2a_baseline: N99\n  products:\n"
        "    - name: S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20230105T120000\n"
    )
    proc = run_snakemake(demo_copy, "--dry-run", configfile=bad, check=False)
    assert proc.returncode != 0
    assert "config: sentinel2.l2a_baseline: 'N99' does not match '^N[0-9]{4}$'" in proc.stdout + proc.stderr
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("sentinel_2: {}\n")
    proc = run_snakemake(demo_copy, "--dry-run", configfile=unknown, check=False)
    assert "Additional properties are not allowed ('sentinel_2' was unexpected)" in proc.stdout + proc.stderr
