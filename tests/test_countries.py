"""Country of each patch: hand-made borders with known answers, and the real Natural Earth file."""

import hashlib

import geopandas as gpd
import pytest
import shapely
from pyproj import Transformer

from conftest import shared
from reben.countries import (REBEN_COUNTRIES, BordersError, assign_countries, download_borders,
                             read_borders)
from reben.grid import TileGrid

KEY = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


def natural_earth():
    return shared("countries", "naturalearth_lowres", "naturalearth_lowres.shp")


def borders(**polygons):
    return gpd.GeoDataFrame({"country": list(polygons)}, geometry=list(polygons.values()),
                            crs="EPSG:32633").sort_values("country")


def test_inside_nearest_and_the_larger_share():
    # A row of 5 patches from x = 0 to 6000 m, y 0..1200. Alpha covers x < 2000 (patch 0 whole,
    # patch 1 two thirds of it); Beta covers x >= 2000 up to 3000 (patch 1 one third, patch 2
    # whole). Nothing covers patches 3 and 4: patch 3 is 600 m from Beta and 3400 m from Gamma
    # (x >= 8000); patch 4 is 1800 m from Beta and 2200 m from Gamma.
    grid = TileGrid(KEY, 32633, 0, 1200, 6000, 1200)
    table = assign_countries(grid, borders(
        Alpha=shapely.box(-5000, -5000, 2000, 5000),
        Beta=shapely.box(2000, -5000, 3000, 5000),
        Gamma=shapely.box(8000, -5000, 9000, 5000)))
    assert list(table["country"]) == ["Alpha", "Alpha", "Beta", "Beta", "Beta"]
    assert list(table["patch_id"]) == grid.patch_ids()


def test_overlapping_borders_go_to_the_one_covering_more():
    # Two generalised borders overlap on patch 0: Beta covers all of it, Alpha 10 %.
    grid = TileGrid(KEY, 32633, 0, 1200, 1200, 1200)
    table = assign_countries(grid, borders(Alpha=shapely.box(-500, 0, 120, 1200),
                                           Beta=shapely.box(0, 0, 5000, 5000)))
    assert list(table["country"]) == ["Beta"]


def test_ties_go_to_the_first_name():
    # The patch lies between two countries 1000 m away on either side.
    grid = TileGrid(KEY, 32633, 0, 1200, 1200, 1200)
    table = assign_countries(grid, borders(Zulu=shapely.box(2200, 0, 3000, 1200),
                                           Alpha=shapely.box(-1800, 0, -1000, 1200)))
    assert list(table["country"]) == ["Alpha"]


def one_patch_grid(lon, lat, epsg):
    """A one-patch grid whose patch is centred on (lon, lat), in UTM zone `epsg`."""
    x, y = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True).transform(lon, lat)
    return TileGrid(KEY, epsg, x - 600, y + 600, 1200, 1200)


@pytest.mark.parametrize("place, lon, lat, epsg, expected", [
    ("Pristina", 21.166, 42.663, 32634, "Kosovo"),
    ("Belgrade", 20.457, 44.817, 32634, "Serbia"),
    ("Vilnius", 25.279, 54.687, 32635, "Lithuania"),
    ("Dublin", -6.260, 53.350, 32629, "Ireland"),
    ("Luxembourg", 6.130, 49.611, 32632, "Luxembourg"),
    ("Munich (Germany, not configured)", 11.576, 48.137, 32632, "Austria"),
    ("Madrid (Spain, not configured)", -3.704, 40.417, 32630, "Portugal"),
])
def test_real_natural_earth_borders(place, lon, lat, epsg, expected):
    countries = read_borders(natural_earth(), "name", REBEN_COUNTRIES)
    assert list(countries["country"]) == sorted(REBEN_COUNTRIES)
    table = assign_countries(one_patch_grid(lon, lat, epsg), countries)
    assert table["country"].item() == expected, place


def test_a_whole_real_tile_at_once():
    # T33UUP lies across the Austrian-German border (Salzburg, Bavaria): every patch is Austria,
    # the only configured country near it.
    grid = TileGrid(KEY, 32633, 300000, 5400000, 109800, 109800)
    table = assign_countries(grid, read_borders(natural_earth(), "name", REBEN_COUNTRIES))
    assert len(table) == 8281 and set(table["country"]) == {"Austria"}


def test_borders_without_the_name_field():
    with pytest.raises(BordersError, match=r"no field 'NAME' .*countries.name_field.*fields: pop_est") as e:
        read_borders(natural_earth(), "NAME", REBEN_COUNTRIES)
    assert "\n" not in str(e.value)


def test_a_country_not_in_the_borders():
    # Natural Earth has no ISO code for Kosovo (iso_a3 -99): configuring XKX must fail clearly.
    with pytest.raises(BordersError, match=r"no country named 'XKX' in field 'iso_a3'") as e:
        read_borders(natural_earth(), "iso_a3", ["AUT", "SRB", "XKX"])
    assert "\n" not in str(e.value)
    assert list(read_borders(natural_earth(), "iso_a3", ["AUT", "-99"])["country"]) == ["-99", "AUT"]


def test_a_country_in_several_rows_is_one_country(tmp_path):
    path = tmp_path / "parts.gpkg"
    gpd.GeoDataFrame({"NAME": ["A", "A", "B"]},
                     geometry=[shapely.box(0, 0, 1, 1), shapely.box(5, 5, 6, 6), shapely.box(2, 2, 3, 3)],
                     crs="EPSG:4326").to_file(path)
    countries = read_borders(path, "NAME", ["A", "B"])
    assert list(countries["country"]) == ["A", "B"]
    assert shapely.area(countries.geometry.values).tolist() == [2.0, 1.0]


def test_not_a_vector_file(tmp_path):
    path = tmp_path / "borders.gpkg"
    path.write_text("not a GeoPackage")
    with pytest.raises(BordersError, match="not a readable vector file"):
        read_borders(path, "NAME", ["A"])


def test_download_is_checked_against_its_sha256(tmp_path):
    source = natural_earth().with_suffix(".dbf")
    url = source.as_uri()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    target = tmp_path / "borders.dbf"
    with pytest.raises(BordersError, match="sha256 .* differs from the configured"):
        download_borders(url, "0" * 64, target)
    assert not target.exists() and not list(tmp_path.iterdir())
    assert download_borders(url, digest, target) == digest
    assert target.read_bytes() == source.read_bytes()
