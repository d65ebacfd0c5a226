"""BigEarthNet v1 patch names (`s2v1_name`) for the new patches, from a table of v1 footprints.

The table (GeoParquet, GeoPackage, or any vector format GDAL reads) holds one row per
BigEarthNet v1 patch: `s2v1_name` (e.g. S2A_MSIL2A_20170613T101031_26_57), its footprint in
EPSG:4326, and optionally `season`; without that column the season comes from the sensing
date in the name. A new patch takes the name of a v1 patch of the same season that it covers
(at least 99 % of the v1 footprint inside the new patch, allowing for the reprojection of the
footprint); with several, the best covered, then the first name. Otherwise `s2v1_name` is "".
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .constants import SEASONS
from .errors import RebenError

V1_CRS = "EPSG:4326"
MIN_COVERED = 0.99
_DATE = re.compile(r"_(\d{4})(\d{2})(\d{2})T\d{6}")


class FootprintTableError(RebenError):
    """The BigEarthNet v1 footprint table is not usable."""


def read_v1_footprints(path):
    """The v1 footprint table as a GeoDataFrame (s2v1_name, season, geometry) in EPSG:4326."""
    import geopandas as gpd

    path = Path(path)
    if not path.exists():
        raise FootprintTableError(f"{path}: BigEarthNet v1 footprint table does not exist")
    try:
        if path.suffix.lower() == ".parquet":
            frame = gpd.read_parquet(path)
        else:
            frame = gpd.read_file(path)
    except Exception as e:
        raise FootprintTableError(f"{path}: not a readable footprint table ({e})") from None
    if "s2v1_name" not in frame.columns:
        raise FootprintTableError(f"{path}: footprint table has no 's2v1_name' column "
                                  f"(columns: {', '.join(map(str, frame.columns))})")
    if frame.crs is None or not frame.crs.equals(V1_CRS):
        crs = frame.crs.to_string() if frame.crs is not None else "no CRS"
        raise FootprintTableError(f"{path}: footprints are in {crs}; expected {V1_CRS}")
    names = frame["s2v1_name"].astype(str)
    if "season" in frame.columns:
        season = frame["season"].astype(str)
    else:
        months = names.str.extract(_DATE)[1]
        if months.isna().any():
            bad = names[months.isna()].iloc[0]
            raise FootprintTableError(f"{path}: no 'season' column, and '{bad}' has no sensing "
                                      f"date (_YYYYMMDDTHHMMSS) to take it from")
        season = months.astype(int).map(SEASONS)
    return gpd.GeoDataFrame({"s2v1_name": names.to_numpy(), "season": season.to_numpy()},
                            geometry=frame.geometry.values, crs=V1_CRS)


def match_v1_names(footprints, season: str, v1) -> np.ndarray:
    """The s2v1_name of each footprint (a GeoSeries in its tile CRS) from the v1 table `v1`."""
    import shapely

    names = np.full(len(footprints), "", dtype=object)
    if v1 is None or not len(v1):
        return names
    crs = footprints.crs
    # Only v1 patches of the season near the tile, then into the tile CRS.
    box = shapely.box(*footprints.to_crs(V1_CRS).total_bounds)
    near = v1[(v1["season"] == season).to_numpy() & v1.intersects(box).to_numpy()]
    if not len(near):
        return names
    near = near.to_crs(crs)
    v1_geoms = np.asarray(near.geometry.values)
    patches = np.asarray(footprints.values)
    pi, vi = shapely.STRtree(v1_geoms).query(patches, predicate="intersects")
    if not len(pi):
        return names
    covered = shapely.area(shapely.intersection(patches[pi], v1_geoms[vi])) / shapely.area(v1_geoms[vi])
    v1_names = near["s2v1_name"].to_numpy(dtype=object)
    pairs = pd.DataFrame({"p": pi, "name": v1_names[vi], "neg": -covered})
    pairs = pairs[-pairs["neg"] >= MIN_COVERED].sort_values(["p", "neg", "name"]).drop_duplicates("p")
    names[pairs["p"].to_numpy()] = pairs["name"].to_numpy()
    return names
