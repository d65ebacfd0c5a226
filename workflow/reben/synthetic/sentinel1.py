"""Synthetic analysis-ready Sentinel-1 backscatter over the demo tiles (VV and VH GeoTIFFs).

One "world" of land cover on a 10 m grid in EPSG:32633 holds the demo Sentinel-2 products'
own land cover (the same generator and seed, so rivers and forests line up in S1 and S2);
each acquisition resamples its backscatter (per-class sigma0 with speckle) onto its own grid
and CRS, cuts it to its footprint and marks a nodata area, and writes it in its unit:

- `S1A_..._20170613T165043` over T33UUP, EPSG:32633 at 10 m on an origin 5 m off the patch
  grid, dB, nodata -99, a slanted swath edge: the closest in time for most T33UUP patches.
- `S1B_..._20170612T165809` over T33UUP, EPSG:32632 at 20 m, linear power, nodata 0, with a
  nodata corner in the south-west: the partner where the first one has no data; no partner
  for the patches in its nodata corner.
- `S1A_..._20171219T165039` over T33UVP, EPSG:4326, dB (NaN nodata), short of the tile's
  eastern columns: those patches have no partner.
The third demo product (T33UUP, May 2018) has no acquisition within the gap at all.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import landscape as ls
from .scenario import DEMO_PRODUCTS

LOG = logging.getLogger("reben.synthetic")

WORLD_EPSG = 32633
WORLD_LEFT, WORLD_TOP, WORLD_PX = 392000.0, 5402000.0, (1900, 2600)  # rows, cols at 10 m

# Backscatter (dB) per land-cover class (landscape.CLASSES order): water, forest, crop, bare, grass, urban.
SIGMA0_DB = {
    "VV": np.array([-21.0, -7.5, -10.0, -12.5, -11.0, -4.0], np.float32),
    "VH": np.array([-28.0, -13.0, -17.0, -20.0, -18.0, -11.0], np.float32),
}
LOOKS = 4.4
"""Equivalent number of looks of the speckle (IW GRDH)."""


@dataclass(frozen=True)
class SyntheticS1:
    name: str
    epsg: int
    resolution: float  # in CRS units
    bounds: tuple  # (left, bottom, right, top) of the raster, in EPSG:32633
    unit: str  # "dB" or "linear"
    nodata: float
    seed: int
    season_db: float = 0.0  # wetter winter soils: a little brighter

    def valid(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Where the acquisition holds data (coordinates in EPSG:32633)."""
        left, bottom, right, top = self.bounds
        inside = (x >= left) & (x <= right) & (y >= bottom) & (y <= top)
        if self.name.startswith("S1A_IW_GRDH_1SDV_20170613"):
            return inside & (x < 404000 + 0.4 * (y - bottom))  # slanted swath edge
        if self.name.startswith("S1B_IW_GRDH_1SDV_20170612"):
            return inside & ((x - 394800) + (y - 5385600) >= 4000)  # south-west corner
        return inside


DEMO_S1 = (
    SyntheticS1(
        "S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017042_01C6A2_5C2B",
        epsg=32633,
        resolution=10,
        bounds=(396005, 5387005, 411005, 5401005),
        unit="dB",
        nodata=-99.0,
        seed=11,
    ),
    SyntheticS1(
        "S1B_IW_GRDH_1SDV_20170612T165809_20170612T165834_006062_00AA4E_3E1F",
        epsg=32632,
        resolution=20,
        bounds=(393000, 5384000, 411000, 5401500),
        unit="linear",
        nodata=0.0,
        seed=12,
    ),
    SyntheticS1(
        "S1A_IW_GRDH_1SDV_20171219T165039_20171219T165104_019742_0218F4_9C71",
        epsg=4326,
        resolution=0.0001,
        bounds=(399000, 5384000, 412000, 5401500),
        unit="dB",
        nodata=float("nan"),
        seed=13,
        season_db=1.0,
    ),
)


def demo_s1(name: str) -> SyntheticS1:
    for spec in DEMO_S1:
        if spec.name == name:
            return spec
    raise KeyError(f"{name} is not a demo Sentinel-1 product")


