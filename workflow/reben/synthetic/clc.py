"""Synthetic CORINE Land Cover GeoPackages, in the format of the EEA Europe-wide file.

Layer `U2018_CLC2018_V2020_20u1`, EPSG:3035, fields ID, Code_18 (the code as a string) and
Area_Ha. The polygons tile the ground without gaps or overlaps, as CLC does: a Voronoi
tessellation whose edges are cut into short segments and bent by a smooth displacement field
(the same point moves the same way in both neighbours, so boundaries stay shared), with
neighbours of the same code merged. Codes follow a landscape: a town (artificial surfaces, most
of them UNLABELED in the 19 classes), farmland and forests, and in one corner a coast (beaches,
wetlands, sea) beyond which there is no CLC at all. Every one of the 44 level-3 codes occurs,
and a few polygons are self-intersecting (their ring twisted into a bow-tie) as in real data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from reben.labels.classes import CLC_NODATA, class_table

CLC_LAYER = "U2018_CLC2018_V2020_20u1"
CLC_EPSG = 3035

URBAN = {111: 10, 112: 30, 121: 15, 122: 8, 123: 3, 124: 5, 131: 5, 132: 4, 133: 4, 141: 8, 142: 8}
RURAL = {
    211: 22,
    212: 2,
    213: 1,
    221: 2,
    222: 2,
    223: 1,
    231: 10,
    241: 1,
    242: 8,
    243: 8,
    244: 1,
    311: 10,
    312: 10,
    313: 7,
    321: 2,
    322: 1,
    323: 1,
    324: 5,
    332: 0.5,
    333: 1,
    334: 0.3,
    335: 0.2,
    411: 1,
    412: 1,
    511: 1,
    512: 2,
}
COAST = {331: 3, 421: 2, 422: 1, 423: 2, 521: 1, 522: 1}
SEA = 523


def tessellation(rng: np.random.Generator, bounds, n: int):
    """About n convex polygons tiling `bounds` (left, bottom, right, top) without gaps:
    the Voronoi cells of n random seeds."""
    import shapely

    left, bottom, right, top = bounds
    frame = shapely.box(*bounds)
    seeds = np.column_stack([rng.uniform(left, right, n), rng.uniform(bottom, top, n)])
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame))
    cells = shapely.intersection(cells, frame)
    return cells[shapely.get_type_id(cells) == 3]


def bend(geometries, bend_m: float, segment_m: float, seed: int):
    """Segment the edges and move every vertex by a smooth field of its position (wavelengths
    well above the segment length, so no edge crosses another and shared edges stay shared)."""
    import shapely

    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, 2 * np.pi, 4)
    wave = 6 * segment_m

    def move(xy):
        x, y = xy[:, 0], xy[:, 1]
        dx = bend_m * np.sin(y / wave + phases[0]) * np.cos(x / (1.7 * wave) + phases[1])
        dy = bend_m * np.sin(x / wave + phases[2]) * np.cos(y / (1.3 * wave) + phases[3])
        return np.column_stack([x + dx, y + dy])

    return shapely.transform(shapely.segmentize(geometries, segment_m), move)


def landscape_codes(rng: np.random.Generator, centres: np.ndarray, bounds, town, coast: bool):
    """A code per cell centre: town, coast band, sea and no-CLC beyond (code 0), else farmland
    and forest. `town` is (x, y, radius)."""
    left, bottom, right, top = bounds
    x, y = centres[:, 0], centres[:, 1]
    u = (x - left) / (right - left) + (top - y) / (top - bottom)  # 0 at the NW corner, 2 at SE
    u = u + 0.04 * np.sin((x - left) / 900.0) + 0.03 * np.cos((top - y) / 700.0)

    def draw(table, size):
        codes, weights = np.array(list(table)), np.array(list(table.values()), dtype=float)
        return rng.choice(codes, size=size, p=weights / weights.sum())

    codes = draw(RURAL, len(centres))
    in_town = np.hypot(x - town[0], y - town[1]) < town[2]
    codes[in_town] = draw(URBAN, int(in_town.sum()))
    if coast:
        shore = (u > 1.28) & (u <= 1.38)
        codes[shore] = draw(COAST, int(shore.sum()))
        codes[(u > 1.38) & (u <= 1.50)] = SEA
        codes[u > 1.50] = 0
    return codes


def synthetic_clc(
    bounds,
    epsg: int,
    n_polygons: int,
    seed: int,
    coast: bool = True,
    n_invalid: int = 5,
    merge: bool = True,
    segment_m: float = 25.0,
    bend_m: float = 20.0,
):
    """A CLC-like GeoDataFrame (EPSG:3035) over `bounds` (left, bottom, right, top in EPSG:`epsg`)."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    cells = tessellation(rng, bounds, n_polygons)
    left, bottom, right, top = bounds
    town = (left + 0.35 * (right - left), bottom + 0.55 * (top - bottom), 0.09 * min(right - left, top - bottom))
    codes = landscape_codes(rng, shapely.get_coordinates(shapely.centroid(cells)), bounds, town, coast)
    cells, codes = cells[codes > 0], codes[codes > 0]
    # Every code somewhere: missing ones replace farmland cells away from town and coast.
    missing = sorted(set(class_table().codes) - {CLC_NODATA} - set(codes.tolist()))
    farmland = np.flatnonzero(codes == 211)
    codes[rng.choice(farmland, size=len(missing), replace=False)] = missing
    frame = gpd.GeoDataFrame({"code": codes}, geometry=cells, crs=f"EPSG:{epsg}")
    if merge:  # CLC never has two neighbours of one code
        frame = frame.dissolve("code", as_index=False).explode(index_parts=False, ignore_index=True)
    frame = frame.set_geometry(bend(frame.geometry.values, bend_m, segment_m, seed))
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    geometries = frame.geometry.values.copy()
    twisted = 0
    for i in rng.permutation(len(frame)):
        if twisted == n_invalid:
            break
        bowtie = _twist(geometries[i])
        if bowtie is not None:
            geometries[i], twisted = bowtie, twisted + 1
    frame = frame.set_geometry(geometries).to_crs(epsg=CLC_EPSG)
    area_ha = shapely.area(shapely.make_valid(frame.geometry.values)) / 1e4
    return gpd.GeoDataFrame(
        {
            "ID": [f"EU_{i + 1}" for i in range(len(frame))],
            "Code_18": frame["code"].astype(str).to_numpy(),
            "Area_Ha": area_ha,
        },
        geometry=frame.geometry.values,
        crs=frame.crs,
    )


