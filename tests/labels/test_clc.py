"""CLC input, rasterization (centre rule, 999 fill), reference-map files and the rerun contract."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely
from conftest import DEMO_CONFIG, folder_sha256, run_snakemake, sha256_table_rows, shared

from reben.errors import ClcError
from reben.geotiff import ReferenceMapWriter, rasterio_bytes
from reben.grid import TileGrid
from reben.io import write_json
from reben.labels.clc import (
    clc_identity,
    open_clc,
    rasterize_reference_maps,
    rasterize_tile,
    read_tile_polygons,
)
from reben.shards import decode, iter_shard

KEY = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
ULX, ULY = 500000.0, 5000000.0


def tiny_grid(epsg=32633):
    """2 x 2 patches of 60 m (6 x 6 px at 10 m)."""
    return TileGrid(KEY, epsg, ULX, ULY, 120.0, 120.0, patch_size_m=60)


def box(x0, d0, x1, d1):
    """A box in metres from the grid's corner: x east, d (depth) south."""
    return shapely.box(ULX + x0, ULY - d1, ULX + x1, ULY - d0)


def write_gpkg(path, geometries, codes, crs="EPSG:32633", field="Code_18", layer="clc", to_crs=None):
    import geopandas as gpd

    frame = gpd.GeoDataFrame({field: [str(c) for c in codes]}, geometry=list(geometries), crs=crs)
    if to_crs:
        frame = frame.to_crs(to_crs)
    frame.to_file(path, layer=layer, driver="GPKG")
    return path


def hand_made(path, **kw):
    """Arable land west of x = 54 m down to 100 m; forest east of it, with two holes:
    9 px (x 90..120, d 90..120, in patch (1, 1)) and 8 px (x 80..120, d 40..60, in patch (1, 0))."""
    forest = box(54, 0, 120, 120).difference(box(90, 90, 120, 120)).difference(box(80, 40, 120, 60))
    return write_gpkg(path, [box(0, 0, 54, 100), forest], [211, 311], **kw)


def expected_hand_made():
    ref = np.full((12, 12), 999, dtype=np.uint16)
    ref[:10, :5] = 211  # centres at x 5..45 m are west of 54 m, rows down to d 95 m
    ref[:, 5:] = 311  # the centre at x 55 m is east of 54 m
    ref[9:, 9:] = 999  # hole of 3 x 3 px
    ref[4:6, 8:] = 999  # hole of 2 x 4 px
    return ref


@pytest.mark.parametrize("crs", ["EPSG:32633", "EPSG:3035"])
def test_centre_rule_and_999_fill_on_hand_made_polygons(tmp_path, crs):
    clc = hand_made(tmp_path / "clc.gpkg", to_crs=crs)
    grid = tiny_grid()
    geometries, codes = read_tile_polygons(open_clc(clc), grid)
    np.testing.assert_array_equal(rasterize_tile(geometries, codes, grid), expected_hand_made())


def test_centre_rule_on_a_diagonal_edge(tmp_path):
    # Triangle x + d < 62 m: a pixel is in iff its centre (5 + 10c) + (5 + 10r) < 62, i.e. c + r <= 5.
    tri = shapely.Polygon([(ULX, ULY), (ULX + 62, ULY), (ULX, ULY - 62)])
    clc = write_gpkg(tmp_path / "clc.gpkg", [tri], [523])
    grid = tiny_grid()
    ref = rasterize_tile(*read_tile_polygons(open_clc(clc), grid), grid)
    r, c = np.indices(ref.shape)
    np.testing.assert_array_equal(ref, np.where(r + c <= 5, 523, 999))


def run_job(tmp_path, clc, grid=None, **kw):
    grid = grid or tiny_grid()
    write_json({"tile_key": grid.tile_key, "grid": grid.to_dict()}, tmp_path / "geocoding.json")
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    summary = rasterize_reference_maps(
        tmp_path / "geocoding.json",
        clc,
        out / "reference_maps",
        out / "reference_maps_shard.parquet",
        out / "labels.parquet",
        sha256_path=out / "reference_maps_sha256.parquet",
        **kw,
    )
    return out, summary


