"""The export in the BigEarthNet v1 layout (reben.distribution.v1_export, rule export_v1).

The JSON writers are held byte for byte against the real v1 example patches that
bigearthnet-common ships (BigEarthNet-S1-Example.tar.bz2, BigEarthNet-S2-Example.tar.bz2); the
whole export is built from a finished demo run, with a sidecar that carries a 43-class column
written here (the 43-class labels of the label stage are not needed for the layout)."""

from __future__ import annotations

import importlib.resources
import json
import os
import random
import re
import tarfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import rasterio
import yaml
from bigearthnet_common.base import read_S1_json, read_S2_json
from conftest import demo_config, run_snakemake
from v1_layout import demo_export, sidecar_with_43_classes

from reben.constants import S2_BANDS
from reben.distribution.v1_export import (
    CLOUD_LIST,
    S1_DIR,
    S2_DIR,
    SNOW_LIST,
    SPLIT_FILES,
    s1_metadata,
    s2_metadata,
    v1_label_order,
    v1_wkt,
)
from reben.errors import ExportError


@pytest.fixture(scope="module")
def v1_examples(tmp_path_factory) -> Path:
    """The real v1 example patches of bigearthnet-common, extracted."""
    out = tmp_path_factory.mktemp("v1_examples")
    package = importlib.resources.files("bigearthnet_common")
    for name in ("BigEarthNet-S1-Example.tar.bz2", "BigEarthNet-S2-Example.tar.bz2"):
        with importlib.resources.as_file(package / name) as path, tarfile.open(path) as tar:
            tar.extractall(out, filter="data")
    return out


def _examples(root: Path, kind: str, band: str):
    """Each v1 example patch of one sensor: name, its JSON text and fields, bounds and EPSG."""
    folders = sorted((root / f"BigEarthNet-{kind}-Example").iterdir())
    assert len(folders) == 6
    for folder in folders:
        text = (folder / f"{folder.name}_labels_metadata.json").read_text()
        with rasterio.open(folder / f"{folder.name}_{band}.tif") as src:
            yield folder.name, text, json.loads(text), tuple(src.bounds), src.crs.to_epsg()


def test_s2_json_is_byte_identical_to_the_v1_examples(v1_examples):
    for name, expected, v1, bounds, epsg in _examples(v1_examples, "S2", "B02"):
        # v1 names (even its tile_source) garble some times (20180204T94161 for 09:41:56), so the
        # time is the file's own; where it comes from is tested on the demo export below.
        sensing = datetime.strptime(v1["acquisition_date"], "%Y-%m-%d %H:%M:%S")
        labels = random.Random(name).sample(v1["labels"], len(v1["labels"]))
        ours = s2_metadata(labels, bounds, v1_wkt(epsg), v1["tile_source"], sensing)
        assert json.dumps(ours) == expected, name


def test_s1_json_is_byte_identical_to_the_v1_examples(v1_examples):
    for name, expected, v1, bounds, epsg in _examples(v1_examples, "S1", "VV"):
        labels = list(reversed(v1["labels"]))
        ours = s1_metadata(labels, bounds, v1_wkt(epsg), v1["corresponding_s2_patch"], v1["scene_source"])
        assert json.dumps(ours) == expected, name


def test_v1_wkt_names_the_same_crs_as_gdal_writes():
    from rasterio.crs import CRS

    for epsg in (32629, 32633, 32635, 32733):
        assert CRS.from_wkt(v1_wkt(epsg)) == CRS.from_epsg(epsg)
        assert 'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]' in v1_wkt(epsg)


def test_labels_are_listed_in_nomenclature_order():
    assert v1_label_order(["Water bodies", "Non-irrigated arable land", "Coniferous forest"]) == [
        "Non-irrigated arable land",
        "Coniferous forest",
        "Water bodies",
    ]  # CLC 211, 312, 512
    assert v1_label_order(["Marine waters", "Urban fabric", "Arable land"]) == [
        "Urban fabric",
        "Arable land",
        "Marine waters",
    ]  # the 19-class order
    assert v1_label_order(["zeta", "Pastures", "alpha"]) == ["Pastures", "zeta", "alpha"]


# ---------------------------------------------------------------- the export of a demo run


@pytest.fixture(scope="module")
def export(demo_run, tmp_path_factory) -> Path:
    return demo_export(demo_run, tmp_path_factory.mktemp("export") / "bigearthnet_v1")


@pytest.fixture(scope="module")
def kept(demo_run) -> pd.DataFrame:
    patches = pd.read_parquet(demo_run / "results" / "dataset" / "patches.parquet")
    return patches[patches["drop_reason"] == ""].set_index("patch_id")


