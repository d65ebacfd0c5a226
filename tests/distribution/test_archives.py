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

from reben.distribution.archives import (
    TarStream,
    archive_digests,
    file_digests,
    iter_tree_files,
    tree_files,
    write_checksums,
    write_tar,
    write_tar_md5sums,
    write_tar_zst,
)
from reben.distribution.tar_format import TarHeaders, tar_header
from reben.errors import DistributionError, OutputError
from reben.io import write_json

LONG = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


@pytest.fixture
def tree(tmp_path):
    """A small dataset-like tree: nested folders, names over 100 characters, a hard link, names
    whose order differs between whole-name and folder-by-folder sorting (`a-b/`, `a.txt`, `a/`),
    and Snakemake's bookkeeping."""
    root = tmp_path / "BigEarthNet-S2"
    patch = root / LONG / f"{LONG}_26_57"
    patch.mkdir(parents=True)
    (patch / f"{LONG}_26_57_B01.tif").write_bytes(bytes(range(256)) * 3)
    (patch / f"{LONG}_26_57_B02.tif").write_bytes(b"x" * 513)
    (patch / f"{LONG}_26_57_B8A.tif").write_bytes(b"8A")
    (root / "b").mkdir()
    (root / "a.txt").write_bytes(b"")
    (root / "a").mkdir()
    (root / "a" / "z").write_bytes(b"z\n")
    (root / "a-b").mkdir()
    (root / "a-b" / "y").write_bytes(b"y")
    (root / "empty").mkdir()
    os.link(patch / f"{LONG}_26_57_B02.tif", root / "b" / "linked.tif")
    (root / ".snakemake_timestamp").write_bytes(b"")
    (root / LONG / ".snakemake_timestamp").write_bytes(b"")
    (patch / f".{LONG}_26_57_B03.tif.tmp123").write_bytes(b"half")
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o600)  # modes are normalised: no effect
    return root


RELEASE_ORDER = [
    f"BigEarthNet-S2/{LONG}/{LONG}_26_57/{LONG}_26_57_B01.tif",
    f"BigEarthNet-S2/{LONG}/{LONG}_26_57/{LONG}_26_57_B02.tif",
    f"BigEarthNet-S2/{LONG}/{LONG}_26_57/{LONG}_26_57_B8A.tif",
    "BigEarthNet-S2/a-b/y",  # '-' sorts before '/', and '.' too: whole names, byte order
    "BigEarthNet-S2/a.txt",
    "BigEarthNet-S2/a/z",
    "BigEarthNet-S2/b/linked.tif",
]


def test_files_only_in_the_release_order_without_bookkeeping(tree):
    assert [name for name, _ in tree_files(tree)] == RELEASE_ORDER


def test_the_walk_folder_by_folder_gives_the_release_order_of_whole_names(tmp_path):
    """The listing is a walk that sorts one folder at a time (a reBEN tree's list took 5 GiB):
    on names around "/" in byte order ("-", ".", "0", "~", non-ASCII, prefixes of each other),
    nested, its order is that of the whole names sorted."""
    import random

    rng = random.Random(7)
    parts = ["a", "a-b", "a.txt", "a0", "a~", "ab", "é", "a b", "Z", "a-", "aa"]
    root = tmp_path / "BigEarthNet-S2"
    for _ in range(300):
        path = root.joinpath(*rng.choices(parts, k=rng.randint(1, 4)))
        if any(p.is_file() for p in [path, *path.parents]) or path.is_dir():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    found = [name for name, _ in iter_tree_files(root)]
    assert len(found) > 50
    assert found == sorted(found, key=lambda n: n.encode("utf-8", "surrogateescape"))
    assert sorted(found) == sorted(f"{root.name}/{p.relative_to(root)}" for p in root.rglob("*") if p.is_file())


def test_members_and_headers_as_the_release_wrote_them(tree):
    ours = io.BytesIO()
    members, size = write_tar(tree, ours, mtime=1_704_067_200)
    assert members == 7 and size == len(ours.getvalue()) and size % tarfile.RECORDSIZE == 0
    with tarfile.open(fileobj=io.BytesIO(ours.getvalue())) as tar:
        infos = tar.getmembers()
        assert [i.name for i in infos] == RELEASE_ORDER
        assert all(i.isfile() for i in infos)  # no folders; the hard link is a plain file
        assert {(i.uid, i.gid, i.uname, i.gname, i.mtime, i.mode) for i in infos} == {
            (0, 0, "", "", 1_704_067_200, 0o644)
        }
        assert tar.extractfile("BigEarthNet-S2/b/linked.tif").read() == b"x" * 513
    # GNU format: the long names are in ././@LongLink records (type L), the magic is GNU's.
    raw = ours.getvalue()
    assert raw[:13] == b"././@LongLink" and raw[156:157] == b"L" and raw[257:265] == b"ustar  \0"


