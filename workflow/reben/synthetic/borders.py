"""Synthetic admin-0 borders for the demo: a GeoPackage like Natural Earth's, around the demo tiles.

The demo tiles (EPSG:32633, x 394800..415000, y 5385600..5400000) lie where Austria, Germany
and Czechia meet, so the borders are three countries drawn in the tile CRS and written in
EPSG:4326 with the Natural Earth name field `NAME`: Germany west of x = 398000, Czechia north
and Austria south of a slanted line from (398000, 5392000) to (430000, 5396000). The demo
configures Austria and Czechia only, so the Germany patches go to the nearest of the two.
Everything is deterministic.
"""

from __future__ import annotations

import os
from pathlib import Path

DEMO_CRS = "EPSG:32633"
WEST, EAST, SOUTH, NORTH = 370000.0, 440000.0, 5360000.0, 5425000.0
GERMANY_EAST = 398000.0
AUSTRIA_CZECHIA = ((GERMANY_EAST, 5392000.0), (EAST, 5397250.0))  # slope 1/8, as (398000, 5392000)-(430000, 5396000)


def demo_borders():
    """The three countries as a GeoDataFrame (NAME, ISO_A3, geometry) in EPSG:4326."""
    import geopandas as gpd
    import shapely

    (x0, y0), (x1, y1) = AUSTRIA_CZECHIA
    germany = shapely.box(WEST, SOUTH, GERMANY_EAST, NORTH)
    czechia = shapely.Polygon([(x0, y0), (x1, y1), (x1, NORTH), (x0, NORTH)])
    austria = shapely.Polygon([(x0, SOUTH), (x1, SOUTH), (x1, y1), (x0, y0)])
    # Densified, so that the lines stay where they are drawn once reprojected.
    geoms = shapely.segmentize([austria, czechia, germany], 250.0)
    frame = gpd.GeoDataFrame(
        {"NAME": ["Austria", "Czechia", "Germany"], "ISO_A3": ["AUT", "CZE", "DEU"]}, geometry=list(geoms), crs=DEMO_CRS
    )
    return frame.to_crs("EPSG:4326")


def write_demo_borders(path) -> None:
    """Write the demo borders as a GeoPackage (layer `countries`), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        demo_borders().to_file(tmp, layer="countries", driver="GPKG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
