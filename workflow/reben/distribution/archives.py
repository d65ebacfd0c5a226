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
import threading
import time
from collections import deque
from pathlib import Path

import zstandard

from reben.distribution.tar_format import BLOCK, RECORD, ZEROS, read_chunks, tar_members
from reben.distribution.tar_worker import read_message, write_message
from reben.errors import DistributionError
from reben.io import read_json, staged_file, write_text
from reben.logs import Progress

_CHUNK = 1024**2
_TAR_CHUNK = 8 * 1024**2  # the tar stream goes to its stages in pieces of this size
_READ_WHOLE = 256 * 1024  # files up to this size are read whole by the stream's workers (a patch's GeoTIFF: 1-60 KB)
_BATCH_FILES = 128  # files a worker turns into tar bytes at a time (S2: ~2 MB)
_PIPE_BYTES = 1024**2  # the workers' pipes, where the system allows it


def is_bookkeeping(name: str) -> bool:
    """A hidden file or folder (`.snakemake_timestamp`, `.<name>.tmp`): never part of a dataset."""
    return name.startswith(".")


def iter_tree_files(root):
    """(member name, path) of every file below `root`, bookkeeping left out, in the order the
    release sorted its file list (whole member names, byte order), one folder at a time: a
    reBEN tree has millions of files, and their list alone took 5 GiB. Member names start at the
    root's own name (`BigEarthNet-S2/...`).

    Each folder's entries are sorted by name, a folder's name followed by "/": every member
    below a folder starts with that, and no member outside it does, so this order of a
    depth-first walk is the byte order of the whole names (`a-b/y` < `a.txt` < `a/z`)."""
    root = Path(root)

    def walk(name: str, path: str):
        with os.scandir(path) as entries:
            children = [
                ((entry.name + "/" if entry.is_dir() else entry.name).encode("utf-8", "surrogateescape"), entry)
                for entry in entries
                if not is_bookkeeping(entry.name)
            ]
        children.sort(key=lambda child: child[0])
        for _, entry in children:
            if entry.is_dir():
                yield from walk(f"{name}/{entry.name}", entry.path)
            else:
                yield f"{name}/{entry.name}", entry.path

    yield from walk(root.name, str(root))


def tree_files(root) -> list[tuple[str, Path]]:
    """`iter_tree_files` as a list, with paths as Path (for a small tree)."""
    return [(name, Path(path)) for name, path in iter_tree_files(root)]