def _twist(polygon):
    """The polygon with two neighbouring vertices of its outer ring swapped: a self-intersecting
    ring (a bow-tie where the edges cross), covering nearly the same ground; None if that does
    not give an invalid polygon."""
    import shapely

    if polygon.geom_type != "Polygon" or len(polygon.interiors) or len(polygon.exterior.coords) < 8:
        return None
    ring = np.asarray(polygon.exterior.coords)[:-1]
    k = len(ring) // 3
    ring[[k, k + 1]] = ring[[k + 1, k]]
    twisted = shapely.Polygon(np.vstack([ring, ring[:1]]))
    return None if twisted.is_valid else twisted


def write_clc(frame, path, layer: str = CLC_LAYER) -> None:
    """Write a CLC GeoPackage (with its spatial index) through a temporary name."""
    import pyogrio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.gpkg")
    try:
        pyogrio.write_dataframe(frame, tmp, layer=layer, driver="GPKG", promote_to_multi=True, SPATIAL_INDEX="YES")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def demo_bounds(margin_m: float = 3000.0):
    """The ground of the demo products (EPSG and bounds in their UTM CRS), with a margin."""
    from .scenario import DEMO_PRODUCTS

    epsgs = {p.epsg for p in DEMO_PRODUCTS}
    assert len(epsgs) == 1, "demo products in more than one CRS"
    left = min(p.ulx for p in DEMO_PRODUCTS) - margin_m
    top = max(p.uly for p in DEMO_PRODUCTS) + margin_m
    right = max(p.ulx + p.size_px * 10 for p in DEMO_PRODUCTS) + margin_m
    bottom = min(p.uly - p.size_px * 10 for p in DEMO_PRODUCTS) - margin_m
    return epsgs.pop(), (left, bottom, right, top)


def write_demo_clc(path, seed: int = 11) -> None:
    """The demo's CLC GeoPackage: about 1,500 cells over the demo tiles, merged by code."""
    epsg, bounds = demo_bounds()
    write_clc(synthetic_clc(bounds, epsg, n_polygons=1500, seed=seed), path)