def gnu_tar_of(tree, mtime):
    """GNU tar's own archive of the release's file list, with the release's options."""
    tar = shutil.which("tar")
    if not tar or "GNU tar" not in subprocess.run([tar, "--version"], capture_output=True, text=True).stdout:
        pytest.skip("GNU tar needed")
    listing = "".join(f"{name}\n" for name in RELEASE_ORDER)
    return subprocess.run(
        [
            tar,
            "--create",
            "--file=-",
            "--format=gnu",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            f"--mtime=@{mtime}",
            "--mode=a=r,u+w",
            "--hard-dereference",
            "--no-recursion",
            "-C",
            str(tree.parent),
            "--files-from=-",
        ],
        input=listing.encode(),
        capture_output=True,
        check=True,
    ).stdout


def test_the_bytes_are_gnu_tars_own(tree):
    ours = io.BytesIO()
    write_tar(tree, ours, mtime=1_704_067_200)
    assert ours.getvalue() == gnu_tar_of(tree, 1_704_067_200)


@pytest.mark.parametrize("length", [1, 99, 100, 101, 511, 512, 513, 1024])
def test_fast_headers_are_tarfiles_for_every_name_length_and_size(length):
    name = "d/" + "é" * ((length - 2) // 2) + "x" * ((length - 2) % 2)  # multi-byte UTF-8 too
    headers = TarHeaders(1_704_067_200)
    for size in (0, 1, 511, 512, 123_456_789, 8**11 - 1, 8**11):
        assert headers(name.encode(), size) == tar_header(name, size, 1_704_067_200), (length, size)


def test_the_stream_and_zstd_do_not_depend_on_how_the_tar_is_cut(tmp_path, monkeypatch):
    """zstd's jobs are several MiB: files larger than the stream's pieces, many pieces."""
    root = tmp_path / "BigEarthNet-S1"
    root.mkdir()
    data = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest()[:8] * 512 for i in range(6000))
    for i in range(5):
        (root / f"f{i}").write_bytes(data[i::2])
    whole = io.BytesIO()
    write_tar(root, whole)
    pieces = list(TarStream(tree_files(root), chunk_bytes=777))
    assert b"".join(pieces) == whole.getvalue() and len(pieces) > 1000
    reference = io.BytesIO()
    with zstandard.ZstdCompressor(level=3, threads=2, write_checksum=True).stream_writer(reference, closefd=False) as z:
        z.write(whole.getvalue())
    monkeypatch.setattr("reben.distribution.archives._TAR_CHUNK", 100_000)
    summary = write_tar_zst(root, tmp_path / "a.tar.zst", level=3, threads=3)
    assert (tmp_path / "a.tar.zst").read_bytes() == reference.getvalue()
    assert summary["tar_md5"] == hashlib.md5(whole.getvalue()).hexdigest()
    assert summary["tar_bytes"] == len(whole.getvalue()) and summary["members"] == 5


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_worker_processes_give_gnu_tars_bytes_for_small_and_large_files(tree, workers, monkeypatch):
    """Files turned into tar bytes whole by worker processes (or this thread: 0 workers) and
    files streamed in pieces from this thread (larger than a piece: 777 bytes here), in runs of
    2 files, with any number of workers: the same bytes as GNU tar's."""
    patch = next(tree.glob("*/*_26_57"))
    big = bytes(range(256)) * (4096 + 3)  # just over 1 MiB: streamed, in pieces of 777 bytes
    (patch / next(p.name for p in patch.glob("*_B01.tif"))).write_bytes(big)
    (tree / "a" / "z").write_bytes(b"z" * 777)  # exactly one piece: read whole
    monkeypatch.setattr("reben.distribution.archives._BATCH_FILES", 2)  # runs of 2 files: many runs
    pieces = list(TarStream(tree_files(tree), 1_704_067_200, 777, workers=workers))
    assert b"".join(pieces) == gnu_tar_of(tree, 1_704_067_200)


