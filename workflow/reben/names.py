"""The name patterns of Sentinel products and tiles: one regular expression each, used by the
parsers (reben.sentinel2.products, reben.sentinel1.products) and, without their group names, as the workflow's
wildcard constraints, so that a rule matches exactly the names the package can parse. And the
time window that pairs a Sentinel-1 product with a Sentinel-2 product by their names' times,
one rule for the search (reben.catalogue.search) and the workflow (reben.sentinel1)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from reben.errors import ProductError

_SENSING = r"\d{8}T\d{6}"


def _s2_stem(level: str) -> str:
    return (
        rf"(?P<mission>S2[A-D])_(?P<level>{level})_(?P<sensing>{_SENSING})_"
        r"(?P<baseline>N\d{4})_(?P<orbit>R\d{3})_(?P<tile>T\d{2}[A-Z]{3})"
    )


_S2_PROCESSED = r"_(?P<processed>" + _SENSING + r")"

S2_PRODUCT = _s2_stem("MSIL1C|MSIL2A") + r"(?:" + _S2_PROCESSED + r")?(?:\.SAFE)?(?:\.zip)?"
"""A Sentinel-2 product name (with or without processing time, .SAFE or .zip), or a tile key."""

_S1_FIELDS = (
    r"(?P<mission>S1[A-D])_(?P<mode>IW|EW|SM|WV|S[1-6])_(?P<type>GRD[HMF_]|SLC_|RAW_|OCN_)_"
    rf"(?P<level>[0-2])(?P<cls>[SA])(?P<pol>SH|SV|DH|DV|HH|HV|VV|VH)_(?P<start>{_SENSING})"
)
_S1_REST = rf"_(?P<stop>{_SENSING})_(?P<orbit>\d{{6}})_(?P<datatake>[0-9A-F]{{6}})_(?P<crc>[0-9A-F]{{4}})"

S1_PRODUCT = rf"{_S1_FIELDS}(?:{_S1_REST})?"
"""A Sentinel-1 product name; its first five fields (up to the start time) name the product
in S1 patch names."""


def wildcard(pattern: str) -> str:
    """A pattern without its group names (Snakemake wraps each wildcard in a group of its own)."""
    return re.sub(r"\(\?P<\w+>", "(?:", pattern)


TILE_KEY = wildcard(_s2_stem("MSIL2A"))
"""The `tile` wildcard: a tile key is the L2A product name without processing time."""

L1C_NAME = wildcard(_s2_stem("MSIL1C") + _S2_PROCESSED)
"""An L1C product name with its processing time (the demo's L1C zips)."""

S2_NAME = wildcard(_s2_stem("MSIL1C|MSIL2A") + _S2_PROCESSED)
"""An L1C or L2A product name with its processing time (the products CDSE delivers)."""

S1_BACKSCATTER = wildcard(S1_PRODUCT) + r"\w*"
"""A Sentinel-1 product name as a backscatter file stem may extend it."""

S1_GRD = wildcard(_S1_FIELDS + _S1_REST)
"""A complete Sentinel-1 product name (stop time, orbit, data take, CRC): the GRD products
retrieve_sentinel1 fetches and gpt turns into backscatter."""


PRODUCT_NAME = re.compile(rf"^{S2_PRODUCT}$")


@dataclass(frozen=True)
class ProductName:
    mission: str
    level: str
    sensing: str
    baseline: str
    orbit: str
    tile: str
    processed: str | None

    @property
    def mgrs(self) -> str:
        """The MGRS tile without its leading T (33UUP), as in an s1_name."""
        return self.tile[1:]

    @property
    def epsg(self) -> int:
        """The EPSG code of the tile's CRS: Sentinel-2 tiles lie in WGS 84 / UTM of their MGRS
        zone, 326zz north of the equator (latitude bands N to X), 327zz south (C to M)."""
        zone, band = int(self.tile[1:3]), self.tile[3]
        return (32600 if band >= "N" else 32700) + zone

    @property
    def sensing_time(self) -> datetime:
        return datetime.strptime(self.sensing, "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)


def parse_product_name(name: str) -> ProductName:
    """Split a Sentinel-2 product name (with or without processing time, .SAFE or .zip)."""
    m = PRODUCT_NAME.match(Path(name).name)
    if not m:
        raise ProductError(
            name,
            "not a Sentinel-2 L1C or L2A product name "
            "(expected S2x_MSIL1C|MSIL2A_<time>_N<baseline>_R<orbit>_T<tile>_...)",
        )
    return ProductName(**m.groupdict())


def tile_key(name: str, l2a_baseline: str = "N9999") -> str:
    """The tile key of a product: the L2A name without processing time and `.SAFE`.

    For an L1C product it is the name sen2cor will give its output: MSIL1C becomes MSIL2A and
    the baseline becomes `l2a_baseline` (N9999 for a local sen2cor run).
    """
    p = parse_product_name(name)
    level, baseline = p.level, p.baseline
    if level == "MSIL1C":
        level, baseline = "MSIL2A", l2a_baseline
    return f"{p.mission}_{level}_{p.sensing}_{baseline}_{p.orbit}_{p.tile}"


def within_time_gap(time: datetime, reference: datetime, max_gap_days: float) -> bool:
    """Whether `time` lies in [reference - gap, reference + gap], closed on both sides: the
    pairing window of a Sentinel-1 product (its name's start time) and a Sentinel-2 product (its
    name's sensing time)."""
    return abs((time - reference).total_seconds()) <= max_gap_days * 86400


def time_window(reference: datetime, max_gap_days: float) -> tuple[datetime, datetime]:
    """The first and last catalogue start time (ContentDate/Start, milliseconds) of a product
    whose name's time is `within_time_gap` of `reference` (a name's time, whole seconds): a
    name gives its start time cut to the second, so the last is reference + gap + 0.999 s."""
    gap = timedelta(seconds=int(max_gap_days * 86400))  # whole seconds, as the names' times differ
    return reference - gap, reference + gap + timedelta(milliseconds=999)
