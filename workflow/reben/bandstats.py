"""Per-band mean and standard deviation over one split of the dataset (rule compute_band_statistics).

The statistics a training script normalises with: for each Sentinel-2 band (at its native
resolution) and each Sentinel-1 polarisation, the count, mean, population standard deviation,
minimum and maximum of every pixel of every patch of the split in `metadata.parquet`, read
from the dataset's GeoTIFF trees. Chunks of patches are read by a pool of processes, each file
merged with Chan's pairwise update in float64, so memory stays flat and the result does not
suffer the cancellation of a sum-of-squares formula. A full reBEN train split is about 270,000
patches (3.8 million files): files are read with Pillow, which opens a small uncompressed TIFF
several times faster than GDAL, and through rasterio where Pillow cannot read one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .constants import S1_POLARISATIONS, S2_BANDS
from .errors import BandStatisticsError
from .grid import tile_key_of
from .io import write_json
from .logs import Progress
from .sentinel1 import s1_product_of

LOG = logging.getLogger("reben.bandstats")


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
                other.count,
                other.mean,
                other.m2,
                other.min,
                other.max,
            )
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
        return {
            "pixels": self.count,
            "mean": self.mean,
            "std": float(np.sqrt(self.m2 / self.count)),
            "min": self.min,
            "max": self.max,
        }


def s2_band_paths(s2_dir, patch_id: str) -> dict[str, Path]:
    folder = Path(s2_dir) / tile_key_of(patch_id) / patch_id
    return {band: folder / f"{patch_id}_{band}.tif" for band in S2_BANDS}


def s1_band_paths(s1_dir, s1_name: str) -> dict[str, Path]:
    folder = Path(s1_dir) / s1_product_of(s1_name) / s1_name
    return {pol: folder / f"{s1_name}_{pol}.tif" for pol in S1_POLARISATIONS}


def _read(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.n_frames == 1 and image.mode in ("I;16", "F", "I", "L"):
                values = np.asarray(image)
                if values.ndim == 2:
                    return values
    except FileNotFoundError:
        raise BandStatisticsError(
            f"{path}: missing; the dataset tree does not hold every patch of metadata.parquet (rebuild the dataset)"
        ) from None
    except (OSError, ValueError):
        pass  # a TIFF flavour Pillow does not decode: GDAL does
    return _read_rasterio(path)


def _read_rasterio(path: Path) -> np.ndarray:
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as src:
            return src.read(1)
    except RasterioError as e:
        raise BandStatisticsError(f"{path}: unreadable ({e})") from None


def chunk_stats(chunk: tuple[str, str, list[str]]) -> dict[str, RunningStats]:
    """Statistics of every band over a chunk of patches, ("s2" or "s1", tree, names);
    non-finite values (NaN in S1) are left out."""
    kind, tree, names = chunk
    paths_of = s2_band_paths if kind == "s2" else s1_band_paths
    totals: dict[str, RunningStats] = {}
    for name in names:
        for band, path in paths_of(tree, name).items():
            values = _read(path)
            if values.dtype.kind == "f":
                values = values[np.isfinite(values)]
            totals.setdefault(band, RunningStats()).merge(RunningStats.of(values))
    return totals


CHUNK = 200
"""Patches per task of the process pool: large enough to hide the pickling, small enough that
progress shows and the processes share the work evenly."""


class _Inline:
    """A pool of one: runs in this process (no fork for a single thread)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def map(fn, items):
        return map(fn, items)


def _pool(processes: int):
    if processes <= 1:
        return _Inline()
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=processes)


def band_statistics(
    metadata: pd.DataFrame,
    s2_dir,
    s1_dir=None,
    split: str = "train",
    threads: int = 1,
    source: str = "metadata.parquet",
) -> dict:
    """The statistics JSON (see module doc) of the patches of `split` in `metadata`.

    `s1_dir` None (Sentinel-1 off) leaves VV and VH out; so do patches whose `s1_name` is empty.
    """
    start = time.monotonic()
    rows = metadata[metadata["split"] == split]
    s2_ids = rows["patch_id"].tolist()
    s1_names = [n for n in rows["s1_name"].fillna("") if n] if s1_dir is not None else []
    chunks = [("s2", str(s2_dir), s2_ids[lo : lo + CHUNK]) for lo in range(0, len(s2_ids), CHUNK)]
    chunks += [("s1", str(s1_dir), s1_names[lo : lo + CHUNK]) for lo in range(0, len(s1_names), CHUNK)]
    bands = list(S2_BANDS) + (list(S1_POLARISATIONS) if s1_dir is not None else [])
    totals = {band: RunningStats() for band in bands}
    total = len(s2_ids) + len(s1_names)
    progress = Progress(f"band statistics over the {split} split: patches", total)
    done = 0
    with _pool(threads) as pool:
        for chunk, stats in zip(chunks, pool.map(chunk_stats, chunks)):
            for band, s in stats.items():
                totals[band].merge(s)
            done += len(chunk[2])
            progress.update(done)
    summaries = {band: totals[band].summary() for band in bands}
    LOG.info(
        "band statistics: %d %s patches (S2), %d (S1), %d files read in %.1f s",
        len(s2_ids),
        split,
        len(s1_names),
        len(s2_ids) * len(S2_BANDS) + len(s1_names) * len(S1_POLARISATIONS),
        time.monotonic() - start,
    )
    return {
        "split": split,
        "source": source,
        "patches": {"s2": len(s2_ids), "s1": len(s1_names)},
        "order": bands,
        "mean": [summaries[b]["mean"] for b in bands],
        "std": [summaries[b]["std"] for b in bands],
        "bands": summaries,
        "note": (
            "population statistics (ddof 0) over every pixel at each band's native "
            "resolution; S2 in L2A digital numbers as stored, S1 in dB"
        ),
    }


def write_band_statistics(metadata_path, s2_dir, out_path, s1_dir=None, split: str = "train", threads: int = 1) -> dict:
    """band_statistics of the split of a metadata parquet file (or of several, e.g. both
    metadata files for report.patch_set kept), written as JSON."""
    paths = [metadata_path] if isinstance(metadata_path, (str, Path)) else list(metadata_path)
    metadata = pd.concat(
        [pd.read_parquet(p, columns=["patch_id", "split", "s1_name"]) for p in paths], ignore_index=True
    ).sort_values("patch_id", ignore_index=True)
    source = " + ".join(Path(p).name for p in paths)
    stats = band_statistics(metadata, s2_dir, s1_dir, split, threads, source=source)
    write_json(stats, out_path)
    return stats
