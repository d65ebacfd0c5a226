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
import queue
import shutil
import tarfile
import threading
from pathlib import Path

import zstandard

from reben.errors import DistributionError
from reben.io import read_json, staged_file, write_text

_BLOCK = tarfile.BLOCKSIZE  # 512
_RECORD = tarfile.RECORDSIZE  # 20 blocks: the archive's length is a multiple of this, as tar writes
_CHUNK = 1024**2
_TAR_CHUNK = 8 * 1024**2  # the tar stream goes to its stages in pieces of this size
_READ_WHOLE = 1024**2  # files up to this size are read ahead whole (a patch's GeoTIFF: 1-60 KB)
_READ_BATCH = 16  # files read ahead by one task
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


class _Headers:
    """`_header`'s bytes for every file of an archive, from two templates filled in per file
    (name, size, checksum); tarfile's TarInfo costs ten times as much per file, and a reBEN tree
    has millions. Sizes of 8 GiB and more (GNU's base-256 size field) go through `_header`."""

    def __init__(self, mtime: int):
        self.mtime = mtime
        self._file = bytearray(_header("x", 0, mtime)[-_BLOCK:])
        self._file[0:100] = bytes(100)
        self._file[124:136] = bytes(12)
        self._file[148:156] = b" " * 8
        self._file_sum = sum(self._file)
        self._long: dict[int, bytes] = {}  # the ././@LongLink record by name length

    def __call__(self, name: bytes, size: int) -> bytes:
        if size >= 8**11:
            return _header(name.decode("utf-8", "surrogateescape"), size, self.mtime)
        block = self._file.copy()
        short = name[:100]
        block[0 : len(short)] = short
        size_field = b"%011o\0" % size
        block[124:136] = size_field
        block[148:155] = b"%06o\0" % (self._file_sum + sum(short) + sum(size_field))
        if len(name) <= 100:
            return bytes(block)
        long = self._long.get(len(name))
        if long is None:
            long = self._long[len(name)] = _header("x" * len(name), 0, self.mtime)[:_BLOCK]
        payload = name + bytes(_BLOCK - len(name) % _BLOCK)  # the name, NUL-terminated, padded
        return long + payload + bytes(block)


_ZEROS = bytes(_RECORD)


def _chunks(fd: int, path, size: int, chunk: int):
    """The `size` bytes of an open file in pieces of at most `chunk`; one line if it has fewer."""
    left = size
    while left:
        data = os.read(fd, min(left, chunk))
        if not data:
            raise DistributionError(f"{path}: shrank while being archived")
        yield data
        left -= len(data)


