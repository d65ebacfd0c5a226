"""Product search (reben.catalogue.search) against the local CDSE stand-in of test_retrieval.py, whose
catalogue holds the hand-written answers of tests/fixtures/cdse/ and entries derived from them:
as the real catalogue, it lists Sentinel-2 baseline twins (N0205/N0206 beside the N0500 of
Collection-1), re-deliveries (same baseline, another processing time), a product at a datastrip
edge covering a few per cent of its tile, Sentinel-1 re-deliveries with another CRC, a COG_SAFE
copy (productType IW_GRDH_1S-COG), and Sentinel-1 scenes exactly 10 days (and 10 days and a
second) either side of a Sentinel-2 sensing time."""

from __future__ import annotations

import copy
import csv
import json
import logging
import socket
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pyproj
import pytest
import requests
import shapely
from conftest import shared
from shapely.geometry import box, mapping
from test_retrieval import cdse  # noqa: F401  (the local CDSE server fixture)

from reben.catalogue import selection
from reben.catalogue.search import (
    odata_filter,
    parse_bbox,
    parse_dates,
    query,
    read_s2_table,
    search_sentinel2,
    select_sentinel2,
)
from reben.catalogue.tiles import check_sentinel2_tile, coverage, mgrs_tile, sentinel2_name, tile_footprint
from reben.config import product_table
from reben.errors import ConfigError, SearchError
from reben.run.cli import main as reben
from reben.sentinel1.products import candidates, grd_table, parse_s1_name

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cdse"


def fixture(kind: str) -> dict:
    (entry,) = json.loads((FIXTURES / f"{kind}.json").read_text())["value"]
    return entry


