"""A land-cover raster as the label source, the class tables, and the 43-class nomenclature.

The rasters are derived in the tests from the real CLC 2018 extract of Lanjaron (Spain):
rasterised with rasterio at 10 m on the patch grid's lattice (must give exactly the vector
path's reference maps), at 100 m (each 100 m cell becomes a 10 x 10 block; agrees with the
vector path wherever the 100 m cell lies inside one polygon), and at 10 m in EPSG:3035 (agrees
away from polygon boundaries; the share that agrees overall is asserted too).
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
from affine import Affine
from conftest import shared

from reben.errors import ClassTableError, ClcError, LabelRasterError
from reben.grid import TileGrid
from reben.io import write_json
from reben.labels.classes import LABELS_43, NOMENCLATURES, UNLABELED, class_table, configured_table, tile_labels
from reben.labels.clc import open_clc, rasterize_reference_maps, rasterize_tile, read_tile_polygons
from reben.labels.raster import open_label_raster, read_tile_codes

KEY = "S2A_MSIL2A_20180610T105031_N9999_R051_T30SVF"
LANJARON = ("clc", "clc2018_lanjaron_EPSG25830.gpkg")
# 8 x 14 patches of 1200 m over the extract (EPSG:32630; the extract is in EPSG:25830).
GRID = TileGrid(KEY, 32630, 454800.0, 4098000.0, 9600.0, 16800.0)


def clc_polygons(path, crs):
    """The extract's polygons in `crs`, repaired as the vector path repairs them, and their codes."""
    import geopandas as gpd
    import shapely

    frame = gpd.read_file(path, layer="clc").to_crs(crs)
    geometries = frame.geometry.to_numpy()
    invalid = ~shapely.is_valid(geometries)
    geometries[invalid] = shapely.make_valid(geometries[invalid], method="structure", keep_collapsed=False)
    return geometries, frame["CODE_18"].astype(int).to_numpy()


def write_raster(path, geometries, codes, crs, left, top, width, height, resolution, nodata=0):
    """Burn the polygons (pixel-centre rule) into a uint16 GeoTIFF; `nodata` where none is."""
    from rasterio.features import rasterize

    transform = Affine(resolution, 0, left, 0, -resolution, top)
    array = rasterize(
        zip(geometries, codes.tolist()), out_shape=(height, width), transform=transform, fill=nodata, dtype="uint16"
    )
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="uint16",
        transform=transform,
        nodata=nodata,
        compress="deflate",
    )
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
    return array


@pytest.fixture(scope="module")
def vector_reference():
    grid = GRID
    return rasterize_tile(*read_tile_polygons(open_clc(shared(*LANJARON)), grid), grid)


def labels_of(reference, grid=GRID):
    table = configured_table()
    return tile_labels(
        grid.patch_ids(), reference, grid.n_rows, grid.n_cols, 120, table, 0.25, configured_table("bigearthnet43")
    ).to_pandas()


def interior(reference, radius):
    """Pixels whose (2 radius + 1)^2 neighbourhood in the 10 m vector map holds one code."""
    from numpy.lib.stride_tricks import sliding_window_view

    w = 2 * radius + 1
    rows_max = sliding_window_view(reference, w, axis=0).max(-1)
    rows_min = sliding_window_view(reference, w, axis=0).min(-1)
    hi = sliding_window_view(rows_max, w, axis=1).max(-1)
    lo = sliding_window_view(rows_min, w, axis=1).min(-1)
    mask = np.zeros(reference.shape, dtype=bool)
    mask[radius:-radius, radius:-radius] = hi == lo
    return mask


def test_raster_at_10m_on_the_grid_gives_the_vector_path_exactly(tmp_path, vector_reference):
    geometries, codes = clc_polygons(shared(*LANJARON), "EPSG:32630")
    # A larger raster than the tile, its corner 1 km west and 500 m north: the window must be found.
    path = tmp_path / "clc_10m.tif"
    write_raster(path, geometries, codes, "EPSG:32630", 453800.0, 4098500.0, 1200, 1800, 10)
    reference, covered = read_tile_codes(open_label_raster(path), GRID, 999)
    assert covered == pytest.approx(float((vector_reference != 999).mean()))
    np.testing.assert_array_equal(reference, vector_reference)
    assert labels_of(reference).equals(labels_of(vector_reference))


