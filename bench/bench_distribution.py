"""Benchmark of the distribution stage on one full-size tile (run by hand, not in CI).

Synthesizes a tile's shards (8,281 S2 + 8,281 S1 + 8,281 reference maps, realistic arrays) and
its GeoTIFF trees directly, then measures, each step in a fresh process (for its peak memory):
  - encode_lmdb (index, copy and hash each value, sample check against the GeoTIFFs, write
    LMDB_CONTENT.sha256): patches/s;
  - the content hash recomputed from the LMDB (`reben lmdb-content`, not in the
    workflow), which must equal the one encode_lmdb wrote;
  - write_tar_zst of the three trees, against the same tar bytes written to nowhere (the
    Python and file-reading share) and zstd alone on those bytes in memory (the zstd share).

    .venv/bin/python bench/bench_distribution.py [--side 91] [--level 3] [--threads 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

import zstandard  # noqa: E402

from reben.distribution.archives import write_tar, write_tar_zst  # noqa: E402
from reben.distribution.lmdb import encode_lmdb  # noqa: E402

TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
TREES = ("BigEarthNet-S2", "BigEarthNet-S1", "Reference_Maps")


def _anon_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _in_child(queue, fn, args):
    import threading

    peak = [0.0]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.05):
            peak[0] = max(peak[0], _anon_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu0, t0 = time.process_time(), time.perf_counter()
    result = fn(*args)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    stop.set()
    queue.put(
        (
            {
                "wall": wall,
                "cpu": cpu,
                "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "anon": max(peak[0], _anon_mib()),
            },
            result,
        )
    )


def measured(fn, *args):
    """({wall, cpu seconds, peak RSS and peak anonymous memory in MiB}, result) of fn(*args) in
    a fresh (spawned) process; RSS counts mapped file pages (LMDB, Parquet), anonymous does not."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=_in_child, args=(queue, fn, args))
    p.start()
    out = queue.get()
    p.join()
    return out


def make_tile(root: Path, side: int) -> int:
    from reben.synthetic.dataset import metadata_frame, write_tile

    coords = [(x, y) for y in range(side) for x in range(side)]
    patches = write_tile(root, TILE, coords, seed=7)
    meta = root / "dataset"
    metadata_frame(patches).to_parquet(meta / "metadata.parquet", index=False)
    metadata_frame(patches.iloc[:0]).to_parquet(
        meta / "metadata_for_patches_with_snow_cloud_or_shadow.parquet", index=False
    )
    return len(patches)


def run_lmdb(root: str) -> dict:
    root = Path(root)
    tiles = root / "tiles" / TILE
    return encode_lmdb(
        [root / "dataset/metadata.parquet", root / "dataset/metadata_for_patches_with_snow_cloud_or_shadow.parquet"],
        {k: [tiles / f"{k}_shard.parquet"] for k in ("s2", "reference_maps", "s1")},
        root / "dataset/lmdb",
        {
            "s2": root / "dataset/BigEarthNet-S2",
            "s1": root / "dataset/BigEarthNet-S1",
            "reference_maps": root / "dataset/Reference_Maps",
        },
        [tiles / "geocoding.json"],
        sample_size=20,
        content_path=root / "dataset/LMDB_CONTENT.sha256",
    )


def run_recompute(root: str) -> tuple[str, int]:
    from reben.distribution.lmdb import check_content_hash

    return check_content_hash(Path(root) / "dataset/lmdb", Path(root) / "dataset/LMDB_CONTENT.sha256")


def run_archives(root: str, level: int, threads: int) -> list[dict]:
    root = Path(root)
    return [write_tar_zst(root / "dataset" / t, root / "dist" / f"{t}.tar.zst", level, threads) for t in TREES]


class _Null(io.RawIOBase):
    def writable(self):
        return True

    def write(self, b):
        return len(b)


def run_tar_only(root: str) -> int:
    return sum(write_tar(Path(root) / "dataset" / t, _Null())[1] for t in TREES)


def run_zstd_only(root: str, level: int, threads: int) -> int:
    """zstd on the same tar bytes, from memory, 256 MiB at a time (no Python per file)."""
    total = 0
    busy = 0.0
    for t in TREES:
        buf = io.BytesIO()
        write_tar(Path(root) / "dataset" / t, buf)
        data = buf.getbuffer()
        cctx = zstandard.ZstdCompressor(level=level, threads=threads)
        t0 = time.perf_counter()
        with cctx.stream_writer(_Null(), closefd=False) as z:
            for i in range(0, len(data), 256 * 1024**2):
                z.write(data[i : i + 256 * 1024**2])
        busy += time.perf_counter() - t0
        total += len(data)
        del data, buf
    return busy


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=91, help="patches per tile side (91: 8,281)")
    ap.add_argument("--level", type=int, default=3, help="zstd level (config default 3)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    ap.add_argument("--skip-archives", action="store_true")
    a = ap.parse_args()

    root = a.keep or Path(tempfile.mkdtemp(prefix="bench_distribution_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        if not (root / "dataset/metadata.parquet").exists():
            n = make_tile(root, a.side)
        else:
            n = a.side * a.side
        print(f"synthetic tile: {n} patches, {time.perf_counter() - t0:.1f} s to make", flush=True)
        shutil.rmtree(root / "dataset/lmdb", ignore_errors=True)
        m, s = measured(run_lmdb, str(root))
        size = (root / "dataset/lmdb/data.mdb").stat().st_size
        print(
            f"encode_lmdb: {s['entries']} entries, data.mdb {size / 1024**3:.2f} GiB; "
            f"wall {m['wall']:.1f} s = {n / m['wall']:,.0f} patches/s; "
            f"CPU {m['cpu']:.1f} s = {n / m['cpu']:,.0f} patches per CPU-second; "
            f"peak RSS {m['rss']:,.0f} MiB (anonymous {m['anon']:,.0f} MiB)",
            flush=True,
        )
        m, _ = measured(run_recompute, str(root))  # raises if it differs from encode_lmdb's
        print(
            f"content hash recomputed from the LMDB (= encode_lmdb's {s['content_sha256'][:12]}...): "
            f"wall {m['wall']:.1f} s, CPU {m['cpu']:.1f} s",
            flush=True,
        )
        if a.skip_archives:
            return
        m, archives = measured(run_archives, str(root), a.level, a.threads)
        tar_bytes = sum(x["tar_bytes"] for x in archives)
        out_bytes = sum(x["bytes"] for x in archives)
        print(
            f"archives (level {a.level}, {a.threads} threads): {tar_bytes / 1024**2:,.0f} MiB tar "
            f"-> {out_bytes / 1024**2:,.0f} MiB; wall {m['wall']:.1f} s "
            f"({tar_bytes / m['wall'] / 1024**2:,.0f} MiB/s, {n / m['wall']:,.0f} patches/s), "
            f"CPU {m['cpu']:.1f} s; peak RSS {m['rss']:,.0f} MiB (anonymous {m['anon']:,.0f} MiB)",
            flush=True,
        )
        m, _ = measured(run_tar_only, str(root))
        print(
            f"  tar stream alone (Python + reading files, no compression): wall {m['wall']:.1f} s, "
            f"CPU {m['cpu']:.1f} s",
            flush=True,
        )
        m, busy = measured(run_zstd_only, str(root), a.level, a.threads)
        print(
            f"  zstd alone on the same bytes in memory: wall {busy:.1f} s "
            f"(process CPU incl. building the tar in memory {m['cpu']:.1f} s)",
            flush=True,
        )
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