def product_id(name: str) -> str:
    """A made-up product Id, one per name (CDSE's are UUIDs)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def derive(kind, name, start, cloud=None, footprint=None, published=None, product_type=None) -> dict:
    """A catalogue entry like the fixture of `kind`, with another name, start time, cloud cover,
    footprint, publication date and productType; its S3Path follows the name (Collection-1
    products under L2A_N0500/L1C_N0500, as CDSE stores them)."""
    entry = copy.deepcopy(fixture(kind))
    stop = start if kind != "s1_grd" else start[:17] + f"{int(start[17:19]) + 25:02d}" + start[19:]
    entry.update(Id=product_id(name), Name=name + ".SAFE", ContentDate={"Start": start, "End": stop})
    if name.startswith("S2"):
        level = name[7:10]
        folder = f"{level}_N0500" if "_N0500_" in name else level
        entry["S3Path"] = f"/eodata/Sentinel-2/MSI/{folder}/{start[:4]}/{start[5:7]}/{start[8:10]}/{name}.SAFE"
    for attribute in entry["Attributes"]:
        if attribute["Name"] == "cloudCover" and cloud is not None:
            attribute["Value"] = cloud
        if attribute["Name"] == "productType" and product_type is not None:
            attribute["Value"] = product_type
        if attribute["Name"] == "processorVersion" and name.startswith("S2"):
            attribute["Value"] = int(name.split("_")[3][1:]) / 100
    if product_type and product_type.endswith("-COG"):  # CDSE's COG_SAFE copies come from CloudFerro
        entry["Attributes"].append(
            {
                "@odata.type": "#OData.CSC.StringAttribute",
                "Name": "origin",
                "Value": "CLOUDFERRO",
                "ValueType": "String",
            }
        )
    if footprint is not None:
        entry["GeoFootprint"] = mapping(footprint)
        entry["Footprint"] = f"geography'SRID=4326;{footprint.wkt}'"
    if published is not None:
        entry["PublicationDate"] = entry["ModificationDate"] = published
    return entry


def tile_part(tile: str, west: float, east: float):
    """The part of a tile between `west` and `east` (fractions of its width from its west edge),
    in EPSG:4326: the footprint of a product that covers only that strip."""
    t = mgrs_tile(tile)
    x0, y0, x1, y1 = t.square.bounds
    strip = box(x0 + west * (x1 - x0), y0, x0 + east * (x1 - x0), y1).segmentize(10_000)
    to_wgs84 = pyproj.Transformer.from_crs(t.epsg, 4326, always_xy=True)
    return shapely.transform(strip, lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1])))


L2A_A = fixture("l2a")["Name"].removesuffix(".SAFE")  # 2017-06-13, 12.718 %, N0500
L2A_A_OLD = "S2A_MSIL2A_20170613T101031_N0205_R022_T33UUP_20170613T134516"  # its original, 11 %
L2A_B_FIRST = "S2B_MSIL2A_20170708T101029_N0500_R022_T33UUP_20230801T093415"  # 4.5 %
L2A_B = "S2B_MSIL2A_20170708T101029_N0500_R022_T33UUP_20230915T120102"  # re-delivered, 4.6 %
L2A_C = "S2A_MSIL2A_20170718T101031_N0500_R022_T33UUP_20230802T112233"  # 55 %: too cloudy
L2A_D = "S2B_MSIL2A_20170902T100019_N0500_R122_T33UUP_20230804T071502"  # after the range
L2A_E = "S2A_MSIL2A_20170831T101021_N0500_R022_T33UUP_20230803T161120"  # on the last day
L2A_I = "S2A_MSIL2A_20170620T100031_N0500_R122_T33UUP_20230728T080911"  # 8 %
L2A_J = "S2B_MSIL2A_20170520T101029_N0500_R022_T33UUP_20230725T201516"  # spring, 25 %
L2A_F = "S2A_MSIL2A_20170613T101031_N0500_R022_T33UVP_20230727T151702"  # the tile to the east, 3 %
L2A_EDGE = "S2B_MSIL2A_20170625T100029_N0500_R122_T33UUP_20230729T091411"  # 0 %, 3 % of the tile
L2A_2018 = [  # 2018, reprocessed: each acquisition twice
    ("S2B_MSIL2A_20180405T100029_N0206_R122_T33UUP_20180405T122347", "2018-04-05T10:00:29.024Z", 7.0),
    ("S2B_MSIL2A_20180405T100029_N0500_R122_T33UUP_20230521T104529", "2018-04-05T10:00:29.024Z", 7.4),
    ("S2A_MSIL2A_20180525T100031_N0206_R122_T33UUP_20180525T140023", "2018-05-25T10:00:31.026Z", 2.1),
    ("S2A_MSIL2A_20180525T100031_N0500_R122_T33UUP_20230603T095112", "2018-05-25T10:00:31.026Z", 2.3),
]
L1C_A_OLD = fixture("l1c")["Name"].removesuffix(".SAFE")  # 2017-06-13, N0205, 14.05 %
L1C_A = "S2A_MSIL1C_20170613T101031_N0500_R022_T33UUP_20230727T102915"  # reprocessed, 13.9 %
L1C_0405_OLD = "S2B_MSIL1C_20180405T100029_N0206_R122_T33UUP_20180405T104213"
L1C_0405 = "S2B_MSIL1C_20180405T100029_N0500_R122_T33UUP_20230521T090311"
L1C_0525_OLD = "S2A_MSIL1C_20180525T100031_N0206_R122_T33UUP_20180525T120312"
L1C_0525_AGAIN = "S2A_MSIL1C_20180525T100031_N0206_R122_T33UUP_20180525T151245"  # re-delivered
L1C_0525 = "S2A_MSIL1C_20180525T100031_N0500_R122_T33UUP_20230603T081755"
L1C_2018 = [
    (L1C_0405_OLD, "2018-04-05T10:00:29.024Z", 6.8),
    (L1C_0405, "2018-04-05T10:00:29.024Z", 7.1),
    (L1C_0525_OLD, "2018-05-25T10:00:31.026Z", 2.0),
    (L1C_0525_AGAIN, "2018-05-25T10:00:31.026Z", 2.0),
    (L1C_0525, "2018-05-25T10:00:31.026Z", 2.2),
]
S1_A_FIRST = fixture("s1_grd")["Name"].removesuffix(".SAFE")  # 2017-06-13T16:50:43.412, published 2023-05-25
S1_A = "S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017042_01C6A2_9E4D"  # re-delivered, published later
S1_B = "S1A_IW_GRDH_1SDV_20170619T165043_20170619T165108_017129_01C94B_1A2F"
S1_B_COG = "S1A_IW_GRDH_1SDV_20170619T165043_20170619T165108_017129_01C94B_8B3A_COG"  # CDSE's COG copy
S1_C = "S1A_IW_GRDH_1SDV_20170625T165044_20170625T165109_017217_01CBE3_77C0"
S1_D = "S1B_IW_GRDH_1SDV_20170614T050112_20170614T050137_006042_00A9D0_3B1E"
# Exactly 10 days after and before L2A_A's sensing time (2017-06-13T10:10:31), and one second beyond.
S1_PLUS = "S1B_IW_GRDH_1SDV_20170623T101031_20170623T101056_006173_00AD9A_C3D1"
S1_PLUS_1 = "S1B_IW_GRDH_1SDV_20170623T101032_20170623T101057_006173_00AD9A_0E27"
S1_MINUS = "S1B_IW_GRDH_1SDV_20170603T101031_20170603T101056_005881_00A512_6B80"
S1_MINUS_1 = "S1B_IW_GRDH_1SDV_20170603T101030_20170603T101055_005881_00A512_D41A"
UVP = box(13.6, 47.7, 15.1, 48.7)


def catalogue_entries() -> list[dict]:
    return [
        fixture("l2a"),
        derive("l2a", L2A_A_OLD, "2017-06-13T10:10:31.026Z", 11.0, published="2021-02-11T08:17:30.004Z"),
        derive("l2a", L2A_B_FIRST, "2017-07-08T10:10:29.024Z", 4.5),
        derive("l2a", L2A_B, "2017-07-08T10:10:29.024Z", 4.6, published="2023-09-15T13:02:55.310Z"),
        derive("l2a", L2A_C, "2017-07-18T10:10:31.026Z", 55.0),
        derive("l2a", L2A_D, "2017-09-02T10:00:19.024Z", 1.0),
        derive("l2a", L2A_E, "2017-08-31T10:10:21.026Z", 20.0),
        derive("l2a", L2A_I, "2017-06-20T10:00:31.026Z", 8.0),
        derive("l2a", L2A_J, "2017-05-20T10:10:29.024Z", 25.0),
        derive("l2a", L2A_F, "2017-06-13T10:10:31.026Z", 3.0, UVP),
        derive("l2a", L2A_EDGE, "2017-06-25T10:00:29.024Z", 0.0, tile_part("33UUP", 0.97, 1.0)),
        *(derive("l2a", n, t, c) for n, t, c in L2A_2018),
        fixture("l1c"),
        derive("l1c", L1C_A, "2017-06-13T10:10:31.026Z", 13.9),
        *(derive("l1c", n, t, c) for n, t, c in L1C_2018),
        fixture("s1_grd"),
        derive("s1_grd", S1_A, "2017-06-13T16:50:43.412Z", published="2023-11-07T10:21:40.052Z"),
        derive("s1_grd", S1_B, "2017-06-19T16:50:43.412Z"),
        derive(
            "s1_grd",
            S1_B_COG,
            "2017-06-19T16:50:43.412Z",
            published="2023-12-01T00:00:00.000Z",
            product_type="IW_GRDH_1S-COG",
        ),
        derive("s1_grd", S1_C, "2017-06-25T16:50:44.412Z"),
        derive("s1_grd", S1_D, "2017-06-14T05:01:12.412Z", footprint=box(20, 47, 24, 49)),
        derive("s1_grd", S1_PLUS, "2017-06-23T10:10:31.412Z"),
        derive("s1_grd", S1_PLUS_1, "2017-06-23T10:10:32.412Z"),
        derive("s1_grd", S1_MINUS, "2017-06-03T10:10:31.412Z"),
        derive("s1_grd", S1_MINUS_1, "2017-06-03T10:10:30.412Z"),
    ]


@pytest.fixture
def catalogue(cdse):  # noqa: F811
    cdse.catalogue = catalogue_entries()
    return cdse


def searches(cdse):  # noqa: F811
    return [parse_qs(urlsplit(r[1]).query) for r in cdse.requests if r[1].startswith("/odata/v1/Products?")]


def names(found):
    return [p.name for p in found]


def search(catalogue, *argv, output) -> int:
    return reben(["search", *argv, "--catalogue-url", catalogue.endpoints.catalogue, "-o", str(output)])


def table(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_filter_is_the_documented_odata_syntax():
    start, end = parse_dates("2017-06-01", "2017-08-31")
    assert odata_filter("L2A", box(10, 45, 11, 46), start, end) == (
        "Collection/Name eq 'SENTINEL-2' and "
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
        "att/OData.CSC.StringAttribute/Value eq 'S2MSI2A') and "
        "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((11.000000 45.000000,11.000000 46.000000,"
        "10.000000 46.000000,10.000000 45.000000,11.000000 45.000000))') and "
        "ContentDate/Start ge 2017-06-01T00:00:00.000Z and ContentDate/Start lt 2017-09-01T00:00:00.000Z"
    )
    s1 = odata_filter("S1_GRD_IW", box(10, 45, 11, 46), start, end, end_included=True)
    assert "'SENTINEL-1'" in s1 and "Value eq 'IW_GRDH_1S')" in s1 and "ContentDate/Start le 2017-09-01T" in s1


def test_a_tile_footprint_is_its_square_widened_by_the_overlap():
    # T33UUP: upper-left corner (300000, 5400000) in EPSG:32633, as its MTD_TL.xml says; 109.8 km a side.
    to_utm = pyproj.Transformer.from_crs(4326, 32633, always_xy=True)
    utm = shapely.transform(tile_footprint("T33UUP"), lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1])))
    x0, y0, x1, y1 = utm.bounds
    assert [round(v) for v in (x0, y0, x1, y1)] == [300000, 5290200, 409800, 5400000]


def test_coverage_of_a_footprint_on_the_eastern_half_of_a_tile_is_one_half():
    # T33UUP spans x 300000..409800, y 5290200..5400000 in EPSG:32633 (its MTD_TL.xml); a
    # footprint over x 354900..409800 covers half of it. Given in degrees, as the catalogue does.
    to_wgs84 = pyproj.Transformer.from_crs(32633, 4326, always_xy=True)
    east_half = box(354900, 5290200, 409800, 5400000).segmentize(5000)
    footprint = shapely.transform(east_half, lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1])))
    assert coverage(footprint, "T33UUP") == pytest.approx(0.5, abs=0.01)
    # A footprint beyond the tile's east edge in degrees (x > 409800): nothing of the tile.
    assert coverage(box(14.0, 47.5, 15.0, 48.8), "33UUP") == 0.0
    # One that holds the tile: all of it.
    assert coverage(box(12.0, 47.5, 14.0, 49.0), "33UUP") == pytest.approx(1.0, abs=1e-9)


def test_tiles_dates_and_type_select_and_pages_follow(catalogue):
    start, end = parse_dates("2017-05-01", "2017-08-31")
    with requests.Session() as session:
        found = search_sentinel2(session, catalogue.endpoints, "L2A", start, end, tiles=["33UUP"], page_size=2)
    # Not D (after the last day), F (another tile), the L1C, the 2018 products or the S1 scenes.
    assert names(found) == [L2A_J, L2A_A, L2A_A_OLD, L2A_I, L2A_EDGE, L2A_B_FIRST, L2A_B, L2A_C, L2A_E]
    assert [q["$skip"] for q in searches(catalogue)] == [["0"], ["2"], ["4"], ["6"], ["8"]]  # past one page
    assert {q["$top"][0] for q in searches(catalogue)} == {"2"}
    assert {q["$orderby"][0] for q in searches(catalogue)} == {"ContentDate/Start asc"}
    assert found[1].cloud_cover == pytest.approx(12.718) and found[1].tile == "T33UUP"
    assert found[1].start == datetime(2017, 6, 13, 10, 10, 31, 26000, tzinfo=timezone.utc)
    assert found[1].sensing_time == "2017-06-13T10:10:31.026Z"
    assert found[1].coverage == pytest.approx(0.978, abs=0.001) and found[4].coverage == pytest.approx(0.03, abs=0.001)
    kept, funnel = select_sentinel2(found, max_cloud=30)
    # One per acquisition (A not its N0205 original, B's re-delivery), not C (55 %), not the edge product.
    assert names(kept) == [L2A_J, L2A_A, L2A_I, L2A_B, L2A_E]
    assert (funnel.found, funnel.acquisitions, funnel.twins, funnel.cloudy, funnel.uncovered) == (9, 7, 2, 1, 1)


def test_one_product_per_tile_and_season_is_the_least_cloudy_that_covers_its_tile(catalogue):
    start, end = parse_dates("2017-05-01", "2017-08-31")
    with requests.Session() as session:
        found = search_sentinel2(session, catalogue.endpoints, "L2A", start, end, area=box(12.5, 47.9, 14.0, 48.5))
    # T33UUP: spring J (the only one), summer B (4.6 %; the edge product, 0 % cloud on 3 % of
    # the tile, does not count); T33UVP: summer F.
    kept, funnel = select_sentinel2(found, max_cloud=30, one_per_season=True)
    assert names(kept) == [L2A_J, L2A_B, L2A_F]
    assert funnel.uncovered == 1 and funnel.best_coverage == pytest.approx(0.03, abs=0.001)
    # Without the minimum coverage, the edge product would win its season.
    assert names(select_sentinel2(found, max_cloud=30, min_coverage=0, one_per_season=True)[0]) == [
        L2A_J,
        L2A_EDGE,
        L2A_F,
    ]


def test_a_tie_in_cloud_cover_goes_to_the_earlier_product():
    products = [
        selection.found(derive("l2a", n, t, 5.0))
        for n, t in [
            ("S2A_MSIL2A_20170720T101031_N0500_R022_T33UUP_20230801T000000", "2017-07-20T10:10:31.026Z"),
            ("S2B_MSIL2A_20170715T101029_N0500_R022_T33UUP_20230801T000000", "2017-07-15T10:10:29.024Z"),
        ]
    ]
    assert [p.name[11:19] for p in selection.one_per_tile_and_season(products)] == ["20170715"]


def test_december_belongs_to_the_winter_of_the_next_year():
    products = [
        derive("l2a", n, t, c)
        for n, t, c in [
            ("S2A_MSIL2A_20171215T101031_N0500_R022_T33UUP_20230801T000000", "2017-12-15T10:10:31.000Z", 9.0),
            ("S2A_MSIL2A_20180110T101031_N0500_R022_T33UUP_20230801T000000", "2018-01-10T10:10:31.000Z", 5.0),
            ("S2A_MSIL2A_20170110T101031_N0500_R022_T33UUP_20230801T000000", "2017-01-10T10:10:31.000Z", 1.0),
        ]
    ]
    kept = selection.one_per_tile_and_season([selection.found(e) for e in products])
    assert [p.name[11:19] for p in kept] == ["20170110", "20180110"]


def test_one_product_per_acquisition_by_baseline_then_processing_time(catalogue, tmp_path, caplog):
    """L1C of 2017-06 to 2018-05: three acquisitions, seven products (N0205/N0206 originals,
    N0500 reprocessed, one re-delivery)."""
    common = ["--tiles", "33UUP", "--start", "2017-06-13", "--end", "2018-05-31", "--product-type", "L1C"]
    newest, oldest, n0206 = (tmp_path / f"{rule}.csv" for rule in ("newest", "oldest", "N0206"))
    with caplog.at_level(logging.INFO, logger="reben"):
        assert search(catalogue, *common, output=newest) == 0
    assert [(r["name"], r["baseline"]) for r in table(newest)] == [
        (L1C_A, "N0500"),
        (L1C_0405, "N0500"),
        (L1C_0525, "N0500"),
    ]
    assert "7 L1C products of tile 33UUP from 2017-06-13 to 2018-05-31 found (3 acquisitions): 4 twins of an " in (
        caplog.text
    )
    assert "twins of an acquisition dropped (--baseline newest)" in caplog.text
    # The oldest baseline, and of it the newest processing time (the re-delivery of 2018-05-25).
    assert search(catalogue, *common, "--baseline", "oldest", output=oldest) == 0
    assert [r["name"] for r in table(oldest)] == [L1C_A_OLD, L1C_0405_OLD, L1C_0525_AGAIN]
    # Only N0206: the acquisition of 2017, which has none, is left out.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="reben"):
        assert search(catalogue, *common, "--baseline", "N0206", output=n0206) == 0
    assert [r["name"] for r in table(n0206)] == [L1C_0405_OLD, L1C_0525_AGAIN]
    assert "1 acquisitions without a N0206 product" in caplog.text
    # The workflow's reader takes the table, and refuses two products of one acquisition.
    config = {"sentinel2": {"products": [], "product_table": str(newest), "input_dir": str(tmp_path)}}
    config["sentinel2"]["l2a_baseline"] = "N9999"
    assert len(product_table(config)) == 3
    twins = tmp_path / "twins.csv"
    twins.write_text(f"name\n{L1C_A_OLD}\n{L1C_A}\n")
    config["sentinel2"]["product_table"] = str(twins)
    with pytest.raises(ConfigError, match=f"^config: sentinel2.products: {L1C_A} and {L1C_A_OLD} are one acquisition"):
        product_table(config)
    # L2A twins too (their tile keys differ by the baseline: they would be processed as two tiles).
    twins.write_text(f"name\n{L2A_A_OLD}\n{L2A_A}\n")
    with pytest.raises(ConfigError, match=f"^config: sentinel2.products: {L2A_A} and {L2A_A_OLD} are one acquisition"):
        product_table(config)


def test_an_empty_search_exits_1_and_says_why(catalogue, tmp_path, capsys):
    out = tmp_path / "s2.csv"
    assert search(catalogue, "--tiles", "T33UUP", "--start", "2016-01-01", "--end", "2016-03-31", output=out) == 1
    err = capsys.readouterr().err
    assert err == (
        f"reben search: the catalogue at 127.0.0.1:{urlsplit(catalogue.endpoints.catalogue).port} lists no L2A "
        "products of tile T33UUP from 2016-01-01 to 2016-03-31\n"
    )
    assert len(searches(catalogue)) == 1 and not out.exists()
    # Products found, none kept: the line says what dropped them.
    argv = ["--tiles", "33UUP", "--start", "2017-07-18", "--end", "2017-07-18", "--max-cloud", "30"]
    assert search(catalogue, *argv, output=out) == 1
    assert capsys.readouterr().err == (
        "reben search: none of the 1 L2A products of tile 33UUP from 2017-07-18 to 2017-07-18 is kept: "
        "1 over --max-cloud 30 %\n"
    )
    argv = ["--tiles", "33UUP", "--start", "2017-06-25", "--end", "2017-06-25"]
    assert search(catalogue, *argv, output=out) == 1
    assert "cover less than --min-coverage 50 % of their tile, the best of them 3 %" in capsys.readouterr().err
    assert not out.exists()


def test_a_tile_name_that_sentinel2_does_not_use_is_named_with_the_one_it_does(catalogue, tmp_path, capsys):
    out = tmp_path / "s2.csv"
    assert search(catalogue, "--tiles", "33TUP", "--start", "2017-06-01", "--end", "2017-08-31", output=out) == 1
    err = capsys.readouterr().err
    assert err == (
        "reben search: tile 33TUP: no Sentinel-2 product uses this name: it is an MGRS alias of the "
        "100 km square that Sentinel-2 calls 33UUP (its centre lies at 48.29 degrees latitude, in band U); "
        "search --tiles 33UUP\n"
    )
    assert searches(catalogue) == [] and not out.exists()
    # 13RFR and 13SFR are one square; its centre lies at 32.08 degrees, in band S.
    assert sentinel2_name("13RFR") == "13SFR" and check_sentinel2_tile("T13SFR") == "T13SFR"
    with pytest.raises(SearchError, match="13RFR: .* Sentinel-2 calls 13SFR"):
        check_sentinel2_tile("13RFR")


def test_real_sentinel2_tiles_carry_their_own_names():
    """Every tile of reBEN's 125 products and of the real tiles in ../shared/data."""
    import re

    with open(shared("reben", "bigearthnet_s2_l1c_products.csv")) as f:
        tiles = {re.search(r"_T(\d\d[A-Z]{3})_", row["tile"])[1] for row in csv.DictReader(f)}
    tiles |= {tile for tile, *_ in real_tile_geopositions()}
    assert len(tiles) >= 60
    assert {t: sentinel2_name(t) for t in tiles} == {t: t for t in tiles}