def test_raster_at_100m_becomes_blocks_and_agrees_inside_polygons(tmp_path, vector_reference):
    geometries, codes = clc_polygons(shared(*LANJARON), "EPSG:32630")
    path = tmp_path / "clc_100m.tif"
    # Cells on a 100 m lattice through the grid corner, the raster starting 2 km west and north.
    cells = write_raster(path, geometries, codes, "EPSG:32630", 452800.0, 4100000.0, 140, 200, 100)
    reference, covered = read_tile_codes(open_label_raster(path), GRID, 999)
    # Hand-computed expectation: each 10 m pixel takes the 100 m cell holding its centre.
    window = cells[20 : 20 + 168, 20 : 20 + 96]
    expected = np.kron(window, np.ones((10, 10), dtype=np.uint16))
    expected[expected == 0] = 999
    np.testing.assert_array_equal(reference, expected)
    # Where a 100 m cell lies inside one polygon (all 10 m pixels within 150 m share one code),
    # the raster and the vector path agree on every pixel.
    inside = interior(vector_reference, 15)
    assert inside.mean() > 0.3  # measured: 0.35 of the tile
    np.testing.assert_array_equal(reference[inside], vector_reference[inside])
    agree = float((reference == vector_reference).mean())
    assert agree > 0.9, agree  # measured: 0.930 of the pixels
    same = labels_of(reference)["labels"].map(tuple) == labels_of(vector_reference)["labels"].map(tuple)
    assert same.mean() > 0.75, same.mean()  # measured: 93 of 112 patches (cells blur small polygons)


