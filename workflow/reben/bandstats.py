"""Per-band statistics of the patches, per patch where they are cut, merged over one split of the
dataset (rule compute_band_statistics).

The statistics a training script normalises with: for each Sentinel-2 band (at its native
resolution) and each Sentinel-1 polarisation, the count, mean, population standard deviation,
minimum and maximum of every pixel of every patch of one split of the metadata.

The rules that hold a tile's pixels in memory write one row per patch they write, so that the
dataset-wide rule never reads a GeoTIFF again (3.8 million files for reBEN's train split):
- `s2_band_stats.parquet` (cut_s2_patches): `patch_id`, then per band `<band>_count`,
  `<band>_sum`, `<band>_sum_sq` (int64, exact: even a whole tile's 10980 x 10980 squared uint16
  values sum to less than 2**63), `<band>_min`, `<band>_max` (uint16), from whole-tile block
  reductions (s2_block_stats);
- `s1_band_stats.parquet` (cut_s1_patches, take_v1_s1_patches): `patch_id`, `s1_name`, then per
  polarisation `<pol>_count` (finite pixels; NaN left out), `<pol>_mean`, `<pol>_m2` (sum of
  squared deviations from the patch mean, float64), `<pol>_min`, `<pol>_max` (float32).

Which patches enter the statistics is decided later (selection, splits, overlaps), so the merge
selects the rows of the split's patches in the metadata files: the S2 sums add up exactly in
Python integers (mean and variance are then correctly rounded fractions); the S1 groups combine
with Chan's parallel formula in float64 (M2 = sum of the groups' M2 + sum of n_i (mean_i - mean)^2),
first over a tile's rows, then over the tiles.
"""

from __future__ import annotations

import logging
import math
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from reben.constants import S1_POLARISATIONS, S2_BANDS
from reben.errors import BandStatisticsError
from reben.grid import tile_key_of
from reben.io import write_json, write_parquet

LOG = logging.getLogger("reben.bandstats")

S2_STATS = ("count", "sum", "sum_sq", "min", "max")
S1_STATS = ("count", "mean", "m2", "min", "max")


def s2_block_stats(blocks: np.ndarray) -> dict[str, np.ndarray]:
    """Per-patch count, sum, sum of squares, min and max (arrays of shape (ny, nx)) of uint16
    patch blocks (ny, px, nx, px), as reben.sentinel2.patches.blocks views a band; sums exact in int64.

    One row of patches at a time: its squares (uint32, exact for uint16) take a few MB where a
    whole 10 m band's would take 480 MB."""
    ny, px, nx, _ = blocks.shape
    out = {
        "count": np.full((ny, nx), px * px, dtype=np.int64),
        "sum": np.empty((ny, nx), dtype=np.int64),
        "sum_sq": np.empty((ny, nx), dtype=np.int64),
        "min": np.empty((ny, nx), dtype=blocks.dtype),
        "max": np.empty((ny, nx), dtype=blocks.dtype),
    }
    for r in range(ny):
        row = blocks[r]  # (px, nx, px)
        out["sum"][r] = row.sum(axis=0, dtype=np.int64).sum(axis=1)
        out["min"][r] = row.min(axis=0).min(axis=1)
        out["max"][r] = row.max(axis=0).max(axis=1)
        squares = row.astype(np.uint32)
        squares *= squares
        out["sum_sq"][r] = squares.sum(axis=0, dtype=np.int64).sum(axis=1)
    return out