@pytest.mark.integration
def test_one_folder_per_kept_patch_with_hard_linked_bands(export, demo_run, kept):
    dataset = demo_run / "results" / "dataset"
    folders = sorted(p.name for p in (export / S2_DIR).iterdir())
    # The demo has no v1 names: every folder is the patch_id.
    assert folders == sorted(kept.index) and len(folders) > 0
    for pid in folders:
        files = sorted(p.name for p in (export / S2_DIR / pid).iterdir())
        assert files == sorted([f"{pid}_{b}.tif" for b in S2_BANDS] + [f"{pid}_labels_metadata.json"])
        tile = kept.loc[pid, "tile_key"]
        for band in S2_BANDS:
            ours = os.stat(export / S2_DIR / pid / f"{pid}_{band}.tif")
            theirs = os.stat(dataset / "BigEarthNet-S2" / tile / pid / f"{pid}_{band}.tif")
            assert (ours.st_ino, ours.st_dev) == (theirs.st_ino, theirs.st_dev)
    s1_folders = sorted(p.name for p in (export / S1_DIR).iterdir())
    assert s1_folders == sorted(kept["s1_name"]) and "" not in s1_folders
    for s1 in s1_folders:
        assert sorted(p.name for p in (export / S1_DIR / s1).iterdir()) == sorted(
            [f"{s1}_VH.tif", f"{s1}_VV.tif", f"{s1}_labels_metadata.json"]
        )
    assert not export.with_name(export.name + ".tmp").exists()


@pytest.mark.integration
def test_json_fields_are_what_the_patch_is(export, demo_run, kept, tmp_path):
    sidecar = sidecar_with_43_classes(demo_run / "results" / "dataset", tmp_path / "p.parquet")
    labels_43 = dict(zip(sidecar["patch_id"], sidecar["labels_43"]))
    config_products = {p["name"][:26]: p["name"] for p in demo_config()["sentinel2"]["products"]}
    for pid, row in kept.iterrows():
        folder = export / S2_DIR / pid
        s2 = read_S2_json(folder / f"{pid}_labels_metadata.json")  # bigearthnet-common's reader
        assert sorted(s2["labels"]) == sorted(labels_43[pid]) and s2["labels"] == v1_label_order(s2["labels"])
        with rasterio.open(folder / f"{pid}_B02.tif") as src:
            left, bottom, right, top = src.bounds
            assert rasterio.crs.CRS.from_wkt(s2["projection"]) == src.crs
        assert s2["coordinates"] == {"ulx": left, "uly": top, "lrx": right, "lry": bottom}
        assert s2["tile_source"] == config_products[pid[:26]] + ".SAFE"
        date = pid[11:26]  # the sensing time of the tile key, S2A_MSIL2A_<20170613T101031>
        assert s2["acquisition_date"] == f"{date[:4]}-{date[4:6]}-{date[6:8]} {date[9:11]}:{date[11:13]}:{date[13:15]}"
        s1_name = row["s1_name"]
        raw = json.loads((export / S1_DIR / s1_name / f"{s1_name}_labels_metadata.json").read_text())
        assert list(raw) == [
            "labels",
            "coordinates",
            "projection",
            "corresponding_s2_patch",
            "scene_source",
            "acquisition_time",
        ]
        assert list(raw["coordinates"]) == ["ulx", "uly", "lrx", "lly"]  # v1's own S1 key
        s1 = read_S1_json(export / S1_DIR / s1_name / f"{s1_name}_labels_metadata.json")
        assert s1["labels"] == s2["labels"] and s1["corresponding_s2_patch"] == pid
        assert s1["coordinates"] == {"ulx": left, "uly": top, "lrx": right, "lry": bottom}
        assert s1["scene_source"].startswith(row["s1_product"]) and len(s1["scene_source"]) == 67
        t = row["s1_product"][17:]
        assert s1["acquisition_time"] == f"{t[:4]}-{t[4:6]}-{t[6:8]}T{t[9:11]}:{t[11:13]}:{t[13:15]}"


@pytest.mark.integration
def test_split_files_and_flag_lists(export, kept):
    flagged = kept["contains_seasonal_snow"] | kept["contains_cloud_or_shadow"]
    for split, name in SPLIT_FILES.items():
        rows = kept[~flagged & (kept["split"] == split)]
        lines = (export / name).read_text().splitlines()
        assert sorted(lines) == sorted(f"{pid},{s1}" for pid, s1 in zip(rows.index, rows["s1_name"]))
    assert sum(len((export / n).read_text().splitlines()) for n in SPLIT_FILES.values()) == int((~flagged).sum())
    assert (export / SNOW_LIST).read_text().splitlines() == sorted(kept.index[kept["contains_seasonal_snow"]])
    assert (export / CLOUD_LIST).read_text().splitlines() == sorted(kept.index[kept["contains_cloud_or_shadow"]])
    assert flagged.any() and (~flagged).any()  # the demo exercises both


