"""Benchmark of compute_band_statistics: patches per second over a synthetic train split.

Run by hand: .venv/bin/python bench/bench_band_statistics.py [patches] [threads]
Writes `patches` synthetic S2 patches (12 uncompressed bands, as cut_s2_patches writes them)
into a temporary folder, then times reben.bandstats.band_statistics over them.
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from reben.bandstats import band_statistics  # noqa: E402
from reben.constants import S2_BAND_RESOLUTION, S2_BANDS  # noqa: E402
from reben.geotiff import PatchTiffWriter  # noqa: E402

TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


def main(n: int, threads: int) -> None:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "BigEarthNet-S2"
        writers = {r: PatchTiffWriter((1200 // r,) * 2, "uint16", "EPSG:32633", r, nodata=0) for r in (10, 20, 60)}
        ids = [f"{TILE}_{i % 91:02d}_{i // 91:02d}" for i in range(n)]
        for pid in ids:
            folder = root / TILE / pid
            folder.mkdir(parents=True)
            for band in S2_BANDS:
                r = S2_BAND_RESOLUTION[band]
                writers[r].write(
                    folder / f"{pid}_{band}.tif",
                    rng.integers(1, 10000, (1200 // r,) * 2, dtype="uint16"),
                    300000,
                    5400000,
                )
        meta = pd.DataFrame({"patch_id": ids, "split": "train", "s1_name": ""})
        start = time.monotonic()
        band_statistics(meta, root, None, threads=threads)
        elapsed = time.monotonic() - start
        print(f"{n} patches ({12 * n} files), {threads} threads: {elapsed:.1f} s, {n / elapsed:.0f} patches/s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, int(sys.argv[2]) if len(sys.argv) > 2 else 2)
