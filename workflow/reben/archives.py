"""Distribution archives as the reBEN release built them: a dataset tree as a zstd-compressed
GNU tar.

The release ran GNU tar (`--format=gnu --owner=0 --group=0 --numeric-owner`, mtime
2024-01-01T00:00:00Z) on a sorted list of the tree's files. This module writes the same bytes
without running tar: files only (no directory entries), in the byte order of their member
names, under the tree's own name (`BigEarthNet-S1/<S1 product>/<s1_name>/...`), owner and group
0 with no user or group names, one fixed mtime, mode 0644, hard links stored as plain files, and
names longer than 100 bytes in GNU `././@LongLink` records as GNU tar writes them (tests compare
the bytes with GNU tar's own). Hidden files (Snakemake's `.snakemake_timestamp`, temporary
`.<name>.tmp` files) are workflow bookkeeping and never archived. Identical files so give an
identical uncompressed .tar, whose md5 the release published; it is computed while the tar is
streamed into zstd (its multi-threaded mode, whose output does not depend on the number of
workers). One file's bytes at a time, never the tree in memory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
from pathlib import Path

import zstandard

from .errors import DistributionError
from .io import read_json, staged_file, write_text

_BLOCK = tarfile.BLOCKSIZE  # 512
_RECORD = tarfile.RECORDSIZE  # 20 blocks: the archive's length is a multiple of this, as tar writes
_CHUNK = 1024**2
FILE_MODE = 0o644


def is_bookkeeping(name: str) -> bool:
    """A hidden file or folder (`.snakemake_timestamp`, `.<name>.tmp`): never part of a dataset."""
    return name.startswith(".")


def tree_files(root) -> list[tuple[str, Path]]:
    """(member name, path) of every file below `root`, bookkeeping left out, sorted by member
    name as the release sorted its file list (whole names, byte order). Member names start at
    the root's own name (`BigEarthNet-S2/...`)."""
    root = Path(root)
    found: list[tuple[str, Path]] = []

    def walk(name: str, path: str):
        for entry in os.scandir(path):
            if is_bookkeeping(entry.name):
                continue
            child = f"{name}/{entry.name}"
            if entry.is_dir():
                walk(child, entry.path)
            else:
                found.append((child, Path(entry.path)))

    walk(root.name, str(root))
    return sorted(found, key=lambda item: item[0].encode("utf-8", "surrogateescape"))


def _checksum(block: bytearray) -> None:
    """Recompute a tar header block's checksum field (as tar does: the field counted as spaces)."""
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)