def test_raster_in_another_crs_agrees_away_from_boundaries(tmp_path, vector_reference):
    geometries, codes = clc_polygons(shared(*LANJARON), "EPSG:3035")
    import geopandas as gpd

    left, bottom, right, top = gpd.GeoSeries(geometries).total_bounds
    left, top = np.floor(left / 10) * 10 - 100, np.ceil(top / 10) * 10 + 100
    width, height = int((right - left) // 10) + 20, int((top - bottom) // 10) + 20
    path = tmp_path / "clc_3035.tif"
    write_raster(path, geometries, codes, "EPSG:3035", left, top, width, height, 10)
    reference, covered = read_tile_codes(open_label_raster(path), GRID, 999)
    inside = interior(vector_reference, 3)  # 30 m from any boundary
    assert inside.mean() > 0.7  # measured: 0.78 of the tile
    np.testing.assert_array_equal(reference[inside], vector_reference[inside])
    agree = float((reference == vector_reference).mean())
    assert agree > 0.98, agree  # measured: 0.992 of the pixels
    same = labels_of(reference)["labels"].map(tuple) == labels_of(vector_reference)["labels"].map(tuple)
    assert same.mean() > 0.95, same.mean()  # measured: 111 of 112 patches


# ------------------------------------------------------------------ the job and its bad inputs


def run_job(tmp_path, source, grid, **kw):
    write_json({"tile_key": grid.tile_key, "grid": grid.to_dict()}, tmp_path / "geocoding.json")
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    summary = rasterize_reference_maps(
        tmp_path / "geocoding.json",
        source,
        out / "reference_maps",
        out / "shard.parquet",
        out / "labels.parquet",
        raster=True,
        **kw,
    )
    return out, summary


SMALL = TileGrid(KEY, 32630, 500000.0, 4000000.0, 120.0, 120.0, patch_size_m=60)  # 2 x 2 patches of 6 x 6 px


def small_raster(path, array, crs="EPSG:32630", nodata=None, left=500000.0, top=4000000.0):
    profile = dict(
        driver="GTiff",
        width=array.shape[1],
        height=array.shape[0],
        count=1,
        dtype=str(array.dtype),
        transform=Affine(10, 0, left, 0, -10, top),
        nodata=nodata,
    )
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
    return path


def test_job_with_a_custom_table_and_unlabeled_codes(tmp_path):
    # A WorldCover-like map: 10 tree cover, 30 grassland, 80 water, 0 no data (nodata tag 0).
    table = tmp_path / "worldcover.csv"
    table.write_text("code,class\n10,Tree cover\n30,Grassland\n80,Permanent water bodies\n")
    array = np.full((12, 12), 10, dtype=np.uint8)
    array[:, 6:] = 30
    array[6:, 6:9] = 80  # patch (1, 1): half water, half grassland
    array[0:2, 0:6] = 0  # patch (0, 0): 12 of 36 px no data
    out, summary = run_job(
        tmp_path,
        small_raster(tmp_path / "wc.tif", array, nodata=0),
        SMALL,
        class_table_path=str(table),
        uncovered_code=0,
        max_unlabeled_fraction=0.3,
        unlabeled_codes=[80],
    )
    assert summary == {"covered": pytest.approx(132 / 144), "patches": 4, "labelled": 2}
    labels = pq.read_table(out / "labels.parquet").to_pandas()
    assert LABELS_43 not in labels.columns  # codes of one's own table are not CLC codes
    assert labels["labels"].map(list).tolist() == [[], ["Grassland"], ["Tree cover"], []]
    assert labels["unlabeled_fraction"].tolist() == pytest.approx([1 / 3, 0, 0, 0.5])
    with rasterio.open(out / "reference_maps" / f"{KEY}_0_0" / f"{KEY}_0_0_reference_map.tif") as src:
        patch = src.read(1)
    assert src.dtypes[0] == "uint16" and patch[0, 0] == 0 and patch[5, 5] == 10


def test_raster_without_crs_is_one_line(tmp_path):
    path = small_raster(tmp_path / "nocrs.tif", np.full((12, 12), 211, dtype=np.uint16), crs=None)
    with pytest.raises(LabelRasterError) as e:
        run_job(tmp_path, path, SMALL)
    assert str(e.value) == (
        f"labels.raster.path: {path}: has no CRS; assign one (e.g. gdal_edit.py -a_srs EPSG:3035 nocrs.tif)"
    )
    assert not (tmp_path / "out" / "labels.parquet").exists()


def test_codes_missing_from_the_table_are_listed_up_to_ten(tmp_path):
    array = np.full((12, 12), 211, dtype=np.uint16)
    array[0, :12] = np.arange(1, 13)  # twelve codes the CLC table lacks, one pixel each
    array[1, 0] = 5
    path = small_raster(tmp_path / "odd.tif", array)
    with pytest.raises(ClcError) as e:
        run_job(tmp_path, path, SMALL)
    message = str(e.value)
    assert "\n" not in message
    assert message == (
        f"labels.raster.path: {path}: codes not in the class table "
        f"{NOMENCLATURES['reben19']} on tile {KEY}: 1 (1 px), 2 (1 px), 3 (1 px), "
        "4 (1 px), 5 (2 px), 6 (1 px), 7 (1 px), 8 (1 px), 9 (1 px), 10 (1 px) "
        "and 2 more"
    )
    assert not (tmp_path / "out" / "reference_maps").exists()
    assert not (tmp_path / "out" / "labels.parquet").exists()


def test_raster_covering_part_of_the_tile_warns_with_the_share(tmp_path, caplog):
    # 12 x 9 px of 211 from the tile's west edge: 75 % of the tile; the east column of patches is 999.
    path = small_raster(tmp_path / "part.tif", np.full((12, 9), 211, dtype=np.uint16))
    with caplog.at_level("WARNING"):
        out, summary = run_job(tmp_path, path, SMALL)
    assert f"{KEY}: {path} covers 75.0 % of the tile's grid; the rest is 999 (UNLABELED)" in caplog.text
    labels = pq.read_table(out / "labels.parquet").to_pandas()
    assert labels["unlabeled_fraction"].tolist() == pytest.approx([0, 0.5, 0, 0.5])
    assert labels[LABELS_43].map(list).tolist() == [
        ["Non-irrigated arable land"],
        [],
        ["Non-irrigated arable land"],
        [],
    ]


def test_raster_beside_the_tile_covers_nothing(tmp_path, caplog):
    path = small_raster(tmp_path / "away.tif", np.full((4, 4), 211, dtype=np.uint16), left=600000.0)
    with caplog.at_level("WARNING"):
        out, summary = run_job(tmp_path, path, SMALL)
    assert summary["covered"] == 0 and summary["labelled"] == 0
    assert "covers 0.0 % of the tile's grid" in caplog.text


# ------------------------------------------------------------------ class tables


def test_class_table_with_duplicate_codes_is_one_line(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("code,name,class\n211,a,A\n311,b,B\n211,c,C\n311,d,B\n")
    with pytest.raises(ClassTableError) as e:
        class_table(path)
    assert str(e.value) == f"class table {path}: duplicate codes 211, 311"


def test_class_table_without_a_class_column_is_one_line(tmp_path):
    path = tmp_path / "nocls.csv"
    path.write_text("code,label\n1,x\n")
    with pytest.raises(ClassTableError, match=r"no column class \(columns: code, label\)"):
        class_table(path)


def test_43_class_table_is_bigearthnet_v1s_nomenclature():
    """The 43 names, in CLC code order, are bigearthnet-common's v1 labels, and each maps to
    the reBEN class bigearthnet-common gives it."""
    constants = pytest.importorskip("bigearthnet_common.constants")
    t43, t19 = class_table(NOMENCLATURES["bigearthnet43"]), class_table(NOMENCLATURES["reben19"])
    assert len(t43.classes) == 43
    assert list(t43.classes) == list(constants.OLD_LABELS_ORIGINAL_ORDER)
    assert set(t43.codes) == set(t19.codes)  # the 44 level-3 codes and 999
    assert [c for c, k in t43.code_class.items() if k == UNLABELED] == [335, 999]
    assert t43.names[211] == "Non-irrigated arable land" and t43.names[412] == "Peatbogs"
    for code, name in t43.code_class.items():
        if name != UNLABELED:
            assert t19.code_class[code] == (constants.OLD2NEW_LABELS_DICT[name] or UNLABELED), code


def test_labels_43_beside_the_19_class_labels():
    # One 2 x 1 tile of 2 x 2 px patches: roads (122) and arable land (211, 212).
    reference = np.array([[122, 211, 212, 212], [211, 211, 122, 999]], dtype=np.uint16)
    grid_ids = ["p_0_0", "p_1_0"]
    t19, t43 = configured_table(), configured_table("bigearthnet43")
    labels = tile_labels(grid_ids, reference, 1, 2, 2, t19, 0.5, t43).to_pydict()
    assert labels["labels"] == [["Arable land"], []]  # patch 1: 2 of 4 px UNLABELED in 19 classes
    assert labels[LABELS_43] == [
        ["Non-irrigated arable land", "Road and rail networks and associated land"],
        ["Permanently irrigated land", "Road and rail networks and associated land"],
    ]
    with_43 = tile_labels(grid_ids, reference, 1, 2, 2, t43, 0.5, t43).to_pydict()
    assert with_43["labels"] == labels[LABELS_43]
    assert [k for k in with_43 if k.startswith("fraction_")][:2] == [
        "fraction_Continuous urban fabric",
        "fraction_Discontinuous urban fabric",
    ]


def test_report_colours_reference_maps_by_the_configured_table(tmp_path):
    from reben.geotiff import ReferenceMapWriter
    from reben.report.figures import reference_map_classes

    patch_id = f"{KEY}_0_0"
    folder = tmp_path / KEY / patch_id
    folder.mkdir(parents=True)
    codes = np.full((120, 120), 122, dtype=np.uint16)
    codes[:, 60:] = 211
    codes[0, 0] = 999
    ReferenceMapWriter("EPSG:32630", codes.shape).write(
        folder / f"{patch_id}_reference_map.tif", codes, 500000.0, 4000000.0
    )
    t43 = configured_table("bigearthnet43")
    classes = reference_map_classes(tmp_path, patch_id, t43.classes, t43)
    road, arable = (
        t43.classes.index("Road and rail networks and associated land"),
        t43.classes.index("Non-irrigated arable land"),
    )
    assert classes[5, 5] == road and classes[5, 100] == arable and classes[0, 0] == 43
    t19 = configured_table()
    assert reference_map_classes(tmp_path, patch_id, t19.classes, t19)[5, 5] == 19  # UNLABELED in 19 classes


def test_negative_codes_are_one_line(tmp_path):
    array = np.full((12, 12), 211, dtype=np.int16)
    array[3, 3] = -5
    path = small_raster(tmp_path / "neg.tif", array)
    with pytest.raises(LabelRasterError) as e:
        run_job(tmp_path, path, SMALL)
    assert str(e.value) == (
        f"labels.raster.path: {path}: codes -5..211 near tile {KEY}; reference maps hold codes 0..65535"
    )


def test_a_float_raster_is_one_line(tmp_path):
    path = small_raster(tmp_path / "float.tif", np.full((12, 12), 211.0, dtype=np.float32))
    with pytest.raises(LabelRasterError, match=r"band 1 is float32; a land-cover raster holds integer class codes$"):
        open_label_raster(path)
