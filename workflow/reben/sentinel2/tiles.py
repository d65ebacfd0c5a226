"""Tile inspection (rules make_patch_grid and inspect_tile): the grid and tile.json."""

from __future__ import annotations

import logging
import time

from reben.errors import GridError
from reben.grid import TileGrid, read_grid_json
from reben.io import write_json, write_parquet
from reben.sentinel2.products import inspect_product, product_grid

LOG = logging.getLogger("reben.sentinel2.tiles")


def make_patch_grid(product, key: str, patch_size_m: int, grid_path, geocoding_path) -> None:
    """Write the tile's patch grid (GeoParquet: patch_id, x, y, footprint) and its geocoding."""
    start = time.monotonic()
    grid, geo = product_grid(product, key, patch_size_m)
    write_parquet(grid.to_frame(), grid_path)
    write_json({"tile_key": key, "geocoding": geo, "grid": grid.to_dict()}, geocoding_path)
    LOG.info(
        "%s: grid of %d x %d patches (%s, corner %.0f, %.0f) in %.1f s",
        key,
        grid.n_cols,
        grid.n_rows,
        grid.crs,
        grid.ulx,
        grid.uly,
        time.monotonic() - start,
    )


def check_same_grid(given: TileGrid, product: TileGrid, geocoding_path, product_path) -> None:
    """The grid has one source (geocoding.json, from make_patch_grid): a product whose own
    geocoding disagrees with it fails here, instead of a dataset whose S2 patches lie off the
    reference maps, labels and S1 patches."""
    if given.to_dict() != product.to_dict():
        raise GridError(
            f"{given.tile_key}: {geocoding_path} has the grid corner ({given.ulx:.0f}, "
            f"{given.uly:.0f}) EPSG:{given.epsg}, {given.n_cols}x{given.n_rows} patches, but "
            f"{product_path} has ({product.ulx:.0f}, {product.uly:.0f}) EPSG:{product.epsg}, "
            f"{product.n_cols}x{product.n_rows}: the L1C and L2A products disagree, or "
            f"geocoding.json is stale (rerun make_patch_grid with -R make_patch_grid)"
        )


def inspect_tile(product, key: str, patch_size_m: int, tile_path, geocoding_path=None) -> None:
    """Write tile.json; a product failing its quality indicators is recorded as excluded."""
    start = time.monotonic()
    info = inspect_product(product, key, patch_size_m)
    if geocoding_path:
        check_same_grid(read_grid_json(geocoding_path), TileGrid.from_dict(info["grid"]), geocoding_path, product)
    write_json(info, tile_path)
    if info["excluded"]:
        LOG.warning("%s: excluded: %s (inspected in %.1f s)", key, info["excluded_reason"], time.monotonic() - start)
    else:
        LOG.info(
            "%s: 12 bands and SCL found and checked, %s, baseline %s, sensed %s, in %.1f s",
            key,
            info["crs"],
            info["processing_baseline"],
            info["sensing_time"],
            time.monotonic() - start,
        )