class _Worker:
    """One `reben.distribution.tar_worker` process: runs of files asked in order, answered in
    the same order."""

    def __init__(self):
        import subprocess
        import sys

        package_root = str(Path(__file__).resolve().parents[2])  # the folder holding `reben`
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (package_root, os.environ.get("PYTHONPATH"))))}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reben.distribution.tar_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,  # the answers' bytes are read straight into their buffers
            env=env,
        )
        try:  # Linux: 1 MiB pipes, 16x fewer reads and wake-ups than the default 64 KiB
            import fcntl

            for pipe in (self.proc.stdin, self.proc.stdout):
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        except (ImportError, AttributeError, OSError):
            pass

    def ask(self, request) -> None:
        write_message(self.proc.stdin, request)

    def answer(self):
        reply = read_message(self.proc.stdout)
        if reply is None:
            raise DistributionError(f"a tar stream worker ended unexpectedly (exit status {self.proc.wait()})")
        (kind, value), blobs = reply
        if kind == "ok":
            layout, members, file_bytes = value
            blobs = iter(blobs)
            return [next(blobs) if part is None else part for part in layout], members, file_bytes
        if kind == "os":
            raise OSError(*value)
        raise DistributionError(value)

    def close(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            self.proc.stdin.close()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if not pipe.closed:
                pipe.close()


class _Workers(list):
    """`n` tar stream workers, closed at the end of a `with` (killed when it ends in an error)."""

    def __init__(self, n: int):
        super().__init__()
        try:
            self.extend(_Worker() for _ in range(n))
        except BaseException:
            self.__exit__(Exception, None, None)
            raise

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        for worker in self:
            worker.close(kill=kind is not None)


class TarStream:
    """The uncompressed GNU tar of a tree's files (`tree_files`), as the release built it, in
    pieces; `members` and `bytes` count what was produced, `file_bytes` the bytes of the files
    archived (the tree's size).

    A dataset tree is millions of small files: each file costs a header and four system calls
    in Python, about 10 us (1.2 s per GB of a warm S2 tree here), as much as md5 takes on the
    same bytes, and on a cold tree one reader at a time leaves the disk idle between requests.
    With `workers`, runs of `_BATCH_FILES` files are read and turned into tar bytes by that many
    processes (`tar_members` in reben.distribution.tar_worker), each a run ahead of the one being
    streamed; this thread only passes the bytes on, in order. Files over 256 KiB (none in a
    patch tree) are streamed from here in pieces of `chunk_bytes`. `workers=0` does it all in
    this thread (small trees)."""

    def __init__(self, files, mtime: int = 0, chunk_bytes: int | None = None, workers: int = 0):
        self.files, self.chunk_bytes = files, chunk_bytes or _TAR_CHUNK
        self.mtime = int(mtime)
        self.workers = max(0, int(workers))
        self.members = self.bytes = self.file_bytes = 0

    def _runs(self):
        """(parts, members, file bytes) of each run of files, in order."""
        import itertools

        limit = min(_READ_WHOLE, self.chunk_bytes)
        files = iter(self.files)
        runs = iter(lambda: [(n, str(p)) for n, p in itertools.islice(files, _BATCH_FILES)], [])
        # Worker processes for a tree of more than one run; its first two runs tell.
        ahead = list(itertools.islice(runs, 2))
        runs = itertools.chain(ahead, runs)
        if not self.workers or len(ahead) < 2:
            for run in runs:
                yield tar_members(run, self.mtime, limit)
            return
        with _Workers(self.workers) as workers:
            # Each worker has one run asked at a time, and is asked its next run as soon as it
            # has answered (before the answer is passed on): no worker waits, and none is ever
            # sent a run while it is writing an answer (a pipe full both ways would hang).
            pending: deque = deque()
            for worker, run in zip(workers, runs):
                worker.ask((run, self.mtime, limit))
                pending.append(worker)
            while pending:
                worker = pending.popleft()
                answer = worker.answer()
                run = next(runs, None)
                if run is not None:
                    worker.ask((run, self.mtime, limit))
                    pending.append(worker)
                yield answer

    def _stream_large(self, path, size: int):
        """A large file's bytes in pieces of at most `chunk_bytes`."""
        fd = os.open(path, os.O_RDONLY)
        try:
            yield from read_chunks(fd, path, size, self.chunk_bytes)
        finally:
            os.close(fd)

    def __iter__(self):
        for parts, members, file_bytes in self._runs():
            for part in parts:
                if not isinstance(part, tuple):  # bytes, or a worker's bytearray
                    self.bytes += len(part)
                    yield part
                    continue
                path, size = part
                for data in self._stream_large(path, size):
                    self.bytes += len(data)
                    yield data
                if size % BLOCK:
                    self.bytes += -size % BLOCK
                    yield ZEROS[: -size % BLOCK]
            self.members += members
            self.file_bytes += file_bytes
        end = 2 * BLOCK
        end += -(self.bytes + end) % RECORD
        self.bytes += end
        yield ZEROS[:end]


class _Stage(threading.Thread):
    """Applies `fn` to each item put, in order, in a thread of its own: hashing, compressing
    and writing release the GIL, so the stages of an archive run side by side. An error comes
    back at the next `put` or at `close`. `busy` is the wall time spent in `fn`: the stage
    whose busy time is the archive's wall time is the one that binds it."""

    def __init__(self, fn, depth: int = 4):
        super().__init__(daemon=True)
        self.fn, self.error, self.busy = fn, None, 0.0
        self._items: queue.Queue = queue.Queue(depth)
        self.start()

    def run(self):
        clock = time.perf_counter
        while (item := self._items.get()) is not None:
            if self.error is None:
                start = clock()
                try:
                    self.fn(item)
                except BaseException as e:  # noqa: BLE001 - handed to the caller
                    self.error = e
                self.busy += clock() - start

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
    stream = TarStream(iter_tree_files(tree), mtime)
    for chunk in stream:
        out.write(chunk)
    return stream.members, stream.bytes


def write_tar_zst(tree, out_path, level: int = 10, threads: int = 1, mtime: int = 0) -> dict:
    """Archive `tree` into `out_path` (.tar.zst) through a temporary name; returns members,
    sizes, the archive's sha256 and md5 and the md5 of the uncompressed tar (all computed while
    writing).

    Five stages overlap: the tar stream (`threads` // 2 worker processes read the files and make
    the tar bytes, this thread passes them on), its md5, zstd (`threads` workers), the md5 of
    zstd's output, and its sha256 with the write to the file. The md5 of the uncompressed tar
    is one hash over one stream, on one core: it bounds an archive's speed on a large node.
    `seconds` in the summary gives each stage's busy time (wall s), and the total."""
    tree, out_path = Path(tree), Path(out_path)
    if not tree.is_dir():
        raise DistributionError(f"{tree}: not a folder; nothing to archive")
    # threads >= 1 always: zstd's multi-threaded format is the same for any worker count, while
    # threads=0 (single-threaded mode) frames the data differently.
    threads = max(1, int(threads))
    cctx = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
    tar_md5, md5, sha256 = hashlib.md5(), hashlib.md5(), hashlib.sha256()
    stream = TarStream(iter_tree_files(tree), int(mtime), workers=max(1, threads // 2))
    progress, reported = Progress(f"{out_path.name}: files archived", None), 0
    start = time.perf_counter()
    waited = {"stream": 0.0, "put": 0.0}
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
                    pieces, clock = iter(stream), time.perf_counter
                    while True:
                        t0 = clock()
                        chunk = next(pieces, None)
                        t1 = clock()
                        waited["stream"] += t1 - t0
                        if chunk is None:
                            break
                        for stage in inputs:
                            stage.put(chunk)
                        waited["put"] += clock() - t1
                        if stream.members != reported:
                            progress.update(reported := stream.members)
                finally:
                    _close(inputs)
                z.close()  # the end of the frame, once every chunk is in
            finally:
                _close(outputs)
            busy = dict(zip(("tar_md5", "zstd", "md5", "sha256_write"), (s.busy for s in (*inputs, *outputs))))
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
        "threads": threads,
        "stream_workers": stream.workers,
        "seconds": {
            "total": round(time.perf_counter() - start, 3),
            "tar_stream": round(waited["stream"], 3),
            "stages_full": round(waited["put"], 3),
            **{k: round(v, 3) for k, v in busy.items()},
        },
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
