"""Benchmark of compute_band_statistics at reBEN's scale: the merge of the per-tile tables.

Writes (once per run, into a temporary folder) synthetic per-tile tables as cut_s2_patches and
cut_s1_patches write them, `--tiles` tiles of `--patches` rows each (s2_band_stats.parquet and
s1_band_stats.parquet), and the two metadata files of `--kept` patches drawn from them (split
50/25/25, an eighth flagged), then times reben.bandstats.write_band_statistics over the train
split of both metadata files (report.patch_set kept) in a fresh process, with its peak memory.

    .venv/bin/python bench/bench_band_statistics.py [--tiles 115] [--patches 8000] [--kept 549488]

Before issue 17 the rule read every GeoTIFF of the split instead: 68 patches/s on 2 cores
(S2 only, files in the page cache), about 70 minutes for reBEN's train split.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

from reben.bandstats import S1_STATS, S2_STATS  # noqa: E402
from reben.constants import S1_POLARISATIONS, S2_BAND_RESOLUTION, S2_BANDS  # noqa: E402

MERGE = """
import json, sys, time
sys.path.insert(0, {workflow!r})
from reben.bandstats import write_band_statistics
paths = json.load(open({paths!r}))
start = time.perf_counter()
stats = write_band_statistics(paths["metadata"], paths["s2"], paths["out"], paths["s1"], split="train")
wall = time.perf_counter() - start
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({{"wall_s": wall, "peak_mib": hwm / 1024, "patches": stats["patches"]}}))
"""


def tile_key(i: int) -> str:
    return f"S2A_MSIL2A_20170613T101031_N9999_R022_T{30 + i // 26:02d}{chr(65 + i % 26)}UP"


def synthetic_tables(folder: Path, tiles: int, patches: int, rng) -> tuple[list, list, list]:
    """Per-tile tables of plausible per-patch statistics; returns the paths and the patch ids."""
    s2_paths, s1_paths, ids = [], [], []
    side = int(np.ceil(np.sqrt(patches)))
    for t in range(tiles):
        key = tile_key(t)
        pids = [f"{key}_{i % side:02d}_{i // side:02d}" for i in range(patches)]
        columns = {"patch_id": pd.array(pids, dtype="string")}
        for band in S2_BANDS:
            n = (1200 // S2_BAND_RESOLUTION[band]) ** 2
            mean = rng.uniform(500, 5000, patches)
            std = rng.uniform(10, 1000, patches)
            columns[f"{band}_count"] = np.full(patches, n, dtype=np.int64)
            columns[f"{band}_sum"] = np.round(mean * n).astype(np.int64)
            columns[f"{band}_sum_sq"] = np.round((std**2 + mean**2) * n).astype(np.int64)
            columns[f"{band}_min"] = np.maximum(mean - 3 * std, 1).astype(np.uint16)
            columns[f"{band}_max"] = np.minimum(mean + 3 * std, 65535).astype(np.uint16)
        s2_paths.append(folder / f"{key}_s2_band_stats.parquet")
        pd.DataFrame(columns)[["patch_id"] + [f"{b}_{s}" for b in S2_BANDS for s in S2_STATS]].to_parquet(
            s2_paths[-1], index=False
        )
        columns = {
            "patch_id": pd.array(pids, dtype="string"),
            "s1_name": pd.array([f"S1B_IW_GRDH_1SDV_20170612T165809_{p[-9:]}" for p in pids], dtype="string"),
        }
        for pol in S1_POLARISATIONS:
            mean = rng.normal(-12, 3, patches)
            std = rng.uniform(0.5, 4, patches)
            columns[f"{pol}_count"] = np.full(patches, 14400, dtype=np.int64)
            columns[f"{pol}_mean"] = mean
            columns[f"{pol}_m2"] = std**2 * 14400
            columns[f"{pol}_min"] = (mean - 4 * std).astype(np.float32)
            columns[f"{pol}_max"] = (mean + 4 * std).astype(np.float32)
        s1_paths.append(folder / f"{key}_s1_band_stats.parquet")
        frame = pd.DataFrame(columns)
        frame[["patch_id", "s1_name"] + [f"{p}_{s}" for p in S1_POLARISATIONS for s in S1_STATS]].to_parquet(
            s1_paths[-1], index=False
        )
        ids.append(pd.DataFrame({"patch_id": pids, "s1_name": columns["s1_name"]}))
    return s2_paths, s1_paths, pd.concat(ids, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles", type=int, default=115)
    parser.add_argument("--patches", type=int, default=8000, help="written S2 (and S1) patches per tile")
    parser.add_argument("--kept", type=int, default=549_488, help="patches in the two metadata files")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        s2, s1, ids = synthetic_tables(folder, args.tiles, args.patches, rng)
        kept = ids.iloc[np.sort(rng.choice(len(ids), min(args.kept, len(ids)), replace=False))]
        meta = kept.assign(split=rng.choice(["train", "train", "validation", "test"], len(kept)))
        flagged = rng.random(len(meta)) < 0.125
        metadata = [str(folder / "metadata.parquet"), str(folder / "metadata_flagged.parquet")]
        meta[~flagged].to_parquet(metadata[0], index=False)
        meta[flagged].to_parquet(metadata[1], index=False)
        print(f"wrote {2 * len(s2)} tables of {args.patches} rows in {time.perf_counter() - start:.0f} s", flush=True)
        paths = {
            "metadata": metadata,
            "s2": [str(p) for p in s2],
            "s1": [str(p) for p in s1],
            "out": str(folder / "band_statistics.json"),
        }
        (folder / "paths.json").write_text(json.dumps(paths))
        code = MERGE.format(workflow=str(REPO / "workflow"), paths=str(folder / "paths.json"))
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"compute_band_statistics merge: {args.tiles} tiles x {args.patches} patches, {len(meta)} kept, "
        f"train {result['patches']}: {result['wall_s']:.1f} s, peak {result['peak_mib']:.0f} MiB"
    )


if __name__ == "__main__":
    main()
