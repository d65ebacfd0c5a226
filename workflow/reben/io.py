"""Where outputs are written: every file and folder goes through a temporary name and is
renamed when complete (staged_file, staged_dir), so an interrupted job leaves nothing
half-written; small outputs (JSON, text, CSV, Parquet, GeoParquet) have one writer each here.

The dataset's metadata files are written by DuckDB's Parquet writer with the settings of the
release (write_release_parquet), so that the same rows give the same bytes."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from reben.errors import AssemblyError, DistributionError, OutputError, RebenError

LOG = logging.getLogger("reben")


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
DISK_FULL_WORDS = ("No space left on device", "Disk quota exceeded")
"""How GDAL, pyarrow, DuckDB and LMDB say it when they do not raise an OSError with its errno."""


def is_disk_full(error: BaseException) -> bool:
    """A full disk or an exhausted quota, whichever library raised it."""
    if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
        return True
    return any(words in str(error) for words in DISK_FULL_WORDS)


def free_space(path) -> str:
    """`1.2 GB free at <folder>`: the free space of the file system `path` is (or will be) on."""
    folder = Path(path).absolute()
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return f"free space at {folder} unknown"
    amount = f"{free / 1e9:.1f} GB" if free >= 1e8 else f"{free / 1e6:.1f} MB"
    return f"{amount} free at {folder}"


def disk_full_message(path) -> str:
    """The one line of a full disk: the file that could not be written and the free space."""
    return f"{path}: no space left on device ({free_space(path)}); free some space and run again"


@contextmanager
def naming_a_full_disk(path, tmp=None):
    """Turn a full disk inside the block into an OutputError of one line naming the file (the
    final name of a file written under the temporary `tmp`, else `path`) and the free space. The
    package's own errors pass as they are."""
    try:
        yield
    except RebenError:
        raise
    except Exception as e:
        if not is_disk_full(e):
            raise
        raise OutputError(disk_full_message(_final_name(getattr(e, "filename", None), tmp, path))) from None


def _final_name(failed, tmp, path) -> Path:
    if failed is None or tmp is None:
        return Path(failed or path)
    failed, tmp = Path(failed), Path(tmp)
    if failed == tmp:
        return Path(path)
    return Path(path) / failed.relative_to(tmp) if failed.is_relative_to(tmp) else failed


def write_bytes(path, data: bytes) -> None:
    """Write a whole file; an OSError names it (a write on a full disk does not by itself)."""
    try:
        # os.open/os.write: a tile's jobs write ~100,000 small files, and Python's buffered
        # file object costs more than the write itself at that size.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except OSError as e:
        if e.filename is None:
            raise OSError(e.errno, e.strerror, str(path)) from None
        raise


