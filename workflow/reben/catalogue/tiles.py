"""Sentinel-2 tiles as MGRS 100 km squares: a tile's footprint, whether a tile name is the one
Sentinel-2 uses, and how much of a tile a product's footprint covers.

Footprints come from the `mgrs` package (GeoTrans): the 100 km square of a tile name in its UTM
zone, widened by the 9.8 km by which Sentinel-2 tiles overlap (109.8 km, from the square's west
and north edges, as in every tile's MTD_TL.xml geoposition).

MGRS letters a square by a latitude band it meets, so a square that crosses a band edge has two
valid names (33TUP and 33UUP are one square). Sentinel-2 names each square once, by the band of
the square's centre (33UUP: its centre lies at 48.3 degrees, band U); no product carries the other
name.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import lru_cache

from reben.constants import S2_TILE_SIDE_M as TILE_SIDE_M
from reben.errors import SearchError

SQUARE_M = 100_000
MGRS_LATITUDES = (-80.0, 84.0)
"""The UTM part of MGRS, where Sentinel-2 tiles are; the polar (UPS) parts have none."""
LATITUDE_BANDS = "CDEFGHJKLMNPQRSTUVWX"
"""MGRS latitude bands, 8 degrees each from 80 S; X, the last, spans 72 to 84 N."""
MGRS_TILE = re.compile(r"^T?(\d{2})([C-HJ-NP-X])([A-HJ-NP-Z]{2})$")
FOOTPRINT_STEP_DEG = 0.05
"""Edges of a product footprint are densified to this step before projection, so that a long
straight edge in degrees follows its curve in the UTM zone."""


@dataclass(frozen=True)
class Tile:
    name: str  # 33UUP
    epsg: int  # its UTM zone
    square: object  # the 109.8 km tile in its UTM zone (a shapely box, metres)
    centre_latitude: float  # of the 100 km square

    @property
    def band(self) -> str:
        return self.name[2]


def _split(tile: str) -> tuple[str, str, str]:
    m = MGRS_TILE.match(tile.upper())
    if not m:
        raise SearchError(f"tile {tile!r}: not an MGRS tile name (e.g. 33UUP or T33UUP)")
    return m.groups()


@lru_cache(maxsize=None)
def mgrs_tile(tile: str) -> Tile:
    """The tile of an MGRS name (33UUP or T33UUP); one line if the name is not a valid square."""
    import mgrs
    import pyproj
    from shapely.geometry import box

    name = "".join(_split(tile))
    try:
        with warnings.catch_warnings():  # GeoTrans warns of squares that cross a latitude band
            warnings.simplefilter("ignore", RuntimeWarning)
            zone, hemisphere, easting, northing = mgrs.MGRS().MGRSToUTM(name + "0000000000")
    except Exception as e:  # the mgrs package raises its own untyped errors
        raise SearchError(f"tile {tile!r}: not a valid MGRS 100 km square ({e})") from None
    west, south = round(easting), round(northing)  # the square's south-west corner, to the metre
    north = south + SQUARE_M
    epsg = (32600 if hemisphere == "N" else 32700) + int(zone)
    to_wgs84 = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True)
    _, centre_latitude = to_wgs84.transform(west + SQUARE_M / 2, south + SQUARE_M / 2)
    return Tile(name, epsg, box(west, north - TILE_SIDE_M, west + TILE_SIDE_M, north), centre_latitude)


def latitude_band(latitude: float) -> str | None:
    """The MGRS latitude band of a latitude (None outside 80 S to 84 N)."""
    low, high = MGRS_LATITUDES
    if not low <= latitude < high:
        return None
    return LATITUDE_BANDS[min(int((latitude - low) // 8), len(LATITUDE_BANDS) - 1)]


def sentinel2_name(tile: str) -> str | None:
    """The name Sentinel-2 gives the square of an MGRS name: the band of the square's centre
    (None where the centre lies outside the Sentinel-2 grid)."""
    t = mgrs_tile(tile)
    band = latitude_band(t.centre_latitude)
    return None if band is None else t.name[:2] + band + t.name[3:]


def check_sentinel2_tile(tile: str) -> str:
    """`T` + the tile name (T33UUP) if Sentinel-2 uses it; else one line naming the name it uses."""
    t = mgrs_tile(tile)
    own = sentinel2_name(tile)
    if own == t.name:
        return "T" + t.name
    where = f"its centre lies at {t.centre_latitude:.2f} degrees latitude"
    if own is None:
        raise SearchError(
            f"tile {tile}: no Sentinel-2 product uses this name: the MGRS square lies outside the "
            f"Sentinel-2 tiling grid ({where})"
        )
    raise SearchError(
        f"tile {tile}: no Sentinel-2 product uses this name: it is an MGRS alias of the 100 km "
        f"square that Sentinel-2 calls {own} ({where}, in band {own[2]}); search --tiles {own}"
    )


@lru_cache(maxsize=None)
def _transformer(source: int, target: int):
    import pyproj

    return pyproj.Transformer.from_crs(source, target, always_xy=True)


def _reproject(geometry, source: int, target: int):
    import numpy as np
    import shapely

    transformer = _transformer(source, target)
    return shapely.transform(geometry, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


@lru_cache(maxsize=None)
def tile_footprint(tile: str):
    """The Sentinel-2 tile's footprint in EPSG:4326 (a shapely polygon, edges densified)."""
    t = mgrs_tile(tile)
    # Edges densified every 10 km: the outline stays within metres of the curved edge, and the
    # filter short enough for a URL.
    return _reproject(t.square.segmentize(TILE_SIDE_M / 11), t.epsg, 4326)


def coverage(footprint, tile: str) -> float:
    """The fraction of the tile's area that a product footprint (EPSG:4326) covers, both
    compared in the tile's UTM zone (its scale varies by less than 0.1 % across a tile, so the
    ratio of areas is that of the areas on the ground)."""
    import shapely
    from shapely.geometry import box

    t = mgrs_tile(tile)
    west, south, east, north = tile_footprint(tile).bounds
    near = box(west - 1, south - 1, east + 1, north + 1)
    footprint = shapely.make_valid(footprint)
    if not near.contains(footprint):
        # Only the part near the tile is projected: far longitudes have no sensible UTM coordinates.
        footprint = footprint.intersection(near)
        if footprint.is_empty:
            return 0.0
    utm = shapely.make_valid(_reproject(shapely.segmentize(footprint, FOOTPRINT_STEP_DEG), 4326, t.epsg))
    return float(shapely.clip_by_rect(utm, *t.square.bounds).area / t.square.area)