def _header(name: str, size: int, mtime: int) -> bytes:
    """The header records of one regular file, byte for byte as GNU tar writes them with the
    release's options. tarfile writes the same except for the mode of a `././@LongLink` record,
    which GNU tar sets to 0644 (tarfile: 0)."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.REGTYPE
    info.mode = FILE_MODE
    info.size = size
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    buf = bytearray(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"))
    offset = 0
    while buf[offset + 156 : offset + 157] == tarfile.GNUTYPE_LONGNAME:
        block = buf[offset : offset + _BLOCK]
        block[100:108] = b"%07o\0" % FILE_MODE
        _checksum(block)
        buf[offset : offset + _BLOCK] = block
        long_size = int(bytes(block[124:136]).rstrip(b"\0 ") or b"0", 8)
        offset += _BLOCK + long_size + (-long_size % _BLOCK)
    return bytes(buf)


class _Hashing:
    """A binary file that computes the md5 (and the sha256, unless md5_only) of what is written
    to it."""

    def __init__(self, f, md5_only: bool = False):
        self.f = f
        self.md5 = hashlib.md5()
        self.sha256 = None if md5_only else hashlib.sha256()

    def write(self, data) -> int:
        if self.sha256 is not None:
            self.sha256.update(data)
        self.md5.update(data)
        return self.f.write(data)

    def flush(self):
        self.f.flush()


def write_tar(tree, out, mtime: int = 0) -> tuple[int, int]:
    """Write the files of `tree` as an uncompressed GNU tar, as the release built it, to `out`
    (anything with `write`); returns (members, bytes)."""
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    offset = members = 0
    for name, path in tree_files(tree):
        size = path.stat().st_size
        header = _header(name, size, mtime)
        out.write(header)
        left = size
        with open(path, "rb") as f:
            while left:
                n = f.readinto(view[: min(left, _CHUNK)])
                if not n:
                    raise DistributionError(f"{path}: shrank while being archived")
                out.write(view[:n])
                left -= n
        pad = -size % _BLOCK
        out.write(b"\0" * pad)
        offset += len(header) + size + pad
        members += 1
    end = 2 * _BLOCK
    end += -(offset + end) % _RECORD
    out.write(b"\0" * end)
    return members, offset + end


def write_tar_zst(tree, out_path, level: int = 10, threads: int = 1, mtime: int = 0) -> dict:
    """Archive `tree` into `out_path` (.tar.zst) through a temporary name; returns members,
    sizes, the archive's sha256 and md5 and the md5 of the uncompressed tar (all computed while
    writing)."""
    tree, out_path = Path(tree), Path(out_path)
    if not tree.is_dir():
        raise DistributionError(f"{tree}: not a folder; nothing to archive")
    # threads >= 1 always: zstd's multi-threaded format is the same for any worker count, while
    # threads=0 (single-threaded mode) frames the data differently.
    cctx = zstandard.ZstdCompressor(level=level, threads=max(1, int(threads)), write_checksum=True)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with staged_file(out_path) as tmp, open(tmp, "wb") as raw:
            hashing = _Hashing(raw)
            with cctx.stream_writer(hashing, closefd=False) as z:
                tar = _Hashing(z, md5_only=True)  # the release published md5 only
                members, tar_bytes = write_tar(tree, tar, int(mtime))
    except OSError as e:
        raise DistributionError(f"{out_path}: cannot write the archive ({e.strerror or e})") from None
    return {
        "archive": out_path.name,
        "members": members,
        "tar_bytes": tar_bytes,
        "bytes": out_path.stat().st_size,
        "sha256": hashing.sha256.hexdigest(),
        "md5": hashing.md5.hexdigest(),
        "tar": out_path.name.removesuffix(".zst"),
        "tar_md5": tar.md5.hexdigest(),
    }


def file_digests(path) -> tuple[str, str]:
    """(sha256, md5) of a file, read once."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb") as f:
        while n := f.readinto(buf):
            sha.update(view[:n])
            md5.update(view[:n])
    return sha.hexdigest(), md5.hexdigest()


def write_checksums(files, sha256_path, md5_path) -> dict[str, tuple[str, str]]:
    """`sha256sum`/`md5sum` files (verifiable with `-c` in their folder) for `files`, by name."""
    digests = {Path(f).name: file_digests(f) for f in sorted(files, key=lambda f: Path(f).name)}
    write_text("".join(f"{sha}  {name}\n" for name, (sha, _) in digests.items()), sha256_path)
    write_text("".join(f"{md5}  {name}\n" for name, (_, md5) in digests.items()), md5_path)
    return digests


def write_tar_md5sums(summaries, path) -> dict[str, str]:
    """`md5sum` lines of the uncompressed tars (`<md5>  BigEarthNet-S2.tar`), as the release
    published them, from archive_tree's summaries (JSON of write_tar_zst); check one with
    `zstd -dc BigEarthNet-S2.tar.zst | md5sum`."""
    digests = {}
    for summary in summaries:
        record = read_json(summary)
        try:
            digests[record["tar"]] = record["tar_md5"]
        except KeyError as e:
            raise DistributionError(f"{summary}: no {e} in this archive summary; rebuild the archive") from None
    write_text("".join(f"{md5}  {name}\n" for name, md5 in sorted(digests.items())), path)
    return digests


def copy_file(src, dst) -> None:
    """Copy through a temporary name (no hard link: the copy must not change with its source)."""
    try:
        with staged_file(dst) as tmp:
            shutil.copyfile(src, tmp)
    except OSError as e:
        raise DistributionError(f"{dst}: cannot copy {src} here ({e.strerror or e})") from None
