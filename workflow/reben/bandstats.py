"""Per-band mean and standard deviation over one split of the dataset (rule compute_band_statistics).

The statistics a training script normalises with: for each Sentinel-2 band (at its native
resolution) and each Sentinel-1 polarisation, the count, mean, population standard deviation,
minimum and maximum of every pixel of every patch of the split in `metadata.parquet`, read
from the dataset's GeoTIFF trees. Patches are read in a thread pool (GDAL releases the GIL)
and merged one at a time with Chan's pairwise update in float64, so memory stays flat and the
result does not suffer the cancellation of a sum-of-squares formula.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .constants import S1_POLARISATIONS, S2_BANDS
from .errors import RebenError
from .io import write_json
from .logs import Progress

LOG = logging.getLogger("reben.bandstats")


class BandStatisticsError(RebenError):
    """A patch file of the split is missing or unreadable."""


@dataclass
class RunningStats:
    """Count, mean, sum of squared deviations (M2), min and max of a stream of values."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = np.inf
    max: float = -np.inf

    @classmethod
    def of(cls, values: np.ndarray) -> "RunningStats":
        v = np.asarray(values, dtype=np.float64).ravel()
        if v.size == 0:
            return cls()
        mean = float(v.mean())
        return cls(int(v.size), mean, float(np.square(v - mean).sum()), float(v.min()), float(v.max()))

    def merge(self, other: "RunningStats") -> None:
        if other.count == 0:
            return
        if self.count == 0:
            self.count, self.mean, self.m2, self.min, self.max = (
                other.count, other.mean, other.m2, other.min, other.max)
            return
        n = self.count + other.count
        delta = other.mean - self.mean
        self.mean += delta * other.count / n
        self.m2 += other.m2 + delta * delta * self.count * other.count / n
        self.count = n
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)

    def summary(self) -> dict:
        if self.count == 0:
            return {"pixels": 0, "mean": None, "std": None, "min": None, "max": None}
        return {"pixels": self.count, "mean": self.mean, "std": float(np.sqrt(self.m2 / self.count)),
                "min": self.min, "max": self.max}


def tile_key_of(patch_id: str) -> str:
    """`S2A_MSIL2A_..._T33UUP_26_57` -> `S2A_MSIL2A_..._T33UUP`."""
    return patch_id.rsplit("_", 2)[0]


def s1_product_of(s1_name: str) -> str:
    """`S1B_IW_GRDH_1SDV_20170612T165809_33UUP_26_57` -> `S1B_IW_GRDH_1SDV_20170612T165809`."""
    return s1_name.rsplit("_", 3)[0]


def s2_band_paths(s2_dir, patch_id: str) -> dict[str, Path]:
    folder = Path(s2_dir) / tile_key_of(patch_id) / patch_id
    return {band: folder / f"{patch_id}_{band}.tif" for band in S2_BANDS}


def s1_band_paths(s1_dir, s1_name: str) -> dict[str, Path]:
    folder = Path(s1_dir) / s1_product_of(s1_name) / s1_name
    return {pol: folder / f"{s1_name}_{pol}.tif" for pol in S1_POLARISATIONS}


def _read(path: Path) -> np.ndarray:
    import rasterio
    from rasterio.errors import RasterioError
    try:
        with rasterio.open(path) as src:
            return src.read(1)
    except RasterioError as e:
        if not path.exists():
            raise BandStatisticsError(f"{path}: missing; the dataset tree does not hold every "
                                      f"patch of metadata.parquet (rebuild the dataset)") from None
        raise BandStatisticsError(f"{path}: unreadable ({e})") from None


def patch_stats(paths: dict[str, Path]) -> dict[str, RunningStats]:
    """Statistics of each band file of one patch; non-finite values (NaN in S1) are left out."""
    out = {}
    for band, path in paths.items():
        values = _read(path)
        if values.dtype.kind == "f":
            values = values[np.isfinite(values)]
        out[band] = RunningStats.of(values)
    return out


def band_statistics(metadata: pd.DataFrame, s2_dir, s1_dir=None, split: str = "train",
                    threads: int = 1) -> dict:
    """The statistics JSON (see module doc) of the patches of `split` in `metadata`.

    `s1_dir` None (Sentinel-1 off) leaves VV and VH out; so do patches whose `s1_name` is empty.
    """
    start = time.monotonic()
    rows = metadata[metadata["split"] == split]
    jobs = [s2_band_paths(s2_dir, pid) for pid in rows["patch_id"]]
    n_s1 = 0
    if s1_dir is not None:
        names = [n for n in rows["s1_name"].fillna("") if n]
        n_s1 = len(names)
        jobs += [s1_band_paths(s1_dir, n) for n in names]
    bands = list(S2_BANDS) + (list(S1_POLARISATIONS) if s1_dir is not None else [])
    totals = {band: RunningStats() for band in bands}
    progress = Progress(f"band statistics over {split}", len(jobs))
    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        # Chunks bound what waits in memory: at most 512 patches' statistics at a time.
        for lo in range(0, len(jobs), 512):
            for done, stats in enumerate(pool.map(patch_stats, jobs[lo:lo + 512]), lo + 1):
                for band, s in stats.items():
                    totals[band].merge(s)
                progress.update(done)
    summaries = {band: totals[band].summary() for band in bands}
    LOG.info("band statistics: %d %s patches (S2), %d (S1), %d files read in %.1f s",
             len(rows), split, n_s1, sum(len(j) for j in jobs), time.monotonic() - start)
    return {
        "split": split,
        "source": "metadata.parquet",
        "patches": {"s2": int(len(rows)), "s1": int(n_s1)},
        "order": bands,
        "mean": [summaries[b]["mean"] for b in bands],
        "std": [summaries[b]["std"] for b in bands],
        "bands": summaries,
        "note": ("population statistics (ddof 0) over every pixel at each band's native "
                 "resolution; S2 in L2A digital numbers as stored, S1 in dB"),
    }


def write_band_statistics(metadata_path, s2_dir, out_path, s1_dir=None, split: str = "train",
                          threads: int = 1) -> dict:
    """band_statistics of the split of a metadata parquet file, written as JSON."""
    metadata = pd.read_parquet(metadata_path, columns=["patch_id", "split", "s1_name"])
    stats = band_statistics(metadata, s2_dir, s1_dir, split, threads)
    write_json(stats, out_path)
    return stats
