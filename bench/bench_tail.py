"""Benchmark of the distribution tail against its floors, on one synthetic full-size tile (run by
hand, not in CI).

The tile is bench_distribution's (8,281 patches: ~99k S2, 16.6k S1 and 8.3k reference-map files,
their shards and metadata); every figure is printed beside a floor measured in the same run, and
the ratio is what counts (the machine may be shared: absolute numbers are upper bounds; `uptime`
is printed at the start and the end).

  manifest  write_manifest (merge of the per-tile sha256 tables, a 1000-file sample hashed again)
            vs sha256 of every tree file, as write_manifest did before; and what hashing the bytes
            as they are written adds to a per-tile job (FileHashes.write vs a plain write)
  archives  write_tar_zst per tree vs reading the files, the tar stream alone, GNU tar piped, md5
            and zstd alone on the tar bytes, `tar | zstd` (the CLI; are its .tar and .zst bytes
            ours?); then the three archives one after another vs side by side
  lmdb      encode_lmdb vs `dd conv=fdatasync` of the same byte count on the same disk, alternated
            --repeat times (median of the ratios)

    .venv/bin/python bench/bench_tail.py [manifest] [archives] [lmdb] [--root DIR] [--side 91]
        [--level 3] [--threads 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow as pa  # noqa: E402
import zstandard  # noqa: E402
from bench_distribution import TILE, TREES, make_tile  # noqa: E402

from reben.distribution.archives import TarStream, tree_files, write_tar_zst  # noqa: E402
from reben.distribution.lmdb import encode_lmdb  # noqa: E402
from reben.distribution.provenance import write_manifest  # noqa: E402
from reben.hashes import FileHashes  # noqa: E402
from reben.io import sha256_file, write_arrow  # noqa: E402

META = ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
KINDS = {"s2": "BigEarthNet-S2", "reference_maps": "Reference_Maps", "s1": "BigEarthNet-S1"}
GNU_TAR = [
    "tar",
    "--create",
    "--file=-",
    "--format=gnu",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--mtime=@1704067200",
    "--mode=a=r,u+w",
    "--hard-dereference",
    "--no-recursion",
]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def clock(fn, *args):
    """(wall s, CPU s of this process and its children, result) of fn(*args)."""
    t0, w = os.times(), time.perf_counter()
    result = fn(*args)
    wall, t1 = time.perf_counter() - w, os.times()
    cpu = sum(b - a for a, b in zip(t0[:4], t1[:4]))
    return wall, cpu, result


def show(label: str, wall: float, cpu: float, floor: float | None = None, nbytes: int | None = None) -> None:
    rate = f", {nbytes / wall / 1e6:,.0f} MB/s" if nbytes else ""
    ratio = f", {wall / floor:.2f}x the floor" if floor else ""
    print(f"  {label}: wall {wall:.1f} s, CPU {cpu:.1f} s{rate}{ratio}", flush=True)


# ---------------------------------------------------------------------------------- manifest


def tile_sha256_tables(root: Path) -> dict[str, dict[str, Path]]:
    """The tile's <kind>_sha256.parquet, made here from the tree files (the synthetic tile is
    written straight into the trees, without the per-tile jobs that record them)."""
    tables = {}
    for kind, tree in KINDS.items():
        path = root / "tiles" / TILE / f"{kind}_sha256.parquet"
        if not path.exists():
            base = root / "dataset" / tree / ("" if kind == "s1" else TILE)
            rows = {"folder": [], "file": [], "sha256": []}
            for name, file in tree_files(base):
                folder, _, leaf = name.split("/", 1)[1].rpartition("/")
                rows["folder"].append(folder)
                rows["file"].append(leaf)
                rows["sha256"].append(sha256_file(file))
            write_arrow(pa.table(rows), path)
        tables[kind] = {TILE: path}
    return tables


def every_file_hashed(dataset: Path, threads: int) -> int:
    names = [n for tree in KINDS.values() for n, _ in tree_files(dataset / tree)] + list(META)
    with ThreadPoolExecutor(threads) as pool:
        lines = [
            f"{d}  {n}\n" for d, n in zip(pool.map(lambda n: sha256_file(dataset / n), names, chunksize=64), names)
        ]
    (dataset.parent / "MANIFEST.every_file").write_text("".join(sorted(lines, key=lambda x: x.split("  ")[1])))
    return len(names)


def bench_manifest(root: Path, threads: int) -> None:
    dataset = root / "dataset"
    tables = tile_sha256_tables(root)
    print("manifest", flush=True)
    wall0, cpu0, n = clock(every_file_hashed, dataset, threads)
    show(f"sha256 of every tree file ({n} files, {threads} threads; before)", wall0, cpu0)
    manifest = root / "MANIFEST.sha256"
    wall, cpu, _ = clock(
        write_manifest, dataset, KINDS, tables, [dataset / m for m in META], manifest, 1000, 0, threads
    )
    show("write_manifest: merge + 1000 files hashed again", wall, cpu)
    same = manifest.read_bytes() == (root / "MANIFEST.every_file").read_bytes()
    print(f"  -> {wall0 / wall:.1f}x faster; byte-identical manifests: {same}", flush=True)

    # What a per-tile job pays to record the sha256: the first 2,000 S2 patches' files, written
    # plainly, and FileHashes' own work on the same bytes (sha256 and the record, no write: the
    # cost of a write varies with the page cache's state more than the hashing costs).
    files = tree_files(dataset / "BigEarthNet-S2")[: 2000 * 12]
    data = [(name, path.read_bytes()) for name, path in files]
    out = root / "bench_writes"

    def write():
        shutil.rmtree(out, ignore_errors=True)
        for name, blob in data:
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                f.write(blob)

    def record():
        hashes = FileHashes(out)
        for name, blob in data:
            hashes._record(out / name, hashlib.sha256(blob).hexdigest())
        return hashes

    plain_wall, plain_cpu, _ = clock(write)
    wall, cpu, _ = clock(record)
    shutil.rmtree(out, ignore_errors=True)
    mb = sum(len(b) for _, b in data) / 1e6
    show(f"plain writes of {len(data)} S2 files ({mb:,.0f} MB)", plain_wall, plain_cpu)
    show("what FileHashes.write adds: sha256 of the bytes and the record", wall, cpu)
    print(f"  -> {cpu / len(data) * 1e6:.1f} us CPU per file ({cpu / mb * 1e3:.2f} s per GB)", flush=True)


# ---------------------------------------------------------------------------------- archives


def _read_all(files) -> int:
    n = 0
    for _, path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            n += len(os.read(fd, os.fstat(fd).st_size))
        finally:
            os.close(fd)
    return n


def _stream_only(files) -> int:
    return sum(len(c) for c in TarStream(files, 1704067200))


def _md5_file(path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(8 * 1024**2):
            h.update(chunk)
    return h.hexdigest()


def _zstd_file(path, level: int, threads: int) -> None:
    cctx = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
    with open(path, "rb") as f, open(os.devnull, "wb") as null, cctx.stream_writer(null, closefd=False) as z:
        while chunk := f.read(8 * 1024**2):
            z.write(chunk)


def _sh(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=True, executable="/bin/bash")


def _archive(args):
    tree, out, level, threads = args
    return write_tar_zst(tree, out, level, threads, 1704067200)


def bench_archives(root: Path, level: int, threads: int) -> None:
    dataset, work = root / "dataset", root / "bench_archives"
    work.mkdir(exist_ok=True)
    gnu = (
        shutil.which("tar") and "GNU tar" in subprocess.run(["tar", "--version"], capture_output=True, text=True).stdout
    )
    print(f"archives (zstd level {level}, {threads} threads)", flush=True)
    for tree in TREES:
        files = tree_files(dataset / tree)
        print(f" {tree}: {len(files)} files", flush=True)
        _read_all(files)  # into the page cache first: every figure below reads warm files
        read_wall, read_cpu, nbytes = clock(_read_all, files)
        show("read every file (floor of the stream)", read_wall, read_cpu, nbytes=nbytes)
        wall, cpu, tar_bytes = clock(_stream_only, files)
        show("our tar stream, to nowhere", wall, cpu, read_wall, tar_bytes)
        listing = work / f"{tree}.list"
        listing.write_text("".join(f"{n}\n" for n, _ in files))
        tar_cmd = " ".join(GNU_TAR + ["-C", str(dataset), f"--files-from={listing}"])
        if gnu:
            wall, cpu, _ = clock(_sh, f"{tar_cmd} | cat > /dev/null")
            show("GNU tar | cat > /dev/null", wall, cpu, read_wall, tar_bytes)
        ours = work / f"{tree}.tar.zst"
        wall, cpu, summary = clock(write_tar_zst, dataset / tree, ours, level, threads, 1704067200)
        # The floor of an archive: tar to a file, then its md5 and zstd alone on it.
        tar = work / f"{tree}.tar"
        with open(tar, "wb") as f:
            for chunk in TarStream(files, 1704067200):
                f.write(chunk)
        md5_wall, md5_cpu, _ = clock(_md5_file, tar)
        z_wall, z_cpu, _ = clock(_zstd_file, tar, level, threads)
        floor = max(read_wall, md5_wall, z_wall)
        show("md5 of the .tar alone", md5_wall, md5_cpu, nbytes=tar_bytes)
        show(f"zstd of the .tar alone (python-zstandard, {threads} threads)", z_wall, z_cpu, nbytes=tar_bytes)
        show("write_tar_zst (ours)", wall, cpu, floor, tar_bytes)
        print(f"    floor = the slowest of read, md5, zstd alone = {floor:.1f} s", flush=True)
        if shutil.which("zstd"):
            wall, cpu, _ = clock(_sh, f"zstd -q -T{threads} -{level} -c {tar} > /dev/null")
            show(f"zstd CLI of the .tar alone (-T{threads} -{level})", wall, cpu, nbytes=tar_bytes)
            if gnu:
                cli = work / f"{tree}.cli.tar.zst"
                wall, cpu, _ = clock(
                    _sh,
                    f"set -o pipefail; {tar_cmd} | tee >(md5sum > {cli}.md5) "
                    f"| zstd -q -T{threads} -{level} -f -o {cli}",
                )
                show("GNU tar | tee >(md5sum) | zstd CLI", wall, cpu, floor, tar_bytes)
                time.sleep(0.5)  # md5sum ends after zstd
                tar_same = (cli.with_name(cli.name + ".md5")).read_text().split()[0] == summary["tar_md5"]
                zst_same = sha256_file(cli) == summary["sha256"]
                print(
                    f"    GNU tar bytes = ours: {tar_same}; zstd CLI bytes = python-zstandard's: {zst_same}", flush=True
                )
                cli.unlink()
        tar.unlink()
        ours.unlink()

    jobs = [(dataset / t, work / f"{t}.tar.zst", level, threads) for t in TREES]
    wall, cpu, _ = clock(lambda: [_archive(j) for j in jobs])
    show(f"three archives one after another, {threads} zstd threads each", wall, cpu)
    side = [(t, o, lv, max(1, threads // len(jobs))) for t, o, lv, _ in jobs]
    with mp.get_context("spawn").Pool(len(jobs)) as pool:
        wall2, cpu2, _ = clock(pool.map, _archive, side)
    show(f"three archives side by side, {side[0][3]} zstd threads each (CPU: this process only)", wall2, cpu2)
    print(f"  -> side by side / one after another: {wall2 / wall:.2f}", flush=True)
    shutil.rmtree(work)


# ---------------------------------------------------------------------------------- LMDB


def dd(path: Path, nbytes: int) -> tuple[float, float]:
    wall, cpu, _ = clock(
        subprocess.run,
        ["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={nbytes // 1024**2}", "conv=fdatasync", "status=none"],
    )
    path.unlink()
    return wall, cpu


def run_lmdb(root: Path, out: Path) -> dict:
    tiles = root / "tiles" / TILE
    return encode_lmdb(
        [root / "dataset" / m for m in META],
        {k: [tiles / f"{k}_shard.parquet"] for k in ("s2", "reference_maps", "s1")},
        out,
        {k: root / "dataset" / t for k, t in KINDS.items()},
        [tiles / "geocoding.json"],
        sample_size=0,
    )


def bench_lmdb(root: Path, repeat: int) -> None:
    out = root / "bench_lmdb" / "lmdb"
    print(f"lmdb (encode_lmdb vs dd conv=fdatasync of the same bytes before and after it, {repeat} rounds)", flush=True)

    def lmdb() -> tuple[int, float]:
        shutil.rmtree(out.parent, ignore_errors=True)
        out.parent.mkdir(parents=True)
        wall, cpu, _ = clock(run_lmdb, root, out)
        size = (out / "data.mdb").stat().st_size
        shutil.rmtree(out.parent)
        out.parent.mkdir(parents=True)
        show(f"encode_lmdb, data.mdb {size / 1e6:,.0f} MB", wall, cpu, nbytes=size)
        return size, size / wall

    def dd_speed(size: int) -> float:
        wall, cpu = dd(out.parent / "dd.bin", size)
        show("dd of the same bytes", wall, cpu, nbytes=size)
        return size / wall

    size, _ = lmdb()  # the byte count (and a warm-up)
    before, ratios = dd_speed(size), []
    for _ in range(repeat):
        _, speed = lmdb()
        after = dd_speed(size)
        ratios.append(speed / statistics.mean((before, after)))
        before = after
    shutil.rmtree(out.parent, ignore_errors=True)
    print(
        f"  -> LMDB speed / mean dd speed before and after it: {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"median {statistics.median(ratios):.2f}",
        flush=True,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("parts", nargs="*", default=["manifest", "archives", "lmdb"])
    ap.add_argument("--root", type=Path, default=Path("/tmp/bench_tail"), help="the synthetic tile (made if missing)")
    ap.add_argument("--side", type=int, default=91, help="patches per tile side (91: 8,281)")
    ap.add_argument("--level", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    print(uptime(), flush=True)
    if not (a.root / "dataset" / META[0]).exists():
        t0 = time.perf_counter()
        n = make_tile(a.root, a.side)
        print(f"synthetic tile: {n} patches, {time.perf_counter() - t0:.0f} s to make", flush=True)
    if "manifest" in a.parts:
        bench_manifest(a.root, a.threads)
    if "archives" in a.parts:
        bench_archives(a.root, a.level, a.threads)
    if "lmdb" in a.parts:
        bench_lmdb(a.root, a.repeat)
    print(uptime(), flush=True)


if __name__ == "__main__":
    main()
