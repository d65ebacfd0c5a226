"""The assembled dataset: hand-made per-tile outputs (unit), and a real demo run (integration)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from conftest import REPO, demo_config, run_snakemake
from pyproj import Transformer

from reben.constants import S2_BANDS
from reben.dataset.assembly import TileInputs, assemble_dataset, stage_tile_trees
from reben.dataset.flags import compute_flags
from reben.dataset.selection import select_patches
from reben.dataset.splits import assign_splits
from reben.errors import AssemblyError
from reben.grid import TileGrid

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

    from reben.bigearthnet_v1.links import TABLE_FILES, table_files, write_tile_link, write_v1_index

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


# --------------------------------------------------------------------------- staged trees (rule stage_tile_trees)

S1_PRODUCT = "S1B_IW_GRDH_1SDV_20170612T165809"


def tree_files(root) -> dict[str, tuple[int, bytes]]:
    """Every file below the dataset's trees: relative path -> (inode, bytes)."""
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.read_bytes())
        for tree in ("BigEarthNet-S2", "BigEarthNet-S1", "Reference_Maps")
        for p in sorted((root / tree).rglob("*"))
        if p.is_file()
    }


def with_s1(tile: TileInputs, product: str = S1_PRODUCT) -> TileInputs:
    """The tile with every grid patch paired with `product` (VV and VH files in its s1/)."""
    import dataclasses

    folder = os.path.dirname(tile.selection)
    ids = pd.read_parquet(tile.selection)["patch_id"]
    mgrs = ids.iloc[0].rsplit("_", 2)[0][-5:]
    names = [f"{product}_{mgrs}_{int(p.rsplit('_', 2)[1])}_{int(p.rsplit('_', 2)[2])}" for p in ids]
    pd.DataFrame({"patch_id": ids, "s1_product": product, "s1_name": names, "s1_time_gap_days": 1.0}).to_parquet(
        os.path.join(folder, "s1_pairing.parquet")
    )
    for name in names:
        os.makedirs(os.path.join(folder, "s1", product, name))
        for pol in ("VV", "VH"):
            with open(os.path.join(folder, "s1", product, name, f"{name}_{pol}.tif"), "wb") as f:
                f.write(pol.encode())
    return dataclasses.replace(
        tile, s1_pairing=os.path.join(folder, "s1_pairing.parquet"), s1_dir=os.path.join(folder, "s1")
    )


def staged(tiles: list[TileInputs]) -> list[TileInputs]:
    """Run stage_tile_trees for every tile; the tiles with their staged trees."""
    import dataclasses

    out = []
    for t in tiles:
        trees = os.path.join(os.path.dirname(t.selection), "staged_trees")
        stage_tile_trees(t.geocoding, t.selection, t.s2_dir, t.reference_maps_dir, trees, t.s1_pairing, t.s1_dir)
        out.append(dataclasses.replace(t, staged_trees=trees))
    return out


UVP = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UVP"


@pytest.fixture
def three_tiles(two_tiles):
    """two_tiles plus a clean 2 x 1 tile of T33UVP on June's day; all three paired with one S1
    product, so that two tiles bring patches of the same S1 product folder."""
    root, tiles = two_tiles
    uvp = make_tile(
        root,
        TileGrid(UVP, 32633, 500000, 5400000, 2400, 1200),
        "2017-06-13T10:10:31Z",
        "Summer",
        [True, True],
        [True, True],
        [0, 0],
    )
    return root, [with_s1(t) for t in (*tiles, uvp)]


def reference_trees(root, tiles, tmp_path) -> dict:
    """The trees as the assembly links them without staged trees."""
    out = outputs(tmp_path / "reference")
    out["s2_tree"].parent.mkdir(parents=True)
    assemble_dataset(tiles, **out)
    return {k: v[1] for k, v in tree_files(out["s2_tree"].parent).items()}


