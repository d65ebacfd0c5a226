"""Which of the products the catalogue lists a search keeps: the products a user would pick.

The catalogue lists several products of one acquisition:
- Sentinel-2: the original product (processing baseline N02xx, N03xx) beside the reprocessed
  one of Collection-1 (N0500 and later) for 2015 to 2021, and sometimes a product delivered
  twice with one baseline and another processing time (the last field of the name). One
  acquisition is one platform, tile and sensing time; `one_per_acquisition` keeps one product
  of each, by default that of the newest baseline, then of the newest processing time.
- Sentinel-1: a GRD scene delivered again with another product identifier (the CRC-16 of its
  manifest, the last field of the name), and the COG_SAFE copy that CDSE made of it
  (`..._<CRC>_COG.SAFE`, productType IW_GRDH_1S-COG). One scene is one platform, mode, product
  type, polarisation and start time; `one_per_scene` keeps the original SAFE product (the one
  SNAP's reader and the workflow take), the most recently published of its deliveries.

Then the limits apply to the kept product (`limits`): its cloud cover and its coverage of its
tile. `one_per_tile_and_season` keeps the least cloudy product of each tile and season.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from reben import names
from reben.constants import SEASONS
from reben.errors import SearchError

BASELINE = re.compile(r"^N\d{4}$")
BASELINE_RULES = ("newest", "oldest")
S1_NAME = re.compile(names.S1_PRODUCT + r"(?P<cog>_COG)?$")


@dataclass(frozen=True)
class Found:
    """A product as the catalogue lists it."""

    name: str  # without .SAFE
    id: str
    start: datetime
    sensing_time: str  # ContentDate/Start as the catalogue gives it (milliseconds)
    published: str  # PublicationDate, as given
    cloud_cover: float | None
    footprint: object = field(default=None, compare=False, repr=False)  # shapely, EPSG:4326
    coverage: float | None = None  # of its tile (Sentinel-2), 0 to 1

    @property
    def s2(self) -> names.ProductName:
        return names.parse_product_name(self.name)

    @property
    def tile(self) -> str | None:
        """Sentinel-2: the MGRS tile of the name (T33UUP)."""
        m = names.PRODUCT_NAME.match(self.name)
        return m and m["tile"]


def found(entry: dict) -> Found:
    """A catalogue entry (an item of the OData answer's `value`) as a Found."""
    from shapely import wkt
    from shapely.geometry import shape

    name = entry["Name"].removesuffix(".SAFE")
    text = entry["ContentDate"]["Start"]
    cloud = next(
        (a.get("Value") for a in entry.get("Attributes") or [] if a.get("Name") == "cloudCover"),
        None,
    )
    footprint = None
    if entry.get("GeoFootprint"):
        footprint = shape(entry["GeoFootprint"])
    elif entry.get("Footprint"):  # geography'SRID=4326;POLYGON ((...))'
        footprint = wkt.loads(entry["Footprint"].split(";", 1)[-1].rstrip("'"))
    return Found(
        name=name,
        id=entry["Id"],
        start=datetime.fromisoformat(text.replace("Z", "+00:00")),
        sensing_time=text,
        published=entry.get("PublicationDate") or "",
        cloud_cover=None if cloud is None else float(cloud),
        footprint=footprint,
    )


def check_baseline_rule(rule: str) -> str:
    if rule in BASELINE_RULES or BASELINE.match(rule):
        return rule
    raise SearchError(f"--baseline {rule!r}: choose newest, oldest or a processing baseline such as N0500")


def acquisition(p: Found) -> tuple[str, str, str]:
    """(platform, tile, sensing time of the name): what baseline twins and re-deliveries share."""
    s2 = p.s2
    return s2.mission, s2.tile, s2.sensing


@dataclass
class Funnel:
    """How many products each step of a search dropped, for its closing line and for the reason
    an empty search gives."""

    found: int = 0
    acquisitions: int = 0
    twins: int = 0
    without_baseline: int = 0
    baseline: str = "newest"
    cloudy: int = 0
    max_cloud: float | None = None
    uncovered: int = 0
    min_coverage: float = 0.0
    best_coverage: float | None = None  # of the products that cover too little
    not_least_cloudy: int = 0

    def steps(self, twins: bool = False) -> list[str]:
        """What each step dropped, where it dropped anything (the twins always, with `twins`)."""
        out = []
        if self.twins or twins:
            out.append(f"{self.twins} twins of an acquisition dropped (--baseline {self.baseline})")
        if self.without_baseline:
            out.append(f"{self.without_baseline} acquisitions without a {self.baseline} product")
        if self.cloudy:
            out.append(f"{self.cloudy} over --max-cloud {self.max_cloud:g} %")
        if self.uncovered:
            best = f", the best of them {100 * self.best_coverage:.0f} %"
            out.append(
                f"{self.uncovered} cover less than --min-coverage {100 * self.min_coverage:g} % of their tile{best}"
            )
        if self.not_least_cloudy:
            out.append(f"{self.not_least_cloudy} not the least cloudy of their tile and season")
        return out


def one_per_acquisition(products: list[Found], rule: str = "newest") -> tuple[list[Found], Counter]:
    """One Sentinel-2 product per acquisition: that of the newest (`newest`), the oldest
    (`oldest`) or the given baseline (`N0500`: an acquisition without one is left out), and of
    that baseline the newest processing time. Returns the kept products and a Counter of
    `twins` (products dropped beside a kept one) and `without_baseline` (acquisitions left out)."""
    groups: dict[tuple, list[Found]] = {}
    for p in products:
        groups.setdefault(acquisition(p), []).append(p)
    kept, counts = [], Counter()
    for group in groups.values():
        if BASELINE.match(rule):
            chosen = [p for p in group if p.s2.baseline == rule]
            if not chosen:
                counts["without_baseline"] += 1
                continue
        else:
            chosen = group
        sign = -1 if rule == "oldest" else 1
        kept.append(max(chosen, key=lambda p: (sign * int(p.s2.baseline[1:]), p.s2.processed or "", p.name)))
        counts["twins"] += len(group) - 1
    return sorted(kept, key=lambda p: (p.tile or "", p.start)), counts


def limits(
    products: list[Found], funnel: Funnel, max_cloud: float | None = None, min_coverage: float = 0.0
) -> list[Found]:
    """The products within the cloud limit (percent) that cover at least `min_coverage` (0 to 1)
    of their tile; what each limit dropped is counted in `funnel`."""
    funnel.max_cloud, funnel.min_coverage = max_cloud, min_coverage
    clear = [p for p in products if max_cloud is None or p.cloud_cover is None or p.cloud_cover <= max_cloud]
    funnel.cloudy += len(products) - len(clear)
    covered = [p for p in clear if p.coverage >= min_coverage]
    short = [p.coverage for p in clear if p.coverage < min_coverage]
    funnel.uncovered += len(short)
    if short:
        funnel.best_coverage = max(short + [funnel.best_coverage or 0.0])
    return covered


def season_of(t: datetime) -> tuple[int, str]:
    """(season year, season): December counts to the winter of the year after."""
    return (t.year + 1 if t.month == 12 else t.year), SEASONS[t.month]


def one_per_tile_and_season(products: list[Found]) -> list[Found]:
    """The least cloudy product of each tile and season (a tie goes to the earlier one)."""
    best: dict[tuple, Found] = {}
    for p in sorted(products, key=lambda p: (p.cloud_cover if p.cloud_cover is not None else 101, p.start)):
        best.setdefault((p.tile, *season_of(p.start)), p)
    return sorted(best.values(), key=lambda p: (p.tile or "", p.start))


def scene(name: str) -> tuple[str, bool]:
    """(the scene: the first five fields of a Sentinel-1 name, whether it is a COG_SAFE copy)."""
    m = S1_NAME.match(name)
    if not m:
        raise SearchError(f"{name}: the catalogue answered a product that is not a Sentinel-1 product name")
    return name[: m.end("start")], bool(m["cog"])


def scene_start(name: str) -> datetime:
    """The start time in a Sentinel-1 name (whole seconds): the time the workflow pairs by."""
    scene(name)
    return datetime.strptime(S1_NAME.match(name)["start"], "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)


def one_per_scene(products: list[Found]) -> tuple[list[Found], int]:
    """One Sentinel-1 product per scene: not a COG_SAFE copy, then the most recently published
    (a tie goes to the name). Returns the kept products, by start time, and how many were dropped."""

    def rank(p: Found) -> tuple:
        return not scene(p.name)[1], p.published, p.name

    best: dict[str, Found] = {}
    for p in products:
        key = scene(p.name)[0]
        if key not in best or rank(p) > rank(best[key]):
            best[key] = p
    kept = sorted(best.values(), key=lambda p: (p.start, p.name))
    return kept, len(products) - len(kept)


def with_coverage(products: list[Found], coverage_of) -> list[Found]:
    """Each Sentinel-2 product with its coverage of its tile (`coverage_of(footprint, tile)`);
    one line naming a product the catalogue gave no footprint."""
    out = []
    for p in products:
        if p.footprint is None:
            raise SearchError(f"{p.name}: the catalogue gave no footprint (GeoFootprint or Footprint)")
        out.append(replace(p, coverage=coverage_of(p.footprint, p.tile)))
    return out
