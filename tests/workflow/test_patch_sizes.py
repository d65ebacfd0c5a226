"""Patch sizes other than reBEN's 1200 m, through the real workflow: every file of every stage
has the size, the transform and the footprint of its patch's grid cell, and the names follow
DESIGN.md (patch_id padded to the digits of the largest index, s1_name not padded).

One demo product (T33UUP, June 2017, with its Sentinel-1 partners) per size, built to the
dataset and the LMDB, keeps each run short; the demo's other products add nothing here.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import lmdb
import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from conftest import demo_config, run_snakemake

from reben.config import validate_config
from reben.constants import S1_POLARISATIONS, S2_BAND_RESOLUTION, S2_BANDS
from reben.errors import ConfigError
from reben.shards import decode

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
UUP = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
UUP_WINDOW_M = 12 * 1200  # the demo product is a 14.4 km window of T33UUP


# ------------------------------------------------------------------ parse-time check


def config_with(patch_size_m) -> dict:
    config = demo_config()
    config["patch_size_m"] = patch_size_m
    return config


@pytest.mark.parametrize("size", [1250, 1230, 90, 6000 + 30])
def test_a_size_not_a_multiple_of_60_stops_with_one_line(size):
    with pytest.raises(ConfigError) as e:
        validate_config(config_with(size), SCHEMA)
    assert str(e.value) == f"config: patch_size_m: {size} is not a multiple of 60"


@pytest.mark.parametrize("size", [60, 600, 1200, 2400])
def test_multiples_of_60_pass(size):
    assert validate_config(config_with(size), SCHEMA)["patch_size_m"] == size


@pytest.mark.integration
def test_workflow_refuses_1250_before_any_job(tmp_path):
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config_with(1250)))
    proc = run_snakemake(tmp_path, "--dry-run", configfile=configfile, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config: patch_size_m: 1250 is not a multiple of 60" in out
    assert "Traceback" not in out
    assert not (tmp_path / "results").exists()


# ------------------------------------------------------------------ the workflow at 600 and 2400 m


@pytest.fixture(scope="module", params=[600, 2400])
def sized_run(request, tmp_path_factory):
    size = request.param
    workdir = tmp_path_factory.mktemp(f"size{size}")
    config = config_with(size)
    config["sentinel2"]["products"] = [p for p in config["sentinel2"]["products"] if p["name"].startswith(UUP)]
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    run_snakemake(
        workdir, "results/dataset/lmdb/data.mdb", "results/report/band_statistics.json", configfile=configfile
    )
    return size, workdir / "results"


def grid_cells(results: Path) -> gpd.GeoDataFrame:
    return gpd.read_parquet(results / "tiles" / UUP / "grid.parquet").set_index("patch_id")


def assert_on_cell(path: Path, cell, size: int, resolution: int, dtype: str) -> None:
    """The file is the grid cell: shape, north-up transform at `resolution`, bounds, CRS."""
    left, bottom, right, top = cell.geometry.bounds
    with rasterio.open(path) as src:
        assert (src.height, src.width) == (size // resolution,) * 2, path.name
        assert tuple(src.transform)[:6] == (resolution, 0, left, 0, -resolution, top), path.name
        assert tuple(src.bounds) == (left, bottom, right, top), path.name
        assert src.crs.to_epsg() == 32633 and src.dtypes[0] == dtype, path.name


@pytest.mark.integration
def test_grid_and_names_follow_the_patch_size(sized_run):
    size, results = sized_run
    cells = grid_cells(results)
    n = UUP_WINDOW_M // size
    assert len(cells) == n * n
    digits = len(str(n - 1))  # 600 m: 24 per side, 2 digits; 2400 m: 6 per side, 1 digit
    assert list(cells.index) == [f"{UUP}_{x:0{digits}d}_{y:0{digits}d}" for y in range(n) for x in range(n)]
    geocoding = json.loads((results / "tiles" / UUP / "geocoding.json").read_text())
    assert geocoding["grid"]["patch_size_m"] == size
    first = cells.loc[f"{UUP}_{0:0{digits}d}_{1:0{digits}d}"].geometry.bounds
    assert first == (394800, 5400000 - 2 * size, 394800 + size, 5400000 - size)
    pairing = pd.read_parquet(results / "tiles" / UUP / "s1_pairing.parquet")
    paired = pairing[pairing.s1_product.notna()]
    assert len(paired) > 0
    xy = cells.loc[paired.patch_id, ["x", "y"]]
    assert paired.s1_name.tolist() == [f"{p}_33UUP_{x}_{y}" for p, x, y in zip(paired.s1_product, xy.x, xy.y)]


@pytest.mark.integration
def test_every_s2_band_file_covers_its_grid_cell(sized_run):
    size, results = sized_run
    cells = grid_cells(results)
    table = pd.read_parquet(results / "tiles" / UUP / "s2_patches.parquet")
    valid = table.patch_id[table.valid].tolist()
    assert 0 < len(valid) < len(table)  # the demo's nodata swath invalidates some
    folders = sorted(p.name for p in (results / "tiles" / UUP / "s2").iterdir() if not p.name.startswith("."))
    assert folders == sorted(valid)
    for pid in valid:
        for band in S2_BANDS:
            assert_on_cell(
                results / "tiles" / UUP / "s2" / pid / f"{pid}_{band}.tif",
                cells.loc[pid],
                size,
                S2_BAND_RESOLUTION[band],
                "uint16",
            )


@pytest.mark.integration
def test_every_reference_map_covers_its_grid_cell(sized_run):
    size, results = sized_run
    cells = grid_cells(results)
    root = results / "tiles" / UUP / "reference_maps"
    for pid in cells.index:
        assert_on_cell(root / pid / f"{pid}_reference_map.tif", cells.loc[pid], size, 10, "uint16")


@pytest.mark.integration
def test_every_s1_file_covers_its_grid_cell(sized_run):
    size, results = sized_run
    cells = grid_cells(results)
    pairing = pd.read_parquet(results / "tiles" / UUP / "s1_pairing.parquet")
    paired = pairing[pairing.s1_product.notna()]
    root = results / "tiles" / UUP / "s1"
    written = sorted(p.parent.name for p in root.glob("*/*/*_VV.tif"))
    assert written == sorted(paired.s1_name)
    for pid, product, name in zip(paired.patch_id, paired.s1_product, paired.s1_name):
        for pol in S1_POLARISATIONS:
            assert_on_cell(root / product / name / f"{name}_{pol}.tif", cells.loc[pid], size, 10, "float32")


@pytest.mark.integration
def test_lmdb_tensors_have_the_patch_size(sized_run):
    size, results = sized_run
    meta = pd.concat(
        [
            pd.read_parquet(results / "dataset" / name)
            for name in ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
        ]
    )
    assert len(meta) > 0
    env = lmdb.open(str(results / "dataset" / "lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        for pid, s1_name in zip(meta.patch_id, meta.s1_name):
            s2 = decode(txn.get(pid.encode()))
            assert {b: a.shape for b, a in s2.items()} == {b: (size // S2_BAND_RESOLUTION[b],) * 2 for b in S2_BANDS}
            assert decode(txn.get(f"{pid}_reference_map".encode()))["Data"].shape == (size // 10,) * 2
            s1 = decode(txn.get(s1_name.encode()))
            assert {p: a.shape for p, a in s1.items()} == {p: (size // 10,) * 2 for p in S1_POLARISATIONS}
        assert env.stat()["entries"] == 2 * len(meta) + meta.s1_name.nunique()
    env.close()


@pytest.mark.integration
def test_band_statistics_count_the_pixels_of_the_patch_size(sized_run):
    size, results = sized_run
    stats = json.loads((results / "report" / "band_statistics.json").read_text())
    # The report's default patch set: every kept patch, clean and flagged (both metadata files).
    meta = pd.concat(
        [
            pd.read_parquet(results / "dataset" / name)
            for name in ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
        ]
    )
    train = meta[meta.split == "train"]
    assert stats["patches"]["s2"] == len(train) > 0
    for band in S2_BANDS:
        assert stats["bands"][band]["pixels"] == len(train) * (size // S2_BAND_RESOLUTION[band]) ** 2
    for pol in S1_POLARISATIONS:  # no NaN in a patch the pairing found covered
        assert stats["bands"][pol]["pixels"] == len(train) * (size // 10) ** 2
    arrays = [np.asarray(stats["mean"]), np.asarray(stats["std"])]
    assert all(np.isfinite(a).all() for a in arrays)