def test_sensing_time_keeps_the_catalogues_milliseconds_and_the_table_feeds_the_workflow(catalogue, tmp_path):
    out = tmp_path / "s2.csv"
    argv = ["--tiles", "33UUP", "--start", "2017-06-01", "--end", "2017-08-31", "--max-cloud", "30"]
    assert search(catalogue, *argv, "--one-per-tile-and-season", output=out) == 0
    assert table(out) == [
        {
            "name": L2A_B,
            "cdse_id": product_id(L2A_B),
            "sensing_time": "2017-07-08T10:10:29.024Z",
            "tile": "T33UUP",
            "baseline": "N0500",
            "cloud_cover": "4.60",
            "coverage": "97.78",
        }
    ]
    config = {
        "sentinel2": {"products": [], "product_table": str(out), "input_dir": str(tmp_path), "l2a_baseline": "N9999"}
    }
    assert list(product_table(config)) == ["S2B_MSIL2A_20170708T101029_N0500_R022_T33UUP"]


def test_s1_time_window_is_closed_on_both_sides_as_the_workflows_pairing(catalogue, tmp_path):
    """Scenes exactly 10 days before and after L2A_A's sensing time are paired, one second
    beyond is not, in the search as in the workflow (sentinel1.products.candidates); the
    re-delivered scene counts once, the COG_SAFE copy never."""
    s2 = tmp_path / "s2.csv"
    s2.write_text(f"name\n{L2A_A}\n")
    out = tmp_path / "s1.csv"
    assert search(catalogue, "--pair-with", str(s2), "--max-time-gap-days", "10", output=out) == 0
    rows = table(out)
    # S1_C is 12.3 days away; S1_D does not meet the tile. 16:50:43 - 10:10:31 = 0.278 days.
    assert [(r["name"], r["s2_name"], r["time_gap_days"]) for r in rows] == [
        (S1_MINUS, L2A_A, "10.000"),
        (S1_A, L2A_A, "0.278"),
        (S1_B, L2A_A, "6.278"),
        (S1_PLUS, L2A_A, "10.000"),
    ]
    assert [r["sensing_time"] for r in rows][:2] == ["2017-06-03T10:10:31.412Z", "2017-06-13T16:50:43.412Z"]
    (window,) = [q["$filter"][0] for q in searches(catalogue)]
    assert "ContentDate/Start ge 2017-06-03T10:10:31.000Z and ContentDate/Start le 2017-06-23T10:10:31.999Z" in window
    # The workflow's rule, on the names' times, accepts the same scenes of those in reach.
    reach = [S1_MINUS_1, S1_MINUS, S1_A, S1_B, S1_PLUS, S1_PLUS_1, S1_C]
    products = {n: {"time": parse_s1_name(n).acquisition_time} for n in reach}
    s2_time = datetime(2017, 6, 13, 10, 10, 31, tzinfo=timezone.utc)
    assert candidates(products, s2_time, 10) == [r["name"] for r in rows]
    s1_config = {"product_table": str(out), "grd": {"input_dir": str(tmp_path / "grd")}}
    assert list(grd_table(s1_config, retrieval=True)) == [S1_MINUS, S1_A, S1_B, S1_PLUS]
    with pytest.raises(
        ConfigError, match=rf"^config: sentinel1.product_table: {S1_MINUS}: not in .*grd .*retrieval.enabled"
    ):
        grd_table(s1_config, retrieval=False)
    assert read_s2_table(s2)[0][2] == "T33UUP"
    # The gap of the run's config: 5 days keeps only the scene of the same day.
    configfile = tmp_path / "run.yaml"
    configfile.write_text("sentinel1:\n  max_time_gap_days: 5\n")
    assert search(catalogue, "--pair-with", str(s2), "--configfile", str(configfile), output=out) == 0
    assert [r["name"] for r in table(out)] == [S1_A]


def test_one_product_per_s1_scene_the_original_most_recently_published():
    entries = {
        S1_A_FIRST: derive("s1_grd", S1_A_FIRST, "2017-06-13T16:50:43.412Z"),
        S1_A: derive("s1_grd", S1_A, "2017-06-13T16:50:43.412Z", published="2023-11-07T10:21:40.052Z"),
        S1_B: derive("s1_grd", S1_B, "2017-06-19T16:50:43.412Z"),
        # A COG_SAFE copy, as if the catalogue answered it under the plain product type.
        S1_B_COG: derive("s1_grd", S1_B_COG, "2017-06-19T16:50:43.412Z", published="2023-12-01T00:00:00.000Z"),
    }
    kept, dropped = selection.one_per_scene([selection.found(e) for e in entries.values()])
    assert names(kept) == [S1_A, S1_B] and dropped == 2


def test_a_cog_copy_in_the_s1_table_is_refused_with_one_line(tmp_path):
    """Cutting `_COG` off a COG_SAFE name would name no product (the copy has its own CRC)."""
    out = tmp_path / "s1.csv"
    out.write_text(f"name\n{S1_B_COG}\n")
    with pytest.raises(ConfigError, match=rf"^config: sentinel1.product_table: {S1_B_COG}: a COG_SAFE copy"):
        grd_table({"product_table": str(out), "grd": {"input_dir": str(tmp_path)}}, retrieval=True)


def test_a_server_that_is_down_is_named_by_its_host_and_failure(tmp_path, capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "s2.csv"
    argv = ["search", "--tiles", "33UUP", "--start", "2017-06-01", "--end", "2017-08-31", "-o", str(out)]
    assert reben([*argv, "--catalogue-url", f"http://127.0.0.1:{port}/odata/v1"]) == 1
    err = capsys.readouterr().err
    assert err == f"reben search: CDSE catalogue at 127.0.0.1:{port} unreachable: Connection refused\n"
    assert not out.exists()


def test_a_429_is_retried_after_its_retry_after(catalogue):
    catalogue.throttle = 1
    sleeps = []
    start, end = parse_dates("2017-06-13", "2017-06-13")
    with requests.Session() as session:
        found = query(
            session, catalogue.endpoints, odata_filter("L1C", tile_footprint("33UUP"), start, end), sleep=sleeps.append
        )
    assert names(found) == [L1C_A_OLD, L1C_A] and sleeps == [7]


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--bbox", "13,48,12,49"],
            "--bbox 13,48,12,49: corners swapped or empty (west 13.0 must be less than east 12.0",
        ),
        (
            ["--bbox", "12,49,13,48"],
            "corners swapped or empty (west 12.0 must be less than east 13.0, south 49.0 less than north 48.0)",
        ),
        (
            ["--tiles", "33UUP", "--start", "2017-08-31", "--end", "2017-06-01"],
            "--start 2017-08-31 --end 2017-06-01: the date range ends before it starts",
        ),
        (
            ["--tiles", "33UUP", "--product-type", "L3"],
            "--product-type 'L3': unknown; choose one of L2A, L1C, S1_GRD_IW",
        ),
        (
            ["--bbox", "10,85,20,89"],
            "--bbox 10,85,20,89: the area (85.00 to 89.00 degrees latitude) lies outside every MGRS tile",
        ),
        (["--tiles", "33UUI"], "tile '33UUI': not an MGRS tile name"),
        (["--tiles", "33UUP", "--max-cloud", "120"], "--max-cloud 120: a cloud cover in percent, 0 to 100"),
        (["--tiles", "33UUP", "--min-coverage", "-5"], "--min-coverage -5: a share of the tile in percent, 0 to 100"),
        (["--tiles", "33UUP", "--baseline", "latest"], "--baseline 'latest': choose newest, oldest or a processing"),
        (["--tiles", "33UUP", "33TUP"], "tile 33TUP: no Sentinel-2 product uses this name"),
    ],
)
def test_bad_input_is_one_line_before_any_request(catalogue, tmp_path, capsys, argv, message):
    defaults = ["--start", "2017-06-01", "--end", "2017-08-31"] if "--start" not in argv else []
    out = tmp_path / "t.csv"
    code = search(catalogue, *argv, *defaults, output=out)
    err = capsys.readouterr().err
    assert code == 1 and message in err and err.count("\n") == 1
    assert searches(catalogue) == [] and not out.exists()


