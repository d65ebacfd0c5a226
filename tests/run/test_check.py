"""Trust before and after a run: the input check, the empty-dataset failure, the closing summary,
and the faults found by corrupting inputs (truncated JPEG2000, manifest.safe checksums, a shifted
or non-numeric MTD_TL corner, sen2cor leftovers after a kill)."""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import DEMO_CONFIG, REPO, demo_config, shared

from reben.dataset.assembly import check_funnel, funnel
from reben.errors import AssemblyError, ConfigError, GridError, ProductError
from reben.grid import TileGrid
from reben.run.summary import closing_summary
from reben.sentinel2.patches import read_band
from reben.sentinel2.products import (
    ProductFiles,
    inspect_product,
    product_grid,
    product_identity,
    read_manifest,
    verify_band_files,
)
from reben.sentinel2.tiles import check_same_grid
from reben.synthetic.scenario import DEMO_PRODUCTS
from reben.synthetic.sentinel2 import write_l2a_product

SPEC = replace(DEMO_PRODUCTS[0], n_patches=2)  # 240 x 240 px at 10 m


@pytest.fixture(scope="module")
def product(tmp_path_factory) -> Path:
    return write_l2a_product(SPEC, tmp_path_factory.mktemp("s2") / f"{SPEC.name}.SAFE")


@pytest.fixture
def product_copy(product, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(product, tmp_path / product.name))


def band_member(safe: Path, band: str) -> Path:
    return next(safe.glob(f"GRANULE/*/IMG_DATA/R*m/*_{band}_*.jp2"))


# ------------------------------------------------------------------ corrupt JPEG2000 band files