def test_a_file_that_shrinks_while_read_ahead_is_one_line(tree, monkeypatch):
    real_fstat = os.fstat

    def bigger(fd):  # the file looks larger than what can be read from it
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, *st[1:6], st.st_size + 10, *st[7:]))

    monkeypatch.setattr("reben.distribution.archives.os.fstat", bigger)
    with pytest.raises(DistributionError) as e:
        list(TarStream(tree_files(tree)))
    assert "shrank while being archived" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_file_gone_before_it_is_archived_is_one_line(tree, workers, monkeypatch):
    monkeypatch.setattr("reben.distribution.archives._BATCH_FILES", 2)
    files = tree_files(tree)
    files[3][1].unlink()
    with pytest.raises(DistributionError) as e:
        list(TarStream(files, workers=workers))
    assert str(e.value) == f"{files[3][1]}: cannot be read to archive it (No such file or directory)"


def test_an_error_in_a_stage_is_one_line_and_leaves_no_archive(tree, tmp_path, monkeypatch):
    def full_disk(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("reben.distribution.archives._Fanout.write", full_disk)
    with pytest.raises(OutputError, match=r"a.tar.zst: no space left on device \(.* free at .*dist\); free some"):
        write_tar_zst(tree, tmp_path / "dist/a.tar.zst", level=19)
    assert list((tmp_path / "dist").iterdir()) == []


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
    tar = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(first)).read()
    assert a["tar"] == "BigEarthNet-S2.tar" and a["tar_md5"] == b["tar_md5"] == hashlib.md5(tar).hexdigest()
    assert not list((tmp_path / "out1").glob(".*.tmp"))


