"""The assembled dataset: hand-made per-tile outputs (unit), and a real demo run (integration)."""

from __future__ import annotations

import json
import os

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from conftest import REPO, run_snakemake
from pyproj import Transformer

from reben.assembly import TileInputs, assemble_dataset
from reben.constants import S2_BANDS
from reben.errors import AssemblyError
from reben.flags import compute_flags
from reben.grid import TileGrid
from reben.selection import select_patches
from reben.splits import assign_splits

DESIGN_SCHEMA = pa.schema(
    [
        ("patch_id", pa.string()),
        ("labels", pa.list_(pa.field("element", pa.string()))),
        ("split", pa.string()),
        ("country", pa.string()),
        ("s1_name", pa.string()),
        ("s2v1_name", pa.string()),
        ("contains_seasonal_snow", pa.bool_()),
        ("contains_cloud_or_shadow", pa.bool_()),
    ]
)
"""DESIGN.md's metadata schema as pyarrow reads it back (list items are named `element`)."""

JUNE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
DECEMBER = "S2B_MSIL2A_20171221T100409_N0206_R122_T33UVP"


def make_tile(root, grid: TileGrid, sensing_time, season, valid, labelled, cloud, excluded=False):
    """Per-tile outputs of a small tile as the earlier stages write them."""
    folder = root / "tiles" / grid.tile_key
    folder.mkdir(parents=True)
    ids = grid.patch_ids()
    x, y = grid.indices()
    n = len(ids)
    (folder / "geocoding.json").write_text(json.dumps({"tile_key": grid.tile_key, "grid": grid.to_dict()}))
    tile = {"tile_key": grid.tile_key, "excluded": excluded, "sensing_time": sensing_time, "season": season}
    (folder / "tile.json").write_text(json.dumps(tile))
    s2 = pd.DataFrame(
        {
            "patch_id": ids,
            "x": x.astype("int32"),
            "y": y.astype("int32"),
            "valid": valid,
            "cloud_or_shadow_fraction": np.array(cloud, "float32"),
            "snow_fraction": np.zeros(n, "float32"),
        }
    )
    labels = pd.DataFrame(
        {
            "patch_id": ids,
            "unlabeled_fraction": np.where(labelled, 0.0, 0.5).astype("float32"),
            "labelled": labelled,
            "labels": [["Pastures", "Arable land"] if lab else [] for lab in labelled],
            "fraction_Arable land": np.full(n, 0.25, "float32"),
        }
    )
    s2.to_parquet(folder / "s2_patches.parquet")
    labels.to_parquet(folder / "labels.parquet")
    assign_splits(grid).to_parquet(folder / "splits.parquet")
    pd.DataFrame({"patch_id": ids, "country": "Austria"}).to_parquet(folder / "countries.parquet")
    flags = compute_flags(s2, {"contains_cloud_or_shadow": 0.0, "contains_seasonal_snow": 0.0})
    select_patches(tile, s2, labels, flags).to_parquet(folder / "selection.parquet")
    for pid, ok in zip(ids, valid):
        (folder / "reference_maps" / pid).mkdir(parents=True)
        (folder / "reference_maps" / pid / f"{pid}_reference_map.tif").write_bytes(b"map")
        if ok and not excluded:
            (folder / "s2" / pid).mkdir(parents=True)
            for band in S2_BANDS:
                (folder / "s2" / pid / f"{pid}_{band}.tif").write_bytes(band.encode())
    (folder / "s2").mkdir(exist_ok=True)
    return TileInputs(
        tile=str(folder / "tile.json"),
        geocoding=str(folder / "geocoding.json"),
        s2_patches=str(folder / "s2_patches.parquet"),
        labels=str(folder / "labels.parquet"),
        splits=str(folder / "splits.parquet"),
        countries=str(folder / "countries.parquet"),
        selection=str(folder / "selection.parquet"),
        s2_dir=str(folder / "s2"),
        reference_maps_dir=str(folder / "reference_maps"),
    )