def test_a_truncated_band_fails_decoding_with_one_line_naming_the_file(product_copy):
    grid, _ = product_grid(product_copy, "KEY", 1200)
    band = band_member(product_copy, "B02")
    band.write_bytes(band.read_bytes()[: band.stat().st_size // 2])
    with pytest.raises(ProductError) as e:
        read_band(str(band), "P", "B02", grid)
    message = str(e.value)
    assert str(band) in message and "could not be decoded" in message and "\n" not in message


def test_the_synthetic_manifest_lists_every_band_with_size_and_md5(product):
    import hashlib

    listed = read_manifest(ProductFiles(product))
    assert len(listed) == 13
    member = str(band_member(product, "B8A").relative_to(product))
    size, algorithm, digest = listed[member]
    assert size == (product / member).stat().st_size and algorithm == "MD5"
    assert digest == hashlib.md5((product / member).read_bytes()).hexdigest()


def test_inspect_tile_checks_band_files_against_manifest_safe(product_copy):
    assert inspect_product(product_copy, "KEY", 1200)["band_files_verified"] == 13
    band = band_member(product_copy, "B11")
    data = bytearray(band.read_bytes())
    data[-100] ^= 0xFF  # same size, one byte flipped: only the checksum sees it
    band.write_bytes(bytes(data))
    with pytest.raises(ProductError, match=r"B11_20m\.jp2: MD5 [0-9a-f]{32} differs from manifest\.safe"):
        inspect_product(product_copy, "KEY", 1200)
    band.write_bytes(bytes(data[:1000]))
    with pytest.raises(ProductError, match=r"1000 bytes, manifest\.safe lists \d+: truncated"):
        inspect_product(product_copy, "KEY", 1200)


def test_real_manifests_give_md5_and_sha3_checksums():
    old = shared("sentinel2_metadata", "S2A_MSIL2A_20190212T192651_N0212_R013_T07HFE_20201007T160857.SAFE")
    listed = read_manifest(ProductFiles(old))
    assert {algorithm for _, algorithm, _ in listed.values()} == {"MD5"}
    new = shared("sentinel2", "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE")
    listed = read_manifest(ProductFiles(new))
    b01 = listed["GRANULE/L2A_T29UNU_A038058_20221005T115407/IMG_DATA/R60m/T29UNU_20221005T115411_B01_60m.jp2"]
    assert b01 == (2548823, "SHA3-256", "fe61e1da0efe8d1ac0e9c2b959c1eda507edfb182b85b324e1fea788a63f1a21")
    # The real 60 m band files that are present match their manifest entries.
    files = ProductFiles(new)
    bands = {m: m for m in files.glob("GRANULE/*/IMG_DATA/R60m/*_B0[19]_60m.jp2")}
    assert verify_band_files(files, bands, listed) == 2


def test_a_repaired_file_changes_the_product_identity_a_touch_does_not(product_copy):
    import os

    before = product_identity(product_copy)
    band = band_member(product_copy, "B04")
    os.utime(band, (1, 1))
    assert product_identity(product_copy) == before
    good = band.read_bytes()
    band.write_bytes(good[: len(good) // 2])
    truncated = product_identity(product_copy)
    assert truncated != before
    band.write_bytes(good)
    assert product_identity(product_copy) == before


# ------------------------------------------------------------------ the tile geocoding


def _edit_mtd_tl(safe: Path, old: str, new: str) -> Path:
    mtd = next(safe.glob("GRANULE/*/MTD_TL.xml"))
    text = mtd.read_text()
    assert old in text
    mtd.write_text(text.replace(old, new, 1))
    return mtd


def test_a_non_numeric_corner_is_one_line_naming_mtd_tl(product_copy):
    mtd = next(product_copy.glob("GRANULE/*/MTD_TL.xml"))
    ulx = mtd.read_text().split("<ULX>")[1].split("<")[0]
    _edit_mtd_tl(product_copy, f"<ULX>{ulx}<", "<ULX>39480O<")
    with pytest.raises(ProductError) as e:
        product_grid(product_copy, "KEY", 1200)
    assert "MTD_TL.xml" in str(e.value) and "ULX of the 10 m Geoposition is '39480O', not a number" in str(e.value)


def test_a_grid_that_differs_from_the_products_geocoding_fails(product_copy):
    grid, _ = product_grid(product_copy, "KEY", 1200)
    shifted = TileGrid.from_dict({**grid.to_dict(), "ulx": grid.ulx + 600})  # the 600 m of the issue
    check_same_grid(grid, grid, "geocoding.json", product_copy)  # equal: passes
    with pytest.raises(GridError, match=rf"geocoding.json has the grid corner \({grid.ulx + 600:.0f}, "):
        check_same_grid(shifted, grid, "geocoding.json", product_copy)


# ------------------------------------------------------------------ empty dataset, closing summary


def _patches(tile: str, reasons: list[str], splits: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tile_key": tile,
            "drop_reason": reasons,
            "split": splits,
            "contains_cloud_or_shadow": [False] * len(reasons),
            "contains_seasonal_snow": [i == 0 for i in range(len(reasons))],
        }
    )


def test_a_dataset_with_no_kept_patch_fails_with_the_top_drop_reason(caplog):
    patches = pd.concat(
        [
            _patches("A", ["unlabeled", "unlabeled", "invalid"], ["train"] * 3),
            _patches("B", ["no_s1", "unlabeled", "unlabeled"], ["test"] * 3),
        ]
    )
    with pytest.raises(
        AssemblyError,
        match=r"no patch kept of 6 grid patches in 2 tiles; top drop "
        r"reason unlabeled \(4 patches\)",
    ):
        check_funnel(funnel(patches))


def test_a_tile_without_kept_patches_is_a_warning_naming_its_reason(caplog):
    patches = pd.concat(
        [
            _patches("A", ["", "", "invalid"], ["train", "test", "test"]),
            _patches("B", ["no_s1", "no_s1", "unlabeled"], ["test"] * 3),
        ]
    )
    with caplog.at_level(logging.WARNING, logger="reben"):
        check_funnel(funnel(patches))
    assert [r.getMessage() for r in caplog.records] == ["B: contributes no patch: 2 of 3 grid patches dropped as no_s1"]


def test_the_closing_summary_reads_the_funnel(tmp_path):
    patches = pd.concat(
        [
            _patches("A", ["", "", "", "invalid"], ["train", "validation", "test", "test"]),
            _patches("B", ["", "no_s1"], ["train", "test"]),
            _patches("C", ["product_quality"], ["train"]),
        ]
    )
    path = tmp_path / "funnel.csv"
    funnel(patches).to_csv(path, index=False)
    # A: 3 kept (1 flagged: the first row), B: 1 kept (flagged), C: none.
    assert closing_summary(path, ["A", "B", "C"], tmp_path / "absent.html") == (
        f"dataset: 4 patches (2 clean, 2 flagged), train/validation/test 2/1/1, 2 of 3 products; funnel {path}"
    )


def test_the_closing_summary_never_counts_another_configs_dataset(tmp_path):
    """A funnel of other tiles than the run's config (the config went from 3 products to 2)
    is not described as this run's dataset ("2 of 1 products" was seen)."""
    patches = pd.concat([_patches("A", [""], ["train"]), _patches("B", [""], ["test"]), _patches("C", [""], ["test"])])
    path = tmp_path / "funnel.csv"
    funnel(patches).to_csv(path, index=False)
    line = closing_summary(path, ["A", "B"])
    assert line == (
        f"dataset: {path} describes 3 tiles (1 not in this config), this config has 2 (0 not in the dataset): "
        "the dataset is not this config's; run the default target to rebuild it"
    )


# ------------------------------------------------------------------ the input check


def _config(tmp_path, **changes) -> Path:
    config = demo_config()
    config["results"] = str(tmp_path / "results")
    for key, value in changes.items():
        section, name = key.split(".")
        config[section][name] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _check(configfile) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reben", "check", "--configfile", str(configfile)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "workflow"), "PATH": "/usr/bin:/bin"},
    )


def test_the_check_reports_every_problem_at_once(product, tmp_path):
    missing = tmp_path / "elsewhere" / "S2B_MSIL2A_20171221T100409_N0206_R122_T33UVP_20230105T120000.SAFE"
    config = _config(
        tmp_path,
        **{
            "sentinel2.products": [
                {"name": product.name, "path": str(product)},
                {"name": missing.name, "path": str(missing)},
            ],
            "clc.path": str(tmp_path / "clc" / "no_clc.gpkg"),
            "sentinel1.enabled": False,
        },
    )
    proc = _check(config)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == [
        "tile",
        "level",
        "patches",
        "quality",
        "CLC",
        "polygons",
        "S1",
        "overlapping",
        "problems",
    ]
    assert any(line.startswith("S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP  MSIL2A  4 ") for line in lines)
    assert "2 problem(s):" in lines
    assert f"S2B_MSIL2A_20171221T100409_N0206_R122_T33UVP: {missing}: product not found" in lines
    assert f"clc: {tmp_path / 'clc' / 'no_clc.gpkg'} does not exist" in lines


def test_a_clc_of_another_region_shows_both_extents_in_one_crs(product, tmp_path):
    import geopandas as gpd
    import shapely
    from pyproj import Transformer

    grid, _ = product_grid(product, "KEY", 1200)
    # The polygon lies over the tile in its UTM zone, but the file says EPSG:3035: another region.
    clc = gpd.GeoDataFrame(
        {"Code_18": ["211"]},
        geometry=[shapely.box(grid.ulx, grid.uly - 2400, grid.ulx + 2400, grid.uly)],
        crs="EPSG:3035",
    )
    (tmp_path / "clc").mkdir()
    clc.to_file(tmp_path / "clc" / "clc.gpkg", layer="clc", engine="pyogrio")
    config = _config(
        tmp_path,
        **{
            "sentinel2.products": [{"name": product.name, "path": str(product)}],
            "clc.path": str(tmp_path / "clc" / "clc.gpkg"),
            "sentinel1.enabled": False,
        },
    )
    proc = _check(config)
    assert proc.returncode == 1
    assert "warning: " in proc.stdout and "no CLC polygon over the tile" in proc.stdout
    line = next(x for x in proc.stdout.splitlines() if x.startswith(f"clc: {tmp_path / 'clc' / 'clc.gpkg'}: "))
    to_3035 = Transformer.from_crs(grid.crs, "EPSG:3035", always_xy=True)
    right, bottom = grid.ulx + grid.n_cols * 1200, grid.uly - grid.n_rows * 1200
    left, low, east, top = to_3035.transform_bounds(grid.ulx, bottom, right, grid.uly, densify_pts=21)
    assert line == (
        f"clc: {tmp_path / 'clc' / 'clc.gpkg'}: no polygon over any of the 1 tiles; the dataset would be empty: "
        f"the map covers x {grid.ulx:,.0f} to {grid.ulx + 2400:,.0f}, y {grid.uly - 2400:,.0f} to {grid.uly:,.0f}, "
        f"the tiles x {left:,.0f} to {east:,.0f}, y {low:,.0f} to {top:,.0f} in EPSG:3035 "
        "(another region, or a layer whose CRS is mislabelled)"
    )


def test_a_mistyped_sentinel1_folder_is_named_as_missing(product, tmp_path):
    """A Sentinel-1 folder that does not exist is one line naming it, by `reben check` and by a
    dry run, not "no product overlaps any of the tiles"."""
    from conftest import run_snakemake

    (tmp_path / "clc").mkdir()
    clc = shared("clc", "derived_clc2018_malta_EPSG3035.gpkg")
    config = _config(
        tmp_path,
        **{
            "sentinel2.products": [{"name": product.name, "path": str(product)}],
            "clc.path": str(clc),
            "clc.version": "malta",
            "sentinel1.input_dir": str(tmp_path / "sentinel_1"),
            "sentinel1.products": [],
        },
    )
    expected = f"sentinel1.input_dir: {tmp_path / 'sentinel_1'} does not exist (the folder of the Sentinel-1 products)"
    proc = _check(config)
    assert proc.returncode == 1 and expected in proc.stdout.splitlines()
    assert "no product overlaps" not in proc.stdout
    proc = run_snakemake(tmp_path, "-n", configfile=config, check=False)
    assert proc.returncode != 0 and expected in (proc.stdout + proc.stderr).splitlines()


def test_a_yaml_syntax_error_in_the_config_is_one_line(tmp_path):
    config = tmp_path / "my.yaml"
    config.write_text("results: out\nsentinel2:\n  products: [\n    {name: S2A\n")
    proc = _check(config)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"reben check: {config}:5:1: not valid YAML: ")


def test_products_to_make_count_in_the_disk_estimate_at_their_planned_size(tmp_path):
    """The demo's first check, before its inputs exist: the estimate comes from the configured
    sizes (the demo's products, 12 x 12 patches), not 0.0 GB."""
    from reben.config import product_table, resolve_results_placeholder, validate_config
    from reben.run.check import check_inputs, patch_bytes

    config = demo_config()
    config["results"] = str(tmp_path / "results")
    validate_config(config, REPO / "workflow/schemas/config.schema.yaml")
    resolve_results_placeholder(config)
    products = product_table(config, REPO)
    sides = {key: 14_400 for key in products}  # 12 patches of 1200 m
    result = check_inputs(config, products, config["clc"]["path"], config["countries"]["borders"], {}, False, sides)
    assert result.errors == [] and result.to_make == 5  # 3 products, the CLC and the borders
    assert [row.planned for row in result.tiles] == [144, 144, 144]
    assert "~144" in result.table()
    estimate = 3 * 144 * 3.5 * patch_bytes(1200, sentinel1=True) / 1e9
    assert f"the run writes about {estimate:.1f} GB" in result.report() and estimate >= 0.1


def test_sentinel1_covering_no_tile_is_flagged_by_the_check(product, tmp_path):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    s1_dir = tmp_path / "s1"
    s1_dir.mkdir()
    for pol in ("VV", "VH"):  # two days after the S2 sensing, 300 km away
        with rasterio.open(
            s1_dir / f"S1A_IW_GRDH_1SDV_20170615T165043_{pol}.tif",
            "w",
            driver="GTiff",
            width=10,
            height=10,
            count=1,
            dtype="float32",
            crs="EPSG:32633",
            transform=from_origin(100000, 4000000, 10, 10),
        ) as dst:
            dst.write(np.zeros((1, 10, 10), "float32"))
    config = _config(
        tmp_path,
        **{
            "sentinel2.products": [{"name": product.name, "path": str(product)}],
            "sentinel1.input_dir": str(s1_dir),
            "sentinel1.products": [],
        },
    )
    proc = _check(config)
    assert proc.returncode == 1
    assert "none of the 1 Sentinel-1 products within 10 days overlaps the tile" in proc.stdout
    assert "sentinel1: no product overlaps any of the 1 tiles within 10 days" in proc.stdout


def test_the_first_demo_run_ends_with_a_report_of_its_made_inputs(demo_run):
    """The first run checks before the demo's inputs exist (counted at their configured size),
    then again at its end, once it has made them: its report is complete, not all '?'."""
    report = (demo_run / "results" / "check" / "inputs.txt").read_text()
    table = report.split("\n\n")[0].splitlines()[2:]
    assert [line.split()[2] for line in table] == ["144", "16", "144"]
    assert "inputs: 3 tiles checked, no problem" in report and "not on disk yet" not in report
    assert "SENSOR_QUALITY=FAILED" in report
    log = sorted((demo_run / ".snakemake" / "log").glob("*.snakemake.log"))[0].read_text()
    first = next(line for line in log.splitlines() if line.startswith("input check: "))
    assert first.startswith("input check: 3 tiles, 0 problem(s), 0 warning(s), 11 input(s) to make or fetch first")


def test_every_run_with_a_job_rewrites_the_report_and_warns_before_its_first_job(demo_copy, tmp_path):
    report = demo_copy / "results" / "check" / "inputs.txt"
    report.write_text("stale\n")
    config = demo_config()
    config["report"]["max_overlapping_share"] = 0.29  # reruns the report only
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    from conftest import run_snakemake

    # Snakemake's rule blocks mark where each job starts: shown with the detail switch.
    proc = run_snakemake(demo_copy, "--logger-reben-detail", configfile=configfile)
    lines = (proc.stdout + proc.stderr).splitlines()
    warning = next(n for n, line in enumerate(lines) if line.startswith("input check: ") and "SENSOR_QUALITY" in line)
    first_job = next(n for n, line in enumerate(lines) if line.startswith(("rule ", "localrule ")))
    assert warning < first_job
    assert report.read_text().startswith("tile ") and "inputs: 3 tiles checked, no problem" in report.read_text()


def test_the_demo_inputs_pass_the_check(demo_run):
    """`reben check` of the demo's inputs once they exist finds no problem."""
    proc = subprocess.run(
        [sys.executable, "-m", "reben", "check", "--configfile", str(DEMO_CONFIG)],
        capture_output=True,
        text=True,
        cwd=demo_run,
        env={"PYTHONPATH": str(REPO / "workflow"), "PATH": "/usr/bin:/bin"},
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    assert "inputs: 3 tiles checked, no problem" in report
    assert "SENSOR_QUALITY=FAILED" in report  # the excluded product is a warning, not a failure


def test_the_demo_run_ends_on_its_closing_summary(demo_run):
    logs = sorted((demo_run / ".snakemake" / "log").glob("*.snakemake.log"))
    text = logs[0].read_text()
    assert (
        "dataset: 192 patches (107 clean, 85 flagged), train/validation/test 73/53/66, 2 of 3 "
        "products; funnel results/dataset/funnel.csv, report results/report/index.html" in text
    )


# ------------------------------------------------------------------ leftovers and nonsense


def test_an_empty_results_folder_name_is_rejected():
    from reben.config import validate_config

    config = demo_config()
    config["results"] = ""
    with pytest.raises(ConfigError, match=r"^config: results: '' should be non-empty"):
        validate_config(config, REPO / "workflow/schemas/config.schema.yaml")


def test_sen2cor_removes_the_staging_folder_a_killed_run_left(tmp_path):
    from reben.errors import Sen2corError
    from reben.sentinel2.sen2cor import run_sen2cor
    from reben.synthetic.l1c import L1C_DEMO_PRODUCTS, write_l1c_zip

    spec = replace(L1C_DEMO_PRODUCTS[0], n_patches=1)
    l1c = write_l1c_zip(spec, tmp_path / f"{spec.name}.zip")
    key = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
    out = tmp_path / "l2a"
    leftover = out / f".{key}.sen2cor.abc123"
    (leftover / "input").mkdir(parents=True)
    with pytest.raises(Sen2corError):  # a missing command: the run stops after the cleanup
        run_sen2cor(l1c, out / f"{key}.SAFE", out / f"{key}.json", "/nonexistent/L2A_Process", "2.11")
    assert not leftover.exists()


def test_a_dry_run_names_every_missing_input_file(tmp_path):
    from conftest import run_snakemake

    missing = tmp_path / "elsewhere" / "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20230105T120000.SAFE"
    config = _config(
        tmp_path,
        **{
            "sentinel2.products": [{"name": missing.name, "path": str(missing)}],
            "clc.path": str(tmp_path / "clc" / "no_clc.gpkg"),
            "clc.version": "2018",
            "sentinel1.enabled": False,
        },
    )
    proc = run_snakemake(tmp_path, "-n", configfile=config, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "2 input problem(s):" in out
    assert f"S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP: {missing}: product not found" in out
    assert f"clc: {tmp_path / 'clc' / 'no_clc.gpkg'} does not exist" in out


def test_a_full_disk_during_assembly_is_one_line_naming_the_file(demo_run, tmp_path, monkeypatch):
    import errno

    import reben.dataset.assembly as assembly
    from reben.dataset.assembly import TileInputs, assemble_dataset

    tiles_dir = demo_run / "results" / "tiles"
    tiles = [
        TileInputs(
            **{
                name: str(t / f)
                for name, f in (
                    ("tile", "tile.json"),
                    ("geocoding", "geocoding.json"),
                    ("s2_patches", "s2_patches.parquet"),
                    ("labels", "labels.parquet"),
                    ("splits", "splits.parquet"),
                    ("countries", "countries.parquet"),
                    ("selection", "selection.parquet"),
                    ("s2_dir", "s2"),
                    ("reference_maps_dir", "reference_maps"),
                    ("s1_pairing", "s1_pairing.parquet"),
                    ("s1_dir", "s1"),
                )
            }
        )
        for t in sorted(tiles_dir.iterdir())
    ]

    def full(frame, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(assembly, "write_csv", full)
    out = tmp_path / "dataset"
    out.mkdir()
    with pytest.raises(AssemblyError) as e:
        assemble_dataset(
            tiles,
            out / "BigEarthNet-S2",
            out / "BigEarthNet-S1",
            out / "Reference_Maps",
            out / "metadata.parquet",
            out / "flagged.parquet",
            out / "patches.parquet",
            out / "funnel.csv",
        )
    message = str(e.value)
    assert message.startswith(f"{out / 'funnel.csv'}: no space left on device (") and "\n" not in message
    assert f"free at {out}); free some space and run again; assembly stopped, its outputs are removed" in message
    assert list(out.iterdir()) == []  # no half-built tree, no metadata of a dataset that is not there


def test_a_zipped_product_with_a_corrupt_member_fails_with_one_line(product, tmp_path):
    import zipfile

    zipped = tmp_path / (product.name.removesuffix(".SAFE") + ".zip")
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_STORED) as z:
        for f in sorted(product.rglob("*")):
            z.write(f, f"{product.name}/{f.relative_to(product)}")
        info = z.getinfo(f"{product.name}/{band_member(product, 'B04').relative_to(product)}")
    data = bytearray(zipped.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode())  # the member's first byte
    data[start + info.compress_size // 2] ^= 0xFF
    zipped.write_bytes(bytes(data))
    with pytest.raises(ProductError) as e:
        inspect_product(zipped, "KEY", 1200)
    assert "_B04_10m.jp2: " in str(e.value) and "\n" not in str(e.value)
    assert "Bad CRC-32" in str(e.value) or "MD5" in str(e.value)


def test_the_disk_estimate_counts_the_pixels_of_a_patch():
    from reben.run.check import patch_bytes

    # 4 bands of 120x120, 6 of 60x60, 2 of 20x20 (uint16) = 160,000; reference map 28,800; S1 115,200.
    assert patch_bytes(1200, sentinel1=False) == 160_000 + 28_800
    assert patch_bytes(1200, sentinel1=True) == 160_000 + 28_800 + 115_200


def test_a_rerun_counts_only_the_dataset_wide_copies_of_tiles_already_cut(tmp_path, monkeypatch):
    """A rerun (or one more tile) on a nearly full disk: the tiles whose per-tile outputs exist
    are not counted again, so the check passes where the whole-run estimate would not fit."""
    import shutil
    from collections import namedtuple

    from reben.run import check
    from reben.run.check import TileRow, check_disk, estimate_output_bytes, patch_bytes

    rows = [TileRow(tile=k, product=f"P{k}", level="MSIL2A", patches=8000) for k in ("A", "B")]
    per_patch = patch_bytes(1200, sentinel1=True)
    whole, done = estimate_output_bytes(rows, 1200, True, tmp_path)
    assert done == 0 and whole == 16000 * 3.5 * per_patch
    (tmp_path / "tiles" / "A").mkdir(parents=True)
    (tmp_path / "tiles" / "A" / check.TILE_DONE).write_bytes(b"")
    rerun, done = estimate_output_bytes(rows, 1200, True, tmp_path)
    assert done == 1 and rerun == (16000 * 1.5 + 8000 * 2.0) * per_patch

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(1e12, 0, (rerun + whole) / 2))
    problems, notes = [], []
    check_disk(str(tmp_path), rerun, problems, notes, done)
    assert problems == [] and "1 tiles' per-tile outputs exist already" in notes[0]
    check_disk(str(tmp_path), whole, problems, notes)
    assert len(problems) == 1 and "GB free, the run needs about" in problems[0]
