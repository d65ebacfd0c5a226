"""BigEarthNet v1 links from bigearthnet-common's real tables and example patches, hand-made
cases of v1's time-string quirks, and the S1 patches taken from a v1 archive."""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import folder_sha256, sha256_table_rows

from reben.bigearthnet_v1.links import (
    TABLE_FILES,
    check_v1_config,
    link_grid,
    package_tables,
    read_v1_index,
    table_files,
    write_tile_link,
)
from reben.bigearthnet_v1.sentinel1 import extract_archive, fetch_archive, take_tile
from reben.dataset.selection import select_patches
from reben.errors import ConfigError, V1ArchiveError, V1TableError
from reben.grid import TileGrid
from reben.io import write_json
from reben.shards import decode, iter_shard

PYTHON = sys.executable
# Real reBEN tile keys of two of the 125 L1C products (resources/bigearthnet_v1_l1c_products.csv).
T35VPK = "S2B_MSIL2A_20170924T093019_N9999_R136_T35VPK"  # L1C S2B_MSIL1C_20170924T093019_...
T33UUP = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


def full_grid(key, epsg, ulx, uly):
    return TileGrid(key, epsg, ulx, uly, 109800.0, 109800.0)


@pytest.fixture(scope="module")
def real_index():
    return read_v1_index(package_tables())


@pytest.fixture(scope="module")
def example_s1() -> Path:
    """The real v1 S1 example patches shipped in bigearthnet-common, as a tar.bz2 file."""
    return Path(package_tables()["pairs"]).with_name("BigEarthNet-S1-Example.tar.bz2")


def test_package_tables_are_read_without_the_cli_dependencies():
    code = (
        "import sys; from reben.bigearthnet_v1.links import package_tables; package_tables(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('bigearthnet_common', 'typer', 'fastcore', 'rich', 'appdirs', 'natsort')))"
    )
    out = subprocess.run(
        [PYTHON, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2] / "workflow"
    )
    assert out.stdout.strip() == "[]"


def test_real_table_indexes_every_v1_pair(real_index):
    import csv

    from reben.names import parse_product_name, tile_key

    assert len(real_index) == 590_326
    # Its (MGRS tile, day) keys are exactly those of reBEN's 125 L1C products, on 56 tiles.
    with open(Path(__file__).parents[2] / "resources/bigearthnet_v1_l1c_products.csv", newline="") as f:
        products = {(parse_product_name(tile_key(r["name"])).mgrs, r["name"][11:19]) for r in csv.DictReader(f)}
    assert set(real_index[["tile", "date"]].itertuples(index=False, name=None)) == products
    assert len(products) == 125 and real_index["tile"].nunique() == 56
    row = real_index.set_index("s2v1_name").loc["S2B_MSIL2A_20170924T93020_69_24"]
    assert (row["tile"], row["date"], row["x"], row["y"]) == ("35VPK", "20170924", 69, 24)
    assert row["s1v1_name"] == "S1A_IW_GRDH_1SDV_20170925T043256_35VPK_69_24"
    assert row["country"] == "Finland" and row["season"] == "Fall"
    # The v1 lists: counted against the files' line counts (no header).
    assert int(real_index["v1_seasonal_snow"].sum()) == 61_707
    assert int(real_index["v1_cloud_or_shadow"].sum()) == 9_280


def test_real_patch_with_lost_zero_and_other_seconds_is_matched_on_tile_day_x_y(real_index):
    # The L1C name says 093019; v1 wrote T93020 for (69, 24) and T93021 for (57, 38) of the same
    # product; three other v1 patches lie at 35VPK (69, 24), on other days.
    grid = full_grid(T35VPK, 32635, 600000.0, 6900000.0)
    link = link_grid(grid, real_index).set_index("patch_id")
    assert link.loc[f"{T35VPK}_69_24", "s2v1_name"] == "S2B_MSIL2A_20170924T93020_69_24"
    assert link.loc[f"{T35VPK}_69_24", "s1v1_name"] == "S1A_IW_GRDH_1SDV_20170925T043256_35VPK_69_24"
    assert link.loc[f"{T35VPK}_57_38", "s2v1_name"] == "S2B_MSIL2A_20170924T93021_57_38"
    assert (real_index["s2v1_name"].str.endswith("_69_24") & (real_index["tile"] == "35VPK")).sum() == 4
    mine = real_index[(real_index["tile"] == "35VPK") & (real_index["date"] == "20170924")]
    assert (link["s2v1_name"] != "").sum() == len(mine) > 0
    # every matched name carries its patch's x and y (v1 does not pad them, patch ids do)
    matched = link[link["s2v1_name"] != ""]
    assert all(
        [int(v) for v in n.split("_")[-2:]] == [int(v) for v in p.split("_")[-2:]]
        for p, n in zip(matched.index, matched["s2v1_name"])
    )


