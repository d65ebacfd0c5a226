"""Manifest (sha256sum format, merged from the per-tile sha256 tables) and PROVENANCE.json on
hand-made dataset folders."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import REPO

from reben.distribution.provenance import (
    file_identity,
    git_commit,
    provenance_config,
    write_manifest,
    write_provenance,
)
from reben.errors import DistributionError
from reben.hashes import FileHashes

META = ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
TILE_A = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
TILE_B = "S2B_MSIL2A_20171221T100409_N0206_R122_T33UVP"
# S1 products of the two tiles interleave in sort order: the S1 tree's lines mix the tiles.
S1_PRODUCTS = {
    TILE_A: ("S1B_IW_GRDH_1SDV_20170612T165809", "S1A_IW_GRDH_1SDV_20170614T050000"),
    TILE_B: ("S1A_IW_GRDH_1SDV_20171220T165809", "S1B_IW_GRDH_1SDV_20170613T000000"),
}
TREES = {"s2": "BigEarthNet-S2", "reference_maps": "Reference_Maps", "s1": "BigEarthNet-S1"}


def make_tile(tiles, tile):
    """A tile's per-tile patch folders, written through FileHashes, with their sha256 tables;
    patches (0, 0), (1, 0), (0, 1). Returns {patch_id: s1_name}."""
    out = {}
    writers = {kind: FileHashes(tiles / tile / kind) for kind in TREES}
    for i, (x, y) in enumerate([(0, 0), (1, 0), (0, 1)]):
        pid = f"{tile}_{x:02d}_{y:02d}"
        product = S1_PRODUCTS[tile][i % 2]
        s1_name = f"{product}_{tile[-5:]}_{x}_{y}"
        out[pid] = s1_name
        files = {
            "s2": [(pid, f"{pid}_{b}.tif") for b in ("B01", "B02", "B8A")],
            "reference_maps": [(pid, f"{pid}_reference_map.tif")],
            "s1": [(f"{product}/{s1_name}", f"{s1_name}_{p}.tif") for p in ("VH", "VV")],
        }
        for kind, names in files.items():
            for folder, name in names:
                (tiles / tile / kind / folder).mkdir(parents=True, exist_ok=True)
                writers[kind].write(tiles / tile / kind / folder / name, f"{tile} {kind} {name}".encode())
    for kind, writer in writers.items():
        writer.save(tiles / tile / f"{kind}_sha256.parquet")
    return out


def link(src, dst):
    dst.mkdir(parents=True)
    for f in src.iterdir():
        os.link(f, dst / f.name)


@pytest.fixture
def dataset(tmp_path):
    """Two tiles and the dataset assembled from them by hand: tile A keeps (0, 0) and (1, 0),
    tile B keeps (0, 0) (flagged) and (1, 0) without S1; (0, 1) of each is not kept."""
    tiles, d = tmp_path / "tiles", tmp_path / "dataset"
    s1_of = {**make_tile(tiles, TILE_A), **make_tile(tiles, TILE_B)}
    kept = {f"{TILE_A}_00_00": 0, f"{TILE_A}_01_00": 0, f"{TILE_B}_00_00": 1, f"{TILE_B}_01_00": 0}
    no_s1 = {f"{TILE_B}_01_00"}
    for pid in kept:
        tile = pid.rsplit("_", 2)[0]
        link(tiles / tile / "s2" / pid, d / "BigEarthNet-S2" / tile / pid)
        link(tiles / tile / "reference_maps" / pid, d / "Reference_Maps" / tile / pid)
        if pid not in no_s1:
            name = s1_of[pid]
            product = name.rsplit("_", 3)[0]
            link(tiles / tile / "s1" / product / name, d / "BigEarthNet-S1" / product / name)
    for tree in TREES.values():
        # Snakemake's bookkeeping in its directory() outputs: never part of the manifest.
        (d / tree / ".snakemake_timestamp").write_bytes(b"")
    for i, name in enumerate(META):
        pids = sorted(p for p, f in kept.items() if f == i)
        rows = {"patch_id": pids, "s1_name": ["" if p in no_s1 else s1_of[p] for p in pids]}
        pd.DataFrame(rows).to_parquet(d / name, index=False)
    (d / "lmdb").mkdir()
    (d / "lmdb/data.mdb").write_bytes(b"not in the manifest")
    return d


def manifest(d, **kw) -> int:
    tiles = d.parent / "tiles"
    return write_manifest(
        d,
        TREES,
        {kind: {t: tiles / t / f"{kind}_sha256.parquet" for t in (TILE_A, TILE_B)} for kind in TREES},
        [d / m for m in META],
        d / "MANIFEST.sha256",
        **kw,
    )


def hashed_file_by_file(d) -> str:
    """The manifest as `sha256sum` of every tree and metadata file, sorted, would write it."""
    names = [p.relative_to(d).as_posix() for tree in TREES.values() for p in (d / tree).rglob("*") if p.is_file()]
    names = sorted([n for n in names if not n.rsplit("/", 1)[-1].startswith(".")] + list(META))
    return "".join(f"{hashlib.sha256((d / n).read_bytes()).hexdigest()}  {n}\n" for n in names)


def test_the_merged_manifest_is_the_trees_hashed_file_by_file(dataset, caplog):
    with caplog.at_level(logging.INFO, logger="reben"):
        n = manifest(dataset, sample_size=5, seed=7, threads=2)
    text = (dataset / "MANIFEST.sha256").read_text()
    assert text == hashed_file_by_file(dataset)
    # 4 kept patches x (3 S2 + 1 reference map) + 3 S1 pairs x 2 + 2 metadata files
    assert n == 4 * 4 + 3 * 2 + 2 == len(text.splitlines())
    assert f"{TILE_A}_00_01" not in text and f"{TILE_B}_00_01" not in text  # not kept
    s1_lines = [line for line in text.splitlines() if "  BigEarthNet-S1/" in line]
    assert [line.split("/")[1][:3] for line in s1_lines] == ["S1A"] * 4 + ["S1B"] * 2
    assert "24 files: 22 from the tiles' sha256 tables, 2 hashed here; 5 tree files (seed 7)" in caplog.text
    if shutil.which("sha256sum"):
        subprocess.run(["sha256sum", "-c", "--strict", "--quiet", "MANIFEST.sha256"], cwd=dataset, check=True)


def test_a_tree_file_unlike_its_tiles_record_stops_the_job(dataset):
    changed = dataset / "Reference_Maps" / TILE_B / f"{TILE_B}_00_00" / f"{TILE_B}_00_00_reference_map.tif"
    changed.unlink()  # a new file, no longer the tile's: as a tree edited after its assembly
    changed.write_bytes(b"changed")
    with pytest.raises(DistributionError, match=rf"^{re.escape(str(changed))}: sha256 [0-9a-f]{{64}}, its tile .*"):
        manifest(dataset, sample_size=100)
    assert not (dataset / "MANIFEST.sha256").exists()
    changed.unlink()
    with pytest.raises(DistributionError, match=r": missing from the tree, .*reference_maps_sha256.parquet lists it"):
        manifest(dataset, sample_size=100)


def test_a_kept_patch_its_tile_did_not_record_is_one_line(dataset):
    table = dataset.parent / "tiles" / TILE_A / "s2_sha256.parquet"
    rows = pq.read_table(table)
    pq.write_table(rows.filter(pc.not_equal(rows["folder"], f"{TILE_A}_01_00")), table)
    with pytest.raises(DistributionError, match=rf"^{re.escape(str(table))}: no files of {TILE_A}_01_00, which "):
        manifest(dataset)


def test_a_missing_metadata_file_is_one_line(dataset):
    (dataset / META[1]).unlink()
    with pytest.raises(DistributionError, match=rf"{META[1]}: missing; it must be in the manifest$"):
        manifest(dataset)


def listed_store(dataset, tmp_path, store="zarr/train.zarr") -> Path:
    """A folder another rule wrote into the dataset (as export_zarr its store), and its summary."""
    files = {"zarr.json": b"{}", "B02/zarr.json": b"{ }", "B02/c/0/0/0": b"shard", "patch/c/0": b"ids"}
    for name, data in files.items():
        (dataset / store / name).parent.mkdir(parents=True, exist_ok=True)
        (dataset / store / name).write_bytes(data)
    summary = tmp_path / "train.json"
    listed = [{"path": n, "sha256": hashlib.sha256(d).hexdigest()} for n, d in sorted(files.items())]
    summary.write_text(json.dumps({"store": store, "files": listed}))
    return summary


def test_a_listed_store_joins_the_manifest_in_order(dataset, tmp_path):
    summary = listed_store(dataset, tmp_path)
    n = manifest(dataset, listed=[summary])
    text = (dataset / "MANIFEST.sha256").read_text()
    names = sorted(p.relative_to(dataset).as_posix() for p in (dataset / "zarr").rglob("*") if p.is_file())
    store = [f"{hashlib.sha256((dataset / n).read_bytes()).hexdigest()}  {n}\n" for n in names]
    assert text == hashed_file_by_file(dataset) + "".join(store)  # "zarr/" sorts after the rest
    assert n == 4 * 4 + 3 * 2 + 2 + 4
    if shutil.which("sha256sum"):
        subprocess.run(["sha256sum", "-c", "--strict", "--quiet", "MANIFEST.sha256"], cwd=dataset, check=True)


def test_a_listed_folder_outside_the_dataset_is_one_line(dataset, tmp_path):
    summary = listed_store(dataset, tmp_path, store="../zarr/train.zarr")
    with pytest.raises(
        DistributionError, match=r"train\.json: its folder \.\./zarr/train\.zarr is not inside the dataset folder$"
    ):
        manifest(dataset, listed=[summary])
    summary.write_text("{}")
    with pytest.raises(
        DistributionError, match=r"train\.json: not a summary of written files \('store'\); rerun its rule$"
    ):
        manifest(dataset, listed=[summary])


def test_provenance_records_export_zarr_only_when_it_is_on():
    config = {"results": "r", "export_v1": {"enabled": True}, "export_zarr": {"enabled": False, "zstd_level": 3}}
    assert provenance_config(config) == {"results": "r"}
    config["export_zarr"]["enabled"] = True  # its stores are then in the manifest
    assert provenance_config(config) == {"results": "r", "export_zarr": {"enabled": True, "zstd_level": 3}}


def test_provenance_records_config_inputs_software_commit_and_output_hashes(dataset, tmp_path):
    manifest(dataset)
    (dataset / "LMDB_CONTENT.sha256").write_text("ab" * 32 + "  3 entries\n")
    clc = tmp_path / "clc.gpkg"
    clc.write_bytes(b"clc bytes")
    config = {"results": "results", "distribution": {"zstd_level": 3}}
    record = write_provenance(
        dataset / "PROVENANCE.json",
        config,
        {"sentinel2_products": ["S2A_X"]},
        {"clc": clc},
        [dataset / m for m in META],
        dataset / "MANIFEST.sha256",
        dataset / "LMDB_CONTENT.sha256",
        REPO,
    )
    assert json.loads((dataset / "PROVENANCE.json").read_text()) == record
    assert record["config"] == config
    assert record["inputs"]["clc"] == {
        "name": "clc.gpkg",
        "size": 9,
        "sha256": hashlib.sha256(b"clc bytes").hexdigest(),
    }
    assert record["inputs"]["sentinel1_products"] == [
        "S1A_IW_GRDH_1SDV_20170614T050000",
        "S1A_IW_GRDH_1SDV_20171220T165809",
        "S1B_IW_GRDH_1SDV_20170612T165809",
    ]
    assert record["inputs"]["sentinel2_products"] == ["S2A_X"]
    assert record["outputs"] == {
        "MANIFEST.sha256": hashlib.sha256((dataset / "MANIFEST.sha256").read_bytes()).hexdigest(),
        "LMDB_CONTENT.sha256": "ab" * 32,
    }
    for name in ("python", "snakemake", "gdal", "rasterio", "numpy"):
        assert record["software"][name]
    commit = git_commit(REPO)
    if commit is not None:
        assert record["workflow"] == commit and len(commit["commit"]) == 40


def test_git_commit_outside_a_checkout_is_none(tmp_path):
    assert git_commit(tmp_path) is None


def test_missing_input_file_is_one_line(tmp_path):
    with pytest.raises(DistributionError, match=r"clc\.gpkg: input named in the config is missing"):
        file_identity(tmp_path / "clc.gpkg")