def outputs(root):
    d = root / "dataset"
    return dict(
        s2_tree=d / "BigEarthNet-S2",
        s1_tree=d / "BigEarthNet-S1",
        reference_maps_tree=d / "Reference_Maps",
        metadata=d / "metadata.parquet",
        flagged_metadata=d / "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
        sidecar=d / "patches.parquet",
        funnel_csv=d / "funnel.csv",
    )


@pytest.fixture
def two_tiles(tmp_path):
    # June: 2 x 2 patches (every centre 600 m from the edges: test, as 600 m is not under s/4);
    # patch 1 invalid, patch 2 unlabeled, patch 3 cloudy: kept 0 (clean) and 3
    # (flagged). December: 2 x 1 patches of an excluded product.
    june = TileGrid(JUNE, 32633, 394800, 5400000, 2400, 2400)
    december = TileGrid(DECEMBER, 32633, 400000, 5400000, 2400, 1200)
    tiles = [
        make_tile(
            tmp_path, december, "2017-12-21T10:04:09Z", "Winter", [True, True], [True, True], [0, 0], excluded=True
        ),
        make_tile(
            tmp_path,
            june,
            "2017-06-13T10:10:31Z",
            "Summer",
            [True, False, True, True],
            [True, True, False, True],
            [0, 0, 0, 0.2],
        ),
    ]
    (tmp_path / "dataset").mkdir()
    return tmp_path, tiles


def test_assembly_of_hand_made_tiles(two_tiles):
    root, tiles = two_tiles
    out = outputs(root)
    funnel = assemble_dataset(tiles, **out)

    clean = pq.read_table(out["metadata"])
    flagged = pq.read_table(out["flagged_metadata"])
    assert clean.schema.equals(DESIGN_SCHEMA) and flagged.schema.equals(DESIGN_SCHEMA)
    assert clean.to_pylist() == [
        {
            "patch_id": f"{JUNE}_0_0",
            "labels": ["Arable land", "Pastures"],
            "split": "test",
            "country": "Austria",
            "s1_name": "",
            "s2v1_name": "",
            "contains_seasonal_snow": False,
            "contains_cloud_or_shadow": False,
        }
    ]
    assert flagged.column("patch_id").to_pylist() == [f"{JUNE}_1_1"]
    assert flagged.column("contains_cloud_or_shadow").to_pylist() == [True]

    # Trees: hard links of the kept patches only.
    s2 = out["s2_tree"] / JUNE / f"{JUNE}_0_0"
    assert sorted(p.name for p in s2.iterdir()) == sorted(f"{JUNE}_0_0_{b}.tif" for b in S2_BANDS)
    assert os.path.samefile(
        s2 / f"{JUNE}_0_0_B01.tif", root / "tiles" / JUNE / "s2" / f"{JUNE}_0_0" / f"{JUNE}_0_0_B01.tif"
    )
    assert sorted(p.name for p in (out["s2_tree"] / JUNE).iterdir()) == [f"{JUNE}_0_0", f"{JUNE}_1_1"]
    assert not (out["s2_tree"] / DECEMBER).exists()
    assert (out["reference_maps_tree"] / JUNE / f"{JUNE}_1_1" / f"{JUNE}_1_1_reference_map.tif").read_bytes() == b"map"
    assert out["s1_tree"].is_dir() and not any(out["s1_tree"].iterdir())
    assert not list(out["s2_tree"].parent.glob("*.tmp"))

    # Sidecar: every grid patch, EPSG:4326 footprints, all that is known.
    sidecar = gpd.read_parquet(out["sidecar"])
    assert sidecar.crs.to_epsg() == 4326 and len(sidecar) == 6
    assert list(sidecar["patch_id"]) == sorted(sidecar["patch_id"])
    row = sidecar.set_index("patch_id").loc[f"{JUNE}_1_1"]
    assert row["tile_key"] == JUNE and row["season"] == "Summer" and row["epsg"] == 32633
    assert row["sensing_time"] == pd.Timestamp("2017-06-13T10:10:31Z")
    assert row["cloud_or_shadow_fraction"] == pytest.approx(0.2)
    assert row["fraction_Arable land"] == 0.25 and row["drop_reason"] == ""
    assert np.isnan(row["s1_time_gap_days"])
    # Patch (1, 1) covers x 396000..397200, y 5397600..5398800 in EPSG:32633.
    corner = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True).transform(396000, 5397600)
    assert np.abs(shapely.get_coordinates(row.geometry) - corner).sum(axis=1).min() < 1e-9
    assert sidecar.set_index("patch_id").loc[f"{DECEMBER}_0_0", "drop_reason"] == "product_quality"

    # Funnel: counts add up per tile and in total.
    table = pd.read_csv(out["funnel_csv"]).set_index("tile_key")
    assert table.loc[JUNE].to_dict() == {
        "grid_patches": 4,
        "product_quality": 0,
        "invalid": 1,
        "unlabeled": 1,
        "no_v1": 0,
        "no_s1": 0,
        "overlap": 0,
        "kept": 2,
        "flagged": 1,
        "clean": 1,
        "train": 0,
        "validation": 0,
        "test": 2,
    }
    assert table.loc[DECEMBER, "product_quality"] == 2 and table.loc[DECEMBER, "kept"] == 0
    assert table.loc["TOTAL"].to_dict() == table.drop(index="TOTAL").sum().to_dict()
    assert funnel.iloc[-1]["tile_key"] == "TOTAL"