def test_staged_trees_are_moved_into_the_dataset(three_tiles, tmp_path, caplog):
    root, tiles = three_tiles
    caplog.set_level("INFO")
    want = reference_trees(root, tiles, tmp_path)
    assert f"BigEarthNet-S1/{S1_PRODUCT}/{S1_PRODUCT}_33UVP_1_0/{S1_PRODUCT}_33UVP_1_0_VH.tif" in want
    assert f"BigEarthNet-S1/{S1_PRODUCT}/{S1_PRODUCT}_33UUP_1_1/{S1_PRODUCT}_33UUP_1_1_VV.tif" in want
    tiles = staged(tiles)
    june = root / "tiles" / JUNE / "staged_trees"
    assert sorted(p.name for p in (june / "BigEarthNet-S2" / JUNE).iterdir()) == [f"{JUNE}_0_0", f"{JUNE}_1_1"]
    staged_ino = (june / "BigEarthNet-S2" / JUNE / f"{JUNE}_0_0" / f"{JUNE}_0_0_B01.tif").stat().st_ino
    caplog.clear()
    out = outputs(root)
    assemble_dataset(tiles, **out)
    got = tree_files(root / "dataset")
    assert {k: v[1] for k, v in got.items()} == want
    # Moved, not linked again: the staged files themselves, which are links of the tile's files.
    assert got[f"BigEarthNet-S2/{JUNE}/{JUNE}_0_0/{JUNE}_0_0_B01.tif"][0] == staged_ino
    assert staged_ino == (root / "tiles" / JUNE / "s2" / f"{JUNE}_0_0" / f"{JUNE}_0_0_B01.tif").stat().st_ino
    # June's S2 and reference maps, UVP's S2 and reference maps, June's S1 product folder, then
    # UVP's two S1 patch folders into it one by one (December, excluded, has none).
    assert "7 staged folders moved" in caplog.text and "0 files linked" in caplog.text
    assert not [p for t in tiles for p in Path(t.staged_trees).rglob("*") if p.is_file()]
    assert not list((root / "dataset").glob("*.tmp"))


def test_a_failed_assembly_moves_the_staged_folders_back_and_a_rerun_recovers(three_tiles, tmp_path, caplog):
    caplog.set_level("INFO")
    root, tiles = three_tiles
    want = reference_trees(root, tiles, tmp_path)
    tiles = staged(tiles)
    # A kept patch whose staged folder and tile folder are both gone: found after the moves.
    gone = f"{UVP}_1_0"
    shutil.rmtree(root / "tiles" / UVP / "staged_trees" / "BigEarthNet-S2" / UVP / gone)
    (root / "tiles" / UVP / "s2" / gone).rename(tmp_path / gone)
    with pytest.raises(AssemblyError, match=rf"^\S+/s2/{gone}: patch folder missing; rebuild the tile's outputs$"):
        assemble_dataset(tiles, **outputs(root))
    assert not list((root / "dataset").iterdir())  # no half tree, no metadata
    june = root / "tiles" / JUNE / "staged_trees"
    assert sorted(p.name for p in (june / "BigEarthNet-S2" / JUNE).iterdir()) == [f"{JUNE}_0_0", f"{JUNE}_1_1"]
    assert (june / "BigEarthNet-S1" / S1_PRODUCT / f"{S1_PRODUCT}_33UUP_0_0").is_dir()
    assert (root / "tiles" / UVP / "staged_trees" / "BigEarthNet-S1" / S1_PRODUCT / f"{S1_PRODUCT}_33UVP_1_0").is_dir()

    (tmp_path / gone).rename(root / "tiles" / UVP / "s2" / gone)
    caplog.clear()
    assemble_dataset(tiles, **outputs(root))
    assert {k: v[1] for k, v in tree_files(root / "dataset").items()} == want
    assert "1 patch folders were not in the tiles' staged trees" in caplog.text
    assert "12 files linked" in caplog.text