def test_job_writes_maps_shard_and_labels(tmp_path):
    out, summary = run_job(tmp_path, hand_made(tmp_path / "clc.gpkg"))
    expected = expected_hand_made()
    grid = tiny_grid()
    assert sorted(p.name for p in (out / "reference_maps").iterdir()) == sorted(grid.patch_ids())
    assert not (out / "reference_maps.tmp").exists()
    for x, y in [(0, 0), (1, 0), (0, 1), (1, 1)]:
        pid = grid.patch_id(x, y)
        with rasterio.open(out / "reference_maps" / pid / f"{pid}_reference_map.tif") as src:
            np.testing.assert_array_equal(src.read(1), expected[6 * y : 6 * y + 6, 6 * x : 6 * x + 6])
            assert src.transform.c == ULX + 60 * x and src.transform.f == ULY - 60 * y
            assert src.crs.to_epsg() == 32633
    shard = dict(iter_shard(out / "reference_maps_shard.parquet"))
    assert list(shard) == [f"{p}_reference_map" for p in grid.patch_ids()]
    data = decode(shard[f"{grid.patch_id(1, 1)}_reference_map"])
    assert list(data) == ["Data"] and data["Data"].dtype == np.uint16
    np.testing.assert_array_equal(data["Data"], expected[6:, 6:])
    rows = sha256_table_rows(out / "reference_maps_sha256.parquet")
    assert rows == folder_sha256(out / "reference_maps") and len(rows) == 4

    labels = pq.read_table(out / "labels.parquet").to_pandas()
    assert labels["patch_id"].tolist() == grid.patch_ids()  # grid order: (0,0) (1,0) (0,1) (1,1)
    assert labels["labelled"].tolist() == [True, True, False, False]
    assert labels["unlabeled_fraction"].tolist() == pytest.approx([0, 8 / 36, 10 / 36, 9 / 36])
    assert [list(v) for v in labels["labels"]] == [
        ["Arable land", "Broad-leaved forest"],
        ["Broad-leaved forest"],
        [],
        [],
    ]
    assert labels["fraction_Arable land"].tolist() == pytest.approx([30 / 36, 0, 20 / 36, 0])
    assert summary == {"polygons": 2, "patches": 4, "labelled": 2}


def test_reference_map_is_byte_identical_to_the_real_rebens(tmp_path):
    real = next(shared("reben_samples", "Reference_Maps").rglob("*_reference_map.tif"))
    with rasterio.open(real) as src:
        array, profile, tags = src.read(1), src.profile, src.tags(ns="IMAGE_STRUCTURE")
        left, top = src.transform.c, src.transform.f
    writer = ReferenceMapWriter("EPSG:32633", array.shape)
    assert writer.fast, "the fast path was not taken"
    ours = tmp_path / real.name
    writer.write(ours, array, left, top)
    assert ours.read_bytes() == real.read_bytes()
    with rasterio.open(ours) as src:
        assert (src.dtypes[0], src.nodata, src.compression.value, src.crs, src.transform) == (
            "uint16",
            0,
            "DEFLATE",
            profile["crs"],
            profile["transform"],
        )
        assert src.tags(ns="IMAGE_STRUCTURE") == tags and tags["PREDICTOR"] == "2"
    # The slow path (one rasterio write per file) gives the same bytes.
    slow = ReferenceMapWriter("EPSG:32633", array.shape, fast=False)
    assert not slow.fast and slow.to_bytes(array, left, top) == real.read_bytes()


