"""The deep-learning store: one LMDB environment of safetensors values (the rico-hdl layout that
ConfigILM's BENv2DataSet reads), built by copying the per-tile shards, never the GeoTIFFs.

Keys are UTF-8 `patch_id` (Sentinel-2), `s1_name` (Sentinel-1) and `<patch_id>_reference_map`;
values are the shard values unchanged. The environment is written to `<out>.tmp` and renamed
when it has verified itself: every value holds the tensors of its kind at the size the tiles'
patch grid gives (names, dtypes and shapes, read from the safetensors header), its entries are
exactly the keys the metadata files call for, and a seeded sample of entries decodes to the
arrays of the dataset's GeoTIFFs.

LMDB pages are not byte-deterministic, so `content_hash` defines the identity of an environment
(LMDB_CONTENT.sha256): sha256 over the entries in key order of (len(key) as 8 bytes little-endian,
key, sha256(value)). Two levels, so that encode_lmdb hashes each value as it puts it (in shard
order, with no second read of the LMDB) and still gives a pure function of the content, which
`lmdb_content_hash` recomputes from the LMDB alone (`reben lmdb-content`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import lmdb
import numpy as np
import pyarrow.parquet as pq

from reben.constants import S1_POLARISATIONS, S2_BAND_RESOLUTION, S2_BANDS
from reben.errors import DistributionError
from reben.grid import read_grid_json, tile_key_of
from reben.io import read_kept_patches, staged_dir, staging_dir, write_text
from reben.logs import LOG, Progress
from reben.sentinel1.products import s1_product_of
from reben.shards import decode

REFERENCE_MAP_SUFFIX = "_reference_map"

# Entries per write transaction: bounds LMDB's dirty-page list (values are 30-160 kB).
_BATCH_BYTES = 256 * 1024**2
# Shard row groups (256 values, up to 41 MB) read ahead while a batch is written.
_READ_AHEAD = 8


@dataclass(frozen=True)
class Selection:
    """The keys one LMDB must hold, by kind, and where each patch comes from (for messages)."""

    s2: list[str]
    reference_maps: list[str]
    s1: list[str]
    source: dict[str, str]  # key -> metadata file that asks for it
    s1_of: dict[str, str]  # patch_id -> its s1_name, for patches with one

    @property
    def keys(self) -> set[str]:
        return set(self.s2) | set(self.reference_maps) | set(self.s1)


def grids_patch_size(grid_paths) -> int:
    """The patch size of the tiles' grids (geocoding.json files): one size for the dataset."""
    sizes: dict[int, str] = {}
    for path in grid_paths:
        try:
            sizes.setdefault(read_grid_json(path).patch_size_m, str(path))
        except (OSError, ValueError, KeyError) as e:
            raise DistributionError(f"{path}: not a readable tile grid ({e})") from None
    if len(sizes) != 1:
        found = ", ".join(f"{s} m ({p})" for s, p in sorted(sizes.items())) or "no grid given"
        raise DistributionError(f"the tiles' grids must share one patch size, found {found}; rerun make_patch_grid")
    return next(iter(sizes))


SAFETENSORS_DTYPE = {"uint16": "U16", "float32": "F32"}


