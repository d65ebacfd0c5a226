"""The country of every patch (rule assign_countries), from admin-0 borders.

A patch gets the nearest of the configured countries, measured in the tile CRS from its
footprint. Where the footprint lies in two configured countries' borders at once (distance 0:
a border patch, or overlapping generalised borders), the tie-break decides: `overlap` (the
default) gives the one covering more of it; `priority` gives the one listed first in a priority
list, whatever the areas (reBEN took Serbia over Kosovo and Belgium over Luxembourg at every
such patch), and the larger overlap among countries not listed. Equal distances or areas go to
the first name alphabetically. A patch in a country that is not
configured (Germany, for a T33UUP patch) gets the nearest configured one (Austria), as reBEN
assigns every patch to one of its 10 countries.

The whole tile is done at once with a shapely STRtree: intersecting (patch, country) pairs and
their areas for the patches that touch a country, nearest-country queries for the others.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from reben.errors import BordersError
from reben.grid import TileGrid, read_grid_json
from reben.io import check_download_sha256, staged_file, write_parquet

LOG = logging.getLogger("reben.dataset.countries")


TIE_BREAKS = ("overlap", "priority")


def read_borders(path, name_field: str, names, layer: str | None = None):
    """The configured countries of a borders file (GeoPackage, shapefile, zip, GeoJSON) as a
    GeoDataFrame (`country`, geometry), one row per country (parts dissolved), sorted by name."""
    import pyogrio
    import shapely

    path = str(path)
    try:
        info = pyogrio.read_info(path, layer=layer)
    except Exception as e:  # pyogrio raises DataSourceError, DataLayerError, ...
        raise BordersError(f"{path}: not a readable vector file ({e})") from None
    fields = list(info["fields"])
    # Natural Earth spells its fields NAME_LONG in the GeoJSON and shapefile, name_long in
    # geopandas' copy: a field that differs only in case is the same field.
    same = [f for f in fields if f.lower() == name_field.lower()]
    if name_field not in fields and len(same) == 1:
        name_field = same[0]
    if name_field not in fields:
        raise BordersError(
            f"{path}: no field '{name_field}' for country names (countries.name_field); fields: {', '.join(fields)}"
        )
    names = list(dict.fromkeys(names))
    if not names:
        raise BordersError(f"{path}: no countries configured (countries.names is empty)")
    frame = pyogrio.read_dataframe(path, layer=layer, columns=[name_field])
    if frame.crs is None:
        raise BordersError(f"{path}: the borders have no CRS")
    known = set(frame[name_field].dropna().astype(str))
    missing = [n for n in names if n not in known]
    if missing:
        raise BordersError(
            f"{path}: no country named {', '.join(map(repr, missing))} in field "
            f"'{name_field}' (countries.names); {len(known)} names in the file"
        )
    frame = frame[frame[name_field].isin(names)].rename(columns={name_field: "country"})
    frame = frame.set_geometry(shapely.make_valid(frame.geometry.values))
    frame = frame.dissolve(by="country", as_index=False).sort_values("country")
    return frame[["country", "geometry"]].reset_index(drop=True)


def _tie_rank(names, tie_break: str, priority) -> np.ndarray:
    """Rank of each country at distance 0 (lower wins before the overlap is compared)."""
    if tie_break not in TIE_BREAKS:
        raise BordersError(f"countries.tie_break: '{tie_break}' is not one of {', '.join(TIE_BREAKS)}")
    priority = list(priority or [])
    if tie_break == "overlap":
        return np.zeros(len(names), dtype=int)
    if not priority:
        raise BordersError("countries.tie_break is 'priority' but countries.priority is empty")
    unknown = sorted(set(priority) - set(names))
    if unknown:
        raise BordersError(
            f"countries.priority: {', '.join(map(repr, unknown))} not among the configured countries (countries.names)"
        )
    order = {name: i for i, name in enumerate(priority)}
    return np.array([order.get(name, len(priority)) for name in names], dtype=int)


def assign_countries(grid: TileGrid, borders, tie_break: str = "overlap", priority=()) -> pd.DataFrame:
    """patch_id and country of every patch of the grid, in grid order (see the module doc)."""
    import shapely

    borders = borders.to_crs(grid.crs).sort_values("country").reset_index(drop=True)
    geoms = shapely.make_valid(borders.geometry.values)
    finite = np.isfinite(shapely.bounds(geoms)).all(axis=1) & ~shapely.is_empty(geoms)
    if not finite.any():
        raise BordersError(f"{grid.tile_key}: none of the configured countries can be projected to {grid.crs}")
    names = borders["country"].to_numpy()[finite]
    geoms = geoms[finite]
    rank = _tie_rank(list(borders["country"]), tie_break, priority)[finite]
    patches = np.asarray(grid.to_frame().geometry.values)
    n = len(patches)
    choice = np.full(n, -1)

    # Countries touching the patch: the best ranked, then the one covering most of it. Areas are computed against the
    # borders clipped to the tile, which keeps the intersections small for detailed borders.
    left, top = grid.ulx, grid.uly
    right = left + grid.n_cols * grid.patch_size_m
    bottom = top - grid.n_rows * grid.patch_size_m
    clipped = shapely.clip_by_rect(geoms, left, bottom, right, top)
    pi, ci = shapely.STRtree(clipped).query(patches, predicate="intersects")
    if len(pi):
        area = shapely.area(shapely.intersection(patches[pi], clipped[ci]))
        pairs = pd.DataFrame({"p": pi, "c": ci, "rank": rank[ci], "neg_area": -area})
        pairs = pairs.sort_values(["p", "rank", "neg_area", "c"])
        best = pairs.drop_duplicates("p")
        choice[best["p"].to_numpy()] = best["c"].to_numpy()

    # The others: the nearest country (all equidistant matches, first name wins).
    rest = np.flatnonzero(choice < 0)
    if len(rest):
        (qi, ti), _ = shapely.STRtree(geoms).query_nearest(patches[rest], all_matches=True, return_distance=True)
        nearest = pd.DataFrame({"q": qi, "t": ti}).sort_values(["q", "t"]).drop_duplicates("q")
        choice[rest[nearest["q"].to_numpy()]] = nearest["t"].to_numpy()

    return pd.DataFrame({"patch_id": grid.patch_ids(), "country": names[choice].astype(object)})


def write_countries(
    geocoding,
    borders_path,
    name_field: str,
    names,
    countries_path,
    layer: str | None = None,
    tie_break: str = "overlap",
    priority=(),
) -> pd.DataFrame:
    """countries.parquet of one tile from its geocoding.json and the borders file."""
    grid = read_grid_json(geocoding)
    table = assign_countries(grid, read_borders(borders_path, name_field, names, layer), tie_break, priority)
    write_parquet(table, countries_path)
    counts = table["country"].value_counts()
    LOG.info(
        "%s: %d patches in %s (borders %s)",
        grid.tile_key,
        len(table),
        ", ".join(f"{k} {v}" for k, v in counts.items()),
        Path(borders_path).name,
    )
    return table


def download_borders(url: str, sha256: str | None, path) -> str:
    """Download the borders file (Natural Earth admin-0) to `path`, checking its sha256.

    Without a configured checksum the download is kept and its sha256 logged, to be pinned in
    the config (countries.download.sha256) so that later downloads are checked against it."""
    import hashlib
    import urllib.request

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with staged_file(path) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=120) as response, open(tmp, "wb") as f:
                for block in iter(lambda: response.read(1 << 20), b""):
                    digest.update(block)
                    f.write(block)
        except OSError as e:
            raise BordersError(f"{url}: download failed ({e})") from None
        got = digest.hexdigest()
        check_download_sha256(url, got, sha256, "countries.download.sha256", BordersError)
    LOG.info("%s: %s (sha256 %s)", url, path, got)
    return got
