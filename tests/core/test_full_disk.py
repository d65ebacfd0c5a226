"""A full disk in any stage is one line naming the file and the free space (no traceback, nothing
half-written): the staged writers and the tile writers on a real, tiny, full file system (a
tmpfs, mounted where the tests run as root), and a job's last resort on /dev/full."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO

from reben.errors import OutputError
from reben.io import disk_full_message, staged_dir, write_json, write_parquet
from reben.names import tile_key
from reben.sentinel2.patches import cut_tile
from reben.sentinel2.tiles import inspect_tile
from reben.shards import ShardWriter
from reben.synthetic.scenario import DEMO_PRODUCTS
from reben.synthetic.sentinel2 import write_l2a_product

SMALL = replace(DEMO_PRODUCTS[0], n_patches=2)  # 2 x 2 patches
KEY = tile_key(SMALL.name)


@pytest.fixture
def full_disk(tmp_path):
    """A 256 KiB tmpfs: a file system that fills up for real (ENOSPC from the kernel)."""
    mount = tmp_path / f"full-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def one_line_naming(error, path: Path, mount: Path) -> str:
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"{path}: no space left on device (")
    assert f" free at {mount})" in message
    return message


def test_the_message_names_the_file_and_the_free_space(tmp_path):
    message = disk_full_message(tmp_path / "not" / "yet" / "there.parquet")
    assert message.startswith(f"{tmp_path / 'not' / 'yet' / 'there.parquet'}: no space left on device (")
    assert f"free at {tmp_path})" in message  # the nearest folder that exists


def test_a_table_on_a_full_disk_names_its_final_path(full_disk, tmp_path):
    frame = pd.DataFrame({"patch_id": [f"p{i}" for i in range(50_000)], "x": range(50_000)})
    with pytest.raises(OutputError) as e:
        write_parquet(frame, full_disk / "labels.parquet")
    one_line_naming(e.value, full_disk / "labels.parquet", full_disk)
    assert list(full_disk.iterdir()) == []  # no temporary file left


def test_a_small_file_on_a_full_disk_names_it(full_disk):
    (full_disk / "ballast").write_bytes(b"\0" * (256 * 1024 - 4096))
    with pytest.raises(OutputError) as e:
        write_json({"key": "x" * 20_000}, full_disk / "tile.json")
    one_line_naming(e.value, full_disk / "tile.json", full_disk)


def test_a_shard_on_a_full_disk_names_it(full_disk):
    with pytest.raises(OutputError) as e, ShardWriter(full_disk / "s2_shard.parquet") as shard:
        for i in range(100):
            shard.add(f"p{i}", os.urandom(10_000))
    one_line_naming(e.value, full_disk / "s2_shard.parquet", full_disk)
    assert list(full_disk.iterdir()) == []


def test_a_staged_folder_names_the_file_at_its_final_place(full_disk):
    with pytest.raises(OutputError) as e, staged_dir(full_disk / "s1") as tmp:
        (tmp / "patch").mkdir()
        with open(tmp / "patch" / "patch_VV.tif", "wb") as f:
            f.write(bytes(400_000))
    # The open file is named by the kernel's error only at close; the folder's final name then.
    assert str(e.value).startswith((f"{full_disk / 's1' / 'patch' / 'patch_VV.tif'}: ", f"{full_disk / 's1'}: "))
    assert list(full_disk.iterdir()) == []


def test_cutting_s2_patches_on_a_full_disk_names_the_patch_file(full_disk, tmp_path):
    product = write_l2a_product(SMALL, tmp_path / SMALL.safe_name)
    tile_json = tmp_path / "tile.json"
    inspect_tile(product, KEY, 1200, tile_json)
    with pytest.raises(OutputError) as e:
        cut_tile(
            tile_json,
            full_disk / "s2",
            tmp_path / "s2_patches.parquet",
            tmp_path / "s2_shard.parquet",
            tmp_path / "s2_band_stats.parquet",
        )
    message = str(e.value)
    assert "\n" not in message and f" free at {full_disk})" in message
    failed = Path(message.split(": no space left on device")[0])
    assert failed.is_relative_to(full_disk / "s2") and failed.suffix == ".tif"  # the file, at its final name
    assert list(full_disk.iterdir()) == []  # nothing half-written
    assert not (tmp_path / "s2_shard.parquet").exists()


def test_a_job_that_fills_the_disk_anywhere_ends_on_one_line(tmp_path):
    """The last resort of every rule script (reben.logs.to_snakemake_log): a write that fails
    for a full disk outside the package's writers, where the error names no file, still ends the
    job's log on one line naming the job's output and the free space. /dev/full answers every
    write with ENOSPC; `snakemake` stands for the object Snakemake gives a rule script."""
    log = tmp_path / "job.log"
    output = tmp_path / "tiles" / "T" / "s2"
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from types import SimpleNamespace
            sys.path.insert(0, {str(REPO / "workflow")!r})
            from reben.logs import to_snakemake_log
            snakemake = SimpleNamespace(output=[{str(output)!r}])
            to_snakemake_log({str(log)!r})
            with open("/dev/full", "wb", buffering=0) as f:
                f.write(b"x")
            """
        )
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert proc.returncode == 1
    text = log.read_text()
    last = text.strip().splitlines()[-1]
    assert f"ERROR {output}: no space left on device (" in last and f" free at {tmp_path})" in last
    assert "Traceback" not in text and len(text.strip().splitlines()) == 1
