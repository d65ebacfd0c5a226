"""Benchmark of the Sentinel-2 branch on one full-size product (10980 x 10980 px at 10 m).

Builds (once, cached in bench/out/) a full-size synthetic L2A product of realistic content in
lossless JPEG2000, then measures in fresh processes, each with its own wall time and peak
memory (ru_maxrss):
  decode floor     read every band of the product once with rasterio (12 bands + SCL)
  inspect_tile     reben.sentinel2.tiles.inspect_tile (metadata, band discovery, geometry checks)
  cut_s2_patches   reben.sentinel2.patches.cut_tile (validity, SCL fractions, 8,281 x 12 GeoTIFFs, shard, sha256)
and prints a table with the ratio cut / decode floor. Target: cut within 1.3x the decode
floor and under 3 GiB peak memory.

    .venv/bin/python bench/bench_s2_patches.py [--threads 2] [--out bench/out] [--product SAFE] [--repeat 1]

--product: an L2A product already on disk (e.g. one of bench_workflow's, bench/out/workflow/user/s2/)
instead of writing the synthetic one. --repeat: decode floor and cut alternated that many times,
each ratio printed (the machine may be shared: the ratio of neighbouring runs is what counts).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

STEP = r"""
import json, os, sys, time
sys.path.insert(0, {workflow!r})
os.environ["GDAL_NUM_THREADS"] = str({threads})
start = time.perf_counter()
{body}
wall = time.perf_counter() - start
# VmHWM is this process's own peak (ru_maxrss would carry the parent's peak across exec).
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({{"wall_s": wall, "peak_mib": hwm / 1024}}))
"""

DECODE = """
import rasterio
from concurrent.futures import ThreadPoolExecutor
from reben.io import read_json
tile = read_json({tile_json!r})
def read(path):
    with rasterio.open(path) as src:
        return src.read(1).shape
with ThreadPoolExecutor({threads}) as pool:
    list(pool.map(read, tile["band_paths"].values()))
"""

INSPECT = """
from reben.sentinel2.tiles import inspect_tile
inspect_tile({product!r}, {key!r}, 1200, {tile_json!r})
"""

CUT = """
from reben.sentinel2.patches import cut_tile
cut_tile({tile_json!r}, {out!r} + "/s2", {out!r} + "/s2_patches.parquet", {out!r} + "/s2_shard.parquet",
         {out!r} + "/s2_band_stats.parquet",
         threads={threads}, sha256_path={out!r} + "/s2_sha256.parquet")
"""


def run_step(body: str, threads: int, **fields) -> dict:
    code = STEP.format(workflow=str(REPO / "workflow"), threads=threads, body=body.format(threads=threads, **fields))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--product", type=Path, help="an L2A product (.SAFE folder) to cut instead")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    from reben.names import tile_key
    from reben.synthetic.scenario import full_size_product
    from reben.synthetic.sentinel2 import write_l2a_product

    if args.product:
        product = args.product.resolve()
        key = tile_key(product.name.removesuffix(".SAFE"))
    else:
        spec = full_size_product()
        product = args.out / spec.safe_name
        if not product.exists():
            print(f"writing a full-size synthetic product to {product} (once) ...", flush=True)
            write_l2a_product(spec, product)
        key = tile_key(spec.name)
    work = args.out / "s2_run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tile_json = str(work / "tile.json")
    fields = dict(product=str(product), key=key, tile_json=tile_json, out=str(work))

    results = {"inspect_tile": run_step(INSPECT, args.threads, **fields)}
    ratios = []
    for _ in range(max(1, args.repeat)):
        results["decode floor"] = run_step(DECODE, args.threads, **fields)
        shutil.rmtree(work / "s2", ignore_errors=True)
        results["cut_s2_patches"] = run_step(CUT, args.threads, **fields)
        ratios.append(results["cut_s2_patches"]["wall_s"] / results["decode floor"]["wall_s"])
        print(
            f"decode floor {results['decode floor']['wall_s']:.1f} s, cut {results['cut_s2_patches']['wall_s']:.1f} s: "
            f"{ratios[-1]:.2f}x",
            flush=True,
        )
    floor = results["decode floor"]["wall_s"]
    print(f"\nSentinel-2 branch, full-size product (10980 x 10980), {args.threads} threads, {os.cpu_count()} cores")
    print(f"{'step':<16}{'wall (s)':>10}{'peak (MiB)':>12}{'x floor':>9}")
    for step, r in results.items():
        print(f"{step:<16}{r['wall_s']:>10.1f}{r['peak_mib']:>12.0f}{r['wall_s'] / floor:>9.2f}")
    n_files = sum(1 for _ in (work / "s2").rglob("*.tif"))
    print(f"\n{n_files} patch files written; target: cut <= 1.3 x floor, peak < 3072 MiB")
    if len(ratios) > 1:
        listed = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"cut / floor over {len(ratios)} rounds: {listed}; median {sorted(ratios)[len(ratios) // 2]:.2f}")


if __name__ == "__main__":
    main()