def write_tables(folder: Path, pairs: list[tuple[str, str]], snow=(), cloud=()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = "s1_name,s2_name,country,season\n" + "".join(f"{a},{b},Finland,Fall\n" for a, b in pairs)
    (folder / TABLE_FILES["pairs"]).write_bytes(bz2.compress(rows.encode()))
    (folder / TABLE_FILES["snow"]).write_bytes(bz2.compress("".join(f"{n}\n" for n in snow).encode()))
    (folder / TABLE_FILES["cloud_or_shadow"]).write_bytes(bz2.compress("".join(f"{n}\n" for n in cloud).encode()))
    return folder


def test_hand_made_quirks_day_not_prefix(tmp_path):
    """A name-prefix match would take 35VNK's patch (it has the L1C's exact time string) and miss
    the right one (its zero lost, one second later); another day at the same x, y is no match."""
    tables = write_tables(
        tmp_path / "v1",
        [
            ("S1A_IW_GRDH_1SDV_20170925T043256_35VPK_1_2", "S2B_MSIL2A_20170924T93020_1_2"),
            ("S1A_IW_GRDH_1SDV_20170925T043256_35VNK_2_1", "S2B_MSIL2A_20170924T093019_2_1"),
            ("S1A_IW_GRDH_1SDV_20171005T043256_35VPK_2_1", "S2B_MSIL2A_20171004T093019_2_1"),
            ("S1A_IW_GRDH_1SDV_20170924T043256_35VPK_0_0", "S2B_MSIL2A_20170924T093029_0_0"),
        ],
        snow=["S2B_MSIL2A_20170924T93020_1_2"],
        cloud=["S2B_MSIL2A_20170924T093029_0_0"],
    )
    index = read_v1_index(table_files(str(tables)))
    grid = TileGrid(T35VPK, 32635, 600000.0, 6900000.0, 3600.0, 3600.0)
    link = link_grid(grid, index)
    names = dict(zip(link["patch_id"], link["s2v1_name"]))
    assert names == {f"{T35VPK}_{x}_{y}": "" for y in range(3) for x in range(3)} | {
        f"{T35VPK}_1_2": "S2B_MSIL2A_20170924T93020_1_2",
        f"{T35VPK}_0_0": "S2B_MSIL2A_20170924T093029_0_0",
    }
    assert link.loc[link["v1_seasonal_snow"], "patch_id"].tolist() == [f"{T35VPK}_1_2"]
    assert link.loc[link["v1_cloud_or_shadow"], "patch_id"].tolist() == [f"{T35VPK}_0_0"]


def test_require_match_drops_no_v1_after_the_data_reasons(tmp_path):
    ids = np.array([f"T_{i}" for i in range(4)], dtype=object)
    tile = {"tile_key": "T", "excluded": False}
    s2 = pd.DataFrame({"patch_id": ids, "valid": [True, False, True, True]})
    labels = pd.DataFrame({"patch_id": ids, "labelled": [True, True, True, True]})
    flags = pd.DataFrame({"patch_id": ids, "contains_cloud_or_shadow": False, "contains_seasonal_snow": False})
    v1 = pd.DataFrame({"patch_id": ids, "s2v1_name": ["a", "", "", "d"]})
    s1 = pd.DataFrame({"patch_id": ids, "s1_name": ["x", "", "", ""]})
    table = select_patches(tile, s2, labels, flags, s1, v1)
    assert table["drop_reason"].tolist() == ["", "invalid", "no_v1", "no_s1"]
    assert select_patches(tile, s2, labels, flags, None, None)["drop_reason"].tolist() == ["", "invalid", "", ""]


# ------------------------------------------------------------------ bad input, one line each


def test_tables_missing_or_without_tile(tmp_path, monkeypatch):
    with pytest.raises(
        V1TableError,
        match=r"^.*nowhere/s1_s2_name_country_season.csv.bz2: BigEarthNet v1 "
        r"table missing \(bigearthnet_v1.tables: .*nowhere\)$",
    ):
        table_files(str(tmp_path / "nowhere"))
    tables = write_tables(
        tmp_path / "v1",
        [
            ("S1A_IW_GRDH_1SDV_20170925T043256_35VPK_1_2", "S2B_MSIL2A_20170924T93020_1_2"),
            ("S1A_IW_GRDH_1SDV_20170925T043256_1_3", "S2B_MSIL2A_20170924T93020_1_3"),
        ],
    )
    with pytest.raises(
        V1TableError,
        match=r"s1_s2_name_country_season.csv.bz2: line 3: v1 patch "
        r"S2B_MSIL2A_20170924T93020_1_3 has no MGRS tile: its S1 partner "
        r"'S1A_IW_GRDH_1SDV_20170925T043256_1_3' is not ",
    ):
        read_v1_index(table_files(str(tables)))


def test_bigearthnet_common_not_installed(monkeypatch):
    from importlib import metadata

    def absent(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", absent)
    with pytest.raises(
        V1TableError,
        match=r"^bigearthnet_v1.tables: bigearthnet-common is not installed "
        r"\(pip install --no-deps bigearthnet-common==2.8.0\)$",
    ):
        table_files("bigearthnet-common")


def config(tables=None, require=False, flags=False, source="backscatter", enabled=True):
    return {
        "bigearthnet_v1": {"tables": tables, "require_match": require, "flags": flags},
        "sentinel1": {"source": source, "enabled": enabled},
        "flags": {"cloud_or_shadow_list": None, "snow_list": None},
    }


def test_v1_options_without_the_tables():
    check_v1_config(config("bigearthnet-common", True, True, "bigearthnet_v1"))
    with pytest.raises(
        ConfigError,
        match=r"^config: bigearthnet_v1.require_match: needs the BigEarthNet "
        r"v1 tables; set bigearthnet_v1.tables \('bigearthnet-common'",
    ):
        check_v1_config(config(require=True))
    with pytest.raises(ConfigError, match=r"^config: sentinel1.source: bigearthnet_v1: needs"):
        check_v1_config(config(source="bigearthnet_v1"))
    with pytest.raises(ConfigError, match=r"needs sentinel1.enabled: true"):
        check_v1_config(config("bigearthnet-common", source="bigearthnet_v1", enabled=False))


# ------------------------------------------------------------------ S1 from the v1 archive


def v1_archive(example_s1: Path, dest: Path, drop: str | None = None) -> Path:
    """A small 'BigEarthNet-S1-v1.0.tar.gz' of the real example patches, in the published
    archive's layout (BigEarthNet-S1-v1.0/<s1_name>/...), optionally without one file."""
    with tarfile.open(example_s1) as src, tarfile.open(dest, "w:gz") as out:
        for member in src.getmembers():
            if drop and member.name.endswith(drop):
                continue
            member.name = member.name.replace("BigEarthNet-S1-Example", "BigEarthNet-S1-v1.0", 1)
            out.addfile(member, src.extractfile(member) if member.isfile() else None)
    return dest


def tile_inputs(tmp_path: Path, index: pd.DataFrame, key: str, epsg: int, ulx: float, uly: float):
    grid = full_grid(key, epsg, ulx, uly)
    write_json({"tile_key": key, "grid": grid.to_dict()}, tmp_path / "geocoding.json")
    index_path = tmp_path / "v1_patches.parquet"
    index.to_parquet(index_path)
    write_tile_link(tmp_path / "geocoding.json", index_path, tmp_path / "bigearthnet_v1.parquet")
    return tmp_path / "geocoding.json", tmp_path / "bigearthnet_v1.parquet"


def test_s1_files_land_byte_identical_in_the_reben_layout_and_shard(tmp_path, real_index, example_s1):
    archive = v1_archive(example_s1, tmp_path / "BigEarthNet-S1-v1.0.tar.gz")
    assert extract_archive(archive, tmp_path / "extracted") == 12  # 6 patches, VV and VH, no json
    # Only the 35VPK tile of 2017-09-24: its patch (69, 24) is the example's v1 pair.
    index = real_index[(real_index["tile"] == "35VPK") & (real_index["date"] == "20170924")]
    geocoding, link = tile_inputs(tmp_path, index, T35VPK, 32635, 600000.0, 6900000.0)
    # the other patches of the tile have v1 pairs too, absent from this small archive: keep only ours
    kept = pd.read_parquet(link)
    kept.loc[kept["patch_id"] != f"{T35VPK}_69_24", ["s2v1_name", "s1v1_name"]] = ""
    kept.to_parquet(link)
    out = tmp_path / "tile"
    take_tile(
        T35VPK,
        geocoding,
        link,
        tmp_path / "extracted",
        out / "s1_pairing.parquet",
        out / "s1",
        out / "s1_shard.parquet",
        out / "s1_band_stats.parquet",
        sha256_path=out / "s1_sha256.parquet",
    )
    name = "S1A_IW_GRDH_1SDV_20170925T043256_35VPK_69_24"
    product = "S1A_IW_GRDH_1SDV_20170925T043256"
    with tarfile.open(example_s1) as src:
        for pol in ("VV", "VH"):
            original = src.extractfile(f"BigEarthNet-S1-Example/{name}/{name}_{pol}.tif").read()
            assert (out / "s1" / product / name / f"{name}_{pol}.tif").read_bytes() == original
    assert sorted(p.name for p in (out / "s1" / product / name).iterdir()) == [f"{name}_VH.tif", f"{name}_VV.tif"]
    assert sha256_table_rows(out / "s1_sha256.parquet") == folder_sha256(out / "s1")
    pairing = pd.read_parquet(out / "s1_pairing.parquet").set_index("patch_id")
    assert pairing.loc[f"{T35VPK}_69_24", "s1_name"] == name
    assert pairing.loc[f"{T35VPK}_69_24", "s1_product"] == product
    # S2 at 09:30:19 on the 24th, S1 at 04:32:56 on the 25th: 19 h 2 min 37 s
    assert pairing.loc[f"{T35VPK}_69_24", "s1_time_gap_days"] == pytest.approx((19 * 3600 + 2 * 60 + 37) / 86400)
    assert (pairing["s1_name"] != "").sum() == 1
    import rasterio

    [(key, value)] = list(iter_shard(out / "s1_shard.parquet"))
    tensors = decode(value)
    assert key == name and sorted(tensors) == ["VH", "VV"]
    for pol in ("VV", "VH"):
        with rasterio.open(tmp_path / "extracted" / name / f"{name}_{pol}.tif") as f:
            expected = f.read(1)
        assert tensors[pol].dtype == np.float32 and tensors[pol].shape == (120, 120)
        assert np.array_equal(tensors[pol], expected)
        [row] = pd.read_parquet(out / "s1_band_stats.parquet").to_dict("records")
        assert (row["patch_id"], row["s1_name"]) == (f"{T35VPK}_69_24", name)
        v = expected[np.isfinite(expected)].astype(np.float64)
        assert row[f"{pol}_count"] == v.size > 0
        assert row[f"{pol}_mean"] == pytest.approx(v.mean(), rel=1e-12)
        assert row[f"{pol}_m2"] == pytest.approx(((v - v.mean()) ** 2).sum(), rel=1e-10)
        assert (row[f"{pol}_min"], row[f"{pol}_max"]) == (v.min(), v.max())


def test_v1_pair_whose_file_is_absent_from_the_archive(tmp_path, real_index, example_s1):
    name = "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48"
    archive = v1_archive(example_s1, tmp_path / "BigEarthNet-S1-v1.0.tar.gz", drop=f"{name}_VH.tif")
    extract_archive(archive, tmp_path / "extracted")
    index = real_index[real_index["s1v1_name"] == name]
    geocoding, link = tile_inputs(tmp_path, index, T33UUP, 32633, 300000.0, 5400000.0)
    out = tmp_path / "tile"
    with pytest.raises(
        V1ArchiveError,
        match=rf"extracted: no {name}/{name}_VH.tif, the S1 patch of v1 pair "
        rf"S2A_MSIL2A_20170613T101031_87_48 \(tile {T33UUP}\); the archive is incomplete$",
    ):
        take_tile(
            T33UUP,
            geocoding,
            link,
            tmp_path / "extracted",
            out / "s1_pairing.parquet",
            out / "s1",
            out / "s1_shard.parquet",
            out / "s1_band_stats.parquet",
        )
    assert not (out / "s1").exists() and not (out / "s1_shard.parquet").exists()
    assert not (out / "s1_pairing.parquet").exists()
    assert not (out / "s1_band_stats.parquet").exists()


def test_v1_archive_missing_or_truncated(tmp_path, example_s1):
    with pytest.raises(V1ArchiveError, match=r"absent.tar.gz: BigEarthNet-S1 v1.0 archive does not exist"):
        extract_archive(tmp_path / "absent.tar.gz", tmp_path / "out")
    whole = v1_archive(example_s1, tmp_path / "whole.tar.gz").read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(V1ArchiveError, match=r"cut.tar.gz: truncated or corrupt after \d+ files .*download it again$"):
        extract_archive(cut, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.tmp").exists()


class ArchiveServer(BaseHTTPRequestHandler):
    """Serves one file with HTTP Range; the first full request is cut after 1000 bytes."""

    data = b""
    requests: list = []

    def do_GET(self):
        ranged = self.headers.get("Range")
        start = int(ranged.split("=")[1].rstrip("-")) if ranged else 0
        self.requests.append(start)
        body = self.data[start:]
        self.send_response(206 if ranged else 200)
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{len(self.data) - 1}/{len(self.data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if len(self.requests) == 1:
            self.wfile.write(body[:1000])
            self.wfile.flush()
            time.sleep(0.3)  # delivered before the connection drops
            self.connection.shutdown(2)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(example_s1, tmp_path):
    ArchiveServer.data = v1_archive(example_s1, tmp_path / "served.tar.gz").read_bytes()
    ArchiveServer.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ArchiveServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/BigEarthNet-S1-v1.0.tar.gz"
    httpd.shutdown()


def test_fetch_resumes_and_logs_the_hash_to_pin(server, tmp_path, caplog):
    dest = tmp_path / "dl" / "BigEarthNet-S1-v1.0.tar.gz"
    got = fetch_archive(server, dest, sha256=None, sleep=lambda s: None)
    assert dest.read_bytes() == ArchiveServer.data
    assert got == hashlib.sha256(ArchiveServer.data).hexdigest()
    assert ArchiveServer.requests == [0, 1000]  # the second request resumed where the first stopped
    assert f"this download has sha256 {got} (pin it in the config)" in caplog.text
    assert not dest.with_name(dest.name + ".part").exists()


def test_fetch_with_a_wrong_checksum_keeps_nothing(server, tmp_path):
    dest = tmp_path / "BigEarthNet-S1-v1.0.tar.gz"
    with pytest.raises(
        V1ArchiveError,
        match=r"BigEarthNet-S1-v1.0.tar.gz: sha256 [0-9a-f]{64} differs from "
        r"the configured sentinel1.v1_archive.sha256 0{64}; the download was removed$",
    ):
        fetch_archive(server, dest, sha256="0" * 64, sleep=lambda s: None)
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()


# ------------------------------------------------------------------ the workflow, end to end


@pytest.mark.integration
def test_workflow_with_v1_links_flags_and_s1_from_the_archive(demo_copy, example_s1):
    """The demo rerun as reBEN is configured: v1 tables (a hand-made folder for the demo's
    tiles), require_match, v1 flags, and S1 from a v1 archive whose files are real v1 patch
    files. Kept patches are exactly those with a v1 counterpart (among those otherwise kept),
    their S1 files come byte for byte from the archive, and the LMDB holds their pixels."""
    import lmdb
    import rasterio
    import yaml
    from conftest import demo_config, run_snakemake

    from reben.shards import decode

    december = "S2B_MSIL2A_20171221T100409"
    pairs, partner = [], {}
    for y in range(12):
        for x in range(6):  # the western half of the June tile
            pairs.append((f"S1A_IW_GRDH_1SDV_20170613T165043_33UUP_{x}_{y}", f"S2A_MSIL2A_20170613T101030_{x}_{y}"))
        for x in range(3):
            pairs.append((f"S1B_IW_GRDH_1SDV_20171219T165039_33UVP_{x}_{y}", f"{december}_{x}_{y}"))
    pairs.append(("S1A_IW_GRDH_1SDV_20170618T165043_33UUP_9_9", "S2A_MSIL2A_20170618T101031_9_9"))  # other day
    partner = {s2: s1 for s1, s2 in pairs}
    snow = [f"S2A_MSIL2A_20170613T101030_{x}_5" for x in range(6)]
    write_tables(demo_copy / "v1tables", pairs, snow=snow)
    with tarfile.open(example_s1) as src:
        real = {
            pol: src.extractfile(
                "BigEarthNet-S1-Example/S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48/"
                f"S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48_{pol}.tif"
            ).read()
            for pol in ("VV", "VH")
        }
    with tarfile.open(demo_copy / "BigEarthNet-S1-v1.0.tar.gz", "w:gz") as tar:
        for s1, _ in pairs:
            for pol, data in real.items():
                info = tarfile.TarInfo(f"BigEarthNet-S1-v1.0/{s1}/{s1}_{pol}.tif")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    config = demo_config()
    config["bigearthnet_v1"] = {"tables": str(demo_copy / "v1tables"), "require_match": True, "flags": True}
    config["sentinel1"].update(
        source="bigearthnet_v1", v1_archive={"path": str(demo_copy / "BigEarthNet-S1-v1.0.tar.gz")}
    )
    (demo_copy / "v1.yaml").write_text(yaml.safe_dump(config))
    # Snakemake's rule blocks (--logger-reben-detail) name each job that ran.
    proc = run_snakemake(demo_copy, "--logger-reben-detail", configfile=demo_copy / "v1.yaml")
    out = proc.stdout + proc.stderr
    assert out.count("rule extract_bigearthnet_v1_s1:") == 1
    assert "rule pair_sentinel1:" not in out and "rule cut_s1_patches:" not in out

    ds = demo_copy / "results" / "dataset"
    meta = pd.concat(
        [
            pd.read_parquet(ds / "metadata.parquet"),
            pd.read_parquet(ds / "metadata_for_patches_with_snow_cloud_or_shadow.parquet"),
        ]
    )
    assert len(meta) > 0 and (meta["s2v1_name"] != "").all()
    assert meta["s1_name"].tolist() == [partner[n] for n in meta["s2v1_name"]]
    assert meta["contains_seasonal_snow"].tolist() == meta["s2v1_name"].isin(snow).tolist()
    assert not meta["contains_cloud_or_shadow"].any()  # the v1 cloud list is empty
    sidecar = pd.read_parquet(ds / "patches.parquet")
    without = sidecar[sidecar["s2v1_name"] == ""]
    assert set(without["drop_reason"]) <= {"product_quality", "invalid", "unlabeled", "no_v1"}
    funnel = pd.read_csv(ds / "funnel.csv").set_index("tile_key")
    assert funnel.loc["TOTAL", "no_v1"] == (sidecar["drop_reason"] == "no_v1").sum() > 0
    assert funnel.loc["TOTAL", "no_s1"] == 0
    env = lmdb.open(str(ds / "lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        for name in meta["s1_name"]:
            folder = ds / "BigEarthNet-S1" / name.rsplit("_", 3)[0] / name
            tensors = decode(txn.get(name.encode()))
            for pol, data in real.items():
                assert (folder / f"{name}_{pol}.tif").read_bytes() == data
                with rasterio.open(folder / f"{name}_{pol}.tif") as f:
                    assert np.array_equal(tensors[pol], f.read(1))
    env.close()
    # Every S1 patch holds the same real v1 pixels: the train split's S1 statistics are theirs.
    stats = json.loads((demo_copy / "results" / "report" / "band_statistics.json").read_text())
    n_train = int((meta["split"] == "train").sum())
    assert stats["patches"] == {"s2": n_train, "s1": n_train} and n_train > 0
    for pol in ("VV", "VH"):
        with rasterio.open(io.BytesIO(real[pol])) as f:
            v = f.read(1).astype(np.float64)
        v = v[np.isfinite(v)]
        got = stats["bands"][pol]
        assert got["pixels"] == n_train * v.size
        assert got["mean"] == pytest.approx(v.mean(), rel=1e-12)
        assert got["std"] == pytest.approx(v.std(), rel=1e-9)
        assert (got["min"], got["max"]) == (v.min(), v.max())


@pytest.mark.integration
def test_require_match_without_the_tables_stops_the_parse_with_one_line(tmp_path):
    import yaml
    from conftest import demo_config, run_snakemake

    config = demo_config()
    config["bigearthnet_v1"] = {"require_match": True}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    proc = run_snakemake(tmp_path, "-n", configfile=tmp_path / "c.yaml", check=False)
    assert proc.returncode != 0
    assert (
        "config: bigearthnet_v1.require_match: needs the BigEarthNet v1 tables; set "
        "bigearthnet_v1.tables ('bigearthnet-common' for the installed package)"
    ) in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
