"""encode_lmdb on small hand-made shards, GeoTIFF trees and metadata files."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import lmdb
import numpy as np
import pandas as pd
import pytest

from reben.__main__ import main as reben_main
from reben.distribution import lmdb as lmdb_store
from reben.distribution.lmdb import check_content_hash, encode_lmdb, lmdb_content_hash
from reben.errors import DistributionError
from reben.shards import decode, iter_shard
from reben.synthetic.dataset import metadata_frame, write_tile

TILE_A = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
TILE_B = "S2B_MSIL2A_20171221T100409_N9999_R122_T33UVP"


@pytest.fixture
def small(tmp_path):
    """Two tiles; the shards hold 6 patches, the metadata files select 4 of them (3 + 1 flagged)."""
    a = write_tile(tmp_path, TILE_A, [(0, 0), (1, 0), (0, 1), (1, 1)], seed=1)
    b = write_tile(tmp_path, TILE_B, [(5, 3), (6, 3)], seed=2)
    clean = metadata_frame(pd.concat([a.iloc[[0, 2]], b.iloc[[1]]]))
    flagged = metadata_frame(a.iloc[[3]], flagged=True)
    meta = [
        tmp_path / "dataset" / "metadata.parquet",
        tmp_path / "dataset" / "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
    ]
    clean.to_parquet(meta[0], index=False)
    flagged.to_parquet(meta[1], index=False)
    tiles = tmp_path / "tiles"
    shards = {
        kind: [tiles / t / f"{kind}_shard.parquet" for t in (TILE_B, TILE_A)] for kind in ("s2", "reference_maps", "s1")
    }
    trees = {
        "s2": tmp_path / "dataset/BigEarthNet-S2",
        "s1": tmp_path / "dataset/BigEarthNet-S1",
        "reference_maps": tmp_path / "dataset/Reference_Maps",
    }
    grids = [tiles / t / "geocoding.json" for t in (TILE_A, TILE_B)]
    return {
        "root": tmp_path,
        "meta": meta,
        "shards": shards,
        "trees": trees,
        "grids": grids,
        "out": tmp_path / "dataset/lmdb",
        "content": tmp_path / "dataset/LMDB_CONTENT.sha256",
    }


def build(s, **kw):
    kw = {"sample_size": 10, "content_path": s["content"], **kw}
    return encode_lmdb(s["meta"], s["shards"], s["out"], s["trees"], s["grids"], **kw)


def entries(path) -> dict[bytes, bytes]:
    env = lmdb.open(str(path), readonly=True, lock=False)
    with env.begin() as txn:
        out = {bytes(k): bytes(v) for k, v in txn.cursor()}
    env.close()
    return out


def shard_values(s) -> dict[str, bytes]:
    return {k: v for paths in s["shards"].values() for p in paths for k, v in iter_shard(p)}


def test_holds_exactly_the_selected_keys_with_the_shard_values(small):
    summary = build(small)
    got = entries(small["out"])
    selected = [f"{TILE_A}_00_00", f"{TILE_A}_00_01", f"{TILE_A}_01_01", f"{TILE_B}_06_03"]
    s1 = [
        "S1B_IW_GRDH_1SDV_20170612T165809_33UUP_0_0",
        "S1B_IW_GRDH_1SDV_20170612T165809_33UUP_0_1",
        "S1B_IW_GRDH_1SDV_20170612T165809_33UUP_1_1",
        "S1B_IW_GRDH_1SDV_20171220T165809_33UVP_6_3",
    ]
    expected = sorted(selected + [p + "_reference_map" for p in selected] + s1)
    assert [k.decode() for k in got] == expected  # cursor order = key order
    values = shard_values(small)
    assert all(got[k.encode()] == values[k] for k in expected)
    assert summary["entries"] == 12 and summary["verified_patches"] == 4
    assert summary["patch_size_m"] == 1200
    # Only the data file ships: no lock file, no temporary folder left.
    assert sorted(os.listdir(small["out"])) == ["data.mdb"]
    assert not small["out"].with_name("lmdb.tmp").exists()
    # A reference map decodes to its tensor, as the reader expects.
    rm = decode(got[f"{TILE_A}_00_00_reference_map".encode()])
    assert list(rm) == ["Data"] and rm["Data"].dtype == np.uint16 and rm["Data"].shape == (120, 120)


def expected_content_hash(stored: dict[bytes, bytes]) -> str:
    """The definition, written out: sha256 over (len(key) 8 bytes LE, key, sha256(value)) in key order."""
    h = hashlib.sha256()
    for k, v in sorted(stored.items()):
        h.update(len(k).to_bytes(8, "little") + k + hashlib.sha256(v).digest())
    return h.hexdigest()


def test_content_hash_written_while_encoding_is_the_one_recomputed_from_the_lmdb(small, capsys):
    summary = build(small)
    want = expected_content_hash(entries(small["out"]))
    assert small["content"].read_text() == f"{want}  12 entries\n"
    assert summary["content_sha256"] == want
    assert lmdb_content_hash(small["out"]) == (want, 12)
    assert check_content_hash(small["out"], small["content"]) == (want, 12)
    assert reben_main(["lmdb-content", str(small["out"]), "--check", str(small["content"])]) == 0
    assert reben_main(["lmdb-content", str(small["out"])]) == 0
    assert capsys.readouterr().out.endswith(f"\n{want}  12 entries\n")


def test_one_changed_value_byte_changes_the_content_hash_and_fails_the_check(small, capsys):
    build(small)
    written = small["content"].read_text()
    key = f"{TILE_A}_00_01_reference_map".encode()
    env = lmdb.open(str(small["out"]), lock=False)
    with env.begin(write=True) as txn:
        value = bytearray(txn.get(key))
        value[-1] ^= 1  # one bit of the last pixel
        txn.put(key, bytes(value))
    env.close()
    digest, n = lmdb_content_hash(small["out"])
    assert n == 12 and f"{digest}  12 entries\n" != written
    assert digest == expected_content_hash(entries(small["out"]))
    with pytest.raises(DistributionError, match=r"LMDB_CONTENT\.sha256: records .* the LMDB .* holds "):
        check_content_hash(small["out"], small["content"])
    assert reben_main(["lmdb-content", str(small["out"]), "--check", str(small["content"])]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and digest in err


def test_same_content_whatever_the_shard_order_and_map_size(small, monkeypatch):
    build(small)
    first = small["content"].read_text()
    small["shards"] = {k: list(reversed(v)) for k, v in reversed(small["shards"].items())}
    # A map far too small for the data: the store grows itself.
    real_plan = lmdb_store.plan
    monkeypatch.setattr(lmdb_store, "plan", lambda *a: (real_plan(*a)[0], 256 * 1024))
    build(small)
    assert small["content"].read_text() == first


def test_metadata_row_without_shard_entry_is_one_line_and_leaves_nothing(small):
    meta = pd.read_parquet(small["meta"][0])
    meta.loc[0, "patch_id"] = f"{TILE_A}_09_09"
    meta.to_parquet(small["meta"][0], index=False)
    with pytest.raises(DistributionError) as e:
        build(small)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"metadata.parquet: {TILE_A}_09_09 has no entry in the s2 shards")
    assert not small["out"].exists() and not small["out"].with_name("lmdb.tmp").exists()


def test_missing_s1_entry_names_the_s1_key(small):
    meta = pd.read_parquet(small["meta"][1])
    meta.loc[0, "s1_name"] = "S1A_IW_GRDH_1SDV_20170101T000000_33UUP_1_1"
    meta.to_parquet(small["meta"][1], index=False)
    with pytest.raises(
        DistributionError,
        match=r"^metadata_for_patches_with_snow_cloud_or_shadow"
        r"\.parquet: S1A_IW_GRDH_1SDV_20170101T000000_33UUP_1_1 has no entry in the s1 shards",
    ):
        build(small)


def test_a_value_that_differs_from_its_geotiff_fails_the_build(small):
    pid = f"{TILE_B}_06_03"
    tif = small["trees"]["s2"] / TILE_B / pid / f"{pid}_B8A.tif"
    data = bytearray(tif.read_bytes())
    data[-1] ^= 1  # last pixel of the last row
    tif.write_bytes(bytes(data))
    with pytest.raises(DistributionError, match=rf"^{pid}: tensor B8A .* differs from .*{pid}_B8A\.tif"):
        build(small)
    assert not small["out"].exists() and not small["out"].with_name("lmdb.tmp").exists()


def test_a_half_written_store_of_a_killed_job_is_replaced(small):
    tmp = small["out"].with_name("lmdb.tmp")
    tmp.mkdir(parents=True)
    (tmp / "data.mdb").write_bytes(b"\0" * 8192)
    (tmp / "lock.mdb").write_bytes(b"\1" * 8192)
    small["out"].mkdir()
    (small["out"] / "data.mdb").write_bytes(b"stale")
    build(small)
    assert lmdb_content_hash(small["out"])[1] == 12
    assert not tmp.exists()


def test_patch_listed_in_both_metadata_files_is_refused(small):
    clean = pd.read_parquet(small["meta"][0])
    flagged = pd.read_parquet(small["meta"][1])
    pd.concat([flagged, clean.iloc[[0]]]).to_parquet(small["meta"][1], index=False)
    with pytest.raises(DistributionError, match=rf"patch {TILE_A}_00_00 is listed twice"):
        build(small)


@pytest.fixture
def tiny_mount(tmp_path):
    """A 1 MiB tmpfs, mounted read-only or read-write as the test asks (root only)."""
    mounted = []

    def mount(read_only: bool) -> Path:
        path = tmp_path / ("ro" if read_only else "full")
        path.mkdir()
        opts = "ro,size=1m" if read_only else "size=1m"
        if (
            os.geteuid() != 0
            or subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True).returncode
            != 0
        ):
            if read_only and os.geteuid() != 0:
                path.chmod(0o555)
                return path
            pytest.skip("needs root and mount to make a small or read-only file system")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", str(path)], capture_output=True)


def test_read_only_output_folder_is_one_line(small, tiny_mount):
    small["out"] = tiny_mount(read_only=True) / "lmdb"
    with pytest.raises(DistributionError, match=r"lmdb\.tmp: cannot write the LMDB here \(.*\)$"):
        build(small)


def test_full_disk_is_one_line_and_leaves_nothing(small, tiny_mount):
    small["out"] = tiny_mount(read_only=False) / "lmdb"
    with pytest.raises(DistributionError) as e:
        build(small)
    assert "\n" not in str(e.value) and "lmdb.tmp" in str(e.value)
    assert os.listdir(small["out"].parent) == []


def test_two_shards_with_different_values_for_one_key_are_refused(small):
    from reben.shards import ShardWriter, encode

    key = "S1B_IW_GRDH_1SDV_20170612T165809_33UUP_0_0"
    with ShardWriter(small["root"] / "extra_s1_shard.parquet") as shard:
        shard.add(key, encode({"VV": np.zeros((120, 120), np.float32), "VH": np.zeros((120, 120), np.float32)}))
    small["shards"]["s1"].append(small["root"] / "extra_s1_shard.parquet")
    with pytest.raises(DistributionError, match=rf"^{key}: two shards hold different values for this key$"):
        build(small)
    assert not small["out"].exists()


def set_patch_size(grid_json: Path, patch_size_m: int) -> None:
    import json

    record = json.loads(grid_json.read_text())
    record["grid"]["patch_size_m"] = patch_size_m
    grid_json.write_text(json.dumps(record))


def test_values_not_of_the_grids_patch_size_fail_the_build(small):
    """Shards of 1200 m patches under grids that say 2400 m: every value is checked against the
    grid, before the sample, so the mismatch is found even where GeoTIFFs agree with shards."""
    for grid in small["grids"]:
        set_patch_size(grid, 2400)
    with pytest.raises(DistributionError) as e:
        build(small)
    msg = str(e.value)
    assert "\n" not in msg
    # Shards are read in path order: TILE_A's reference maps come first.
    assert msg == (
        f"{small['shards']['reference_maps'][1]}: {TILE_A}_00_00_reference_map: tensor Data "
        "is U16 120x120, the grid's 2400 m patches need U16 240x240; rebuild the stage "
        "that writes this shard"
    )
    assert not small["out"].exists() and not small["out"].with_name("lmdb.tmp").exists()


def test_a_value_missing_a_band_fails_the_build(small):
    from reben.shards import ShardWriter, encode

    pid = f"{TILE_A}_00_00"
    values = dict(iter_shard(small["shards"]["s2"][1]))
    tensors = decode(values[pid])
    del tensors["B09"]
    values[pid] = encode(tensors)
    with ShardWriter(small["shards"]["s2"][1]) as shard:
        for key, value in values.items():
            shard.add(key, value)
    with pytest.raises(
        DistributionError,
        match=rf"s2_shard\.parquet: {pid}: tensor B09 is missing, "
        r"the grid's 1200 m patches need U16 20x20",
    ):
        build(small)


def test_tiles_with_different_patch_sizes_are_refused(small):
    set_patch_size(small["grids"][1], 600)
    with pytest.raises(
        DistributionError,
        match=r"^the tiles' grids must share one patch size, found "
        r"600 m \(.*T33UVP/geocoding\.json\), 1200 m \(.*T33UUP/geocoding\.json\); "
        r"rerun make_patch_grid$",
    ):
        build(small)
