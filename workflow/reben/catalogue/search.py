"""Product search in the Copernicus Data Space catalogue, outside the workflow's DAG.

`reben search ...` asks the OData catalogue for the Sentinel-2 L2A or L1C products of some MGRS
tiles (or of an area) in a date range, keeps one product per acquisition (the newest processing
baseline, then the newest processing time) within a cloud limit and a minimum coverage of its
tile, or asks for the Sentinel-1 GRD IW scenes of an area, or for the S1 GRD scenes that meet
each S2 product's tile within a time gap, and writes a CSV product table that
`sentinel2.product_table` or `sentinel1.product_table` reads. Search is not a rule on purpose:
the table is a file to read, edit and commit, and a run built from it does not change when the
catalogue does.

The filters follow the documented CDSE OData syntax: `Collection/Name eq 'SENTINEL-2'`,
`OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((lon lat, ...))')`,
`ContentDate/Start ge <ISO time>` and `lt` (or `le`), `Attributes/OData.CSC.StringAttribute/any(...)`
for `productType`, and `contains(Name,...)`, paged with `$orderby`, `$top` (at most 1,000) and
`$skip` (at most 10,000). Which of the products found a search keeps is reben.catalogue.selection;
tiles, their Sentinel-2 names and coverage are reben.catalogue.tiles.
"""

from __future__ import annotations

import argparse
import csv
import logging
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import requests

from reben.catalogue import selection
from reben.catalogue.retrieval import Endpoints, failure, host_of, retry_after_s
from reben.catalogue.selection import Found, Funnel
from reben.catalogue.tiles import MGRS_LATITUDES, check_sentinel2_tile, coverage, tile_footprint
from reben.errors import RebenError, RetrievalError, SearchError
from reben.io import staged_file
from reben.names import parse_product_name, time_window, within_time_gap

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
MIN_COVERAGE = 50.0
"""--min-coverage by default, in percent of the tile: a product at a datastrip edge that covers
less would give more nodata than patches, while every tile seen whole by one orbit passes."""
S2_TABLE_COLUMNS = ("name", "cdse_id", "sensing_time", "tile", "baseline", "cloud_cover", "coverage")
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
    """A time as the catalogue writes it: UTC, to the millisecond."""
    t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def wkt_polygon(geometry) -> str:
    """The area as the catalogue's geography literal (its outline: a hull of a complex area)."""
    from shapely.geometry import Polygon

    if not isinstance(geometry, Polygon) or len(geometry.interiors):
        geometry = geometry.convex_hull
    ring = ",".join(f"{x:.6f} {y:.6f}" for x, y in geometry.exterior.coords)
    return f"geography'SRID=4326;POLYGON(({ring}))'"


def odata_filter(
    kind: str, area, start: datetime, end: datetime, name_contains: str | None = None, end_included: bool = False
) -> str:
    """Products of `kind` meeting `area` that start in [start, end) ([start, end] with
    `end_included`)."""
    collection, ptype, _ = product_type(kind)
    clauses = [
        f"Collection/Name eq '{collection}'",
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
        f"att/OData.CSC.StringAttribute/Value eq '{ptype}')",
        f"OData.CSC.Intersects(area={wkt_polygon(area)})",
        f"ContentDate/Start ge {odata_time(start)}",
        f"ContentDate/Start {'le' if end_included else 'lt'} {odata_time(end)}",
    ]
    if name_contains:
        clauses.append(f"contains(Name,'{name_contains}')")
    return " and ".join(clauses)


# ------------------------------------------------------------------ asking the catalogue


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
    host = host_of(endpoints.catalogue)
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
                raise RetrievalError(f"CDSE catalogue at {host} unreachable: {failure(e, timeout_s)}") from None
            if r.status_code == 429 or r.status_code >= 500:
                if attempt == retries:
                    raise RetrievalError(
                        f"CDSE catalogue at {host} still answers HTTP {r.status_code} after {retries} retries"
                    )
                delay = retry_after_s(r, default=2**attempt)
                LOG.warning("catalogue answered HTTP %d; retrying in %.0f s", r.status_code, delay)
                sleep(delay)
                continue
            break
        if r.status_code != 200:
            raise RetrievalError(f"CDSE catalogue at {host} refused the search (HTTP {r.status_code}: {r.text[:200]})")
        try:
            page = r.json()["value"]
        except (ValueError, KeyError):
            raise RetrievalError(f"CDSE catalogue at {host} answered no OData product list (HTTP 200)") from None
        found += [selection.found(e) for e in page]
        if len(page) < page_size:
            return found
        skip += page_size


def search_sentinel2(session, endpoints, kind: str, start, end, tiles=(), area=None, **kw) -> list[Found]:
    """Every S2 product of the tiles (each matched by footprint and by its tile in the name) or
    of the area, each with its coverage of its tile; a product found twice counts once."""
    products: dict[str, Found] = {}
    targets = [(tile_footprint(t), check_sentinel2_tile(t)) for t in tiles] or [(area, None)]
    for geometry, tile in targets:
        flt = odata_filter(kind, geometry, start, end, tile and f"_{tile}_")
        for p in query(session, endpoints, flt, **kw):
            products.setdefault(p.name, p)
    return selection.with_coverage(sorted(products.values(), key=lambda p: (p.tile or "", p.start)), coverage)


