"""Tile inspection (rules make_patch_grid and inspect_tile): the grid and tile.json."""

from __future__ import annotations

import logging
import time

from .io import write_json, write_parquet
from .sentinel2 import inspect_product, product_grid

LOG = logging.getLogger("reben.tiles")


def make_patch_grid(product, key: str, patch_size_m: int, grid_path, geocoding_path) -> None:
    """Write the tile's patch grid (GeoParquet: patch_id, x, y, footprint) and its geocoding."""
    start = time.monotonic()
    grid, geo = product_grid(product, key, patch_size_m)
    write_parquet(grid.to_frame(), grid_path)
    write_json({"tile_key": key, "geocoding": geo, "grid": grid.to_dict()}, geocoding_path)
    LOG.info("%s: grid of %d x %d patches (%s, corner %.0f, %.0f) in %.1f s", key, grid.n_cols,
             grid.n_rows, grid.crs, grid.ulx, grid.uly, time.monotonic() - start)


def inspect_tile(product, key: str, patch_size_m: int, tile_path) -> None:
    """Write tile.json; a product failing its quality indicators is recorded as excluded."""
    start = time.monotonic()
    info = inspect_product(product, key, patch_size_m)
    write_json(info, tile_path)
    if info["excluded"]:
        LOG.warning("%s: excluded: %s (inspected in %.1f s)", key, info["excluded_reason"],
                    time.monotonic() - start)
    else:
        LOG.info("%s: 12 bands and SCL found and checked, %s, baseline %s, sensed %s, in %.1f s",
                 key, info["crs"], info["processing_baseline"], info["sensing_time"],
                 time.monotonic() - start)