def test_archives_and_their_checksum_files_are_the_same_at_1_2_and_4_workers(tmp_path):
    """The tail takes every core it is given: zstd's workers and the tar stream's processes
    follow the job's threads, and nothing of the archive may. zstd splits its input into jobs of
    several MiB and the stream hands out runs of files: a tree of many files and several MiB."""
    root = tmp_path / "Reference_Maps"
    data = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest()[:8] * 512 for i in range(6000))
    for i in range(700):  # 700 files of 1 B to 60 kB in 7 folders: 6 runs of 128 files
        folder = root / f"d{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:04d}.tif").write_bytes(data[i * 997 : i * 997 + (i * 7919) % 60_000 + 1])
    summaries, dists = [], []
    for threads in (1, 2, 4):
        dist = tmp_path / f"dist{threads}"
        summary = write_tar_zst(root, dist / "Reference_Maps.tar.zst", level=5, threads=threads)
        assert summary["threads"] == threads and summary["stream_workers"] == max(1, threads // 2)
        write_json(summary, tmp_path / f"summary{threads}.json")
        write_tar_md5sums([tmp_path / f"summary{threads}.json"], dist / "TAR_MD5SUMS")
        known = archive_digests([tmp_path / f"summary{threads}.json"], [dist / "Reference_Maps.tar.zst"])
        write_checksums([dist / "Reference_Maps.tar.zst"], dist / "SHA256SUMS", dist / "MD5SUMS", known)
        summaries.append(summary)
        dists.append(dist)
    for name in ("Reference_Maps.tar.zst", "TAR_MD5SUMS", "SHA256SUMS", "MD5SUMS"):
        assert len({(d / name).read_bytes() for d in dists}) == 1, name
    whole = io.BytesIO()
    assert write_tar(root, whole) == (700, summaries[0]["tar_bytes"])
    assert summaries[0]["tar_md5"] == hashlib.md5(whole.getvalue()).hexdigest()
    assert hashlib.sha256((dists[0] / "Reference_Maps.tar.zst").read_bytes()).hexdigest() == summaries[2]["sha256"]


def test_gnu_tar_and_zstd_extract_the_tree(tree, tmp_path):
    if not (shutil.which("tar") and shutil.which("zstd")):
        pytest.skip("tar and zstd command-line tools needed")
    archive = tmp_path / "BigEarthNet-S2.tar.zst"
    write_tar_zst(tree, archive, level=19, threads=2, mtime=1_700_000_000)
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["tar", "--zstd", "-xf", str(archive), "-C", str(out)], check=True)
    for name, path in tree_files(tree):
        assert (out / name).read_bytes() == path.read_bytes()
    assert not list(out.rglob(".*"))
    listing = subprocess.run(
        ["tar", "--zstd", "-tvf", str(archive)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert [line.split()[-1] for line in listing] == RELEASE_ORDER
    assert all(line.startswith("-rw-r--r-- 0/0 ") and " 2023-11-14 " in line for line in listing)


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
    digests = write_checksums(
        [dist / "metadata.parquet", dist / "BigEarthNet-S2.tar.zst"], dist / "SHA256SUMS", dist / "MD5SUMS"
    )
    assert list(digests) == ["BigEarthNet-S2.tar.zst", "metadata.parquet"]
    assert digests["metadata.parquet"] == (hashlib.sha256(b"PAR1").hexdigest(), hashlib.md5(b"PAR1").hexdigest())
    assert (dist / "MD5SUMS").read_text().splitlines()[1] == f"{hashlib.md5(b'PAR1').hexdigest()}  metadata.parquet"
    for tool, sums in (("sha256sum", "SHA256SUMS"), ("md5sum", "MD5SUMS")):
        if shutil.which(tool):
            subprocess.run([tool, "-c", "--strict", sums], cwd=dist, check=True, capture_output=True)
    assert file_digests(dist / "metadata.parquet") == digests["metadata.parquet"]


def test_archive_checksums_come_from_the_summaries_without_reading_the_archive_again(tree, tmp_path):
    import json

    archive = tmp_path / "BigEarthNet-S2.tar.zst"
    (tmp_path / "s2.json").write_text(json.dumps(write_tar_zst(tree, archive)))
    digests = archive_digests([tmp_path / "s2.json"], [archive])
    assert digests == {archive.name: file_digests(archive)}
    # What write_checksums lists for a known file is what it was told, not read again.
    write_checksums([archive], tmp_path / "SHA256SUMS", tmp_path / "MD5SUMS", known={archive.name: ("ab", "cd")})
    assert (tmp_path / "SHA256SUMS").read_text() == f"ab  {archive.name}\n"
    with open(archive, "ab") as f:
        f.write(b"\0")
    with pytest.raises(
        DistributionError, match=rf"{archive.name}: \d+ bytes, .*s2.json recorded \d+; rebuild the archive$"
    ):
        archive_digests([tmp_path / "s2.json"], [archive])
    with pytest.raises(DistributionError, match=r"BigEarthNet-S1.tar.zst: no archive summary names it"):
        archive_digests([tmp_path / "s2.json"], [tmp_path / "BigEarthNet-S1.tar.zst"])


def test_missing_tree_is_one_line(tmp_path):
    with pytest.raises(DistributionError, match=r"BigEarthNet-S1: not a folder; nothing to archive$"):
        write_tar_zst(tmp_path / "BigEarthNet-S1", tmp_path / "BigEarthNet-S1.tar.zst")


def test_tar_md5sums_list_the_uncompressed_tars(tree, tmp_path):
    import json

    summary = write_tar_zst(tree, tmp_path / "BigEarthNet-S2.tar.zst")
    (tmp_path / "s2.json").write_text(json.dumps(summary))
    write_tar_md5sums([tmp_path / "s2.json"], tmp_path / "TAR_MD5SUMS")
    tar = io.BytesIO()
    write_tar(tree, tar, mtime=0)
    assert (tmp_path / "TAR_MD5SUMS").read_text() == (
        f"{hashlib.md5(tar.getvalue()).hexdigest()}  BigEarthNet-S2.tar\n"
    )
    (tmp_path / "old.json").write_text("{}")
    with pytest.raises(DistributionError, match=r"old.json: no 'tar_md5' in this archive summary"):
        write_tar_md5sums([tmp_path / "old.json"], tmp_path / "TAR_MD5SUMS")


@pytest.mark.integration
def test_demo_archives_lmdb_and_manifest_hold_no_bookkeeping(demo_run):
    results = demo_run / "results"
    dataset, dist = results / "dataset", results / "dist"
    assert (dataset / "BigEarthNet-S2" / ".snakemake_timestamp").exists()  # Snakemake's, kept out:
    assert sorted(p.name for p in (dataset / "lmdb").iterdir()) == ["data.mdb"]
    assert ".snakemake_timestamp" not in (dataset / "MANIFEST.sha256").read_text()
    tar_md5 = dict(reversed(line.split("  ")) for line in (dist / "TAR_MD5SUMS").read_text().splitlines())
    archives = sorted(dist.glob("*.tar.zst"))
    assert sorted(tar_md5) == [a.name.removesuffix(".zst") for a in archives] and archives
    for archive in archives:
        tar = zstandard.ZstdDecompressor().stream_reader(open(archive, "rb")).read()
        assert hashlib.md5(tar).hexdigest() == tar_md5[archive.name.removesuffix(".zst")]
        tree = dataset / archive.name.removesuffix(".tar.zst")
        with tarfile.open(fileobj=io.BytesIO(tar)) as t:
            names = t.getnames()
            assert all(m.isfile() for m in t.getmembers())
        assert names == [name for name, _ in tree_files(tree)] and names
        assert not any("/." in name for name in names)
