"""reBEN's tile-ring split (rule assign_splits): train, validation or test from the grid alone.

A patch goes by the distance d of its centre to the nearest edge of its tile of side s (the
tile's width): train if d < s(2 - sqrt 2)/4, validation if d < s/4, test otherwise. On a square
tile the three rings hold 50, 25 and 25 % of the area, and the test patches are its centre, far
from any neighbouring tile's patches. Nothing here depends on pixels or labels, so the split of
a patch never changes when the L2A processing or the CLC map does.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from reben.grid import TileGrid, read_grid_json
from reben.io import write_parquet

LOG = logging.getLogger("reben.dataset.splits")

SPLITS = ("train", "validation", "test")


def split_thresholds(side_m: float) -> tuple[float, float]:
    """Distances to the tile edge under which a patch centre is train, then validation."""
    return side_m * (2 - math.sqrt(2)) / 4, side_m / 4


def edge_distances(grid: TileGrid) -> np.ndarray:
    """Distance (m) of every patch centre to the nearest edge of the tile, in grid order."""
    x, y = grid.indices()
    s = grid.patch_size_m
    from_west = s * x + s / 2
    from_north = s * y + s / 2
    return np.minimum.reduce([from_west, grid.width_m - from_west, from_north, grid.height_m - from_north])


def assign_splits(grid: TileGrid) -> pd.DataFrame:
    """patch_id and split of every patch of the grid, in grid order."""
    train_under, validation_under = split_thresholds(grid.width_m)
    d = edge_distances(grid)
    split = np.select([d < train_under, d < validation_under], ["train", "validation"], "test")
    return pd.DataFrame({"patch_id": grid.patch_ids(), "split": split.astype(object)})


def write_splits(geocoding, splits_path) -> pd.DataFrame:
    """splits.parquet of one tile from its geocoding.json."""
    grid = read_grid_json(geocoding)
    table = assign_splits(grid)
    write_parquet(table, splits_path)
    counts = table["split"].value_counts()
    LOG.info("%s: %d patches: %s", grid.tile_key, len(table), ", ".join(f"{counts.get(s, 0)} {s}" for s in SPLITS))
    return table