def expected_tensors(patch_size_m: int) -> dict[str, dict[str, tuple[str, tuple[int, int]]]]:
    """Per kind of entry, the tensors of one value: name -> (safetensors dtype, shape). Each
    band at its native resolution (1200 m patches: 120 x 120 at 10 m, 60 x 60 at 20 m,
    20 x 20 at 60 m); reference maps and Sentinel-1 at 10 m."""

    def side(resolution):
        return (patch_size_m // resolution,) * 2

    return {
        "s2": {b: (SAFETENSORS_DTYPE["uint16"], side(S2_BAND_RESOLUTION[b])) for b in S2_BANDS},
        "reference_maps": {"Data": (SAFETENSORS_DTYPE["uint16"], side(10))},
        "s1": {p: (SAFETENSORS_DTYPE["float32"], side(10)) for p in S1_POLARISATIONS},
    }


def tensor_header(value) -> tuple[bytes, dict[str, tuple[str, tuple[int, ...]]]]:
    """The raw header of a safetensors value and its tensors: name -> (dtype, shape)."""
    n = int.from_bytes(bytes(value[:8]), "little")
    raw = bytes(value[: 8 + n])
    header = json.loads(raw[8:])
    return raw, {k: (v["dtype"], tuple(v["shape"])) for k, v in header.items() if k != "__metadata__"}


class ShapeCheck:
    """Checks that every value holds its kind's tensors at the grid's patch size. Headers are
    compared as bytes against those already found right, so a whole store costs one header
    parse per distinct header."""

    def __init__(self, patch_size_m: int):
        self.patch_size_m = patch_size_m
        self.expected = expected_tensors(patch_size_m)
        self._good: dict[str, set[bytes]] = {kind: set() for kind in self.expected}

    def __call__(self, kind: str, key: str, value, shard) -> None:
        n = int.from_bytes(bytes(value[:8]), "little")
        if bytes(value[: 8 + n]) in self._good[kind]:
            return
        try:
            raw, tensors = tensor_header(value)
        except (ValueError, KeyError, TypeError) as e:
            raise DistributionError(f"{shard}: the value of {key} is not safetensors ({e})") from None
        expected = self.expected[kind]
        if tensors != expected:
            wrong = sorted(set(tensors) ^ set(expected)) or sorted(t for t in tensors if tensors[t] != expected[t])
            t = wrong[0]
            got = f"{tensors[t][0]} {'x'.join(map(str, tensors[t][1]))}" if t in tensors else "missing"
            want = f"{expected[t][0]} {'x'.join(map(str, expected[t][1]))}" if t in expected else "no such tensor"
            raise DistributionError(
                f"{shard}: {key}: tensor {t} is {got}, the grid's {self.patch_size_m} m patches "
                f"need {want}; rebuild the stage that writes this shard"
            )
        self._good[kind].add(raw)


def read_selection(metadata_paths) -> Selection:
    """The LMDB keys of the patches in the metadata files (both files: all selected patches)."""
    s2: list[str] = []
    s1: set[str] = set()
    source: dict[str, str] = {}
    s1_of: dict[str, str] = {}
    for path, (name, patch_ids, s1_names) in zip(metadata_paths, read_kept_patches(metadata_paths)):
        for pid, s1_name in zip(patch_ids, s1_names):
            if pid in source:
                raise DistributionError(f"{path}: patch {pid} is listed twice (also in {source[pid]})")
            source[pid] = name
            source[pid + REFERENCE_MAP_SUFFIX] = name
            s2.append(pid)
            if s1_name:
                s1.add(s1_name)
                s1_of[pid] = s1_name
                source.setdefault(s1_name, name)
    s2.sort()
    return Selection(
        s2=s2, reference_maps=[p + REFERENCE_MAP_SUFFIX for p in s2], s1=sorted(s1), source=source, s1_of=s1_of
    )


def _shard_keys(path) -> list[str]:
    try:
        return pq.read_table(path, columns=["key"]).column("key").to_pylist()
    except (OSError, ValueError) as e:
        raise DistributionError(f"{path}: not a readable shard ({e})") from None


def _value_bytes(path) -> int:
    """Bytes of a shard's value column as stored (uncompressed): a size estimate from metadata."""
    meta = pq.ParquetFile(path).metadata
    col = meta.schema.names.index("value")
    return sum(meta.row_group(i).column(col).total_uncompressed_size for i in range(meta.num_row_groups))


def plan(selection: Selection, shards: dict[str, list]) -> tuple[list[tuple[str, str]], int]:
    """Which shards to read, in a fixed order, and an initial map size.

    `shards` maps a kind ("s2", "reference_maps", "s1") to its per-tile shard files. Returns
    [(kind, shard path)] sorted by path and the map size in bytes. Raises one line for the first
    key of the selection that no shard holds.
    """
    held: set[str] = set()
    order = sorted((str(p), kind) for kind, paths in shards.items() for p in paths)
    value_bytes = 0
    for path, _ in order:
        held.update(_shard_keys(path))
        value_bytes += _value_bytes(path)
    for kind, wanted in (("s2", selection.s2), ("reference_maps", selection.reference_maps), ("s1", selection.s1)):
        missing = [k for k in wanted if k not in held]
        if missing:
            where = ", ".join(sorted({str(Path(p).name) for p in shards.get(kind, [])})) or "none given"
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise DistributionError(
                f"{selection.source[missing[0]]}: {missing[0]} has no entry in the {kind} shards "
                f"({where}){more}; rebuild the stage that writes them"
            )
    n = len(selection.keys)
    # Each large value lives on its own overflow pages: round up to a page, then room for the
    # B-tree and free pages. The store grows on demand if this still falls short.
    map_size = int(1.25 * (value_bytes + n * (4096 + 256))) + 64 * 1024**2
    return [(kind, path) for path, kind in order], map_size


class ValueDigests:
    """The sha256 of each value as it is put, in the slot of its key in key order: what
    content_hash needs, without reading the LMDB back. A key put twice (held by two shards,
    with the same value) fills its slot twice with the same digest."""

    def __init__(self, keys):
        self.keys = sorted(keys)
        self.slot = {k: i for i, k in enumerate(self.keys)}  # also the set of wanted keys
        self._digests = bytearray(32 * len(self.keys))

    def add(self, batch) -> None:
        """Hash the values of a batch of (key bytes, value)."""
        for key, value in batch:
            i = 32 * self.slot[key.decode()]
            self._digests[i : i + 32] = hashlib.sha256(value).digest()

    def content_hash(self) -> tuple[str, int]:
        """content_hash of the LMDB once every key has been put."""
        d = memoryview(self._digests)
        return content_hash((k.encode(), d[32 * i : 32 * i + 32]) for i, k in enumerate(self.keys))


def _row_groups(order, ahead: int = _READ_AHEAD):
    """(kind, shard, row group) of every shard in `order`, read up to `ahead` row groups ahead
    in a thread (Arrow releases the GIL, and so does LMDB's commit: shards are read while the
    previous batch is written)."""
    import queue
    import threading

    groups: queue.Queue = queue.Queue(ahead)
    stop = threading.Event()

    def read():
        try:
            for kind, path in order:
                # No memory map: the mapped pages of a shard would count in the job's memory.
                f = pq.ParquetFile(path)
                for i in range(f.num_row_groups):
                    if stop.is_set():
                        return
                    groups.put((kind, path, f.read_row_group(i, columns=["key", "value"])))
            groups.put(None)
        except BaseException as e:  # noqa: BLE001 - raised in the consuming thread
            groups.put(e)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while (item := groups.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting for room
            try:
                groups.get_nowait()
            except queue.Empty:
                reader.join(0.05)


def _stream(order, wanted, check=None):
    """(key bytes, value buffer) of the wanted rows, in shard order. Values are views into the
    Arrow buffers (no copy); they live as long as the caller keeps them. `check(kind, key,
    value, shard)` sees every wanted value first."""
    for kind, shard, table in _row_groups(order):
        keys = table.column("key").to_pylist()
        at = 0
        for chunk in table.column("value").chunks:
            _, offsets, data = chunk.buffers()
            offsets = np.frombuffer(offsets, dtype=np.int64, count=len(chunk) + 1, offset=8 * chunk.offset)
            data = memoryview(data) if data is not None else memoryview(b"")
            for j in range(len(chunk)):
                key = keys[at + j]
                if key in wanted:
                    value = data[offsets[j] : offsets[j + 1]]
                    if check is not None:
                        check(kind, key, value, shard)
                    yield key.encode(), value
            at += len(chunk)


def _put_batch(env, batch, digests: ValueDigests, hasher) -> None:
    """Write one batch in one transaction, growing the map when it is full, and hash its values
    into `digests` in `hasher` (a one-thread pool) while LMDB commits: the commit is one long
    call that releases the GIL, so the hashing overlaps it instead of lengthening the put loop
    (hashing beside the puts themselves, in the shard-reading thread, slowed them: the two
    threads handed the GIL back and forth at every value)."""
    while True:
        try:
            with env.begin(write=True) as txn:
                for key, value in batch:
                    if not txn.put(key, value, overwrite=False) and txn.get(key) != bytes(value):
                        raise DistributionError(f"{key.decode()}: two shards hold different values for this key")
                hashed = hasher.submit(digests.add, batch)  # runs during the commit, as the block ends
            hashed.result()
            return
        except lmdb.MapFullError:
            size = env.info()["map_size"] * 2
            LOG.info("LMDB map full: growing it to %.1f GiB", size / 1024**3)
            env.set_mapsize(size)


def content_hash(entries) -> tuple[str, int]:
    """The definition of an LMDB's content hash (LMDB_CONTENT.sha256), and the entry count.

    `entries`: (key bytes, sha256 digest of the value) of every entry, in key order (LMDB's:
    bytes compared as unsigned). The hash is sha256 over each entry's record: len(key) as 8
    bytes little-endian, the key, the 32-byte sha256 of the value.
    """
    h = hashlib.sha256()
    n = 0
    for key, value_sha256 in entries:
        h.update(len(key).to_bytes(8, "little"))
        h.update(key)
        h.update(value_sha256)
        n += 1
    return h.hexdigest(), n


def lmdb_content_hash(lmdb_dir) -> tuple[str, int]:
    """content_hash recomputed from the LMDB folder alone (a cursor over every entry)."""
    try:
        env = lmdb.open(str(lmdb_dir), readonly=True, lock=False, subdir=True)
    except lmdb.Error as e:
        raise DistributionError(f"{lmdb_dir}: not a readable LMDB ({e})") from None
    try:
        with env.begin(buffers=True) as txn:
            return content_hash((key, hashlib.sha256(value).digest()) for key, value in txn.cursor())
    finally:
        env.close()


def content_line(digest: str, n: int) -> str:
    """The text of LMDB_CONTENT.sha256: `<sha256>  <n> entries`."""
    return f"{digest}  {n} entries\n"


def check_content_hash(lmdb_dir, content_path) -> tuple[str, int]:
    """Recompute the content hash of `lmdb_dir` and compare it with its LMDB_CONTENT.sha256;
    a difference is one line naming both."""
    try:
        recorded = Path(content_path).read_text()
    except OSError as e:
        raise DistributionError(f"{content_path}: cannot read ({e.strerror or e})") from None
    digest, n = lmdb_content_hash(lmdb_dir)
    found = content_line(digest, n)
    if recorded != found:
        raise DistributionError(
            f"{content_path}: records {recorded.strip()!r}, the LMDB {lmdb_dir} holds {found.strip()!r}"
        )
    return digest, n


def _read_tif(path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1)


def _same(key: str, name: str, stored: np.ndarray, path: Path) -> None:
    if not path.exists():
        raise DistributionError(f"{path}: missing; the LMDB entry {key} cannot be checked against it")
    tif = _read_tif(path)
    if stored.dtype != tif.dtype or stored.shape != tif.shape or not np.array_equal(stored, tif):
        raise DistributionError(
            f"{key}: tensor {name} ({stored.dtype} {stored.shape}) differs from {path} ({tif.dtype} {tif.shape})"
        )


def verify_sample(
    env, selection: Selection, s1_of: dict[str, str], trees: dict[str, Path], sample_size: int, seed: int
) -> int:
    """Decode a seeded sample of patches and compare each tensor with its GeoTIFF."""
    if not selection.s2 or sample_size <= 0:
        return 0
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(selection.s2), size=min(sample_size, len(selection.s2)), replace=False)
    with env.begin() as txn:
        for i in sorted(picks):
            pid = selection.s2[i]
            tile = tile_key_of(pid)
            checks = [
                (pid, Path(trees["s2"]) / tile / pid, [(b, f"{pid}_{b}.tif") for b in S2_BANDS]),
                (
                    pid + REFERENCE_MAP_SUFFIX,
                    Path(trees["reference_maps"]) / tile / pid,
                    [("Data", f"{pid}{REFERENCE_MAP_SUFFIX}.tif")],
                ),
            ]
            s1 = s1_of.get(pid)
            if s1:
                checks.append(
                    (s1, Path(trees["s1"]) / s1_product_of(s1) / s1, [(p, f"{s1}_{p}.tif") for p in S1_POLARISATIONS])
                )
            for key, folder, tensors in checks:
                value = txn.get(key.encode())
                if value is None:
                    raise DistributionError(f"{key}: missing from the LMDB just written")
                stored = decode(value)
                if sorted(stored) != sorted(name for name, _ in tensors):
                    raise DistributionError(
                        f"{key}: tensors {sorted(stored)}, expected {sorted(name for name, _ in tensors)}"
                    )
                for name, file in tensors:
                    _same(key, name, stored[name], folder / file)
    return len(picks)


def _free(path: Path) -> str:
    try:
        return f"{shutil.disk_usage(path.parent).free / 1024**2:.1f} MiB free there"
    except OSError:
        return "free space unknown"


def _fill(
    tmp: Path,
    map_size: int,
    order,
    digests: ValueDigests,
    check,
    selection,
    trees,
    out_dir: Path,
    sample_size: int,
    seed: int,
):
    """Write every wanted entry (the keys of `digests`) into a new environment in `tmp`, hashing
    each batch's values while it commits, check the count and a sample; returns (entries,
    patches checked, progress)."""
    # lock=False: a private new folder with one writer, and no lock.mdb shipped with the data.
    env = lmdb.open(
        str(tmp), map_size=map_size, subdir=True, lock=False, sync=False, metasync=False, meminit=False, readahead=False
    )
    try:
        progress = Progress("LMDB entries", len(digests.slot))
        batch, batch_bytes, done = [], 0, 0
        with ThreadPoolExecutor(1, thread_name_prefix="lmdb-hash") as hasher:
            for key, value in _stream(order, digests.slot, check):
                batch.append((key, value))
                batch_bytes += len(value)
                if batch_bytes >= _BATCH_BYTES:
                    _put_batch(env, batch, digests, hasher)
                    done += len(batch)
                    progress.update(done)
                    batch, batch_bytes = [], 0
            _put_batch(env, batch, digests, hasher)
        done += len(batch)
        progress.update(done)
        env.sync(True)
        n = env.stat()["entries"]
        # Every put was a wanted key, so equal counts mean equal key sets (and every digest set).
        if n != len(digests.slot):
            raise DistributionError(f"{out_dir}: {n} entries written, the metadata files ask for {len(digests.slot)}")
        checked = verify_sample(env, selection, selection.s1_of, trees, sample_size, seed)
    finally:
        env.close()
    return n, checked, progress


def encode_lmdb(
    metadata_paths,
    shards: dict[str, list],
    out_dir,
    trees: dict[str, Path],
    grids,
    sample_size: int = 20,
    seed: int = 0,
    content_path=None,
) -> dict:
    """Build the LMDB at `out_dir` from the shards and verify it (tensor shapes, entry count,
    sample); its content hash (content_hash, from each value's sha256 taken as it is put) goes
    to `content_path` (LMDB_CONTENT.sha256) once the LMDB is in place, and to the summary.

    metadata_paths: metadata.parquet and metadata_for_patches_with_snow_cloud_or_shadow.parquet.
    shards: {"s2": [...], "reference_maps": [...], "s1": [...]} per-tile shard files.
    trees: {"s2", "reference_maps", "s1"} dataset folders the sample is compared against.
    grids: the tiles' geocoding.json files, which give the patch size every value must have.
    """
    out_dir = Path(out_dir)
    check = ShapeCheck(grids_patch_size(grids))
    selection = read_selection(metadata_paths)
    order, map_size = plan(selection, shards)
    # Three sorted runs: the sort in ValueDigests merges them.
    digests = ValueDigests(selection.s2 + selection.reference_maps + selection.s1)
    tmp = staging_dir(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        with staged_dir(out_dir) as tmp:
            n, checked, progress = _fill(
                tmp, map_size, order, digests, check, selection, trees, out_dir, sample_size, seed
            )
    except (lmdb.Error, OSError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise DistributionError(f"{tmp}: cannot write the LMDB here ({reason}; {_free(tmp)})") from None
    t0 = time.perf_counter()
    digest, _ = digests.content_hash()
    if content_path is not None:
        write_text(content_line(digest, n), content_path)
    summary = {
        "entries": n,
        "patch_size_m": check.patch_size_m,
        "s2": len(selection.s2),
        "s1": len(selection.s1),
        "reference_maps": len(selection.reference_maps),
        "verified_patches": checked,
        "content_sha256": digest,
        "content_seconds": round(time.perf_counter() - t0, 2),
        "seconds": round(progress.elapsed(), 1),
    }
    LOG.info(
        "encode_lmdb: %(entries)d entries (%(s2)d S2, %(s1)d S1, %(reference_maps)d "
        "reference maps) of %(patch_size_m)d m patches, %(verified_patches)d patches checked against their GeoTIFFs, "
        "%(seconds).1f s; content sha256 %(content_sha256)s (%(content_seconds).2f s over the value digests)",
        summary,
    )
    return summary