def world_cover() -> np.ndarray:
    """Land-cover classes on the world grid: the demo S2 products' own, elsewhere a filler."""
    rows, cols = WORLD_PX
    cover = ls.land_cover(np.random.default_rng(99), max(rows, cols))[0][:rows, :cols]
    for spec in DEMO_PRODUCTS[:2]:  # the products that pass their quality checks
        own = ls.land_cover(np.random.default_rng(spec.seed), spec.size_px)[0]
        r0 = int(round((WORLD_TOP - spec.uly) / 10))
        c0 = int(round((spec.ulx - WORLD_LEFT) / 10))
        cover[r0 : r0 + own.shape[0], c0 : c0 + own.shape[1]] = own[: rows - r0, : cols - c0]
    return cover


def acquisition_grid(spec: SyntheticS1):
    """(transform, shape) of the acquisition's raster in its own CRS."""
    from affine import Affine
    from rasterio.warp import transform_bounds

    left, bottom, right, top = transform_bounds(f"EPSG:{WORLD_EPSG}", f"EPSG:{spec.epsg}", *spec.bounds)
    if spec.epsg == WORLD_EPSG:
        left, top = spec.bounds[0], spec.bounds[3]
    r = spec.resolution
    width, height = int(np.ceil((right - left) / r)), int(np.ceil((top - bottom) / r))
    return Affine(r, 0, left, 0, -r, top), (height, width)


def backscatter(spec: SyntheticS1, cover: np.ndarray) -> dict[str, np.ndarray]:
    """VV and VH of one acquisition on its own grid, in its unit, nodata where it has none."""
    from affine import Affine
    from pyproj import Transformer
    from rasterio.warp import Resampling, reproject

    rng = np.random.default_rng(spec.seed)
    transform, shape = acquisition_grid(spec)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    x, y = transform @ (cols + 0.5, rows + 0.5)
    wx, wy = Transformer.from_crs(f"EPSG:{spec.epsg}", f"EPSG:{WORLD_EPSG}", always_xy=True).transform(x, y)
    valid = spec.valid(wx, wy)
    world_transform = Affine(10, 0, WORLD_LEFT, 0, -10, WORLD_TOP)
    out = {}
    for pol in ("VV", "VH"):
        power = np.power(10, (SIGMA0_DB[pol][cover] + spec.season_db) / 10).astype(np.float32)
        on_grid = np.full(shape, np.nan, np.float32)
        reproject(
            power,
            on_grid,
            src_transform=world_transform,
            src_crs=f"EPSG:{WORLD_EPSG}",
            dst_transform=transform,
            dst_crs=f"EPSG:{spec.epsg}",
            resampling=Resampling.bilinear,
            dst_nodata=np.nan,
        )
        on_grid *= rng.gamma(LOOKS, 1 / LOOKS, shape).astype(np.float32)
        if spec.unit == "dB":
            on_grid = (10 * np.log10(on_grid)).astype(np.float32)
        bad = ~valid | ~np.isfinite(on_grid)
        on_grid[bad] = spec.nodata
        out[pol] = on_grid
    return out


def write_s1_product(spec: SyntheticS1, out_dir, cover: np.ndarray | None = None) -> dict[str, Path]:
    """Write `<name>_VV.tif` and `<name>_VH.tif` into `out_dir` (through temporary names)."""
    import rasterio

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    transform, shape = acquisition_grid(spec)
    bands = backscatter(spec, world_cover() if cover is None else cover)
    paths = {}
    for pol, data in bands.items():
        path = out_dir / f"{spec.name}_{pol}.tif"
        tmp = path.with_name(f".{path.name}.tmp")
        profile = dict(
            driver="GTiff",
            width=shape[1],
            height=shape[0],
            count=1,
            dtype="float32",
            crs=f"EPSG:{spec.epsg}",
            transform=transform,
            nodata=spec.nodata,
            compress="deflate",
            tiled=True,
            blockxsize=256,
            blockysize=256,
        )
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data, 1)
            # Each product says its unit in another way that real tools use.
            if spec.epsg == WORLD_EPSG:
                dst.units = ("dB",)
            elif spec.unit == "linear":
                dst.update_tags(UNIT="linear power")
            else:
                dst.set_band_description(1, f"Sigma0_{pol}_db")
        os.replace(tmp, path)
        paths[pol] = path
    LOG.info("%s: written (%d x %d px, EPSG:%d, %s)", spec.name, shape[1], shape[0], spec.epsg, spec.unit)
    return paths