def test_bbox_and_dates_parse_as_given():
    assert parse_bbox("12.5,47.9,14,48.5") == (12.5, 47.9, 14.0, 48.5)
    assert parse_dates("2017-06-01", "2017-06-01") == (
        datetime(2017, 6, 1, tzinfo=timezone.utc),
        datetime(2017, 6, 2, tzinfo=timezone.utc),
    )
    with pytest.raises(SearchError, match="expected YYYY-MM-DD"):
        parse_dates("2017-13-01", "2017-06-01")


def real_tile_geopositions():
    """(tile, EPSG, ULX, ULY) of every real MTD_TL.xml in ../shared/data."""
    import re

    found = {}
    for path in sorted(shared().glob("sentinel2*/**/MTD_TL.xml")):
        text = path.read_text()
        tile = re.search(r"_T(\d{2}[A-Z]{3})_N", re.search(r"<TILE_ID[^>]*>([^<]+)<", text)[1])[1]
        epsg = int(re.search(r"<HORIZONTAL_CS_CODE>EPSG:(\d+)<", text)[1])
        found[tile] = (tile, epsg, int(re.search(r"<ULX>(\d+)<", text)[1]), int(re.search(r"<ULY>(\d+)<", text)[1]))
    return sorted(found.values())


def test_tile_footprints_match_the_geoposition_of_real_tiles():
    tiles = real_tile_geopositions()
    assert len(tiles) >= 9  # the tiles of ../shared/data (SOURCES.md), both hemispheres, zone 33X
    for tile, epsg, ulx, uly in tiles:
        to_utm = pyproj.Transformer.from_crs(4326, epsg, always_xy=True)
        utm = shapely.transform(tile_footprint(tile), lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1])))
        x0, y0, x1, y1 = utm.bounds
        # Real tile corners sit up to a few tens of metres off the 100 km square (T29UNU: 499980/5900040).
        assert abs(x0 - ulx) <= 60 and abs(y1 - uly) <= 60, (tile, x0, y1, ulx, uly)
        assert x1 - x0 == pytest.approx(109_800, abs=1) and y1 - y0 == pytest.approx(109_800, abs=1), tile


def test_an_area_from_a_vector_file_in_any_crs_and_s1_scenes_of_it(catalogue, tmp_path):
    import geopandas as gpd

    to_utm = pyproj.Transformer.from_crs(4326, 32633, always_xy=True)
    area = shapely.transform(
        box(12.5, 47.9, 14.0, 48.5), lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1]))
    )
    gpkg = tmp_path / "area.gpkg"
    gpd.GeoDataFrame(geometry=[area], crs=32633).to_file(gpkg)
    s2, s1 = tmp_path / "s2.csv", tmp_path / "s1.csv"
    common = ["--area", str(gpkg), "--start", "2017-06-01", "--end", "2017-06-30"]
    assert search(catalogue, *common, "--product-type", "L2A", output=s2) == 0
    assert [r["name"] for r in table(s2)] == [L2A_A, L2A_I, L2A_F]  # not A's original, nor the edge product
    assert search(catalogue, *common, "--product-type", "S1_GRD_IW", output=s1) == 0
    # One per scene (not S1_A_FIRST, not the COG copy), not S1_D (far east).
    assert [r["name"] for r in table(s1)] == [S1_MINUS_1, S1_MINUS, S1_A, S1_B, S1_PLUS, S1_PLUS_1, S1_C]