def select_sentinel2(
    found: list[Found],
    baseline: str = "newest",
    max_cloud: float | None = None,
    min_coverage: float = MIN_COVERAGE,
    one_per_season: bool = False,
) -> tuple[list[Found], Funnel]:
    """The products a user would pick of those found: one per acquisition (`baseline`), within
    `max_cloud` and `min_coverage` (both in percent), and with `one_per_season` the least
    cloudy of each tile and season. The Funnel counts what each step dropped."""
    kept, counts = selection.one_per_acquisition(found, baseline)
    funnel = Funnel(
        found=len(found),
        acquisitions=len(kept) + counts["without_baseline"],
        twins=counts["twins"],
        without_baseline=counts["without_baseline"],
        baseline=baseline,
    )
    kept = selection.limits(kept, funnel, max_cloud, min_coverage / 100)
    if one_per_season:
        chosen = selection.one_per_tile_and_season(kept)
        funnel.not_least_cloudy = len(kept) - len(chosen)
        kept = chosen
    return kept, funnel


def s1_scenes(session, endpoints, geometries, start, end, **kw) -> tuple[list[Found], int]:
    """The S1 GRD IW scenes meeting any of the geometries in [start, end): one product per
    scene (selection.one_per_scene), and how many twins were dropped."""
    found = {
        p.name: p for g in geometries for p in query(session, endpoints, odata_filter("S1_GRD_IW", g, start, end), **kw)
    }
    return selection.one_per_scene(list(found.values()))


def pair_sentinel1(
    session, endpoints, s2_products: list[tuple[str, datetime, str]], max_gap_days: float, **kw
) -> tuple[list[dict], int]:
    """For each (S2 name, sensing time, tile): the S1 GRD IW scenes meeting its tile footprint
    whose start time (in the name) lies in [t - gap, t + gap], both ends included, as the
    workflow pairs them (names.within_time_gap). One row per S1 scene and S2 product, one
    product per scene; also how many twins were dropped."""
    matches = []
    for s2_name, sensing, tile in s2_products:
        first, last = time_window(sensing, max_gap_days)
        flt = odata_filter("S1_GRD_IW", tile_footprint(tile), first, last, end_included=True)
        matches += [(p, s2_name, sensing) for p in query(session, endpoints, flt, **kw)]
    kept, twins = selection.one_per_scene(list({p.name: p for p, _, _ in matches}.values()))
    kept_by_scene = {selection.scene(p.name)[0]: p for p in kept}
    rows, seen = [], set()
    for p, s2_name, sensing in matches:
        chosen = kept_by_scene[selection.scene(p.name)[0]]
        start = selection.scene_start(chosen.name)
        if (chosen.name, s2_name) in seen or not within_time_gap(start, sensing, max_gap_days):
            continue
        seen.add((chosen.name, s2_name))
        rows.append(
            {
                "name": chosen.name,
                "cdse_id": chosen.id,
                "sensing_time": chosen.sensing_time,
                "s2_name": s2_name,
                "time_gap_days": f"{abs((start - sensing).total_seconds()) / 86400:.3f}",
            }
        )
    return rows, twins


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
            "sensing_time": p.sensing_time,
            "tile": p.tile,
            "baseline": p.s2.baseline,
            "cloud_cover": "" if p.cloud_cover is None else f"{p.cloud_cover:.2f}",
            "coverage": f"{100 * p.coverage:.2f}",
        }
        for p in products
    ]


def read_s2_table(path) -> list[tuple[str, datetime, str]]:
    """(name, sensing time, tile) of each row of a Sentinel-2 product table (`name` column)."""
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
    where.add_argument("--tiles", nargs="+", metavar="TILE", help="Sentinel-2 tiles (33UUP or T33UUP)")
    where.add_argument("--bbox", help="west,south,east,north in degrees (EPSG:4326)")
    where.add_argument("--area", help="a vector file (any format OGR reads, any CRS)")
    where.add_argument(
        "--pair-with", metavar="S2_TABLE", help="an S2 product table: find the S1 GRD IW scenes of each product's tile"
    )
    p.add_argument("--start", help="first day, YYYY-MM-DD")
    p.add_argument("--end", help="last day, YYYY-MM-DD (included)")
    p.add_argument("--product-type", default="L2A", help=f"one of {', '.join(PRODUCT_TYPES)} (default L2A)")
    p.add_argument(
        "--baseline",
        default="newest",
        help="S2: which product of an acquisition (platform, tile, sensing time) to keep: newest "
        "(default) or oldest processing baseline, or only that baseline (e.g. N0500); then the "
        "newest processing time",
    )
    p.add_argument("--max-cloud", type=float, default=None, help="largest cloudCover in percent (S2 only)")
    p.add_argument(
        "--min-coverage",
        type=float,
        default=MIN_COVERAGE,
        help=f"S2: smallest share of its tile a product covers, in percent (default {MIN_COVERAGE:g})",
    )
    p.add_argument(
        "--one-per-tile-and-season",
        action="store_true",
        help="keep the least cloudy S2 product of each tile and season (a tie: the earlier)",
    )
    p.add_argument(
        "--max-time-gap-days",
        type=float,
        default=None,
        help="with --pair-with: largest time between S2 and S1 in days, either side, both ends "
        "included (default: sentinel1.max_time_gap_days of --configfile, else 10)",
    )
    p.add_argument("--configfile", help="with --pair-with: the run's config, for sentinel1.max_time_gap_days")
    p.add_argument("--catalogue-url", default=Endpoints.catalogue)
    p.add_argument("--output", "-o", required=True, help="the CSV product table to write")


