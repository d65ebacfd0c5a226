"""Reproducible tar.zst archives and their checksum files."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile

import pytest
import zstandard

from reben.archives import file_digests, walk_sorted, write_checksums, write_tar, write_tar_zst
from reben.lmdb_store import DistributionError

LONG = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


@pytest.fixture
def tree(tmp_path):
    """A small dataset-like tree: nested folders, a name over 100 characters, a hard link."""
    root = tmp_path / "BigEarthNet-S2"
    patch = root / LONG / f"{LONG}_26_57"
    patch.mkdir(parents=True)
    (patch / f"{LONG}_26_57_B01.tif").write_bytes(bytes(range(256)) * 3)
    (patch / f"{LONG}_26_57_B02.tif").write_bytes(b"x" * 513)
    (root / "b").mkdir()
    (root / "a.txt").write_bytes(b"")
    (root / "a").mkdir()
    (root / "a" / "z").write_bytes(b"z\n")
    os.link(patch / f"{LONG}_26_57_B02.tif", root / "b" / "linked.tif")
    return root


def test_members_in_sorted_order_each_folder_before_its_entries(tree):
    names = [(n, d) for n, _, d in walk_sorted(tree)]
    assert names == [
        ("BigEarthNet-S2", True),
        (f"BigEarthNet-S2/{LONG}", True),
        (f"BigEarthNet-S2/{LONG}/{LONG}_26_57", True),
        (f"BigEarthNet-S2/{LONG}/{LONG}_26_57/{LONG}_26_57_B01.tif", False),
        (f"BigEarthNet-S2/{LONG}/{LONG}_26_57/{LONG}_26_57_B02.tif", False),
        ("BigEarthNet-S2/a", True),
        ("BigEarthNet-S2/a/z", False),
        ("BigEarthNet-S2/a.txt", False),
        ("BigEarthNet-S2/b", True),
        ("BigEarthNet-S2/b/linked.tif", False),
    ]


def test_tar_bytes_are_tarfiles_gnu_tar_of_normalised_members(tree):
    ours = io.BytesIO()
    members, size = write_tar(tree, ours, mtime=1_500_000_000)
    expected = io.BytesIO()
    with tarfile.open(fileobj=expected, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, path, is_dir in walk_sorted(tree):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
            info.mode, info.mtime, info.uid, info.gid = (0o755 if is_dir else 0o644), 1_500_000_000, 0, 0
            info.size = 0 if is_dir else path.stat().st_size
            tar.addfile(info, None if is_dir else open(path, "rb"))
    assert members == 10 and size == len(ours.getvalue()) and size % tarfile.RECORDSIZE == 0
    assert ours.getvalue() == expected.getvalue()
    with tarfile.open(fileobj=io.BytesIO(ours.getvalue())) as tar:
        infos = tar.getmembers()
        assert {(i.uid, i.gid, i.uname, i.gname, i.mtime) for i in infos} == {(0, 0, "", "", 1_500_000_000)}
        assert all(i.isfile() or i.isdir() for i in infos)  # the hard link is a plain file
        assert tar.extractfile(f"BigEarthNet-S2/b/linked.tif").read() == b"x" * 513


def test_two_builds_are_byte_identical_whatever_mtimes_owners_and_worker_count(tree, tmp_path):
    a = write_tar_zst(tree, tmp_path / "out1/BigEarthNet-S2.tar.zst", level=3, threads=1, mtime=0)
    for p in [tree, *tree.rglob("*")]:
        os.utime(p, (1e9, 1e9))
        os.chown(p, 1234, 4321) if os.geteuid() == 0 else None
    b = write_tar_zst(tree, tmp_path / "out2/BigEarthNet-S2.tar.zst", level=3, threads=4, mtime=0)
    c = write_tar_zst(tree, tmp_path / "out3/BigEarthNet-S2.tar.zst", level=3, threads=0, mtime=0)
    first = (tmp_path / "out1/BigEarthNet-S2.tar.zst").read_bytes()
    assert first == (tmp_path / "out2/BigEarthNet-S2.tar.zst").read_bytes()
    assert first == (tmp_path / "out3/BigEarthNet-S2.tar.zst").read_bytes()
    assert a["sha256"] == b["sha256"] == c["sha256"] == hashlib.sha256(first).hexdigest()
    assert a["md5"] == hashlib.md5(first).hexdigest()
    assert not list((tmp_path / "out1").glob(".*.tmp"))


def test_worker_count_does_not_change_a_multi_megabyte_archive(tmp_path):
    """zstd splits its input into jobs of several MiB: the check needs more data than that."""
    root = tmp_path / "Reference_Maps"
    root.mkdir()
    data = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest()[:8] * 512 for i in range(6000))
    for i in range(4):
        (root / f"f{i}").write_bytes(data[i::3])
    outs = [write_tar_zst(root, tmp_path / f"{t}.tar.zst", level=5, threads=t) for t in (1, 2, 3)]
    assert len({o["sha256"] for o in outs}) == 1


def test_gnu_tar_and_zstd_extract_the_tree(tree, tmp_path):
    if not (shutil.which("tar") and shutil.which("zstd")):
        pytest.skip("tar and zstd command-line tools needed")
    archive = tmp_path / "BigEarthNet-S2.tar.zst"
    write_tar_zst(tree, archive, level=19, threads=2, mtime=1_700_000_000)
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["tar", "--zstd", "-xf", str(archive), "-C", str(out)], check=True)
    for _, path, is_dir in walk_sorted(tree):
        mirror = out / path.relative_to(tree.parent)
        assert mirror.is_dir() if is_dir else mirror.read_bytes() == path.read_bytes()
    listing = subprocess.run(["tar", "--zstd", "-tvf", str(archive), "--numeric-owner"],
                             capture_output=True, text=True, check=True).stdout
    assert all(" 0/0 " in line for line in listing.splitlines())


def test_archive_is_one_zstd_frame_with_checksum_and_the_configured_level_matters(tree, tmp_path):
    low = write_tar_zst(tree, tmp_path / "1.tar.zst", level=1)
    high = write_tar_zst(tree, tmp_path / "19.tar.zst", level=19)
    assert low["sha256"] != high["sha256"]
    params = zstandard.get_frame_parameters((tmp_path / "19.tar.zst").read_bytes())
    assert params.has_checksum


def test_checksum_files_verify_with_coreutils(tree, tmp_path):
    dist = tmp_path / "dist"
    dist.mkdir()
    write_tar_zst(tree, dist / "BigEarthNet-S2.tar.zst")
    (dist / "metadata.parquet").write_bytes(b"PAR1")
    digests = write_checksums([dist / "metadata.parquet", dist / "BigEarthNet-S2.tar.zst"],
                              dist / "SHA256SUMS", dist / "MD5SUMS")
    assert list(digests) == ["BigEarthNet-S2.tar.zst", "metadata.parquet"]
    assert digests["metadata.parquet"] == (hashlib.sha256(b"PAR1").hexdigest(), hashlib.md5(b"PAR1").hexdigest())
    assert (dist / "MD5SUMS").read_text().splitlines()[1] == f"{hashlib.md5(b'PAR1').hexdigest()}  metadata.parquet"
    for tool, sums in (("sha256sum", "SHA256SUMS"), ("md5sum", "MD5SUMS")):
        if shutil.which(tool):
            subprocess.run([tool, "-c", "--strict", sums], cwd=dist, check=True, capture_output=True)
    assert file_digests(dist / "metadata.parquet") == digests["metadata.parquet"]


def test_missing_tree_is_one_line(tmp_path):
    with pytest.raises(DistributionError, match=r"BigEarthNet-S1: not a folder; nothing to archive$"):
        write_tar_zst(tmp_path / "BigEarthNet-S1", tmp_path / "BigEarthNet-S1.tar.zst")
