"""Country of each patch: hand-made borders with known answers, and the real Natural Earth file."""

import hashlib

import geopandas as gpd
import pytest
import shapely
from conftest import shared
from pyproj import Transformer

from reben.constants import REBEN_COUNTRIES
from reben.dataset.countries import assign_countries, download_borders, read_borders
from reben.errors import BordersError
from reben.grid import TileGrid

KEY = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


def natural_earth():
    return shared("countries", "naturalearth_lowres", "naturalearth_lowres.shp")


def borders(**polygons):
    return gpd.GeoDataFrame(
        {"country": list(polygons)}, geometry=list(polygons.values()), crs="EPSG:32633"
    ).sort_values("country")


def test_inside_nearest_and_the_larger_share():
    # A row of 5 patches from x = 0 to 6000 m, y 0..1200. Alpha covers x < 2000 (patch 0 whole,
    # patch 1 two thirds of it); Beta covers x >= 2000 up to 3000 (patch 1 one third, patch 2
    # whole). Nothing covers patches 3 and 4: patch 3 is 600 m from Beta and 3400 m from Gamma
    # (x >= 8000); patch 4 is 1800 m from Beta and 2200 m from Gamma.
    grid = TileGrid(KEY, 32633, 0, 1200, 6000, 1200)
    table = assign_countries(
        grid,
        borders(
            Alpha=shapely.box(-5000, -5000, 2000, 5000),
            Beta=shapely.box(2000, -5000, 3000, 5000),
            Gamma=shapely.box(8000, -5000, 9000, 5000),
        ),
    )
    assert list(table["country"]) == ["Alpha", "Alpha", "Beta", "Beta", "Beta"]
    assert list(table["patch_id"]) == grid.patch_ids()


def test_overlapping_borders_go_to_the_one_covering_more():
    # Two generalised borders overlap on patch 0: Beta covers all of it, Alpha 10 %.
    grid = TileGrid(KEY, 32633, 0, 1200, 1200, 1200)
    table = assign_countries(grid, borders(Alpha=shapely.box(-500, 0, 120, 1200), Beta=shapely.box(0, 0, 5000, 5000)))
    assert list(table["country"]) == ["Beta"]


def test_ties_go_to_the_first_name():
    # The patch lies between two countries 1000 m away on either side.
    grid = TileGrid(KEY, 32633, 0, 1200, 1200, 1200)
    table = assign_countries(
        grid, borders(Zulu=shapely.box(2200, 0, 3000, 1200), Alpha=shapely.box(-1800, 0, -1000, 1200))
    )
    assert list(table["country"]) == ["Alpha"]


def one_patch_grid(lon, lat, epsg):
    """A one-patch grid whose patch is centred on (lon, lat), in UTM zone `epsg`."""
    x, y = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True).transform(lon, lat)
    return TileGrid(KEY, epsg, x - 600, y + 600, 1200, 1200)


@pytest.mark.parametrize(
    "place, lon, lat, epsg, expected",
    [
        ("Pristina", 21.166, 42.663, 32634, "Kosovo"),
        ("Belgrade", 20.457, 44.817, 32634, "Serbia"),
        ("Vilnius", 25.279, 54.687, 32635, "Lithuania"),
        ("Dublin", -6.260, 53.350, 32629, "Ireland"),
        ("Luxembourg", 6.130, 49.611, 32632, "Luxembourg"),
        ("Munich (Germany, not configured)", 11.576, 48.137, 32632, "Austria"),
        ("Madrid (Spain, not configured)", -3.704, 40.417, 32630, "Portugal"),
    ],
)
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
    with pytest.raises(BordersError, match=r"no field 'NAME_LONG' .*countries.name_field.*fields: pop_est") as e:
        read_borders(natural_earth(), "NAME_LONG", REBEN_COUNTRIES)
    assert "\n" not in str(e.value)


def test_a_country_not_in_the_borders():
    # Natural Earth has no ISO code for Kosovo (iso_a3 -99): configuring XKX must fail clearly.
    with pytest.raises(BordersError, match=r"no country named 'XKX' in field 'iso_a3'") as e:
        read_borders(natural_earth(), "iso_a3", ["AUT", "SRB", "XKX"])
    assert "\n" not in str(e.value)
    assert list(read_borders(natural_earth(), "iso_a3", ["AUT", "-99"])["country"]) == ["-99", "AUT"]