def s2_stats_table(patch_ids, stats: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    """The s2_band_stats table of the patches `patch_ids` from {band: s2_block_stats arrays
    already reduced to those patches (flat, in the same order)}."""
    columns = {"patch_id": pd.array(list(patch_ids), dtype="string")}
    for band in S2_BANDS:
        for stat in S2_STATS:
            columns[f"{band}_{stat}"] = np.asarray(stats[band][stat]).ravel()
    return pd.DataFrame(columns)


def empty_s2_stats() -> pd.DataFrame:
    """The s2_band_stats table of a tile without written patches (typed columns, no rows)."""
    dtypes = {"count": np.int64, "sum": np.int64, "sum_sq": np.int64, "min": np.uint16, "max": np.uint16}
    return s2_stats_table([], {b: {s: np.empty(0, dtypes[s]) for s in S2_STATS} for b in S2_BANDS})


def float_block_stats(blocks: np.ndarray) -> dict[str, np.ndarray]:
    """Per-patch count, mean, M2, min and max (arrays of shape (ny, nx)) of float patch blocks
    (ny, px, nx, px), over their finite pixels, in float64; a patch with none has count 0,
    mean and M2 NaN."""
    finite = np.isfinite(blocks)
    count = finite.sum(axis=(1, 3), dtype=np.int64)
    values = np.where(finite, blocks, 0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = values.sum(axis=(1, 3)) / count
    deviations = np.where(finite, values - mean[:, None, :, None], 0.0)
    m2 = np.square(deviations).sum(axis=(1, 3))
    m2[count == 0] = np.nan
    return {
        "count": count,
        "mean": mean,
        "m2": m2,
        "min": np.where(finite, blocks, np.inf).min(axis=(1, 3)).astype(np.float32),
        "max": np.where(finite, blocks, -np.inf).max(axis=(1, 3)).astype(np.float32),
    }


class S1StatsRows:
    """Collects the s1_band_stats rows of a tile's written S1 patches."""

    def __init__(self):
        self.patch_ids: list[str] = []
        self.s1_names: list[str] = []
        self.parts: dict[str, list[np.ndarray]] = {f"{p}_{s}": [] for p in S1_POLARISATIONS for s in S1_STATS}

    def add(self, patch_ids, s1_names, stats: dict[str, dict[str, np.ndarray]]) -> None:
        """Rows for patches `patch_ids` / `s1_names`, from {pol: float_block_stats arrays reduced
        to those patches (flat, in the same order)}."""
        self.patch_ids.extend(patch_ids)
        self.s1_names.extend(s1_names)
        for pol in S1_POLARISATIONS:
            for stat in S1_STATS:
                self.parts[f"{pol}_{stat}"].append(np.asarray(stats[pol][stat]).ravel())

    def add_patch(self, patch_id: str, s1_name: str, tensors: dict[str, np.ndarray]) -> None:
        """The row of one patch from its {pol: (px, px) array}."""
        stats = {pol: float_block_stats(tensors[pol][None, :, None, :]) for pol in S1_POLARISATIONS}
        self.add([patch_id], [s1_name], stats)

    def table(self) -> pd.DataFrame:
        dtypes = {"count": np.int64, "mean": np.float64, "m2": np.float64, "min": np.float32, "max": np.float32}
        columns = {
            "patch_id": pd.array(self.patch_ids, dtype="string"),
            "s1_name": pd.array(self.s1_names, dtype="string"),
        }
        for name, parts in self.parts.items():
            dtype = dtypes[name.split("_", 1)[1]]
            columns[name] = np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype)
        return pd.DataFrame(columns)

    def write(self, path) -> None:
        write_parquet(self.table(), path)


# ------------------------------------------------------------------ the merge


def exact_sum(values: np.ndarray) -> int:
    """The exact sum of an int64 array as a Python int: each value split into its high and low
    31 bits, whose int64 sums cannot overflow for fewer than 2**31 values."""
    values = np.asarray(values, dtype=np.int64)
    high, low = values >> 31, values & 0x7FFFFFFF
    return (int(high.sum()) << 31) + int(low.sum())


class ExactTotals:
    """Count, sum, sum of squares (Python ints), min and max of integer pixels."""

    def __init__(self):
        self.count = self.sum = self.sum_sq = 0
        self.min, self.max = math.inf, -math.inf

    def add(self, rows: pd.DataFrame, band: str) -> None:
        if rows.empty:
            return
        self.count += exact_sum(rows[f"{band}_count"].to_numpy())
        self.sum += exact_sum(rows[f"{band}_sum"].to_numpy())
        self.sum_sq += exact_sum(rows[f"{band}_sum_sq"].to_numpy())
        self.min = min(self.min, int(rows[f"{band}_min"].min()))
        self.max = max(self.max, int(rows[f"{band}_max"].max()))

    def summary(self) -> dict:
        if self.count == 0:
            return empty_summary()
        n = self.count
        variance = Fraction(n * self.sum_sq - self.sum * self.sum, n * n)
        return {
            "pixels": n,
            "mean": float(Fraction(self.sum, n)),
            "std": math.sqrt(float(variance)),
            "min": float(self.min),
            "max": float(self.max),
        }


def combine_groups(count, mean, m2) -> tuple[int, float, float]:
    """Count, mean and M2 of the union of groups given by their counts, means and M2 (arrays),
    by Chan's parallel formula for any number of groups, in float64; empty groups are left out."""
    count = np.asarray(count, dtype=np.int64)
    keep = count > 0
    count, mean, m2 = count[keep], np.asarray(mean, np.float64)[keep], np.asarray(m2, np.float64)[keep]
    n = int(count.sum())
    if n == 0:
        return 0, 0.0, 0.0
    total_mean = float((count * mean).sum() / n)
    return n, total_mean, float(m2.sum() + (count * np.square(mean - total_mean)).sum())


class FloatTotals:
    """Count, mean, M2, min and max of float pixels, merged from groups (patches, then tiles)."""

    def __init__(self):
        self.counts: list[int] = []
        self.means: list[float] = []
        self.m2s: list[float] = []
        self.min, self.max = math.inf, -math.inf

    def add(self, rows: pd.DataFrame, pol: str) -> None:
        """The rows of one tile, combined into one group."""
        rows = rows[rows[f"{pol}_count"] > 0]
        if rows.empty:
            return
        n, mean, m2 = combine_groups(rows[f"{pol}_count"], rows[f"{pol}_mean"], rows[f"{pol}_m2"])
        self.counts.append(n)
        self.means.append(mean)
        self.m2s.append(m2)
        self.min = min(self.min, float(rows[f"{pol}_min"].min()))
        self.max = max(self.max, float(rows[f"{pol}_max"].max()))

    def summary(self) -> dict:
        n, mean, m2 = combine_groups(self.counts, self.means, self.m2s)
        if n == 0:
            return empty_summary()
        return {"pixels": n, "mean": mean, "std": math.sqrt(m2 / n), "min": self.min, "max": self.max}


def empty_summary() -> dict:
    return {"pixels": 0, "mean": None, "std": None, "min": None, "max": None}


def read_stats_table(path, columns: list[str]) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, columns=columns)
    except (OSError, ValueError, KeyError) as e:
        raise BandStatisticsError(
            f"{path}: unreadable as a band statistics table ({type(e).__name__}: {e}); rerun its rule"
        ) from None