def test_an_interrupted_assembly_that_moved_folders_away_is_recovered_by_linking(three_tiles, tmp_path, caplog):
    root, tiles = three_tiles
    want = reference_trees(root, tiles, tmp_path)
    tiles = staged(tiles)
    # A killed assembly moved June's S2 folder and UVP's S1 patches into a tree it never finished.
    shutil.rmtree(root / "tiles" / JUNE / "staged_trees" / "BigEarthNet-S2" / JUNE)
    shutil.rmtree(root / "tiles" / UVP / "staged_trees" / "BigEarthNet-S1" / S1_PRODUCT)
    assemble_dataset(tiles, **outputs(root))
    assert {k: v[1] for k, v in tree_files(root / "dataset").items()} == want
    assert "4 patch folders were not in the tiles' staged trees" in caplog.text


def test_patches_dropped_dataset_wide_leave_the_staged_trees(two_tiles, tmp_path):
    """splits.overlapping_tiles drop_later: a later product of June's tile, 600 m east, all train;
    its patches overlapping June's kept test patches are dropped, also from the trees."""
    root, tiles = two_tiles
    july_key = "S2A_MSIL2A_20170713T101031_N9999_R022_T33UUP"
    july = make_tile(
        root,
        TileGrid(july_key, 32633, 395400, 5400000, 2400, 2400),
        "2017-07-13T10:10:31Z",
        "Summer",
        [True] * 4,
        [True] * 4,
        [0] * 4,
    )
    splits = pd.read_parquet(july.splits).assign(split="train")
    splits.to_parquet(july.splits)
    tiles = staged([*tiles, july])
    assert len(list((root / "tiles" / july_key / "staged_trees" / "BigEarthNet-S2" / july_key).iterdir())) == 4
    out = outputs(root)
    funnel = assemble_dataset(tiles, **out, overlapping_tiles="drop_later").set_index("tile_key")
    assert funnel.loc[july_key, "overlap"] == 4 - funnel.loc[july_key, "kept"] > 0
    kept = pd.concat(pq.read_table(out[k]).to_pandas() for k in ("metadata", "flagged_metadata"))["patch_id"]
    in_tree = [
        p.name for key in (JUNE, july_key) if (out["s2_tree"] / key).is_dir() for p in (out["s2_tree"] / key).iterdir()
    ]
    assert sorted(in_tree) == sorted(kept)
    in_maps = [
        p.name
        for key in (JUNE, july_key)
        if (out["reference_maps_tree"] / key).is_dir()
        for p in (out["reference_maps_tree"] / key).iterdir()
    ]
    assert sorted(in_maps) == sorted(kept)