def test_a_country_in_several_rows_is_one_country(tmp_path):
    path = tmp_path / "parts.gpkg"
    gpd.GeoDataFrame(
        {"NAME": ["A", "A", "B"]},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(5, 5, 6, 6), shapely.box(2, 2, 3, 3)],
        crs="EPSG:4326",
    ).to_file(path)
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


# Points on the real Natural Earth 1:110m borders (a vertex-to-vertex segment's midpoint): the
# Serbia/Kosovo border from (21.66292, 42.43922) to (21.77505, 42.68270), Kosovo to its west;
# the Belgium/Luxembourg border from (5.67405, 49.52948) to (5.78242, 50.09033), Luxembourg to its
# east. A patch centred 300 m off the border on one side has three quarters of its area there.
SERBIA_KOSOVO = ((21.66292 + 21.77505) / 2, (42.43922 + 42.68270) / 2, 32634)
BELGIUM_LUXEMBOURG = ((5.67405 + 5.78242) / 2, (49.52948 + 50.09033) / 2, 32631)


def border_patch(lon, lat, epsg, east_m):
    """A one-patch grid centred on the border point shifted `east_m` metres east."""
    x, y = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True).transform(lon, lat)
    return TileGrid(KEY, epsg, x + east_m - 600, y + 600, 1200, 1200)


@pytest.mark.parametrize(
    "border, east_m, by_overlap, by_priority",
    [
        (SERBIA_KOSOVO, -300, "Kosovo", "Serbia"),  # mostly in Kosovo: the release gave Serbia
        (SERBIA_KOSOVO, 300, "Serbia", "Serbia"),
        (BELGIUM_LUXEMBOURG, 300, "Luxembourg", "Belgium"),  # mostly in Luxembourg: Belgium
        (BELGIUM_LUXEMBOURG, -300, "Belgium", "Belgium"),
        (SERBIA_KOSOVO, -3000, "Kosovo", "Kosovo"),  # wholly inside Kosovo: no tie
        (BELGIUM_LUXEMBOURG, 3000, "Luxembourg", "Luxembourg"),
    ],
)
def test_real_border_patches_and_the_release_tie_break(border, east_m, by_overlap, by_priority):
    countries = read_borders(natural_earth(), "name", REBEN_COUNTRIES)
    grid = border_patch(*border, east_m)
    assert assign_countries(grid, countries)["country"].item() == by_overlap
    table = assign_countries(grid, countries, "priority", ["Serbia", "Belgium"])
    assert table["country"].item() == by_priority


def test_priority_beats_the_larger_overlap_and_the_unlisted_go_by_overlap():
    # Patch 0 (x 0..1200): Alpha covers 10 % of it, Beta all, Gamma 50 %. Patch 1 (x 1200..2400):
    # Beta all, Gamma 50 % (x 1800..3000); Alpha does not touch it.
    grid = TileGrid(KEY, 32633, 0, 1200, 2400, 1200)
    frame = borders(
        Alpha=shapely.box(-500, 0, 120, 1200),
        Beta=shapely.box(0, 0, 5000, 5000),
        Gamma=shapely.box(600, 0, 1800, 1200).union(shapely.box(1800, 0, 3000, 1200)),
    )
    assert list(assign_countries(grid, frame)["country"]) == ["Beta", "Beta"]
    assert list(assign_countries(grid, frame, "priority", ["Alpha"])["country"]) == ["Alpha", "Beta"]
    assert list(assign_countries(grid, frame, "priority", ["Gamma", "Alpha"])["country"]) == ["Gamma", "Gamma"]


@pytest.mark.parametrize(
    "tie_break, priority, message",
    [
        ("priority", [], "countries.priority is empty"),
        ("priority", ["Atlantis"], "countries.priority: 'Atlantis' not among"),
        ("largest", [], "countries.tie_break: 'largest' is not one of overlap, priority"),
    ],
)
def test_bad_tie_break_settings(tie_break, priority, message):
    grid = TileGrid(KEY, 32633, 0, 1200, 1200, 1200)
    with pytest.raises(BordersError, match=message):
        assign_countries(grid, borders(Alpha=shapely.box(0, 0, 900, 1200)), tie_break, priority)


def test_the_name_field_matches_whatever_its_case():
    # geopandas' copy of Natural Earth spells it `name`, Natural Earth's own files `NAME`.
    countries = read_borders(natural_earth(), "NAME", ["Kosovo", "Serbia"])
    assert list(countries["country"]) == ["Kosovo", "Serbia"]