def _check_found(wanted: pd.Index, found: list[np.ndarray], table: str) -> None:
    """Every wanted patch found exactly once in the tables, or one line naming the first that is not."""
    got = pd.Index(np.concatenate(found) if found else np.empty(0, dtype=object))
    if got.has_duplicates:
        raise BandStatisticsError(
            f"patch {got[got.duplicated()][0]} has rows in two {table} tables; two tiles share a tile key"
        )
    missing = wanted.difference(got, sort=False)
    if len(missing):
        pid = missing[0]
        raise BandStatisticsError(
            f"{table} of tile {tile_key_of(pid)}: no row for patch {pid} of the metadata "
            f"({len(missing)} missing); rerun the tile's rule, then assemble_dataset"
        )


def band_statistics(
    metadata: pd.DataFrame,
    s2_tables: list,
    s1_tables: list | None = None,
    split: str = "train",
    source: str = "metadata.parquet",
) -> dict:
    """The statistics JSON (see module doc) of the patches of `split` in `metadata` (columns
    patch_id, split, s1_name), from the per-tile s2_band_stats tables and, with Sentinel-1,
    s1_band_stats tables (`s1_tables` None: Sentinel-1 off, VV and VH left out; so are patches
    whose `s1_name` is empty)."""
    start = time.monotonic()
    rows = metadata[metadata["split"] == split]
    # Object-dtype indexes: one hash table each, looked up by every tile's ids (pandas' isin on
    # Arrow strings walks the wanted ids in Python at every call).
    s2_ids = pd.Index(rows["patch_id"].to_numpy(dtype=object))
    s1_names = rows["s1_name"].fillna("").to_numpy(dtype=object)
    has_s1 = (s1_names != "") if s1_tables is not None else np.zeros(len(rows), dtype=bool)
    s1_ids, s1_names = s2_ids[has_s1], s1_names[has_s1]
    bands = list(S2_BANDS) + (list(S1_POLARISATIONS) if s1_tables is not None else [])

    s2_totals = {band: ExactTotals() for band in S2_BANDS}
    found = []
    s2_columns = ["patch_id"] + [f"{b}_{s}" for b in S2_BANDS for s in S2_STATS]
    for path in s2_tables:
        table = read_stats_table(path, s2_columns)
        table = table[s2_ids.get_indexer(table["patch_id"].to_numpy(dtype=object)) >= 0]
        found.append(table["patch_id"].to_numpy(dtype=object))
        for band in S2_BANDS:
            s2_totals[band].add(table, band)
    _check_found(s2_ids, found, "s2_band_stats.parquet")

    s1_totals = {pol: FloatTotals() for pol in S1_POLARISATIONS}
    found = []
    s1_columns = ["patch_id", "s1_name"] + [f"{p}_{s}" for p in S1_POLARISATIONS for s in S1_STATS]
    for path in s1_tables or []:
        table = read_stats_table(path, s1_columns)
        at = s1_ids.get_indexer(table["patch_id"].to_numpy(dtype=object))
        table, at = table[at >= 0], at[at >= 0]
        wrong = np.flatnonzero(table["s1_name"].to_numpy(dtype=object) != s1_names[at])
        if len(wrong):
            raise BandStatisticsError(
                f"{path}: patch {table['patch_id'].iloc[wrong[0]]} has S1 patch {table['s1_name'].iloc[wrong[0]]}, "
                f"the metadata {s1_names[at[wrong[0]]]}; rerun the tile's S1 rule, then assemble_dataset"
            )
        found.append(table["patch_id"].to_numpy(dtype=object))
        for pol in S1_POLARISATIONS:
            s1_totals[pol].add(table, pol)
    if s1_tables is not None:
        _check_found(s1_ids, found, "s1_band_stats.parquet")

    summaries = {band: s2_totals[band].summary() for band in S2_BANDS}
    if s1_tables is not None:
        summaries.update({pol: s1_totals[pol].summary() for pol in S1_POLARISATIONS})
    LOG.info(
        "band statistics: %d %s patches (S2), %d (S1), merged from %d + %d tile tables in %.1f s",
        len(s2_ids),
        split,
        len(s1_ids),
        len(s2_tables),
        len(s1_tables or []),
        time.monotonic() - start,
    )
    return {
        "split": split,
        "source": source,
        "patches": {"s2": len(s2_ids), "s1": len(s1_ids)},
        "order": bands,
        "mean": [summaries[b]["mean"] for b in bands],
        "std": [summaries[b]["std"] for b in bands],
        "bands": summaries,
        "note": (
            "population statistics (ddof 0) over every pixel at each band's native "
            "resolution; S2 in L2A digital numbers as stored, S1 in dB"
        ),
    }


def _paths(path_or_paths) -> list:
    return [path_or_paths] if isinstance(path_or_paths, (str, Path)) else list(path_or_paths)


def read_metadata(metadata_path) -> tuple[pd.DataFrame, str]:
    """The patch_id, split and s1_name of one metadata parquet file or of several (e.g. both
    metadata files for report.patch_set kept), sorted by patch_id, and their names."""
    paths = _paths(metadata_path)
    metadata = pd.concat(
        [pd.read_parquet(p, columns=["patch_id", "split", "s1_name"]) for p in paths], ignore_index=True
    ).sort_values("patch_id", ignore_index=True)
    return metadata, " + ".join(Path(p).name for p in paths)


def write_band_statistics(metadata_path, s2_tables, out_path, s1_tables=None, split: str = "train") -> dict:
    """band_statistics of the split of the metadata file(s), from the per-tile tables (a path
    or a list of them), written as JSON."""
    metadata, source = read_metadata(metadata_path)
    s1_tables = None if s1_tables is None else _paths(s1_tables)
    stats = band_statistics(metadata, _paths(s2_tables), s1_tables, split, source)
    write_json(stats, out_path)
    return stats
