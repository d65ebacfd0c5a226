"""The Zarr v3 store of a split (export_zarr): read back by xarray.open_zarr as open_dataset gives
the split, equal to the LMDB, placed in its CRS by select_patch, sharded one patch per chunk,
byte-reproducible; and in the workflow, built with export_zarr.enabled and listed in
MANIFEST.sha256 (the demo's manifest unchanged when it is off)."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
import zarr
from conftest import demo_config, run_snakemake
from safetensors.numpy import load as st_load

import reben
from reben.access.readers import lmdb_environment
from reben.access.zarr_store import write_split_store

SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def demo(demo_run) -> Path:
    return demo_run / "results" / "dataset"


@pytest.fixture(scope="module")
def stores(demo, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zarr")
    out = {}
    for split in SPLITS:
        out[split] = root / f"{split}.zarr"
        write_split_store(demo, split, out[split], shard_patches=16, summary_path=root / f"{split}.json")
    return out


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_builds_give_identical_bytes(demo, stores, tmp_path):
    again = tmp_path / "train.zarr"
    summary = write_split_store(demo, "train", again, shard_patches=16)
    first, second = files_of(stores["train"]), files_of(again)
    assert list(first) == list(second) and first == second
    assert {f["path"]: f["sha256"] for f in summary["files"]} == {
        name: hashlib.sha256(data).hexdigest() for name, data in second.items()
    }
    assert {f["path"]: f["md5"] for f in summary["files"]} == {
        name: hashlib.md5(data).hexdigest() for name, data in second.items()
    }


def test_open_zarr_reads_back_the_split(demo, stores):
    for split, store in stores.items():
        xr.testing.assert_identical(
            xr.open_zarr(store).load(), reben.open_dataset(demo, split, resolution="native").load()
        )
        xr.testing.assert_identical(reben.to_10m(xr.open_zarr(store)).load(), reben.open_dataset(demo, split).load())


def test_the_store_equals_the_lmdb(demo, stores):
    """Every value of every store, read with zarr alone, against the LMDB decoded with safetensors."""
    env = lmdb_environment(demo / "lmdb")  # LMDB allows one environment per process and folder
    with env.begin() as txn:
        for store in stores.values():
            group = zarr.open_group(store, mode="r")
            ids, s1_names = group["patch"][:], group["s1_name"][:]
            for i, (pid, s1_name) in enumerate(zip(ids, s1_names)):
                entries = {
                    **st_load(txn.get(str(pid).encode())),
                    **st_load(txn.get(str(s1_name).encode())),
                    "reference_map": st_load(txn.get(f"{pid}_reference_map".encode()))["Data"],
                }
                assert sorted(entries) == sorted(k for k in group.array_keys() if group[k].ndim == 3)
                for name, value in entries.items():
                    stored = group[name][i]
                    assert stored.dtype == value.dtype and np.array_equal(stored, value), (pid, name)


def test_select_patch_places_a_stored_patch_as_open_patch_does(demo, stores):
    z = xr.open_zarr(stores["validation"])
    for pid in z.patch.values[::9]:
        pid = str(pid)
        xr.testing.assert_identical(reben.select_patch(z, pid).load(), reben.open_patch(demo, pid, resolution="native"))
        one = reben.select_patch(reben.to_10m(z), pid)
        assert one.rio.crs.to_epsg() == int(z.epsg.sel(patch=pid))
        assert one.rio.bounds() == tuple(float(z[b].sel(patch=pid)) for b in ("left", "bottom", "right", "top"))


def test_one_patch_per_chunk_in_shards(stores):
    group = zarr.open_group(stores["train"], mode="r")
    n = group["patch"].shape[0]
    for name, side in (("B02", 120), ("B05", 60), ("B01", 20), ("VV", 120), ("reference_map", 120)):
        array = group[name]
        assert array.chunks == (1, side, side) and array.shards == (16, side, side), name
        assert len([p for p in (stores["train"] / name / "c").rglob("*") if p.is_file()]) == math.ceil(n / 16)
    root = json.loads((stores["train"] / "zarr.json").read_text())
    assert root["zarr_format"] == 3 and "consolidated_metadata" in root  # one read opens the store


# ------------------------------------------------------------------ the workflow


def manifest_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


@pytest.mark.integration
def test_the_workflow_builds_the_stores_and_lists_them_in_the_manifest(demo_run, demo_copy):
    results = demo_copy / "results"
    config = demo_config()
    config["export_zarr"] = {"enabled": True, "shard_patches": 8}
    configfile = demo_copy / "zarr.yaml"
    configfile.write_text(yaml.safe_dump(config))
    run_snakemake(demo_copy, configfile=configfile)
    dataset = results / "dataset"
    lines = manifest_lines(dataset / "MANIFEST.sha256")
    zarr_lines = [line for line in lines if "  zarr/" in line]
    for split in SPLITS:
        store = dataset / "zarr" / f"{split}.zarr"
        listed = sorted(line.split("  ", 1)[1] for line in zarr_lines if f"  zarr/{split}.zarr/" in line)
        assert listed == sorted(
            f"zarr/{split}.zarr/{p.relative_to(store).as_posix()}" for p in store.rglob("*") if p.is_file()
        )
        assert not (store / ".snakemake_timestamp").exists()
        xr.testing.assert_identical(
            xr.open_zarr(store).load(), reben.open_dataset(dataset, split, resolution="native").load()
        )
    if shutil.which("sha256sum"):
        subprocess.run(["sha256sum", "-c", "--strict", "--quiet", "MANIFEST.sha256"], cwd=dataset, check=True)
    # the rest of the manifest is the demo's, which has no store
    off = manifest_lines(demo_run / "results" / "dataset" / "MANIFEST.sha256")
    assert [line for line in lines if line not in zarr_lines] == off
    assert not any("zarr/" in line for line in off)
    assert not (demo_run / "results" / "dataset" / "zarr").exists()
    provenance = json.loads((dataset / "PROVENANCE.json").read_text())
    assert provenance["config"]["export_zarr"] == {
        "enabled": True,
        "include_flagged": False,
        "shard_patches": 8,
        "zstd_level": 3,
    }
    assert "export_zarr" not in json.loads((demo_run / "results" / "dataset" / "PROVENANCE.json").read_text())["config"]
