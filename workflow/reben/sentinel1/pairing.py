"""Pairing every patch of a tile with a Sentinel-1 product (rule pair_sentinel1).

A patch's partner is the product that covers the whole patch with valid pixels (in the sense
of reben.sentinel1.resample.coverage: no resampled pixel touches nodata) and was acquired closest in
time to the Sentinel-2 sensing, within a maximum gap on either side, both ends included
(reben.names.within_time_gap, the window of the search too); a tie goes to the earlier acquisition.
The Sentinel-2 sensing time comes from the tile key, so pairing is not downstream of sen2cor.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

import numpy as np
import pandas as pd

from reben.grid import TileGrid, read_grid_json
from reben.io import write_parquet
from reben.names import parse_product_name, within_time_gap
from reben.sentinel1.products import S1Source, parse_s1_name, s1_name
from reben.sentinel1.resample import PatchSampler, coverage

LOG = logging.getLogger("reben.sentinel1.pairing")


def preference_order(s2_time: datetime, times: list[datetime], names: list[str]) -> list[int]:
    """Indices of the products, best first: smallest time gap, then earlier acquisition, then name."""
    return sorted(range(len(times)), key=lambda i: (abs((times[i] - s2_time).total_seconds()), times[i], names[i]))


def choose_partners(
    s2_time: datetime, times: list[datetime], names: list[str], covered: np.ndarray, max_gap_days: float
) -> tuple[np.ndarray, np.ndarray]:
    """For every patch, the index of its partner product (-1 if none) and the gap in days (NaN).

    `covered` is a (products, patches) boolean array: product i covers patch j with valid pixels.
    """
    covered = np.asarray(covered, dtype=bool)
    if covered.ndim != 2 or covered.shape[0] != len(times):
        raise ValueError(f"covered has shape {covered.shape}, expected ({len(times)}, patches)")
    gaps = np.array([abs((t - s2_time).total_seconds()) / 86400 for t in times], dtype=np.float64)
    order = [i for i in preference_order(s2_time, times, names) if within_time_gap(times[i], s2_time, max_gap_days)]
    n = covered.shape[1]
    choice = np.full(n, -1, dtype=np.int64)
    if order:
        ranked = covered[order]
        first = ranked.argmax(axis=0)
        has = ranked.any(axis=0)
        choice[has] = np.asarray(order)[first[has]]
    gap = np.full(n, np.nan)
    gap[choice >= 0] = gaps[choice[choice >= 0]]
    return choice, gap


def pairing_table(grid: TileGrid, mgrs: str, products: list[str], choice: np.ndarray, gap: np.ndarray) -> pd.DataFrame:
    """The s1_pairing.parquet table: patch_id, s1_product (or null), s1_name ("" if none), gap."""
    x, y = grid.indices()
    names = np.array(list(products) + [None], dtype=object)[choice]  # -1 picks the None
    s1_names = [s1_name(p, mgrs, i, j) if p is not None else "" for p, i, j in zip(names, x, y)]
    return pd.DataFrame(
        {
            "patch_id": pd.array(grid.patch_ids(), dtype="string"),
            "s1_product": pd.array(names, dtype="string"),
            "s1_name": pd.array(s1_names, dtype="string"),
            "s1_time_gap_days": gap.astype("float64"),
        }
    )


def overlaps(grid: TileGrid, source: S1Source) -> bool:
    """Whether the product's raster extent meets the tile (compared in the product's CRS)."""
    from rasterio.warp import transform_bounds

    left, bottom = grid.ulx, grid.uly - grid.n_rows * grid.patch_size_m
    right, top = grid.ulx + grid.n_cols * grid.patch_size_m, grid.uly
    west, south, east, north = transform_bounds(grid.crs, source.crs, left, bottom, right, top, densify_pts=21)
    s = source.bounds
    return west < s.right and east > s.left and south < s.top and north > s.bottom


def pair_tile(
    tile_key: str,
    grid_json,
    products: list[dict],
    out_path,
    max_gap_days: float,
    unit: str = "auto",
    nodata: float | None = None,
) -> pd.DataFrame:
    """Pair every patch of a tile with its Sentinel-1 partner and write s1_pairing.parquet.

    `products`: [{name, VV, VH}] (those acquired within the gap; others are ignored anyway).
    A tile that no product overlaps is written with no partner for any patch, and logged.
    """
    start = time.monotonic()
    grid = read_grid_json(grid_json)
    s2 = parse_product_name(tile_key)
    n = grid.n_rows * grid.n_cols
    names = [p["name"] for p in products]
    times = [parse_s1_name(name).acquisition_time for name in names]
    covered = np.zeros((len(products), n), dtype=bool)
    todo = np.ones(n, dtype=bool)
    used = []
    for i in preference_order(s2.sensing_time, times, names):
        if not within_time_gap(times[i], s2.sensing_time, max_gap_days) or not todo.any():
            continue
        p = products[i]
        with S1Source(p["name"], p["VV"], p["VH"], unit=unit, nodata=nodata) as source:
            if not overlaps(grid, source):
                continue
            sampler = PatchSampler(grid, source.crs, source.transform)
            covered[i] = coverage(sampler, source.read_valid, todo)
        todo &= ~covered[i]
        used.append(i)
    choice, gap = choose_partners(s2.sensing_time, times, names, covered, max_gap_days)
    table = pairing_table(grid, s2.mgrs, [parse_s1_name(nm).product for nm in names], choice, gap)
    write_parquet(table, out_path)
    counts = table["s1_product"].value_counts()
    paired = int(counts.sum())
    if not used:
        LOG.warning(
            "%s: no Sentinel-1 product within %g days overlaps the tile; %d patches without partner",
            tile_key,
            max_gap_days,
            n,
        )
    LOG.info(
        "%s: %d patches, %d paired, %d without partner (%s) in %.1f s",
        tile_key,
        n,
        paired,
        n - paired,
        ", ".join(f"{k}: {v}" for k, v in counts.items()) or "no product",
        time.monotonic() - start,
    )
    return table