@contextmanager
def staged_file(path, keep_suffix: bool = False):
    """Yield a temporary path beside `path` (hidden, `.<name>.tmp<pid>`, or
    `.<stem>.tmp<pid><suffix>` with keep_suffix, for tools that go by the extension); rename it
    to `path` when the block ends without error, remove it otherwise. A full disk is one line
    naming `path` and the free space."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}") if keep_suffix else _tmp(path)
    try:
        with naming_a_full_disk(path, tmp):
            yield tmp
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def replace_dir(tmp_dir, final_dir) -> None:
    """Move a finished temporary folder into place, replacing any earlier one."""
    final_dir = Path(final_dir)
    if final_dir.exists():
        shutil.rmtree(final_dir)
    os.replace(tmp_dir, final_dir)


def staging_dir(out_dir, suffix: str = ".tmp") -> Path:
    """The folder `out_dir` is built in: `<out_dir><suffix>` beside it."""
    out_dir = Path(out_dir)
    return out_dir.with_name(out_dir.name + suffix)


@contextmanager
def staged_dir(out_dir, suffix: str = ".tmp"):
    """Yield a fresh empty folder `<out_dir><suffix>` (one left by an interrupted job is
    removed first); it replaces `out_dir` when the block ends without error and is removed
    otherwise. A full disk is one line naming the file (at its place in `out_dir`) and the free
    space."""
    tmp = staging_dir(out_dir, suffix)
    if tmp.exists():
        LOG.info("removing %s left by an interrupted job", tmp)
        shutil.rmtree(tmp)
    try:
        with naming_a_full_disk(out_dir, tmp):
            tmp.mkdir(parents=True)
            yield tmp
            replace_dir(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(text: str, path) -> None:
    """A text file, through a temporary name; a refused write is one line naming the file."""
    try:
        with staged_file(path) as tmp:
            tmp.write_text(text)
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None


def write_json(obj, path) -> None:
    write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)


def write_csv(frame, path) -> None:
    """A pandas DataFrame as CSV without index, through a temporary name."""
    with staged_file(path) as tmp:
        frame.to_csv(tmp, index=False)


def sha256_file(path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def check_download_sha256(url: str, got: str, pinned: str | None, key: str, error) -> None:
    """A download's sha256 `got` against the configured `pinned` one (config key `key`): a
    mismatch raises `error`; no pin logs the hash to pin."""
    if pinned and got != pinned.lower():
        raise error(f"{url}: sha256 {got} differs from the configured {key} {pinned}; the download was removed")
    if not pinned:
        LOG.warning("%s: no %s configured; this download has sha256 %s (pin it in the config)", url, key, got)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def write_parquet(frame, path) -> None:
    """A pandas DataFrame (or GeoDataFrame, as GeoParquet) to `path`, atomically, without index."""
    with staged_file(path) as tmp:
        if hasattr(frame, "geometry") and hasattr(frame, "to_wkb"):
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False, engine="pyarrow")


def write_arrow(table, path) -> None:
    """A pyarrow Table to Parquet at `path`, atomically; pyarrow keeps list<string> columns as
    such for every reader (pandas' own metadata would not)."""
    import pyarrow.parquet as pq

    with staged_file(path) as tmp:
        pq.write_table(table, tmp)


RELEASE_ROW_GROUP_SIZE = 122_880
"""The row_group_size the release passed to DuckDB. DuckDB 1.0 on one thread closes a row group
at the first 2048-row vector past it, so its files hold row groups of 124,928 rows; on more
threads the sizes depend on the scheduling, hence one thread."""


def write_release_parquet(table, path, order_by: str = "patch_id") -> None:
    """A pyarrow Table to Parquet at `path` as the reBEN release wrote its metadata files:
    DuckDB 1.0 (`created_by: DuckDB`, format 1.0), ZSTD, PLAIN encoding, rows sorted by
    `order_by`, 124,928-row row groups; atomically."""
    import duckdb

    con = duckdb.connect(config={"threads": 1})
    try:
        with staged_file(path) as tmp:
            target = str(tmp).replace("'", "''")  # a quote in a folder name stays in the name
            con.register("metadata_rows", table)
            con.execute(
                f'COPY (SELECT * FROM metadata_rows ORDER BY "{order_by}") TO '
                f"'{target}' (FORMAT parquet, ROW_GROUP_SIZE {RELEASE_ROW_GROUP_SIZE}, "
                "CODEC 'zstd')"
            )
    finally:
        con.close()


def read_kept_patches(metadata_paths) -> list[tuple[str, list[str], list[str]]]:
    """(file name, patch ids, S1 names) of each metadata file (metadata.parquet and the flagged
    one: every kept patch; an S1 name is "" without Sentinel-1); one line naming a file that
    cannot be read."""
    import pyarrow.parquet as pq

    out = []
    for path in metadata_paths:
        try:
            table = pq.read_table(path, columns=["patch_id", "s1_name"])
        except (OSError, ValueError, KeyError) as e:
            raise DistributionError(f"{path}: cannot read patch_id and s1_name ({e})") from None
        out.append((Path(path).name, table.column("patch_id").to_pylist(), table.column("s1_name").to_pylist()))
    return out


class Linker:
    """Hard links files into a tree, falling back to copies where the file system refuses."""

    def __init__(self):
        self.copying = False
        self.files = 0

    def link(self, src: str, dst: str) -> None:
        if not self.copying:
            try:
                os.link(src, dst)
                return
            except OSError as e:
                if not Path(src).is_file():
                    raise AssemblyError(f"{src}: missing; rebuild the tile's outputs") from None
                LOG.warning("hard links impossible (%s); copying the files instead", e.strerror)
                self.copying = True
        shutil.copyfile(src, dst)

    def link_folder(self, src: Path, dst: Path, expected: int | None = None) -> None:
        try:
            names = [e.name for e in os.scandir(src) if e.is_file()]
        except FileNotFoundError:
            raise AssemblyError(f"{src}: patch folder missing; rebuild the tile's outputs") from None
        if expected is not None and len(names) != expected:
            raise AssemblyError(f"{src}: {len(names)} files, expected {expected}; rebuild the tile's outputs")
        dst.mkdir(parents=True)
        for name in names:
            self.link(os.path.join(src, name), os.path.join(dst, name))
        self.files += len(names)