def test_another_file_system_falls_back_to_linking(three_tiles, tmp_path, monkeypatch, caplog):
    import errno

    root, tiles = three_tiles
    want = reference_trees(root, tiles, tmp_path)
    tiles = staged(tiles)

    def cross_device(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link", str(src), None, str(dst))

    monkeypatch.setattr(os, "rename", cross_device)
    assemble_dataset(tiles, **outputs(root))
    assert {k: v[1] for k, v in tree_files(root / "dataset").items()} == want
    assert f"{root / 'dataset'}: on another file system than {root / 'tiles'}" in caplog.text
    assert (root / "tiles" / JUNE / "staged_trees" / "BigEarthNet-S2" / JUNE / f"{JUNE}_0_0").is_dir()


def test_staging_checks_the_files_of_each_patch_folder(two_tiles):
    root, tiles = two_tiles
    june = tiles[1]
    (Path(june.s2_dir) / f"{JUNE}_1_1" / f"{JUNE}_1_1_B8A.tif").unlink()
    trees = root / "tiles" / JUNE / "staged_trees"
    with pytest.raises(
        AssemblyError, match=rf"^{june.s2_dir}/{JUNE}_1_1: 11 files, expected 12; rebuild the tile's outputs$"
    ):
        stage_tile_trees(june.geocoding, june.selection, june.s2_dir, june.reference_maps_dir, trees)
    assert not trees.exists() and not (root / "tiles" / JUNE / "staged_trees.tmp").exists()


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


def planned_jobs(proc) -> dict[str, int]:
    """Jobs per rule of a dry run ({} when there is nothing to do)."""
    import re

    out = proc.stdout + proc.stderr
    if "Nothing to be done" in out:
        return {}
    stats = out.split("Job stats:", 1)[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m[1] != "total"}


@pytest.mark.integration
@needs_labels
def test_staged_trees_are_rebuilt_only_for_a_rerun_of_the_assembly_which_recovers_from_a_failure(demo_copy):
    import yaml

    results = demo_copy / "results"
    tiles = sorted(p.name for p in (results / "tiles").iterdir())
    assert not [t for t in tiles if (results / "tiles" / t / "staged_trees").exists()]  # temp()
    want = {k: v[1] for k, v in tree_files(results / "dataset").items()}
    target = "results/dataset/funnel.csv"
    assert planned_jobs(run_snakemake(demo_copy, "-n", target)) == {}
    # The staged trees are gone: a rerun of the assembly stages every tile again, nothing else.
    forced = planned_jobs(run_snakemake(demo_copy, "-n", target, "--forcerun", "assemble_dataset"))
    assert forced == {"stage_tile_trees": 3, "assemble_dataset": 1}
    config = demo_config()
    config["sentinel2"]["products"] = config["sentinel2"]["products"][:2]
    two = demo_copy / "two_products.yaml"
    two.write_text(yaml.safe_dump(config))
    assert planned_jobs(run_snakemake(demo_copy, "-n", target, configfile=two)) == {
        "stage_tile_trees": 2,
        "assemble_dataset": 1,
    }
    run_snakemake(demo_copy, target, "--forcerun", "assemble_dataset")
    assert {k: v[1] for k, v in tree_files(results / "dataset").items()} == want
    assert not [t for t in tiles if (results / "tiles" / t / "staged_trees").exists()]

    # A failed assembly: staged trees made (as targets, kept), then a kept patch gone from its
    # tile's staged tree and its tile folder; the assembly fails after moving the others.
    run_snakemake(demo_copy, *(f"results/tiles/{t}/staged_trees" for t in tiles))
    key = JUNE
    staged_s2 = results / "tiles" / key / "staged_trees" / "BigEarthNet-S2" / key
    patch = sorted(p.name for p in staged_s2.iterdir())[0]
    shutil.rmtree(staged_s2 / patch)
    aside = demo_copy / patch
    (results / "tiles" / key / "s2" / patch).rename(aside)
    proc = run_snakemake(demo_copy, target, check=False)
    assert proc.returncode != 0
    assert (
        f"results/tiles/{key}/s2/{patch}: patch folder missing; rebuild the tile's outputs" in proc.stdout + proc.stderr
    )
    dataset = sorted(p.name for p in (results / "dataset").iterdir())
    assert not [n for n in dataset if n.startswith(("BigEarthNet", "Reference_Maps", "funnel", "metadata"))], dataset
    assert len(list(staged_s2.iterdir())) == sum(1 for k in want if k.startswith(f"Reference_Maps/{key}/")) - 1
    # The tile's folder back: the rerun reruns the assembly only, moves and links one folder.
    aside.rename(results / "tiles" / key / "s2" / patch)
    assert planned_jobs(run_snakemake(demo_copy, "-n", target)) == {"assemble_dataset": 1}
    run_snakemake(demo_copy, target)
    assert {k: v[1] for k, v in tree_files(results / "dataset").items()} == want
    log = (results / "logs" / "assemble_dataset" / "dataset.log").read_text()
    assert "1 patch folders were not in the tiles' staged trees" in log
    assert not [t for t in tiles if (results / "tiles" / t / "staged_trees").exists()]
