"""GNU tar's bytes for the members of a dataset archive, as the reBEN release wrote them
(reben.distribution.archives): one regular file's header records (`tar_header`, `TarHeaders`)
and a run of files' members (`tar_members`), which the archive's tar stream makes in its own
thread or in worker processes (reben.distribution.tar_worker)."""

from __future__ import annotations

import os
import tarfile

from reben.errors import DistributionError

BLOCK = tarfile.BLOCKSIZE  # 512
RECORD = tarfile.RECORDSIZE  # 20 blocks: the archive's length is a multiple of this, as tar writes
FILE_MODE = 0o644
ZEROS = bytes(RECORD)


def _checksum(block: bytearray) -> None:
    """Recompute a tar header block's checksum field (as tar does: the field counted as spaces)."""
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)


def tar_header(name: str, size: int, mtime: int) -> bytes:
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
        block = buf[offset : offset + BLOCK]
        block[100:108] = b"%07o\0" % FILE_MODE
        _checksum(block)
        buf[offset : offset + BLOCK] = block
        long_size = int(bytes(block[124:136]).rstrip(b"\0 ") or b"0", 8)
        offset += BLOCK + long_size + (-long_size % BLOCK)
    return bytes(buf)


class TarHeaders:
    """`tar_header`'s bytes for every file of an archive, from two templates filled in per file
    (name, size, checksum); tarfile's TarInfo costs ten times as much per file, and a reBEN tree
    has millions. Sizes of 8 GiB and more (GNU's base-256 size field) go through `tar_header`."""

    def __init__(self, mtime: int):
        self.mtime = mtime
        self._file = bytearray(tar_header("x", 0, mtime)[-BLOCK:])
        self._file[0:100] = bytes(100)
        self._file[124:136] = bytes(12)
        self._file[148:156] = b" " * 8
        self._file_sum = sum(self._file)
        self._long: dict[int, bytes] = {}  # the ././@LongLink record by name length

    def __call__(self, name: bytes, size: int) -> bytes:
        if size >= 8**11:
            return tar_header(name.decode("utf-8", "surrogateescape"), size, self.mtime)
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
            long = self._long[len(name)] = tar_header("x" * len(name), 0, self.mtime)[:BLOCK]
        payload = name + bytes(BLOCK - len(name) % BLOCK)  # the name, NUL-terminated, padded
        return long + payload + bytes(block)


def read_chunks(fd: int, path, size: int, chunk: int):
    """The `size` bytes of an open file in pieces of at most `chunk`; one line if it has fewer."""
    left = size
    while left:
        data = os.read(fd, min(left, chunk))
        if not data:
            raise DistributionError(f"{path}: shrank while being archived")
        yield data
        left -= len(data)


_HEADERS: dict[int, TarHeaders] = {}  # by mtime, one set of templates per process


def _open_all(batch) -> list[int]:
    """Open every file of a run and ask the system to start reading each (POSIX_FADV_WILLNEED,
    where there is one): on a cold tree the reads of a run are then under way together instead
    of one file's after the other's (a tree of small files is read at the disk's latency
    otherwise, 57 MB/s for the reference maps here)."""
    fds: list[int] = []
    advise = getattr(os, "posix_fadvise", None)
    try:
        for _, path in batch:
            try:
                fds.append(os.open(path, os.O_RDONLY))
            except OSError as e:
                raise DistributionError(f"{path}: cannot be read to archive it ({e.strerror or e})") from None
            if advise is not None:
                advise(fds[-1], 0, 0, os.POSIX_FADV_WILLNEED)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return fds


def tar_members(batch, mtime: int, limit: int) -> tuple[list, int, int]:
    """The tar members of a run of files (name, path), as GNU tar writes them: returns (parts,
    members, file bytes), where parts are bytes (headers, contents and padding of consecutive
    files, joined) or, for a file larger than `limit`, (path, size): its header is in the bytes
    before it and the caller streams its content and padding. Runs in the archive's worker
    processes (TarStream), or in the caller's thread."""
    headers = _HEADERS.get(mtime) or _HEADERS.setdefault(mtime, TarHeaders(mtime))
    parts: list = []
    pieces: list[bytes] = []
    file_bytes = 0
    fds = _open_all(batch)
    try:
        for (name, path), fd in zip(batch, fds):
            size = os.fstat(fd).st_size
            pieces.append(headers(name.encode("utf-8", "surrogateescape"), size))
            file_bytes += size
            if size > limit:
                parts.append(b"".join(pieces))
                parts.append((path, size))
                pieces = []
                continue
            data = os.read(fd, size) if size else b""
            if len(data) < size:
                data = b"".join((data, *read_chunks(fd, path, size - len(data), size)))
            pieces.append(data)
            if size % BLOCK:
                pieces.append(ZEROS[: -size % BLOCK])
    finally:
        for fd in fds:
            os.close(fd)
    if pieces:
        parts.append(b"".join(pieces))
    return parts, len(batch), file_bytes
