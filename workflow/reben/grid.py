"""The patch grid of a tile: patch ids, bounds and footprints, from the tile geocoding.

Patch (x, y) of a tile with upper-left corner (ulx, uly) and patch size s (`patch_size_m`,
reBEN 1200 m) covers [ulx + s x, ulx + s (x + 1)] x [uly - s (y + 1), uly - s y] in the tile
CRS; x counts columns west to east, y rows north to south, and only complete patches count.
The grid is the one place that knows the patch size: every stage sizes its patches with
`TileGrid.pixels`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reben.constants import PATCH_SIZE_M, S2_RESOLUTIONS
from reben.errors import GridError


@dataclass(frozen=True)
class TileGrid:
    """The geocoding a grid needs: tile key, CRS, upper-left corner and extent at 10 m."""

    tile_key: str
    epsg: int
    ulx: float
    uly: float
    width_m: float
    height_m: float
    patch_size_m: int = PATCH_SIZE_M

    def __post_init__(self):
        if self.patch_size_m <= 0 or self.patch_size_m % max(S2_RESOLUTIONS):
            raise GridError(
                f"{self.tile_key}: patch size {self.patch_size_m} m is not a "
                f"multiple of {max(S2_RESOLUTIONS)} m, the coarsest band resolution"
            )
        if self.n_cols < 1 or self.n_rows < 1:
            raise GridError(
                f"{self.tile_key}: tile of {self.width_m} x {self.height_m} m holds no "
                f"complete {self.patch_size_m} m patch"
            )

    @property
    def n_cols(self) -> int:
        return int(self.width_m // self.patch_size_m)

    @property
    def n_rows(self) -> int:
        return int(self.height_m // self.patch_size_m)

    @property
    def index_digits(self) -> int:
        """Digits of the zero-padded x and y in a patch_id: those of the largest index."""
        return len(str(max(self.n_cols, self.n_rows) - 1))

    def pixels(self, resolution: int) -> int:
        """Pixels along one side of a patch at `resolution` metres (1200 m: 120 at 10 m, 60 at
        20 m, 20 at 60 m)."""
        if self.patch_size_m % resolution:
            raise GridError(f"{self.tile_key}: patch size {self.patch_size_m} m is not a multiple of {resolution} m")
        return int(self.patch_size_m) // resolution

    @property
    def crs(self) -> str:
        return f"EPSG:{self.epsg}"

    def patch_id(self, x: int, y: int) -> str:
        d = self.index_digits
        return f"{self.tile_key}_{x:0{d}d}_{y:0{d}d}"

    def patch_bounds(self, x: int, y: int) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) of patch (x, y) in the tile CRS."""
        s = self.patch_size_m
        left = self.ulx + s * x
        top = self.uly - s * y
        return (left, top - s, left + s, top)

    def patch_transform(self, x: int, y: int, resolution: int):
        """The north-up affine transform of patch (x, y) at `resolution` metres."""
        from affine import Affine

        left, _, _, top = self.patch_bounds(x, y)
        return Affine(resolution, 0.0, left, 0.0, -resolution, top)

    def indices(self) -> tuple[np.ndarray, np.ndarray]:
        """x and y of every patch, row-major (y outer, x inner): the order of every per-tile table."""
        y, x = np.divmod(np.arange(self.n_rows * self.n_cols), self.n_cols)
        return x, y

    def patch_ids(self) -> list[str]:
        x, y = self.indices()
        return [self.patch_id(int(i), int(j)) for i, j in zip(x, y)]

    def to_frame(self):
        """The grid as a GeoDataFrame: patch_id, x, y and the footprint polygon in the tile CRS."""
        import geopandas as gpd
        import shapely

        x, y = self.indices()
        s = self.patch_size_m
        left = self.ulx + s * x
        top = self.uly - s * y
        geometry = shapely.box(left, top - s, left + s, top)
        return gpd.GeoDataFrame(
            {"patch_id": self.patch_ids(), "x": x.astype("int32"), "y": y.astype("int32")},
            geometry=geometry,
            crs=self.crs,
        )

    def to_dict(self) -> dict:
        return {
            "tile_key": self.tile_key,
            "epsg": self.epsg,
            "ulx": self.ulx,
            "uly": self.uly,
            "width_m": self.width_m,
            "height_m": self.height_m,
            "patch_size_m": self.patch_size_m,
            "n_cols": self.n_cols,
            "n_rows": self.n_rows,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "TileGrid":
        return cls(
            tile_key=d["tile_key"],
            epsg=int(d["epsg"]),
            ulx=float(d["ulx"]),
            uly=float(d["uly"]),
            width_m=float(d["width_m"]),
            height_m=float(d["height_m"]),
            patch_size_m=int(d["patch_size_m"]),
        )


def tile_key_of(patch_id: str) -> str:
    """The tile key of a patch id: `S2A_MSIL2A_..._T33UUP_26_57` -> `S2A_MSIL2A_..._T33UUP`."""
    return patch_id.rsplit("_", 2)[0]


def read_grid_json(path) -> TileGrid:
    """The TileGrid recorded in a tile's geocoding.json (written by make_patch_grid)."""
    import json

    with open(path) as f:
        return TileGrid.from_dict(json.load(f)["grid"])