def _s1_row(p: Found) -> dict:
    return {"name": p.name, "cdse_id": p.id, "sensing_time": p.sensing_time, "s2_name": "", "time_gap_days": ""}


def run(args: argparse.Namespace) -> Path:
    """The search `args` (add_arguments) ask for, written as a CSV product table; its path. A
    search that keeps nothing writes nothing and says why in one line."""
    endpoints = Endpoints(catalogue=args.catalogue_url)
    host = host_of(endpoints.catalogue)
    with requests.Session() as session:
        if args.pair_with:
            gap = args.max_time_gap_days if args.max_time_gap_days is not None else config_time_gap(args.configfile)
            s2 = read_s2_table(args.pair_with)
            rows, twins = pair_sentinel1(session, endpoints, s2, gap)
            if not rows:
                raise SearchError(
                    f"no S1 GRD IW scene in the catalogue at {host} meets the tile of any product of "
                    f"{args.pair_with} within {gap:g} days"
                )
            alone = len(s2) - len({r["s2_name"] for r in rows})
            if alone:
                LOG.warning("%d of %d S2 products have no S1 scene within %g days", alone, len(s2), gap)
            path = write_table(rows, args.output, S1_TABLE_COLUMNS)
            LOG.info(
                "%d S1 GRD scenes (%d twins of a scene dropped) for the products of %s, written to %s",
                len({r["name"] for r in rows}),
                twins,
                args.pair_with,
                path,
            )
            return path
        if not (args.tiles or args.bbox or args.area):
            raise SearchError("search: give --tiles, --bbox, --area or --pair-with")
        if not (args.start and args.end):
            raise SearchError("search: give --start and --end (YYYY-MM-DD)")
        start, end = parse_dates(args.start, args.end)
        _, _, cloudy = product_type(args.product_type)
        if args.max_cloud is not None and not 0 <= args.max_cloud <= 100:
            raise SearchError(f"--max-cloud {args.max_cloud:g}: a cloud cover in percent, 0 to 100")
        if not 0 <= args.min_coverage <= 100:
            raise SearchError(f"--min-coverage {args.min_coverage:g}: a share of the tile in percent, 0 to 100")
        baseline = selection.check_baseline_rule(args.baseline)
        area = None
        if args.tiles:
            for tile in args.tiles:
                check_sentinel2_tile(tile)
            where = f"tile{'s' if len(args.tiles) > 1 else ''} {' '.join(args.tiles)}"
        else:
            area = area_geometry(args.bbox, args.area)
            where = f"--bbox {args.bbox}" if args.bbox else f"--area {args.area}"
            check_within_mgrs(area, where)
        asked = f"{args.product_type} products of {where} from {args.start} to {args.end}"
        if cloudy:
            found = search_sentinel2(session, endpoints, args.product_type, start, end, args.tiles or (), area)
            kept, funnel = select_sentinel2(
                found, baseline, args.max_cloud, args.min_coverage, args.one_per_tile_and_season
            )
            if not found:
                raise SearchError(f"the catalogue at {host} lists no {asked}")
            if not kept:
                raise SearchError(f"none of the {len(found)} {asked} is kept: {'; '.join(funnel.steps())}")
            path = write_table(s2_rows(kept), args.output, S2_TABLE_COLUMNS)
            LOG.info(
                "%d %s found (%d acquisitions): %s; %d written to %s",
                len(found),
                asked,
                funnel.acquisitions,
                "; ".join(funnel.steps(twins=True)),
                len(kept),
                path,
            )
            return path
        geometries = [tile_footprint(t) for t in args.tiles] if args.tiles else [area]
        kept, twins = s1_scenes(session, endpoints, geometries, start, end)
        if not kept:
            raise SearchError(f"the catalogue at {host} lists no {asked}")
        path = write_table([_s1_row(p) for p in kept], args.output, S1_TABLE_COLUMNS)
    LOG.info("%d S1 GRD scenes (%d twins of a scene dropped) written to %s", len(kept), twins, path)
    return path
