"""Reproducible distribution archives: a dataset tree as a zstd-compressed GNU tar.

Two builds of the same tree give the same bytes: members in sorted order (each folder, then its
entries sorted by name, as `tar --sort=name`), GNU format, owner and group 0 with empty names,
one fixed mtime, modes 0755 (folders) and 0644 (files), hard links stored as plain files, and
zstd in its multi-threaded mode whose output does not depend on the number of workers. The
tree is streamed: one file's bytes at a time, never the tree in memory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
from pathlib import Path
from typing import Iterator

import zstandard

from .lmdb_store import DistributionError

_BLOCK = tarfile.BLOCKSIZE  # 512
_RECORD = tarfile.RECORDSIZE  # 20 blocks: the archive's length is a multiple of this, as tar writes
_CHUNK = 1024**2


def walk_sorted(root) -> Iterator[tuple[str, Path, bool]]:
    """(member name, path, is folder) for `root` and everything below it: each folder, then its
    entries sorted by name, a subfolder's contents right after the subfolder (`tar --sort=name`).
    Member names start at the root's own name (`BigEarthNet-S2/...`)."""
    root = Path(root)

    def walk(name: str, path: Path):
        yield name, path, True
        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            child = f"{name}/{entry.name}"
            if entry.is_dir():
                yield from walk(child, Path(entry.path))
            else:
                yield child, Path(entry.path), False

    yield from walk(root.name, root)


def _header(name: str, is_dir: bool, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name + "/" if is_dir else name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o755 if is_dir else 0o644
    info.size = 0 if is_dir else size
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


class _Hashing:
    """A binary file that computes sha256 and md5 of what is written to it."""

    def __init__(self, f):
        self.f = f
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5()

    def write(self, data) -> int:
        self.sha256.update(data)
        self.md5.update(data)
        return self.f.write(data)

    def flush(self):
        self.f.flush()


def write_tar(tree, out, mtime: int = 0) -> tuple[int, int]:
    """Write `tree` as an uncompressed reproducible GNU tar to `out` (anything with `write`);
    returns (members, bytes). The bytes are those tarfile writes for the same members."""
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    offset = members = 0
    for name, path, is_dir in walk_sorted(tree):
        size = 0 if is_dir else path.stat().st_size
        header = _header(name, is_dir, size, mtime)
        out.write(header)
        offset += len(header)
        if not is_dir:
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
            offset += size + pad
        members += 1
    end = 2 * _BLOCK
    end += -(offset + end) % _RECORD
    out.write(b"\0" * end)
    return members, offset + end


def write_tar_zst(tree, out_path, level: int = 10, threads: int = 1, mtime: int = 0) -> dict:
    """Archive `tree` into `out_path` (.tar.zst) through a temporary name; returns members,
    sizes and the archive's sha256 and md5 (computed while writing)."""
    tree, out_path = Path(tree), Path(out_path)
    if not tree.is_dir():
        raise DistributionError(f"{tree}: not a folder; nothing to archive")
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    # threads >= 1 always: zstd's multi-threaded format is the same for any worker count, while
    # threads=0 (single-threaded mode) frames the data differently.
    cctx = zstandard.ZstdCompressor(level=level, threads=max(1, int(threads)), write_checksum=True)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as raw:
            hashing = _Hashing(raw)
            with cctx.stream_writer(hashing, closefd=False) as z:
                members, tar_bytes = write_tar(tree, z, int(mtime))
        os.replace(tmp, out_path)
    except OSError as e:
        raise DistributionError(f"{out_path}: cannot write the archive ({e.strerror or e})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return {"archive": out_path.name, "members": members, "tar_bytes": tar_bytes,
            "bytes": out_path.stat().st_size, "sha256": hashing.sha256.hexdigest(),
            "md5": hashing.md5.hexdigest()}


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
    from .provenance import write_text
    digests = {Path(f).name: file_digests(f) for f in sorted(files, key=lambda f: Path(f).name)}
    write_text("".join(f"{sha}  {name}\n" for name, (sha, _) in digests.items()), sha256_path)
    write_text("".join(f"{md5}  {name}\n" for name, (_, md5) in digests.items()), md5_path)
    return digests


def copy_file(src, dst) -> None:
    """Copy through a temporary name (no hard link: the copy must not change with its source)."""
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except OSError as e:
        raise DistributionError(f"{dst}: cannot copy {src} here ({e.strerror or e})") from None
    finally:
        tmp.unlink(missing_ok=True)