def reference_like_patches(px: int, n: int, seed: int = 0):
    """Patches of many kinds: blocks of codes, ragged regions, a code per pixel, one code,
    stripes, noise over the whole uint16 range."""
    rng = np.random.default_rng(seed)
    codes = np.array([211, 311, 312, 999, 523, 112, 231, 242, 324, 411], dtype=np.uint16)
    yy, xx = np.mgrid[:px, :px]
    for i in range(n):
        kind = i % 6
        if kind == 0:
            blocks = rng.integers(0, codes.size, (1 + i % 7, 1 + i % 5))
            reps = (px // blocks.shape[0] + 1, px // blocks.shape[1] + 1)
            yield codes[np.kron(blocks, np.ones(reps, int))[:px, :px]]
        elif kind == 1:
            region = (xx + 7 * np.sin(yy / (3.0 + i % 9))) // (5 + i % 27) + 3 * ((yy + 5 * np.cos(xx / 7.0)) // 13)
            yield codes[region.astype(int) % codes.size]
        elif kind == 2:
            yield codes[rng.integers(0, codes.size, (px, px))]
        elif kind == 3:
            yield np.full((px, px), codes[i % codes.size], np.uint16)
        elif kind == 4:
            yield codes[((xx * (1 + i % 3) + yy * (i % 4)) // (3 + i % 11)) % codes.size]
        else:
            yield rng.integers(0, 65536, (px, px), dtype=np.uint16)


@pytest.mark.parametrize("px", [6, 60, 120, 240])  # patches of 60, 600, 1200 and 2400 m
def test_fast_writer_matches_rasterio_on_many_patches(px):
    writer = ReferenceMapWriter("EPSG:32633", (px, px))
    assert writer.fast, "the fast path was not taken"
    for i, array in enumerate(reference_like_patches(px, 120 if px <= 120 else 30)):
        left = 300000.0 + 10 * px * i
        expected = rasterio_bytes(array, "EPSG:32633", left, 5400000.0, 10, 0, compress="deflate", predictor=2)
        assert writer.to_bytes(array, left, 5400000.0) == expected, f"patch {i}"


# ------------------------------------------------------------------ the real CLC extracts


def test_field_and_layer_detection_on_real_extracts():
    lanjaron = open_clc(shared("clc", "clc2018_lanjaron_EPSG25830.gpkg"))
    assert (lanjaron.layer, lanjaron.code_field) == ("clc", "CODE_18")  # beside 'lanjaron', 'layer_styles'
    assert "25830" in lanjaron.crs
    derived = open_clc(shared("clc", "derived_clc2018_lanjaron_EPSG3035.gpkg"))
    assert (derived.layer, derived.code_field) == ("U2018_CLC2018_V2020_20u1", "Code_18")
    with pytest.raises(ClcError, match="holds layers clc12_mt, clc18_mt, cha18_mt: set clc.layer"):
        open_clc(shared("clc", "clc2018_malta_EPSG23033.gpkg"))
    malta = open_clc(shared("clc", "clc2018_malta_EPSG23033.gpkg"), layer="clc18_mt")
    assert malta.code_field == "CODE_18"
    with pytest.raises(ClcError, match="layer clc12_mt has no code field Code_18 or CODE_18"):
        open_clc(shared("clc", "clc2018_malta_EPSG23033.gpkg"), layer="clc12_mt")


def check_against_point_in_polygon(path, layer, grid, ref, n=400, seed=0):
    """The code of random pixels equals that of the polygon holding their centre (geopandas)."""
    import geopandas as gpd

    frame = gpd.read_file(path, layer=layer).to_crs(grid.crs)
    field = "CODE_18" if "CODE_18" in frame else "Code_18"
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, ref.shape[0], n), rng.integers(0, ref.shape[1], n)
    points = shapely.points(grid.ulx + 10 * cols + 5, grid.uly - 10 * rows - 5)
    hit_point, hit_polygon = frame.sindex.query(points, predicate="within")
    expected = np.full(n, 999)
    expected[hit_point] = frame[field].astype(int).to_numpy()[hit_polygon]
    # A centre within centimetres of an edge may go either way after reprojection.
    near_edge = shapely.distance(points, frame.boundary.union_all()) < 0.05
    assert (ref[rows, cols] == expected)[~near_edge].all()


@pytest.mark.parametrize(
    "name, layer, epsg, corner",
    [
        ("clc2018_lanjaron_EPSG25830.gpkg", "clc", 32630, (455000, 4097000)),
        ("derived_clc2018_lanjaron_EPSG3035.gpkg", "U2018_CLC2018_V2020_20u1", 32630, (455000, 4097000)),
        ("clc2018_malta_EPSG23033.gpkg", "clc18_mt", 32633, (445600, 3976000)),
        ("derived_clc2018_malta_EPSG3035.gpkg", "U2018_CLC2018_V2020_20u1", 32633, (445600, 3976000)),
    ],
)
def test_real_extracts_rasterize_onto_a_grid_over_them(name, layer, epsg, corner):
    path = shared("clc", name)
    grid = TileGrid(KEY, epsg, float(corner[0]), float(corner[1]), 6000.0, 6000.0)
    source = open_clc(path, layer=layer)
    geometries, codes = read_tile_polygons(source, grid)
    assert len(geometries) > 5 and shapely.is_valid(geometries).all()
    ref = rasterize_tile(geometries, codes, grid)
    assert ref.shape == (600, 600) and ref.dtype == np.uint16
    assert len(np.unique(ref)) > 3
    check_against_point_in_polygon(path, layer, grid, ref)


def test_malta_has_sea_and_no_clc_beyond_it():
    path = shared("clc", "derived_clc2018_malta_EPSG3035.gpkg")
    # A grid over Malta's south-west coast: land, sea (523) and the open sea without CLC (999).
    grid = TileGrid(KEY, 32633, 425000.0, 3975000.0, 36000.0, 36000.0)
    ref = rasterize_tile(*read_tile_polygons(open_clc(path), grid), grid)
    assert {523, 999} <= set(np.unique(ref).tolist())
    assert ((ref != 523) & (ref != 999)).mean() > 0.05


def test_invalid_bowtie_is_repaired(tmp_path, caplog):
    # A ring crossing itself at (30, 30): its two lobes cover the west and east triangles of patch (0, 0).
    bowtie = shapely.Polygon([(ULX, ULY), (ULX + 60, ULY - 60), (ULX + 60, ULY), (ULX, ULY - 60)])
    assert not bowtie.is_valid
    clc = write_gpkg(tmp_path / "clc.gpkg", [bowtie, box(0, 60, 120, 120)], [312, 231])
    grid = tiny_grid()
    with caplog.at_level("INFO"):
        geometries, codes = read_tile_polygons(open_clc(clc), grid)
    assert shapely.is_valid(geometries).all() and "repaired 1 invalid" in caplog.text
    ref = rasterize_tile(geometries, codes, grid)
    assert ref[2, 0] == ref[3, 0] == ref[2, 5] == ref[3, 5] == 312  # west and east lobes
    assert ref[0, 2] == ref[0, 3] == ref[5, 2] == ref[5, 3] == 999  # north and south gaps
    assert (ref[6:, :] == 231).all()


# ------------------------------------------------------------------ bad input: one clear line each


def test_missing_file(tmp_path):
    with pytest.raises(ClcError, match=r"^clc: .*nope.gpkg does not exist$"):
        open_clc(tmp_path / "nope.gpkg")


def test_layer_without_crs(tmp_path):
    clc = write_gpkg(tmp_path / "clc.gpkg", [box(0, 0, 60, 60)], [211], crs=None)
    with pytest.raises(ClcError, match="layer clc has no CRS"):
        open_clc(clc)


def test_missing_code_field(tmp_path):
    clc = write_gpkg(tmp_path / "clc.gpkg", [box(0, 0, 60, 60)], [211], field="CODE_12")
    with pytest.raises(ClcError, match=r"has no code field Code_18 or CODE_18 \(fields: CODE_12\); set clc.code_field"):
        open_clc(clc)
    assert open_clc(clc, code_field="CODE_12").code_field == "CODE_12"
    with pytest.raises(ClcError, match="no layer 'other'"):
        open_clc(clc, layer="other")


def test_code_outside_the_nomenclature_names_file_code_and_count(tmp_path):
    clc = write_gpkg(
        tmp_path / "clc.gpkg",
        [box(0, 0, 60, 60), box(60, 0, 120, 60), box(0, 60, 60, 120), box(60, 60, 120, 120)],
        [211, 990, 990, 995],
    )
    with pytest.raises(ClcError) as e:
        read_tile_polygons(open_clc(clc), tiny_grid())
    message = str(e.value)
    assert "\n" not in message and str(clc) in message
    assert "990 (2 polygons), 995 (1 polygons)" in message and "clc.recode" in message
    # The documented mapping of the older no-data codes.
    geometries, codes = read_tile_polygons(open_clc(clc), tiny_grid(), recode={990: 999, 995: 999})
    assert sorted(codes.tolist()) == [211, 999, 999, 999]
    clc2 = write_gpkg(tmp_path / "clc2.gpkg", [box(0, 0, 60, 60)], [2111])
    with pytest.raises(ClcError, match=r"codes not in the CLC nomenclature: 2111 \(1 polygons\)$"):
        read_tile_polygons(open_clc(clc2), tiny_grid())


def test_empty_intersection_gives_999_everywhere_and_no_label(tmp_path, caplog):
    clc = write_gpkg(tmp_path / "clc.gpkg", [box(5000, 0, 5060, 60)], [211])  # 5 km east of the tile
    with caplog.at_level("WARNING"):
        out, summary = run_job(tmp_path, clc)
    assert summary == {"polygons": 0, "patches": 4, "labelled": 0}
    assert "no CLC polygon" in caplog.text
    labels = pq.read_table(out / "labels.parquet").to_pandas()
    assert labels["unlabeled_fraction"].tolist() == [1.0] * 4 and not labels["labelled"].any()
    for _, value in iter_shard(out / "reference_maps_shard.parquet"):
        assert (decode(value)["Data"] == 999).all()


# ------------------------------------------------------------------ identity of the CLC input


def test_identity_is_the_version_or_a_cached_sha256(tmp_path):
    clc = hand_made(tmp_path / "clc.gpkg")
    cache = tmp_path / "cache" / "clc_sha256.json"
    assert clc_identity(clc, "v2020_20u1", cache) == "version:v2020_20u1"
    digest = hashlib.sha256(clc.read_bytes()).hexdigest()
    assert clc_identity(clc, None, cache) == f"sha256:{digest}"
    # A second parse reads the cache (a planted value proves the file is not hashed again)...
    entries = json.loads(cache.read_text())
    (key,) = entries
    cache.write_text(json.dumps({key: "planted"}))
    assert clc_identity(clc, None, cache) == "sha256:planted"
    # ...and touching the file hashes it again, to the same identity.
    os.utime(clc, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert clc_identity(clc, None, cache) == f"sha256:{digest}"
    with pytest.raises(ClcError, match="does not exist"):
        clc_identity(tmp_path / "none.gpkg", None, cache)


# ------------------------------------------------------------------ the workflow


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a snakemake dry run."""
    stats = output.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m.group(1) != "total"}


@pytest.mark.integration
def test_demo_reference_maps_and_labels(demo_run):
    tiles = sorted((demo_run / "results" / "tiles").iterdir())
    assert len(tiles) == 3
    total = labelled = 0
    for tile in tiles:
        grid = pq.read_table(tile / "grid.parquet", columns=["patch_id"]).column(0).to_pylist()
        labels = pq.read_table(tile / "labels.parquet").to_pandas()
        assert labels["patch_id"].tolist() == grid
        assert sorted(p.name for p in (tile / "reference_maps").iterdir() if p.name[0] != ".") == sorted(grid)
        keys = [k for k, _ in iter_shard(tile / "reference_maps_shard.parquet")]
        assert keys == [f"{p}_reference_map" for p in grid]
        total, labelled = total + len(labels), labelled + int(labels["labelled"].sum())
    assert 0.75 < labelled / total < 0.97  # mostly labelled, some patches dropped (town, sea edge)


@pytest.mark.integration
def test_new_clc_version_reruns_only_reference_maps_and_touch_reruns_nothing(demo_copy):
    import yaml

    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["clc"]["version"] = "synthetic-demo-2"
    changed = demo_copy / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    proc = run_snakemake(demo_copy, "--dry-run", configfile=changed)
    # Labels feed the selection, the dataset and what is made of it (LMDB, archives, manifest,
    # provenance, report), never the patch cutting, the splits, the countries or the S1 pairing.
    assert job_counts(proc.stdout + proc.stderr) == {
        "rasterize_reference_maps": 3,
        "select_patches": 3,
        "stage_tile_trees": 3,
        "assemble_dataset": 1,
        "encode_lmdb": 1,
        "archive_tree": 3,
        "write_dist_checksums": 1,
        "write_manifest": 1,
        "write_provenance": 1,
        "compute_band_statistics": 1,
        "write_report": 1,
        "write_dataset_card": 1,
        "check_dataset": 1,
        "all": 1,
    }
    # ...and a new L2A (inspect_tile rerun) is not upstream of the reference maps.
    proc = run_snakemake(demo_copy, "--dry-run", "--forcerun", "inspect_tile")
    assert "rasterize_reference_maps" not in job_counts(proc.stdout + proc.stderr)

    clc = demo_copy / config["clc"]["path"].replace("{results}", config["results"])
    later = time.time_ns() + 60 * 10**9
    os.utime(clc, ns=(later, later))
    proc = run_snakemake(demo_copy, "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr
