"""Product search (reben.catalogue.search) against the local CDSE stand-in of test_retrieval.py, whose
catalogue holds the hand-written answers of tests/fixtures/cdse/ and entries derived from them."""

from __future__ import annotations

import copy
import csv
import json
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

from reben.catalogue.search import (
    odata_filter,
    one_per_tile_and_season,
    parse_bbox,
    parse_dates,
    query,
    read_s2_table,
    search_sentinel2,
    tile_footprint,
)
from reben.config import product_table
from reben.errors import ConfigError, SearchError
from reben.run.cli import main as reben
from reben.sentinel1.products import grd_table

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cdse"


def fixture(kind: str) -> dict:
    (entry,) = json.loads((FIXTURES / f"{kind}.json").read_text())["value"]
    return entry


def derive(kind, name, start, cloud=None, footprint=None) -> dict:
    """A catalogue entry like the fixture of `kind`, with another name, start, cloud and footprint."""
    entry = copy.deepcopy(fixture(kind))
    entry.update(Id=f"id-{name[:40]}", Name=name + ".SAFE", ContentDate={"Start": start, "End": start})
    for attribute in entry["Attributes"]:
        if attribute["Name"] == "cloudCover" and cloud is not None:
            attribute["Value"] = cloud
    if footprint is not None:
        entry["GeoFootprint"] = mapping(footprint)
    return entry


L2A_A = fixture("l2a")["Name"].removesuffix(".SAFE")  # 2017-06-13, 12.718 %
L2A_B = "S2B_MSIL2A_20170708T101029_N0500_R022_T33UUP_20230801T093415"  # 4.5 %
L2A_C = "S2A_MSIL2A_20170718T101031_N0500_R022_T33UUP_20230802T112233"  # 55 %: too cloudy
L2A_D = "S2B_MSIL2A_20170902T100019_N0500_R122_T33UUP_20230804T071502"  # after the range
L2A_E = "S2A_MSIL2A_20170831T101021_N0500_R022_T33UUP_20230803T161120"  # on the last day
L2A_I = "S2A_MSIL2A_20170620T100031_N0500_R122_T33UUP_20230728T080911"  # 8 %
L2A_J = "S2B_MSIL2A_20170520T101029_N0500_R022_T33UUP_20230725T201516"  # spring, 25 %
L2A_F = "S2A_MSIL2A_20170613T101031_N0500_R022_T33UVP_20230727T151702"  # the tile to the east, 3 %
S1_A = fixture("s1_grd")["Name"].removesuffix(".SAFE")  # 2017-06-13T16:50:43.412
S1_B = "S1A_IW_GRDH_1SDV_20170619T165043_20170619T165108_017129_01C94B_1A2F"
S1_C = "S1A_IW_GRDH_1SDV_20170625T165044_20170625T165109_017217_01CBE3_77C0"
S1_D = "S1B_IW_GRDH_1SDV_20170614T050112_20170614T050137_006042_00A9D0_3B1E"
UVP = box(13.6, 47.7, 15.1, 48.7)


@pytest.fixture
def catalogue(cdse):  # noqa: F811
    cdse.catalogue = [
        fixture("l2a"),
        derive("l2a", L2A_B, "2017-07-08T10:10:29.024Z", 4.5),
        derive("l2a", L2A_C, "2017-07-18T10:10:31.026Z", 55.0),
        derive("l2a", L2A_D, "2017-09-02T10:00:19.024Z", 1.0),
        derive("l2a", L2A_E, "2017-08-31T10:10:21.026Z", 20.0),
        derive("l2a", L2A_I, "2017-06-20T10:00:31.026Z", 8.0),
        derive("l2a", L2A_J, "2017-05-20T10:10:29.024Z", 25.0),
        derive("l2a", L2A_F, "2017-06-13T10:10:31.026Z", 3.0, UVP),
        fixture("l1c"),
        fixture("s1_grd"),
        derive("s1_grd", S1_B, "2017-06-19T16:50:43.412Z"),
        derive("s1_grd", S1_C, "2017-06-25T16:50:44.412Z"),
        derive("s1_grd", S1_D, "2017-06-14T05:01:12.412Z", footprint=box(20, 47, 24, 49)),
    ]
    return cdse


def searches(cdse):  # noqa: F811
    return [parse_qs(urlsplit(r[1]).query) for r in cdse.requests if r[1].startswith("/odata/v1/Products?")]


def names(found):
    return [p.name for p in found]


def test_the_filter_is_the_documented_odata_syntax():
    start, end = parse_dates("2017-06-01", "2017-08-31")
    assert odata_filter("L2A", box(10, 45, 11, 46), start, end, max_cloud=30) == (
        "Collection/Name eq 'SENTINEL-2' and "
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
        "att/OData.CSC.StringAttribute/Value eq 'S2MSI2A') and "
        "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((11.000000 45.000000,11.000000 46.000000,"
        "10.000000 46.000000,10.000000 45.000000,11.000000 45.000000))') and "
        "ContentDate/Start ge 2017-06-01T00:00:00.000Z and ContentDate/Start lt 2017-09-01T00:00:00.000Z and "
        "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and "
        "att/OData.CSC.DoubleAttribute/Value le 30.00)"
    )
    s1 = odata_filter("S1_GRD_IW", box(10, 45, 11, 46), start, end, max_cloud=30)
    assert "'SENTINEL-1'" in s1 and "Value eq 'IW_GRDH_1S')" in s1 and "cloudCover" not in s1


def test_a_tile_footprint_is_its_square_widened_by_the_overlap():
    # T33UUP: upper-left corner (300000, 5400000) in EPSG:32633, as its MTD_TL.xml says; 109.8 km a side.
    to_utm = pyproj.Transformer.from_crs(4326, 32633, always_xy=True)
    utm = shapely.transform(tile_footprint("T33UUP"), lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1])))
    x0, y0, x1, y1 = utm.bounds
    assert [round(v) for v in (x0, y0, x1, y1)] == [300000, 5290200, 409800, 5400000]


def test_tiles_dates_cloud_and_type_select_and_pages_follow(catalogue):
    start, end = parse_dates("2017-05-01", "2017-08-31")
    with requests.Session() as session:
        found = search_sentinel2(
            session, catalogue.endpoints, "L2A", start, end, tiles=["33UUP"], max_cloud=30, page_size=2
        )
    # Not C (55 %), D (after the last day), F (another tile), the L1C or the S1 scenes.
    assert names(found) == [L2A_J, L2A_A, L2A_I, L2A_B, L2A_E]
    assert [q["$skip"] for q in searches(catalogue)] == [["0"], ["2"], ["4"]]  # past one page
    assert {q["$top"][0] for q in searches(catalogue)} == {"2"}
    assert {q["$orderby"][0] for q in searches(catalogue)} == {"ContentDate/Start asc"}
    assert found[1].cloud_cover == pytest.approx(12.718) and found[1].tile == "T33UUP"
    assert found[1].start == datetime(2017, 6, 13, 10, 10, 31, 26000, tzinfo=timezone.utc)


def test_one_product_per_tile_and_season_is_the_least_cloudy(catalogue):
    start, end = parse_dates("2017-05-01", "2017-08-31")
    with requests.Session() as session:
        found = search_sentinel2(
            session,
            catalogue.endpoints,
            "L2A",
            start,
            end,
            area=box(12.5, 47.9, 14.0, 48.5),
            max_cloud=30,
            one_per_season=True,
        )
    # T33UUP: spring J (the only one), summer B (4.5 %); T33UVP: summer F.
    assert names(found) == [L2A_J, L2A_B, L2A_F]


def test_december_belongs_to_the_winter_of_the_next_year(catalogue):
    products = [
        derive("l2a", n, t, c)
        for n, t, c in [
            ("S2A_MSIL2A_20171215T101031_N0500_R022_T33UUP_20230801T000000", "2017-12-15T10:10:31.000Z", 9.0),
            ("S2A_MSIL2A_20180110T101031_N0500_R022_T33UUP_20230801T000000", "2018-01-10T10:10:31.000Z", 5.0),
            ("S2A_MSIL2A_20170110T101031_N0500_R022_T33UUP_20230801T000000", "2017-01-10T10:10:31.000Z", 1.0),
        ]
    ]
    from reben.catalogue.search import _found

    kept = one_per_tile_and_season([_found(e) for e in products])
    assert [p.name[11:19] for p in kept] == ["20170110", "20180110"]


