"""A land-cover raster as the label source (`labels.raster.path`): CLC+ Backbone, ESA
WorldCover, the CLC raster product, a national map; any CRS and resolution GDAL reads.

Per tile, only the window of the raster that the tile needs is read (its extent in the
raster's CRS, densified edges, two pixels of margin), then warped with nearest neighbour onto
the tile's 10 m grid (rasterio.warp.reproject, Resampling.nearest). GDAL's nearest neighbour
gives each 10 m pixel the code of the raster cell that holds the pixel's centre: the
pixel-centre rule of the vector path, with the raster's cells as the polygons. A raster
coarser than 10 m is therefore not smoothed or resampled in any other way: each of its cells
becomes a block of 10 m pixels (a 100 m cell, 10 x 10 of them, less or more at the cell edges
where the grids do not align), and class boundaries follow the raster's cells.

Pixels whose centre falls outside the raster or on its nodata (or masked) cells take the
configured uncovered code (`labels.raster.uncovered_code`, default 999), which always counts
as UNLABELED.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reben.constants import REFERENCE_MAP_RESOLUTION
from reben.errors import LabelRasterError
from reben.grid import TileGrid
from reben.labels.classes import code_counts

LOG = logging.getLogger("reben.labels.raster")

MARGIN_PIXELS = 2
"""Raster cells read beyond the tile's extent, so that every pixel centre near the edge finds its cell."""


@dataclass(frozen=True)
class RasterSource:
    path: str
    band: int
    crs: str


def open_label_raster(path, band: int = 1) -> RasterSource:
    """Check the label raster: it opens, has the band, a CRS and an integer data type."""
    import rasterio
    from rasterio.errors import RasterioIOError

    path = str(path)
    where = f"labels.raster.path: {path}"
    if not Path(path).exists():
        raise LabelRasterError(f"{where}: does not exist")
    try:
        with rasterio.open(path) as src:
            if not 1 <= band <= src.count:
                raise LabelRasterError(f"{where}: has {src.count} band(s), no band {band} (labels.raster.band)")
            if src.crs is None:
                raise LabelRasterError(
                    f"{where}: has no CRS; assign one (e.g. gdal_edit.py -a_srs EPSG:3035 {Path(path).name})"
                )
            dtype = np.dtype(src.dtypes[band - 1])
            if dtype.kind not in "ui":
                raise LabelRasterError(
                    f"{where}: band {band} is {dtype}; a land-cover raster holds integer class codes"
                )
            return RasterSource(path=path, band=band, crs=src.crs.to_wkt())
    except RasterioIOError as e:
        raise LabelRasterError(f"{where}: not a raster GDAL can open ({e})") from None


def _grid_bounds(grid: TileGrid) -> tuple[float, float, float, float]:
    left, top = grid.ulx, grid.uly
    return left, top - grid.n_rows * grid.patch_size_m, left + grid.n_cols * grid.patch_size_m, top


def read_tile_codes(source: RasterSource, grid: TileGrid, uncovered_code: int):
    """The grid's 10 m code array (uint16) and the share of its pixels the raster covers."""
    import rasterio
    from affine import Affine
    from rasterio.errors import WindowError
    from rasterio.warp import Resampling, reproject, transform_bounds
    from rasterio.windows import Window, from_bounds

    px = grid.patch_size_m // REFERENCE_MAP_RESOLUTION
    shape = (grid.n_rows * px, grid.n_cols * px)
    where = f"labels.raster.path: {source.path}"
    with rasterio.open(source.path) as src:
        bounds = transform_bounds(grid.crs, src.crs, *_grid_bounds(grid), densify_pts=21)
        window = from_bounds(*bounds, transform=src.transform)
        col0 = int(np.floor(window.col_off)) - MARGIN_PIXELS
        row0 = int(np.floor(window.row_off)) - MARGIN_PIXELS
        col1 = int(np.ceil(window.col_off + window.width)) + MARGIN_PIXELS
        row1 = int(np.ceil(window.row_off + window.height)) + MARGIN_PIXELS
        window = Window(col0, row0, col1 - col0, row1 - row0)
        full = Window(0, 0, src.width, src.height)
        try:
            window = window.intersection(full)
        except WindowError:  # the raster lies beside the tile
            window = None
        if window is None or window.width < 1 or window.height < 1:
            return np.full(shape, uncovered_code, dtype=np.uint16), 0.0
        data = src.read(source.band, window=window)
        valid = src.read_masks(source.band, window=window) != 0
        window_transform = src.window_transform(window)
        src_crs = src.crs
    if data.dtype.itemsize > 2 or data.dtype.kind == "i":
        low = int(data.min(initial=0, where=valid))
        high = int(data.max(initial=0, where=valid))
        if low < 0 or high > 65535:
            raise LabelRasterError(
                f"{where}: codes {low}..{high} near tile {grid.tile_key}; reference maps hold codes 0..65535"
            )
    present = code_counts(data, valid) > 0
    # A value no covered cell holds marks "no source": the uncovered code itself where possible.
    sentinel = uncovered_code if not present[uncovered_code] else int(np.flatnonzero(~present)[0])
    codes_in = data.astype(np.uint16)
    codes_in[~valid] = sentinel
    reference = np.full(shape, sentinel, dtype=np.uint16)
    reproject(
        codes_in,
        reference,
        src_transform=window_transform,
        src_crs=src_crs,
        src_nodata=sentinel,
        dst_transform=Affine(REFERENCE_MAP_RESOLUTION, 0, grid.ulx, 0, -REFERENCE_MAP_RESOLUTION, grid.uly),
        dst_crs=grid.crs,
        dst_nodata=sentinel,
        resampling=Resampling.nearest,
        num_threads=1,
    )
    uncovered = reference == sentinel
    covered_share = 1.0 - float(uncovered.mean())
    if sentinel != uncovered_code:
        reference[uncovered] = uncovered_code
    return reference, covered_share