def test_s2v1_names_from_the_tiles_v1_links(two_tiles, tmp_path):
    """s2v1_name comes from each tile's bigearthnet_v1.parquet (rule link_bigearthnet_v1): the
    v1 patch of the same MGRS tile, day, x and y; "" elsewhere and for a tile without links."""
    import bz2
    import dataclasses

    from reben.bigearthnet_v1 import TABLE_FILES, table_files, write_tile_link, write_v1_index

    root, tiles = two_tiles
    folder = tmp_path / "v1"
    folder.mkdir()
    rows = (
        "s1_name,s2_name,country,season\n"
        "S1B_IW_GRDH_1SDV_20170612T165809_33UUP_0_0,S2A_MSIL2A_20170613T101031_0_0,Austria,Summer\n"
        "S1B_IW_GRDH_1SDV_20171221T165809_33UUP_1_1,S2A_MSIL2A_20171221T101031_1_1,Austria,Winter\n"
    )
    (folder / TABLE_FILES["pairs"]).write_bytes(bz2.compress(rows.encode()))
    for role in ("snow", "cloud_or_shadow"):
        (folder / TABLE_FILES[role]).write_bytes(bz2.compress(b""))
    write_v1_index(table_files(str(folder)), tmp_path / "index.parquet")
    june = dataclasses.replace(tiles[1], v1_link=str(tmp_path / "june_v1.parquet"))
    write_tile_link(june.geocoding, tmp_path / "index.parquet", june.v1_link)
    out = outputs(root)
    assemble_dataset([tiles[0], june], **out)
    assert pq.read_table(out["metadata"]).column("s2v1_name").to_pylist() == ["S2A_MSIL2A_20170613T101031_0_0"]
    assert pq.read_table(out["flagged_metadata"]).column("s2v1_name").to_pylist() == [""]
    sidecar = gpd.read_parquet(out["sidecar"]).set_index("patch_id")["s2v1_name"]
    assert sidecar.to_dict() == {
        f"{DECEMBER}_0_0": "",
        f"{DECEMBER}_1_0": "",
        f"{JUNE}_0_0": "S2A_MSIL2A_20170613T101031_0_0",
        f"{JUNE}_1_0": "",
        f"{JUNE}_0_1": "",
        f"{JUNE}_1_1": "",
    }


def test_unknown_ids_in_a_flag_list_are_a_warning(two_tiles, tmp_path, caplog):
    root, tiles = two_tiles
    flags = tmp_path / "snow.txt"
    flags.write_text(f"{JUNE}_0_0\nS2A_MSIL2A_20170613T101031_26_57\nnot_a_patch\n")
    assemble_dataset(tiles, **outputs(root), flag_lists=[flags])
    assert "snow.txt: 2 patch ids are not patches of the dataset; ignored" in caplog.text