@pytest.mark.integration
def test_v1_names_name_the_folders_where_patches_have_them(demo_run, tmp_path, kept):
    """A patch with an s2v1_name (here a v1 name written into the sidecar) gets it as its folder
    name, the others keep their patch_id; folder_names=patch_id ignores v1 names."""
    first, second = sorted(kept.index)[:2]
    v1_names = {first: "S2A_MSIL2A_20170613T101031_87_48"}
    s1 = kept.loc[first, "s1_name"]
    for naming, expected in (("s2v1_name", v1_names[first]), ("patch_id", first)):
        out = demo_export(demo_run, tmp_path / naming / "bigearthnet_v1", v1_names=v1_names, naming=naming)
        assert (out / S2_DIR / expected / f"{expected}_B8A.tif").is_file()
        assert (out / S2_DIR / second / f"{second}_B8A.tif").is_file()
        assert (
            json.loads((out / S1_DIR / s1 / f"{s1}_labels_metadata.json").read_text())["corresponding_s2_patch"]
            == expected
        )
        assert any(
            line.startswith(f"{expected},") or line == expected
            for n in (*SPLIT_FILES.values(), SNOW_LIST, CLOUD_LIST)
            for line in (out / n).read_text().splitlines()
        )


@pytest.mark.integration
def test_without_sentinel1_the_export_is_s2_only(demo_run, tmp_path, kept):
    out = demo_export(demo_run, tmp_path / "bigearthnet_v1", with_s1=False)
    assert sorted(p.name for p in out.iterdir()) == sorted([S2_DIR, *SPLIT_FILES.values(), SNOW_LIST, CLOUD_LIST])
    lines = [line for n in SPLIT_FILES.values() for line in (out / n).read_text().splitlines()]
    assert lines and all(line.endswith(",") and line[:-1] in kept.index for line in lines)


@pytest.mark.integration
def test_across_file_systems_the_bands_are_copied(demo_run, tmp_path, kept, monkeypatch):
    import errno

    import reben.dataset.assembly

    def cross_device(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(reben.dataset.assembly.os, "link", cross_device)
    out = demo_export(demo_run, tmp_path / "bigearthnet_v1")
    pid = sorted(kept.index)[0]
    ours = out / S2_DIR / pid / f"{pid}_B04.tif"
    theirs = demo_run / "results" / "dataset" / "BigEarthNet-S2" / kept.loc[pid, "tile_key"] / pid / f"{pid}_B04.tif"
    assert os.stat(ours).st_ino != os.stat(theirs).st_ino
    assert ours.read_bytes() == theirs.read_bytes()
    assert len(list((out / S2_DIR).iterdir())) == len(kept)


@pytest.mark.integration
def test_missing_labels_column_fails_with_one_line_and_writes_nothing(demo_run, tmp_path):
    out = tmp_path / "bigearthnet_v1"
    with pytest.raises(ExportError) as e:
        demo_export(demo_run, out, labels_column="labels_44")
    message = str(e.value)
    assert "\n" not in message and "'labels_44'" in message and "patches_43.parquet" in message
    assert "export_v1.labels_column" in message
    assert not out.exists() and not out.with_name(out.name + ".tmp").exists()


def _dry_run(tmp_path: Path, export: dict) -> str:
    tmp_path.mkdir()
    config = demo_config()
    config["export_v1"] = export
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return run_snakemake(tmp_path, "-n", "--logger-reben-detail", configfile=path).stdout


def test_the_default_target_has_the_export_only_when_enabled(tmp_path):
    assert "export_v1" not in _dry_run(tmp_path / "off", {"enabled": False})
    on = _dry_run(tmp_path / "on", {"enabled": True, "labels_column": "labels", "folder_names": "patch_id"})
    assert "rule export_v1:" in on and "export/bigearthnet_v1" in on


@pytest.mark.integration
def test_the_rule_builds_the_export_in_a_demo_run(demo_copy):
    """The rule itself, on the demo, with the label stage's 43-class column (the default)."""
    config = demo_config()
    config["export_v1"] = {"enabled": True}
    path = demo_copy / "export.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))  # the demo's key order, as the run had it
    planned = run_snakemake(demo_copy, "-n", "--logger-reben-detail", configfile=path).stdout
    # Turning the export on builds the export and nothing else (the provenance leaves it out); the
    # verdict on the checks, which waits for every final output, is given again.
    rules = set(re.findall(r"^(?:local)?rule (\w+):", planned, re.M))
    assert rules == {"export_v1", "check_dataset", "all"}, planned[-3000:]
    run_snakemake(demo_copy, configfile=path)
    export = demo_copy / "results" / "export" / "bigearthnet_v1"
    metadata = pd.read_parquet(demo_copy / "results" / "dataset" / "metadata.parquet")
    assert len(list((export / S2_DIR).iterdir())) >= len(metadata) > 0
    pid = metadata["patch_id"].iloc[0]
    s2 = json.loads((export / S2_DIR / pid / f"{pid}_labels_metadata.json").read_text())
    sidecar = pd.read_parquet(demo_copy / "results" / "dataset" / "patches.parquet").set_index("patch_id")
    assert s2["labels"] == v1_label_order(sidecar.loc[pid, "labels_43"]) and s2["labels"]
    assert s2["tile_source"].endswith(".SAFE") and "MSIL2A" in s2["tile_source"]
    assert (demo_copy / "results" / "logs" / "export_v1" / "dataset.log").is_file()