def test_an_empty_answer_is_an_empty_table(catalogue, tmp_path):
    out = tmp_path / "s2.csv"
    assert (
        reben(
            [
                "search",
                "--tiles",
                "T33UUP",
                "--start",
                "2016-01-01",
                "--end",
                "2016-03-31",
                "--catalogue-url",
                catalogue.endpoints.catalogue,
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert out.read_text().splitlines() == ["name,cdse_id,sensing_time,tile,cloud_cover"]
    assert len(searches(catalogue)) == 1


def test_a_429_is_retried_after_its_retry_after(catalogue):
    catalogue.throttle = 1
    sleeps = []
    start, end = parse_dates("2017-06-13", "2017-06-13")
    with requests.Session() as session:
        found = query(
            session, catalogue.endpoints, odata_filter("L1C", tile_footprint("33UUP"), start, end), sleep=sleeps.append
        )
    assert names(found) == [fixture("l1c")["Name"].removesuffix(".SAFE")] and sleeps == [7]


def test_the_command_writes_a_table_the_workflow_reads(catalogue, tmp_path):
    out = tmp_path / "s2.csv"
    assert (
        reben(
            [
                "search",
                "--tiles",
                "33UUP",
                "--start",
                "2017-06-01",
                "--end",
                "2017-08-31",
                "--max-cloud",
                "30",
                "--one-per-tile-and-season",
                "--catalogue-url",
                catalogue.endpoints.catalogue,
                "-o",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert rows == [
        {
            "name": L2A_B,
            "cdse_id": f"id-{L2A_B[:40]}",
            "sensing_time": "2017-07-08T10:10:29.000Z",
            "tile": "T33UUP",
            "cloud_cover": "4.50",
        }
    ]
    config = {
        "sentinel2": {"products": [], "product_table": str(out), "input_dir": str(tmp_path), "l2a_baseline": "N9999"}
    }
    assert list(product_table(config)) == ["S2B_MSIL2A_20170708T101029_N0500_R022_T33UUP"]


def test_s1_scenes_are_paired_with_each_s2_product_within_the_gap(catalogue, tmp_path):
    s2 = tmp_path / "s2.csv"
    s2.write_text(f"name\n{L2A_A}\n")
    out = tmp_path / "s1.csv"
    assert (
        reben(
            [
                "search",
                "--pair-with",
                str(s2),
                "--max-time-gap-days",
                "10",
                "--catalogue-url",
                catalogue.endpoints.catalogue,
                "-o",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(out.open()))
    # S1_C is 12.3 days away; S1_D does not meet the tile. 16:50:43.412 - 10:10:31 = 0.278 days.
    assert [(r["name"], r["s2_name"], r["time_gap_days"]) for r in rows] == [
        (S1_A, L2A_A, "0.278"),
        (S1_B, L2A_A, "6.278"),
    ]
    s1_config = {"product_table": str(out), "grd": {"input_dir": str(tmp_path / "grd")}}
    assert grd_table(s1_config, retrieval=True) == {n: str(tmp_path / "grd" / f"{n}.zip") for n in (S1_A, S1_B)}
    with pytest.raises(
        ConfigError, match=rf"^config: sentinel1.product_table: {S1_A}: not in .*grd .*retrieval.enabled"
    ):
        grd_table(s1_config, retrieval=False)
    assert read_s2_table(s2)[0][2] == "T33UUP"
    # The gap of the run's config: 5 days keeps only the scene of the same day.
    configfile = tmp_path / "run.yaml"
    configfile.write_text("sentinel1:\n  max_time_gap_days: 5\n")
    assert (
        reben(
            [
                "search",
                "--pair-with",
                str(s2),
                "--configfile",
                str(configfile),
                "--catalogue-url",
                catalogue.endpoints.catalogue,
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert [r["name"] for r in csv.DictReader(out.open())] == [S1_A]


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
    ],
)
def test_bad_input_is_one_line_before_any_request(catalogue, tmp_path, capsys, argv, message):
    defaults = ["--start", "2017-06-01", "--end", "2017-08-31"] if "--start" not in argv else []
    out = tmp_path / "t.csv"
    code = reben(["search", *argv, *defaults, "--catalogue-url", catalogue.endpoints.catalogue, "-o", str(out)])
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
    common = [
        "--area",
        str(gpkg),
        "--start",
        "2017-06-01",
        "--end",
        "2017-06-30",
        "--catalogue-url",
        catalogue.endpoints.catalogue,
    ]
    assert reben(["search", *common, "--product-type", "L2A", "-o", str(s2)]) == 0
    assert [r["name"] for r in csv.DictReader(s2.open())] == [L2A_A, L2A_I, L2A_F]
    assert reben(["search", *common, "--product-type", "S1_GRD_IW", "-o", str(s1)]) == 0
    assert [r["name"] for r in csv.DictReader(s1.open())] == [S1_A, S1_B, S1_C]  # not S1_D, far east
