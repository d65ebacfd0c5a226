"""The `reben` command as a user runs it: the installed console script, from any folder, with no
PYTHONPATH; every subcommand has --help, and every failure is one line on stderr with exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO_CONFIG

REBEN = str(Path(sys.executable).with_name("reben"))
SUBCOMMANDS = ("check", "search", "lmdb-content", "verify")


def reben(*args, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([REBEN, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help_from_any_folder(command, tmp_path):
    proc = reben(command, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: reben {command}")


def test_the_command_lists_its_subcommands():
    proc = reben("--help")
    assert proc.returncode == 0
    for command in SUBCOMMANDS:
        assert command in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["verify"], "reben verify: the following arguments are required: DIST_DIR"),
        (["search", "--tiles", "33UUP"], "reben search: the following arguments are required: --output/-o"),
        (["nonsense"], "reben: argument COMMAND: invalid choice: 'nonsense'"),
        (
            ["check", "--configfile", "/nonexistent/my.yaml"],
            "reben check: /nonexistent/my.yaml: cannot read the config",
        ),
        (["lmdb-content", "/nonexistent/lmdb"], "reben lmdb-content: /nonexistent/lmdb: not a readable LMDB"),
        (["verify", "/nonexistent/dist"], "reben verify: /nonexistent/dist: not a folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(args, message, tmp_path):
    proc = reben(*args, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(message), proc.stderr


def test_check_runs_the_input_check_of_the_demo(tmp_path):
    proc = reben("check", "--configfile", DEMO_CONFIG, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    assert "inputs: 3 tiles checked" in proc.stdout


def test_python_dash_m_reben_is_the_same_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "reben", "verify", tmp_path], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr == f"reben verify: {tmp_path}: holds neither SHA256SUMS nor MD5SUMS: not a distribution folder\n"


def test_lmdb_content_agrees_with_the_built_lmdb(demo_run):
    dataset = demo_run / "results" / "dataset"
    proc = reben("lmdb-content", dataset / "lmdb", "--check", dataset / "LMDB_CONTENT.sha256")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{dataset / 'LMDB_CONTENT.sha256'}: OK, the LMDB holds 576 entries")


def test_verify_passes_a_built_distribution_and_its_tars(demo_run):
    dist = demo_run / "results" / "dist"
    proc = reben("verify", dist, "--tar")
    assert proc.returncode == 0, proc.stderr
    # 3 archives + 2 metadata files, then the 3 tars
    assert proc.stdout == f"{dist}: OK, 8 file(s) match their checksums\n"


def test_verify_names_the_file_that_differs_and_the_missing_one(demo_copy):
    dist = demo_copy / "results" / "dist"
    archive = dist / "Reference_Maps.tar.zst"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    (dist / "metadata.parquet").unlink()
    (dist / "notes.txt").write_text("mine\n")
    proc = reben("verify", dist)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert f"{archive}: differs from SHA256SUMS (listed " in proc.stderr
    assert f"{archive}: differs from MD5SUMS (listed " in proc.stderr
    assert f"{dist / 'metadata.parquet'}: missing (listed in SHA256SUMS, MD5SUMS)" in lines
    assert f"{dist / 'notes.txt'}: in the folder but in no checksum list" in lines
    assert lines[-1] == f"{dist}: 4 problem(s), 4 file(s) checked"
    # the S2 and S1 archives were read and pass: not named
    assert "BigEarthNet-S2.tar.zst" not in proc.stderr


def test_verify_tar_finds_a_tar_checksum_that_differs(demo_copy):
    dist = demo_copy / "results" / "dist"
    sums = dist / "TAR_MD5SUMS"
    lines = sums.read_text().splitlines()
    digest, name = lines[0].split("  ")
    lines[0] = f"{'0' * 32}  {name}"
    sums.write_text("\n".join(lines) + "\n")
    assert reben("verify", dist).returncode == 0  # without --tar the tars are not read
    proc = reben("verify", dist, "--tar")
    assert proc.returncode == 1
    assert (
        f"{dist / (name + '.zst')}: its tar differs from TAR_MD5SUMS (listed {'0' * 32}, tar {digest})" in proc.stderr
    )


def test_verify_checks_the_dataset_folder_against_its_manifest(demo_copy):
    dataset = demo_copy / "results" / "dataset"
    proc = reben("verify", dataset)
    n = len((dataset / "MANIFEST.sha256").read_text().splitlines())
    assert proc.returncode == 0 and proc.stdout == f"{dataset}: OK, {n} file(s) match their checksums\n"
    tif = sorted(dataset.glob("Reference_Maps/*/*/*.tif"))[0]
    tif.unlink()
    tif.write_bytes(b"not the file")  # the tree file is a hard link: replace it, not its twin
    proc = reben("verify", dataset)
    assert proc.returncode == 1 and f"{tif}: differs from MANIFEST.sha256 (listed " in proc.stderr


def test_verify_fails_on_a_folder_marked_incomplete(tmp_path):
    import hashlib

    from reben.distribution.verify import clear_incomplete, mark_incomplete

    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "metadata.parquet").write_bytes(b"rows")
    (dist / "SHA256SUMS").write_text(f"{hashlib.sha256(b'rows').hexdigest()}  metadata.parquet\n")
    (dist / "MD5SUMS").write_text(f"{hashlib.md5(b'rows').hexdigest()}  metadata.parquet\n")
    assert reben("verify", dist).returncode == 0
    mark_incomplete([dist], "A rebuild of results started at 2026-01-01 00:00:00 and has not finished.")
    proc = reben("verify", dist)
    assert proc.returncode == 1
    assert (
        f"{dist / 'INCOMPLETE'}: an unfinished rebuild: A rebuild of results started at 2026-01-01 00:00:00 "
        "and has not finished."
    ) in proc.stderr.splitlines()
    assert clear_incomplete([dist, tmp_path]) == [str(dist)] and reben("verify", dist).returncode == 0