def _read_whole(path, limit: int) -> tuple[int, bytes | None]:
    """(size, content) of a file; content None when it is larger than `limit` (it is then read
    in chunks by the tar stream itself)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        return size, (b"".join(_chunks(fd, path, size, size)) if size <= limit else None)
    finally:
        os.close(fd)


def _read_batch(paths, limit: int) -> list[tuple[int, bytes | None]]:
    return [_read_whole(path, limit) for path in paths]


class TarStream:
    """The uncompressed GNU tar of a tree's files (`tree_files`), as the release built it, in
    chunks of about `chunk_bytes`; `members` and `bytes` count what was produced, `file_bytes` the
    bytes of the files archived (the tree's size).

    Files up to 1 MiB are read ahead by `read_threads` threads, up to `ahead` files
    before the one being streamed: a dataset tree is millions of small files, mostly no longer
    in the page cache, and one reader at a time leaves the disk idle between requests (a cold
    S2 tree here: 65 MB/s with one reader, 107 MB/s with 8). Larger files are streamed in
    chunks when their turn comes."""

    def __init__(self, files, mtime: int = 0, chunk_bytes: int | None = None, read_threads: int = 8, ahead: int = 256):
        self.files, self.chunk_bytes = files, chunk_bytes or _TAR_CHUNK
        self.read_threads, self.ahead = max(1, read_threads), max(1, ahead)
        self.headers = _Headers(int(mtime))
        self.members = self.bytes = self.file_bytes = 0

    def _contents(self):
        """(name, path, size, content or None) of every file, in order, read ahead in batches of
        `_READ_BATCH` files (a future per file costs more than reading a warm file)."""
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        limit = min(_READ_WHOLE, self.chunk_bytes)
        files = self.files if isinstance(self.files, list) else list(self.files)
        batches = max(1, self.ahead // _READ_BATCH)
        pending: deque = deque()

        def oldest():
            batch, read = pending.popleft()
            for (name, path), got in zip(batch, read.result()):
                yield (name, path, *got)

        with ThreadPoolExecutor(max_workers=self.read_threads) as pool:
            try:
                for start in range(0, len(files), _READ_BATCH):
                    batch = files[start : start + _READ_BATCH]
                    pending.append((batch, pool.submit(_read_batch, [path for _, path in batch], limit)))
                    if len(pending) > batches:
                        yield from oldest()
                while pending:
                    yield from oldest()
            finally:
                for _, read in pending:
                    read.cancel()

    def _stream_large(self, path, size: int):
        """A large file's bytes in chunks of at most `chunk_bytes`."""
        fd = os.open(path, os.O_RDONLY)
        try:
            yield from _chunks(fd, path, size, self.chunk_bytes)
        finally:
            os.close(fd)

    def __iter__(self):
        pieces: list[bytes] = []
        held = 0
        headers = self.headers
        for name, path, size, content in self._contents():
            header = headers(name.encode("utf-8", "surrogateescape"), size)
            pieces.append(header)
            held += len(header)
            for data in (content,) if content is not None else self._stream_large(path, size):
                if held >= self.chunk_bytes:
                    yield b"".join(pieces)
                    pieces, held = [], 0
                pieces.append(data)
                held += len(data)
            pad = -size % _BLOCK
            if pad:
                pieces.append(_ZEROS[:pad])
                held += pad
            self.bytes += len(header) + size + pad
            self.members += 1
            self.file_bytes += size
            if held >= self.chunk_bytes:
                yield b"".join(pieces)
                pieces, held = [], 0
        end = 2 * _BLOCK
        end += -(self.bytes + end) % _RECORD
        pieces.append(_ZEROS[:end])
        self.bytes += end
        yield b"".join(pieces)


class _Stage(threading.Thread):
    """Applies `fn` to each item put, in order, in a thread of its own: hashing, compressing
    and writing release the GIL, so the stages of an archive run side by side. An error comes
    back at the next `put` or at `close`."""

    def __init__(self, fn, depth: int = 4):
        super().__init__(daemon=True)
        self.fn, self.error = fn, None
        self._items: queue.Queue = queue.Queue(depth)
        self.start()

    def run(self):
        while (item := self._items.get()) is not None:
            if self.error is None:
                try:
                    self.fn(item)
                except BaseException as e:  # noqa: BLE001 - handed to the caller
                    self.error = e

    def put(self, item) -> None:
        if self.error is not None:
            raise self.error
        self._items.put(item)

    def close(self) -> None:
        self._items.put(None)
        self.join()
        if self.error is not None:
            raise self.error


def _close(stages) -> None:
    """Close every stage, then raise the first error any of them met."""
    errors = []
    for stage in stages:
        try:
            stage.close()
        except BaseException as e:  # noqa: BLE001 - raised below
            errors.append(e)
    if errors:
        raise errors[0]


class _Fanout:
    """A binary file whose writes go to stages (zstd's output: to its hashes and the file)."""

    def __init__(self, *stages: _Stage):
        self.stages = stages

    def write(self, data) -> int:
        data = bytes(data)
        for stage in self.stages:
            stage.put(data)
        return len(data)

    def flush(self):
        pass


def write_tar(tree, out, mtime: int = 0) -> tuple[int, int]:
    """Write the files of `tree` as an uncompressed GNU tar, as the release built it, to `out`
    (anything with `write`); returns (members, bytes)."""
    stream = TarStream(tree_files(tree), mtime)
    for chunk in stream:
        out.write(chunk)
    return stream.members, stream.bytes


def write_tar_zst(tree, out_path, level: int = 10, threads: int = 1, mtime: int = 0) -> dict:
    """Archive `tree` into `out_path` (.tar.zst) through a temporary name; returns members,
    sizes, the archive's sha256 and md5 and the md5 of the uncompressed tar (all computed while
    writing).

    Five stages overlap: the tar stream (this thread), its md5, zstd (its `threads` workers),
    the md5 of zstd's output, and its sha256 with the write to the file."""
    tree, out_path = Path(tree), Path(out_path)
    if not tree.is_dir():
        raise DistributionError(f"{tree}: not a folder; nothing to archive")
    # threads >= 1 always: zstd's multi-threaded format is the same for any worker count, while
    # threads=0 (single-threaded mode) frames the data differently.
    cctx = zstandard.ZstdCompressor(level=level, threads=max(1, int(threads)), write_checksum=True)
    tar_md5, md5, sha256 = hashlib.md5(), hashlib.md5(), hashlib.sha256()
    stream = TarStream(tree_files(tree), int(mtime))
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with staged_file(out_path) as tmp, open(tmp, "wb") as raw:

            def write(data):
                sha256.update(data)
                raw.write(data)

            outputs = (_Stage(md5.update), _Stage(write))
            try:
                z = cctx.stream_writer(_Fanout(*outputs), closefd=False)
                inputs = (_Stage(tar_md5.update), _Stage(z.write))
                try:
                    for chunk in stream:
                        for stage in inputs:
                            stage.put(chunk)
                finally:
                    _close(inputs)
                z.close()  # the end of the frame, once every chunk is in
            finally:
                _close(outputs)
    except OSError as e:
        raise DistributionError(f"{out_path}: cannot write the archive ({e.strerror or e})") from None
    return {
        "archive": out_path.name,
        "members": stream.members,
        "file_bytes": stream.file_bytes,
        "tar_bytes": stream.bytes,
        "bytes": out_path.stat().st_size,
        "sha256": sha256.hexdigest(),
        "md5": md5.hexdigest(),
        "tar": out_path.name.removesuffix(".zst"),
        "tar_md5": tar_md5.hexdigest(),
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


def archive_digests(summaries, archives) -> dict[str, tuple[str, str]]:
    """(sha256, md5) of each archive by name, as archive_tree computed them while writing it
    (its summary), so that no archive is read again; an archive whose size is no longer the one
    its summary recorded stops the job."""
    by_name = {Path(a).name: Path(a) for a in archives}
    digests = {}
    for summary in summaries:
        record = read_json(summary)
        try:
            name, size, digest = record["archive"], record["bytes"], (record["sha256"], record["md5"])
        except KeyError as e:
            raise DistributionError(f"{summary}: no {e} in this archive summary; rebuild the archive") from None
        if name not in by_name:
            continue
        if by_name[name].stat().st_size != size:
            raise DistributionError(
                f"{by_name[name]}: {by_name[name].stat().st_size} bytes, {summary} recorded {size}; rebuild the archive"
            )
        digests[name] = digest
    missing = sorted(set(by_name) - set(digests))
    if missing:
        raise DistributionError(f"{by_name[missing[0]]}: no archive summary names it; rebuild the archive")
    return digests


def write_checksums(files, sha256_path, md5_path, known=None) -> dict[str, tuple[str, str]]:
    """`sha256sum`/`md5sum` files (verifiable with `-c` in their folder) for `files`, by name.
    `known`: (sha256, md5) by name of files already hashed (the archives: archive_digests)."""
    known = known or {}
    digests = {
        Path(f).name: known.get(Path(f).name) or file_digests(f) for f in sorted(files, key=lambda f: Path(f).name)
    }
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