def test_a_missing_patch_folder_fails_clearly(two_tiles):
    root, tiles = two_tiles
    folder = root / "tiles" / JUNE / "s2" / f"{JUNE}_1_1"
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    with pytest.raises(AssemblyError, match=rf"{JUNE}_1_1: patch folder missing; rebuild"):
        assemble_dataset(tiles, **outputs(root))
    assert not list((root / "dataset").iterdir())


# --------------------------------------------------------------------------- a real demo run

# The demo dataset needs labels.parquet and the reference maps of the CLC stage (issue 3).
needs_labels = pytest.mark.skipif(
    "rule rasterize_reference_maps" not in (REPO / "workflow/rules/labels.smk").read_text(),
    reason="the CLC/labels stage (issue 3) is not on this branch yet",
)


@pytest.mark.integration
@needs_labels
def test_demo_metadata_files(demo_run):
    dataset = demo_run / "results" / "dataset"
    kept = []
    for name in ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet"):
        table = pq.read_table(dataset / name)
        assert table.schema.equals(DESIGN_SCHEMA), name
        frame = table.to_pandas()
        assert not frame["patch_id"].duplicated().any()
        assert list(frame["patch_id"]) == sorted(frame["patch_id"])
        assert all(list(v) == sorted(v) and len(v) for v in frame["labels"])
        assert set(frame["split"]) <= {"train", "validation", "test"}
        flagged = frame["contains_seasonal_snow"] | frame["contains_cloud_or_shadow"]
        assert flagged.all() if "snow" in name else not flagged.any()
        kept += list(frame["patch_id"])
    assert len(kept) == len(set(kept)) > 0
    for pid in kept:
        key = pid.rsplit("_", 2)[0]
        s2 = dataset / "BigEarthNet-S2" / key / pid
        assert sorted(p.name for p in s2.iterdir()) == sorted(f"{pid}_{b}.tif" for b in S2_BANDS)
        assert (dataset / "Reference_Maps" / key / pid / f"{pid}_reference_map.tif").is_file()


@pytest.mark.integration
@needs_labels
def test_demo_counts_add_up(demo_run):
    results = demo_run / "results"
    funnel = pd.read_csv(results / "dataset" / "funnel.csv").set_index("tile_key")
    reasons = ["product_quality", "invalid", "unlabeled", "no_v1", "no_s1", "kept"]
    for key, row in funnel.drop(index="TOTAL").iterrows():
        selection = pd.read_parquet(results / "tiles" / key / "selection.parquet")
        assert row["grid_patches"] == len(selection) == row[reasons].sum()
        assert row["kept"] == row["flagged"] + row["clean"] == row[["train", "validation", "test"]].sum()
    assert funnel.loc["TOTAL"].to_dict() == funnel.drop(index="TOTAL").sum().to_dict()
    n_meta = sum(
        pq.read_metadata(results / "dataset" / n).num_rows
        for n in ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
    )
    assert funnel.loc["TOTAL", "kept"] == n_meta
    # The demo's third product fails its SENSOR quality check: all its patches are dropped for it.
    tiles = funnel.drop(index="TOTAL")
    excluded = tiles[tiles["product_quality"] > 0]
    assert len(excluded) == 1 and (excluded["product_quality"] == excluded["grid_patches"]).all()
    sidecar = gpd.read_parquet(results / "dataset" / "patches.parquet")
    assert len(sidecar) == funnel.loc["TOTAL", "grid_patches"] and sidecar.crs.to_epsg() == 4326
    # The synthetic borders: Austria and Czechia configured, Germany (west) is not.
    assert set(sidecar["country"]) == {"Austria", "Czechia"}


@pytest.mark.integration
@needs_labels
def test_demo_second_run_rebuilds_nothing(demo_run):
    proc = run_snakemake(demo_run, "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr
