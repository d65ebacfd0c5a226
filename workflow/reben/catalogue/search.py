"""Product search in the Copernicus Data Space catalogue, outside the workflow's DAG.

`reben search ...` asks the OData catalogue for the Sentinel-2 L2A or L1C products
of some MGRS tiles (or of an area) in a date range under a cloud limit, or for the Sentinel-1 GRD
IW scenes of an area, or for the S1 GRD scenes that meet each S2 product's tile within a time
gap, and writes a CSV product table that `sentinel2.product_table` or `sentinel1.product_table`
reads. Search is not a rule on purpose: the table is a file to read, edit and commit, and a run
built from it does not change when the catalogue does.

The filters follow the documented CDSE OData syntax: `Collection/Name eq 'SENTINEL-2'`,
`OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((lon lat, ...))')`,
`ContentDate/Start ge <ISO time>` and `lt`, and `Attributes/OData.CSC.<Type>Attribute/any(...)`
for `productType` and `cloudCover`, paged with `$orderby`, `$top` and `$skip`.

MGRS tile footprints come from the `mgrs` package (GeoTrans): the 100 km square of a tile name
in its UTM zone, widened by the 9.8 km by which Sentinel-2 tiles overlap (109.8 km, from the
square's west and north edges, as in every tile's MTD_TL.xml geoposition).
"""

from __future__ import annotations

import argparse
import csv
import logging
import re
import time
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import requests

from reben.catalogue.retrieval import Endpoints, retry_after_s
from reben.constants import S2_TILE_SIDE_M as TILE_SIDE_M
from reben.constants import SEASONS
from reben.errors import RebenError, RetrievalError, SearchError
from reben.io import staged_file

LOG = logging.getLogger("reben.catalogue.retrieval")

PRODUCT_TYPES = {
    # name on the command line: (collection, the catalogue's productType, has a cloud cover)
    "L2A": ("SENTINEL-2", "S2MSI2A", True),
    "L1C": ("SENTINEL-2", "S2MSI1C", True),
    "S1_GRD_IW": ("SENTINEL-1", "IW_GRDH_1S", False),
}
PAGE_SIZE = 100
MAX_SKIP = 10000
"""The catalogue answers `$skip` up to 10,000; a search that needs more pages must be narrower."""
SQUARE_M = 100_000
MGRS_LATITUDES = (-80.0, 84.0)
"""The UTM part of MGRS, where Sentinel-2 tiles are; the polar (UPS) parts have none."""
MGRS_TILE = re.compile(r"^T?(\d{2})([C-HJ-NP-X])([A-HJ-NP-Z]{2})$")
S2_TABLE_COLUMNS = ("name", "cdse_id", "sensing_time", "tile", "cloud_cover")
S1_TABLE_COLUMNS = ("name", "cdse_id", "sensing_time", "s2_name", "time_gap_days")


# ------------------------------------------------------------------ the search arguments


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """`west,south,east,north` in degrees; swapped corners are an error, not silently fixed."""
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise SearchError(f"--bbox {text!r}: expected four numbers west,south,east,north in degrees") from None
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise SearchError(f"--bbox {text}: longitudes must lie in -180..180 and latitudes in -90..90")
    if west >= east or south >= north:
        raise SearchError(
            f"--bbox {text}: corners swapped or empty (west {west} must be less than east "
            f"{east}, south {south} less than north {north})"
        )
    return west, south, east, north


def parse_dates(start: str, end: str) -> tuple[datetime, datetime]:
    """The UTC interval [start 00:00, the day after end 00:00): both dates are included."""
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as e:
        raise SearchError(f"--start/--end: {e} (expected YYYY-MM-DD)") from None
    if last < first:
        raise SearchError(f"--start {start} --end {end}: the date range ends before it starts")
    begin = datetime(first.year, first.month, first.day, tzinfo=timezone.utc)
    return begin, datetime(last.year, last.month, last.day, tzinfo=timezone.utc) + timedelta(days=1)


def product_type(name: str) -> tuple[str, str, bool]:
    try:
        return PRODUCT_TYPES[name]
    except KeyError:
        raise SearchError(f"--product-type {name!r}: unknown; choose one of {', '.join(PRODUCT_TYPES)}") from None


def tile_footprint(tile: str):
    """The Sentinel-2 tile's footprint in EPSG:4326 (a shapely polygon, edges densified)."""
    import mgrs
    import numpy as np
    import pyproj
    import shapely
    from shapely.geometry import box

    m = MGRS_TILE.match(tile.upper())
    if not m:
        raise SearchError(f"tile {tile!r}: not an MGRS tile name (e.g. 33UUP or T33UUP)")
    name = "".join(m.groups())
    try:
        with warnings.catch_warnings():  # GeoTrans warns of squares that cross a latitude band
            warnings.simplefilter("ignore", RuntimeWarning)
            zone, hemisphere, easting, northing = mgrs.MGRS().MGRSToUTM(name + "0000000000")
    except Exception as e:  # the mgrs package raises its own untyped errors
        raise SearchError(f"tile {tile!r}: not a valid MGRS 100 km square ({e})") from None
    west, south = round(easting), round(northing)  # the square's south-west corner, to the metre
    north = south + SQUARE_M
    # Edges densified every 10 km: the outline stays within metres of the curved edge, and the
    # filter short enough for a URL.
    square = box(west, north - TILE_SIDE_M, west + TILE_SIDE_M, north).segmentize(TILE_SIDE_M / 11)
    epsg = (32600 if hemisphere == "N" else 32700) + int(zone)
    to_wgs84 = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True)
    return shapely.transform(square, lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1])))


def area_geometry(bbox: str | None = None, vector: str | None = None):
    """The search area in EPSG:4326, from a bbox or from any vector file OGR reads (all its
    features, unioned)."""
    from shapely.geometry import box

    if bbox:
        return box(*parse_bbox(bbox))
    import geopandas as gpd

    try:
        frame = gpd.read_file(vector)
    except Exception as e:
        raise SearchError(f"--area {vector}: cannot be read as a vector file ({e})") from None
    if frame.empty or frame.crs is None:
        raise SearchError(f"--area {vector}: {'no features' if frame.empty else 'no CRS'}")
    return frame.to_crs(4326).geometry.union_all()


def check_within_mgrs(area, label: str) -> None:
    south, north = area.bounds[1], area.bounds[3]
    low, high = MGRS_LATITUDES
    if north < low or south > high:
        raise SearchError(
            f"{label}: the area ({south:.2f} to {north:.2f} degrees latitude) lies outside "
            f"every MGRS tile (Sentinel-2 tiles span {low:g} to {high:g} degrees)"
        )


# ------------------------------------------------------------------ the OData filter


def odata_time(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def wkt_polygon(geometry) -> str:
    """The area as the catalogue's geography literal (its outline: a hull of a complex area)."""
    from shapely.geometry import Polygon

    if not isinstance(geometry, Polygon) or len(geometry.interiors):
        geometry = geometry.convex_hull
    ring = ",".join(f"{x:.6f} {y:.6f}" for x, y in geometry.exterior.coords)
    return f"geography'SRID=4326;POLYGON(({ring}))'"


def odata_filter(
    kind: str, area, start: datetime, end: datetime, max_cloud: float | None = None, name_contains: str | None = None
) -> str:
    collection, ptype, cloudy = product_type(kind)
    clauses = [
        f"Collection/Name eq '{collection}'",
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
        f"att/OData.CSC.StringAttribute/Value eq '{ptype}')",
        f"OData.CSC.Intersects(area={wkt_polygon(area)})",
        f"ContentDate/Start ge {odata_time(start)}",
        f"ContentDate/Start lt {odata_time(end)}",
    ]
    if cloudy and max_cloud is not None:
        clauses.append(
            "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and "
            f"att/OData.CSC.DoubleAttribute/Value le {max_cloud:.2f})"
        )
    if name_contains:
        clauses.append(f"contains(Name,'{name_contains}')")
    return " and ".join(clauses)


# ------------------------------------------------------------------ asking the catalogue


@dataclass(frozen=True)
class Found:
    name: str  # without .SAFE
    id: str
    start: datetime
    cloud_cover: float | None
    tile: str | None  # Sentinel-2: the MGRS tile of the name (T33UUP)


def _attribute(entry: dict, name: str):
    return next((a.get("Value") for a in entry.get("Attributes") or [] if a.get("Name") == name), None)


def _found(entry: dict) -> Found:
    name = entry["Name"].removesuffix(".SAFE")
    start = datetime.fromisoformat(entry["ContentDate"]["Start"].replace("Z", "+00:00"))
    cloud = _attribute(entry, "cloudCover")
    tile = re.search(r"_(T\d{2}[A-Z]{3})_", name)
    return Found(
        name=name,
        id=entry["Id"],
        start=start,
        cloud_cover=None if cloud is None else float(cloud),
        tile=tile and tile.group(1),
    )


def query(
    session: requests.Session,
    endpoints: Endpoints,
    filter_text: str,
    page_size: int = PAGE_SIZE,
    retries: int = 5,
    timeout_s: float = 60,
    sleep=time.sleep,
) -> list[Found]:
    """Every product the filter matches, page after page (`$top`/`$skip`, oldest first), with
    bounded retries of a 429 or 5xx answer after its Retry-After."""
    found, skip = [], 0
    while True:
        if skip > MAX_SKIP:
            raise SearchError(f"the search matches more than {MAX_SKIP} products; narrow the area or dates")
        params = {
            "$filter": filter_text,
            "$orderby": "ContentDate/Start asc",
            "$top": str(page_size),
            "$skip": str(skip),
            "$expand": "Attributes",
        }
        for attempt in range(retries + 1):
            try:
                r = session.get(f"{endpoints.catalogue}/Products", params=params, timeout=timeout_s)
            except requests.RequestException as e:
                raise RetrievalError(f"CDSE catalogue unreachable ({e})") from None
            if r.status_code == 429 or r.status_code >= 500:
                if attempt == retries:
                    raise RetrievalError(f"CDSE catalogue still answers HTTP {r.status_code} after {retries} retries")
                delay = retry_after_s(r, default=2**attempt)
                LOG.warning("catalogue answered HTTP %d; retrying in %.0f s", r.status_code, delay)
                sleep(delay)
                continue
            break
        if r.status_code != 200:
            raise RetrievalError(f"CDSE catalogue refused the search (HTTP {r.status_code}: {r.text[:200]})")
        page = r.json().get("value", [])
        found += [_found(e) for e in page]
        if len(page) < page_size:
            return found
        skip += page_size


def season_of(t: datetime) -> tuple[int, str]:
    """(season year, season): December counts to the winter of the year after."""
    return (t.year + 1 if t.month == 12 else t.year), SEASONS[t.month]


def one_per_tile_and_season(products: list[Found]) -> list[Found]:
    """The least cloudy product of each tile and season (a tie goes to the earlier one)."""
    best: dict[tuple, Found] = {}
    for p in sorted(products, key=lambda p: (p.cloud_cover if p.cloud_cover is not None else 101, p.start)):
        best.setdefault((p.tile, *season_of(p.start)), p)
    return sorted(best.values(), key=lambda p: (p.tile or "", p.start))


def search_sentinel2(
    session,
    endpoints,
    kind: str,
    start,
    end,
    tiles=(),
    area=None,
    max_cloud: float | None = None,
    one_per_season: bool = False,
    **kw,
) -> list[Found]:
    """S2 products of the tiles (each matched by footprint and by its tile in the name) or of the area."""
    products: dict[str, Found] = {}
    targets = [(tile_footprint(t), "T" + t.upper().removeprefix("T")) for t in tiles] or [(area, None)]
    for geometry, tile in targets:
        for p in query(
            session, endpoints, odata_filter(kind, geometry, start, end, max_cloud, tile and f"_{tile}_"), **kw
        ):
            products.setdefault(p.name, p)
    found = sorted(products.values(), key=lambda p: (p.tile or "", p.start))
    return one_per_tile_and_season(found) if one_per_season else found


def pair_sentinel1(
    session, endpoints, s2_products: list[tuple[str, datetime, str]], max_gap_days: float, **kw
) -> list[dict]:
    """For each (S2 name, sensing time, tile): the S1 GRD IW scenes meeting its tile footprint
    within `max_gap_days`. One row per S1 scene and S2 product."""
    rows = []
    gap = timedelta(days=max_gap_days)
    for s2_name, sensing, tile in s2_products:
        flt = odata_filter("S1_GRD_IW", tile_footprint(tile), sensing - gap, sensing + gap)
        for p in query(session, endpoints, flt, **kw):
            rows.append(
                {
                    "name": p.name,
                    "cdse_id": p.id,
                    "sensing_time": odata_time(p.start),
                    "s2_name": s2_name,
                    "time_gap_days": f"{abs((p.start - sensing).total_seconds()) / 86400:.3f}",
                }
            )
    return rows


def write_table(rows: list[dict], path, columns) -> Path:
    """The CSV product table, written to a temporary name and renamed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with staged_file(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def s2_rows(products: list[Found]) -> list[dict]:
    return [
        {
            "name": p.name,
            "cdse_id": p.id,
            "sensing_time": odata_time(p.start),
            "tile": p.tile,
            "cloud_cover": "" if p.cloud_cover is None else f"{p.cloud_cover:.2f}",
        }
        for p in products
    ]


def read_s2_table(path) -> list[tuple[str, datetime, str]]:
    """(name, sensing time, tile) of each row of a Sentinel-2 product table (`name` column)."""
    from reben.names import parse_product_name

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "name" not in rows[0]:
        raise SearchError(f"--pair-with {path}: no rows with a 'name' column")
    out = []
    for row in rows:
        try:
            parsed = parse_product_name(row["name"])
        except RebenError as e:
            raise SearchError(f"--pair-with {path}: {e}") from None
        out.append((row["name"], parsed.sensing_time, parsed.tile))
    return out


# ------------------------------------------------------------------ the command


def config_time_gap(configfile: str | None) -> float:
    """sentinel1.max_time_gap_days of a run's config (its schema default, 10, where unset)."""
    import yaml

    if not configfile:
        return 10.0
    try:
        config = yaml.safe_load(Path(configfile).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise SearchError(f"--configfile {configfile}: cannot be read ({e})") from None
    gap = (config.get("sentinel1") or {}).get("max_time_gap_days", 10)
    if not isinstance(gap, (int, float)) or gap < 0:
        raise SearchError(f"--configfile {configfile}: sentinel1.max_time_gap_days: {gap!r} is not a number of days")
    return float(gap)


DESCRIPTION = __doc__.split("\n\n")[1]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `reben search` (reben.run.cli)."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--tiles", nargs="+", metavar="TILE", help="MGRS tiles (33UUP or T33UUP)")
    where.add_argument("--bbox", help="west,south,east,north in degrees (EPSG:4326)")
    where.add_argument("--area", help="a vector file (any format OGR reads, any CRS)")
    where.add_argument(
        "--pair-with", metavar="S2_TABLE", help="an S2 product table: find the S1 GRD IW scenes of each product's tile"
    )
    p.add_argument("--start", help="first day, YYYY-MM-DD")
    p.add_argument("--end", help="last day, YYYY-MM-DD (included)")
    p.add_argument("--product-type", default="L2A", help=f"one of {', '.join(PRODUCT_TYPES)} (default L2A)")
    p.add_argument("--max-cloud", type=float, default=None, help="largest cloudCover in percent (S2 only)")
    p.add_argument(
        "--one-per-tile-and-season",
        action="store_true",
        help="keep the least cloudy S2 product of each tile and season",
    )
    p.add_argument(
        "--max-time-gap-days",
        type=float,
        default=None,
        help="with --pair-with: largest time between S2 and S1 in days (default: "
        "sentinel1.max_time_gap_days of --configfile, else 10)",
    )
    p.add_argument("--configfile", help="with --pair-with: the run's config, for sentinel1.max_time_gap_days")
    p.add_argument("--catalogue-url", default=Endpoints.catalogue)
    p.add_argument("--output", "-o", required=True, help="the CSV product table to write")


def run(args: argparse.Namespace) -> Path:
    """The search `args` (add_arguments) ask for, written as a CSV product table; its path."""
    endpoints = Endpoints(catalogue=args.catalogue_url)
    with requests.Session() as session:
        if args.pair_with:
            gap = args.max_time_gap_days if args.max_time_gap_days is not None else config_time_gap(args.configfile)
            rows = pair_sentinel1(session, endpoints, read_s2_table(args.pair_with), gap)
            path = write_table(rows, args.output, S1_TABLE_COLUMNS)
            LOG.info("%d S1 GRD scenes for the products of %s", len(rows), args.pair_with)
            return path
        if not (args.tiles or args.bbox or args.area):
            raise SearchError("search: give --tiles, --bbox, --area or --pair-with")
        if not (args.start and args.end):
            raise SearchError("search: give --start and --end (YYYY-MM-DD)")
        start, end = parse_dates(args.start, args.end)
        collection, _, cloudy = product_type(args.product_type)
        if args.max_cloud is not None and not 0 <= args.max_cloud <= 100:
            raise SearchError(f"--max-cloud {args.max_cloud:g}: a cloud cover in percent, 0 to 100")
        area = None
        if not args.tiles:
            area = area_geometry(args.bbox, args.area)
            check_within_mgrs(area, f"--bbox {args.bbox}" if args.bbox else f"--area {args.area}")
        if cloudy:
            found = search_sentinel2(
                session,
                endpoints,
                args.product_type,
                start,
                end,
                args.tiles or (),
                area,
                args.max_cloud,
                args.one_per_tile_and_season,
            )
            path = write_table(s2_rows(found), args.output, S2_TABLE_COLUMNS)
        else:
            geometries = [tile_footprint(t) for t in args.tiles] if args.tiles else [area]
            found = {
                p.name: p
                for g in geometries
                for p in query(session, endpoints, odata_filter(args.product_type, g, start, end))
            }
            rows = [
                {
                    "name": p.name,
                    "cdse_id": p.id,
                    "sensing_time": odata_time(p.start),
                    "s2_name": "",
                    "time_gap_days": "",
                }
                for p in sorted(found.values(), key=lambda p: p.start)
            ]
            path = write_table(rows, args.output, S1_TABLE_COLUMNS)
            found = rows
    LOG.info("%d products written to %s", len(found), path)
    return path
