"""Lazy arrays over a dataset's patches, as xarray's backends make them (`BackendArray` wrapped
in `LazilyIndexedArray`): xarray keeps every selection (`isel`, `sel`, slices, lists of patches,
repeated pixel indices) as an indexer until values are asked for, and then asks for exactly
those patches. Nothing is cached: memory holds what the caller asked for, nothing more.

`Patches` holds what every array of one opened split shares: the patch ids, their S1 names,
grid indices and CRS, the reader of their store, and the tiles' grid corners (one GeoTIFF
header per tile, read when a patch of the tile is first located).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from xarray.backends import BackendArray
from xarray.core import indexing

from reben.access.layout import Band
from reben.access.readers import TileCorners, TreeReader, store_key

BOUNDS = ("left", "bottom", "right", "top")
"""The per-patch bounds coordinates (the patch's grid cell, in its tile's CRS)."""


class Patches:
    """The patches of one opened split (rows of `frame`, the patch table) and their store."""

    def __init__(self, frame: pd.DataFrame, reader, corners: TileCorners):
        self.ids = frame["patch_id"].to_numpy(dtype=object)
        self.s1_names = frame["s1_name"].to_numpy(dtype=object)
        self.x = frame["x"].to_numpy(dtype=np.int64)
        self.y = frame["y"].to_numpy(dtype=np.int64)
        self.epsg = frame["epsg"].to_numpy()
        self.tiles, self.tile_keys = pd.factorize(frame["tile_key"].to_numpy(dtype=object))
        self.reader = reader
        self.corners = corners
        self.size = corners.size

    def __len__(self) -> int:
        return len(self.ids)

    def origins(self, rows: np.ndarray) -> np.ndarray:
        """(left, top) of each patch of `rows`: its tile's corner plus size (x, -y)."""
        corner = np.empty((len(self.tile_keys), 2))
        for tile in np.unique(self.tiles[rows]):
            first = rows[self.tiles[rows] == tile][0]
            corner[tile] = self.corners.corner(
                self.ids[first], int(self.x[first]), int(self.y[first]), int(self.epsg[first])
            )
        tile = self.tiles[rows]
        return np.column_stack([corner[tile, 0] + self.size * self.x[rows], corner[tile, 1] - self.size * self.y[rows]])

    def read(self, band: Band, rows: np.ndarray, pixels: int) -> np.ndarray:
        keys = [store_key(band, self.ids[i], self.s1_names[i]) for i in rows]
        out = np.empty((len(rows), pixels, pixels), dtype=band.dtype)
        if isinstance(self.reader, TreeReader):
            # each file must lie on its patch's grid cell (S1 and reference maps on the S2 grid)
            return self.reader.read(band, keys, out, origins=self.origins(rows))
        return self.reader.read(band, keys, out)


def _rows(key, n: int):
    """The patch rows an indexer asks for (an array), and whether it asked for one (an int)."""
    rows = np.arange(n)[key]
    return np.atleast_1d(rows), np.ndim(rows) == 0


class PatchArray(BackendArray):
    """One band of every patch: (patch, rows, columns) at the band's native resolution."""

    def __init__(self, patches: Patches, band: Band, pixels: int):
        self.patches, self.band, self.pixels = patches, band, pixels
        self.shape = (len(patches), pixels, pixels)
        self.dtype = np.dtype(band.dtype)

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._read)

    def _read(self, key: tuple):
        rows, one = _rows(key[0], self.shape[0])
        data = self.patches.read(self.band, rows, self.pixels)
        for axis in (2, 1):  # outer indexing of the pixels, the last axis first
            data = data[(slice(None),) * axis + (key[axis],)]
        return data[0] if one else data


class BoundsArray(BackendArray):
    """One of the patches' bounds (BOUNDS), from their tiles' grid corners."""

    def __init__(self, patches: Patches, which: str):
        self.patches, self.which = patches, which
        self.shape = (len(patches),)
        self.dtype = np.dtype("float64")

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._read)

    def _read(self, key: tuple):
        rows, one = _rows(key[0], self.shape[0])
        left, top = self.patches.origins(rows).T
        size = self.patches.size
        value = {"left": left, "bottom": top - size, "right": left + size, "top": top}[self.which]
        return value[0] if one else value


def lazy(array: BackendArray):
    """The array as xarray's lazily indexed data of a Variable."""
    return indexing.LazilyIndexedArray(array)
