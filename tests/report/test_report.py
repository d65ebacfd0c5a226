"""The dataset report (reben.report, reben.bandstats): hand-made dataset tables with hand-computed
expectations, a render of the page in headless Chromium, and the report of a demo run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from small_dataset import (
    CHROMIUM,
    TILE,
    make_dataset,
    run_report,
)

from reben.bandstats import band_statistics
from reben.constants import S2_BAND_RESOLUTION, S2_BANDS
from reben.errors import ReportError
from reben.grid import TileGrid
from reben.report.page import lookup
from reben.report.stats import CLASSES_19, FUNNEL_COLUMNS, funnel_checks, nearest_train_distances, read_funnel


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    data = make_dataset(root)
    return root, data, run_report(root, data)


def pid(x: int, y: int) -> str:
    return f"{TILE}_{x}_{y}"


# ------------------------------------------------------------------ band statistics


def test_band_statistics_equal_numpy_on_the_train_geotiffs(built):
    import rasterio

    root, data, report = built
    ds = data["dataset"]
    stats = json.loads((root / "report" / "band_statistics.json").read_text())
    train = [pid(0, 0), pid(0, 1), pid(0, 2)]  # column x=0, all clean
    assert stats["patches"] == {"s2": 3, "s1": 3}
    assert stats["order"] == list(S2_BANDS) + ["VV", "VH"]
    for band in S2_BANDS:
        values = np.concatenate(
            [rasterio.open(ds / "BigEarthNet-S2" / TILE / p / f"{p}_{band}.tif").read(1).ravel() for p in train]
        ).astype("float64")
        got = stats["bands"][band]
        assert got["pixels"] == values.size == 3 * (1200 // S2_BAND_RESOLUTION[band]) ** 2
        assert got["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert got["std"] == pytest.approx(values.std(), rel=1e-10)
        assert (got["min"], got["max"]) == (values.min(), values.max())
        assert stats["mean"][stats["order"].index(band)] == got["mean"]
    for pol in ("VV", "VH"):
        values = np.concatenate(
            [
                rasterio.open(
                    ds
                    / "BigEarthNet-S1"
                    / "S1B_IW_GRDH_1SDV_20170612T165809"
                    / f"S1B_IW_GRDH_1SDV_20170612T165809_33UUP_0_{y}"
                    / f"S1B_IW_GRDH_1SDV_20170612T165809_33UUP_0_{y}_{pol}.tif"
                )
                .read(1)
                .ravel()
                for y in range(3)
            ]
        ).astype("float64")
        got = stats["bands"][pol]
        assert got["pixels"] == 3 * (120 * 120 - 3)  # the NaN pixels are left out
        assert got["mean"] == pytest.approx(np.nanmean(values), rel=1e-12)
        assert got["std"] == pytest.approx(np.nanstd(values), rel=1e-10)
        assert (got["min"], got["max"]) == (np.nanmin(values), np.nanmax(values))
    assert report["band_statistics"] == stats


def test_band_statistics_without_sentinel1_and_of_another_split(tmp_path):
    data = make_dataset(tmp_path, with_s1=False)
    meta = pd.read_parquet(data["dataset"] / "metadata.parquet")
    stats = band_statistics(meta, [data["s2_band_stats"]], None, split="test")
    assert stats["order"] == list(S2_BANDS)
    assert stats["patches"] == {"s2": 5, "s1": 0}  # (2,0..2), (3,0), (3,1); (3,2) is flagged
    assert stats["bands"]["B02"]["pixels"] == 5 * 120 * 120
    assert stats["bands"]["B02"]["max"] < 12000  # the dropped patches' 60000 are left out


def test_band_statistics_name_a_patch_missing_from_the_tile_tables(built, tmp_path):
    from reben.errors import BandStatisticsError

    _, data, _ = built
    meta = pd.read_parquet(data["dataset"] / "metadata.parquet")
    meta.loc[0, "patch_id"] = f"{TILE}_9_9"
    with pytest.raises(
        BandStatisticsError, match=rf"s2_band_stats.parquet of tile {TILE}: no row for patch {TILE}_9_9 of the metadata"
    ):
        band_statistics(meta, [data["s2_band_stats"]])


# ------------------------------------------------------------------ numbers


def test_funnel_and_its_checks(built):
    _, _, report = built
    assert report["funnel"]["TOTAL"] == {
        "grid_patches": 16,
        "product_quality": 0,
        "invalid": 2,
        "unlabeled": 1,
        "no_v1": 0,
        "no_s1": 1,
        "overlap": 0,
        "kept": 12,
        "flagged": 1,
        "clean": 11,
        "train": 3,
        "validation": 3,
        "test": 6,
    }
    assert list(report["funnel"]) == [TILE, "TOTAL"]
    # Every number adds up; only the train-coverage check fails: at the default minimum of 10
    # train patches, no class of this 12-patch dataset has enough (tests/report/test_verdict.py).
    failed = [c["setting"] for c in report["checks"] if not c["ok"]]
    assert failed == ["report.min_train_patches_per_class"]
    assert report["summary"] == {
        "tiles": 1,
        "patches": 11,
        "flagged_patches": 1,
        "kept_patches": 12,
        "checks_failed": 1,
        "checks_accepted": 0,
    }


def test_a_funnel_that_does_not_add_up_fails_its_checks(built):
    import geopandas as gpd

    _, data, _ = built
    ds = data["dataset"]
    funnel = read_funnel(ds / "funnel.csv")
    funnel.loc[TILE, "kept"] = 13  # one patch counted twice
    checks = {
        c["name"]: c
        for c in funnel_checks(
            funnel,
            gpd.read_parquet(ds / "patches.parquet"),
            pd.read_parquet(ds / "metadata.parquet"),
            pd.read_parquet(ds / "metadata_for_patches_with_snow_cloud_or_shadow.parquet"),
        )
    }
    bad = {name for name, c in checks.items() if not c["ok"]}
    assert bad == {
        "grid patches = product_quality + invalid + unlabeled + no_v1 + no_s1 + overlap + kept",
        "kept = flagged + clean",
        "kept = train + validation + test",
        "TOTAL row = sum of the tile rows",
        "funnel.csv = counts of the sidecar patches.parquet",
    }
    assert checks["kept = flagged + clean"]["detail"] == f"fails for {TILE}"
    assert checks["TOTAL row = sum of the tile rows"]["detail"] == "differs in kept"


def test_label_frequencies_cooccurrence_and_labels_per_patch(built):
    _, _, report = built
    freq = report["labels"]["frequencies"]
    assert list(freq) == list(CLASSES_19)
    assert freq["Arable land"] == {"train": 2, "validation": 2, "test": 3, "total": 7}
    assert freq["Pastures"] == {"train": 1, "validation": 2, "test": 1, "total": 4}
    assert freq["Coniferous forest"] == {"train": 1, "validation": 1, "test": 0, "total": 2}
    assert freq["Urban fabric"] == {"train": 0, "validation": 0, "test": 2, "total": 2}
    assert freq["Inland waters"]["total"] == 1
    assert freq["Marine waters"] == {"train": 0, "validation": 0, "test": 1, "total": 1}  # the flagged patch
    assert sum(f["total"] for f in freq.values()) == 17
    co = report["labels"]["cooccurrence"]
    assert co["Arable land"]["Pastures"] == co["Pastures"]["Arable land"] == 3
    assert co["Arable land"]["Coniferous forest"] == 1
    assert co["Urban fabric"]["Inland waters"] == 1
    assert co["Arable land"]["Arable land"] == 7
    per_patch = report["labels"]["labels_per_patch"]
    assert per_patch["1"] == {"train": 2, "validation": 2, "test": 4, "total": 8}
    assert per_patch["2"] == {"train": 1, "validation": 0, "test": 2, "total": 3}
    assert per_patch["3"] == {"train": 0, "validation": 1, "test": 0, "total": 1}
    assert per_patch["0"]["total"] == 0


def test_countries_by_split(built):
    _, _, report = built
    assert report["countries"] == {
        "Austria": {"train": 3, "validation": 3, "test": 3, "total": 9},
        "Slovenia": {"train": 0, "validation": 0, "test": 3, "total": 3},
    }


def test_leakage_distances_between_footprints_in_metres(built):
    root, _, report = built
    # validation column x=1 touches the train column x=0; test x=2 is 1200 m away, x=3 2400 m.
    assert report["leakage"]["validation"] == {"patches": 3, "min_m": 0.0, "median_m": 0.0, "max_m": 0.0, "touching": 3}
    test = report["leakage"]["test"]
    assert test["patches"] == 6  # every kept test patch, the flagged (3, 2) too
    assert test["min_m"] == pytest.approx(1200, abs=1e-3)
    assert test["median_m"] == pytest.approx(1800, abs=1e-3)  # 1200 x3, 2400 x3
    assert test["max_m"] == pytest.approx(2400, abs=1e-3)
    assert test["touching"] == 0
    table = pd.read_csv(root / "report" / "tables" / "leakage.csv", keep_default_na=False).set_index("patch_id")
    # the three train patches are all 2400 m from (3, 1): edge to edge, corners count
    assert table.loc[pid(3, 1), "nearest_train_patch_id"] in {pid(0, 0), pid(0, 1), pid(0, 2)}
    assert table.loc[pid(3, 1), "distance_m"] == pytest.approx(2400, abs=1e-3)


def test_leakage_without_train_patches_gives_no_distance():
    import geopandas as gpd
    import shapely

    kept = gpd.GeoDataFrame(
        {"patch_id": ["a", "b"], "split": ["test", "validation"], "epsg": [32633, 32633]},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3, 1)],
        crs=32633,
    )
    distances = nearest_train_distances(kept)
    assert distances["distance_m"].isna().all()
    assert list(distances["patch_id"]) == ["a", "b"]


def test_examples_take_the_patch_where_the_class_covers_most(built):
    root, _, report = built
    ex = report["examples"]
    assert ex["Arable land"]["patch_id"] == pid(0, 0)  # alone on (0,0), (1,0), (2,1), (3,0): smallest id
    assert ex["Urban fabric"]["patch_id"] == pid(2, 0)  # alone there, half of (2, 2)
    assert ex["Pastures"]["patch_id"] == pid(1, 1)
    assert ex["Marine waters"]["patch_id"] == pid(3, 2)  # flagged, but a kept patch
    assert ex["Inland waters"]["patch_id"] == pid(2, 2)
    assert ex["Broad-leaved forest"]["patch_id"] is None
    assert ex["Broad-leaved forest"]["figure"] is None
    for e in ex.values():
        if e["patch_id"]:
            assert (root / "report" / e["figure"]).stat().st_size > 1000


def test_tables_and_figures_beside_the_page(built):
    root, _, report = built
    out = root / "report"
    assert sorted(p.name for p in (out / "tables").iterdir()) == sorted(
        [
            "funnel.csv",
            "label_frequencies.csv",
            "label_cooccurrence.csv",
            "labels_per_patch.csv",
            "countries_by_split.csv",
            "leakage.csv",
            "overlaps.csv",
            "tiles.csv",
        ]
    )
    freq = pd.read_csv(out / "tables" / "label_frequencies.csv", index_col="class")
    assert freq.loc["Arable land", "total"] == 7
    funnel = pd.read_csv(out / "tables" / "funnel.csv", index_col=0)
    assert list(funnel.columns) == list(FUNNEL_COLUMNS)
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {"map.png", "label_frequencies.png", "label_cooccurrence.png"} <= figures
    assert len([f for f in figures if f.startswith("example_")]) == 6  # six classes occur in the kept patches
    assert "s1_time_gaps.png" in figures
    assert json.loads((out / "report.json").read_text()) == report
    assert not list(root.glob("report/*.tmp"))


def test_a_sidecar_without_a_needed_column_is_named(tmp_path):
    import geopandas as gpd

    data = make_dataset(tmp_path, with_s1=False)
    path = data["dataset"] / "patches.parquet"
    gpd.read_parquet(path).drop(columns="drop_reason").to_parquet(path)
    with pytest.raises(ReportError, match=r"patches\.parquet: no column drop_reason"):
        run_report(tmp_path, data)


def test_borders_in_another_crs_are_read_around_the_patches(built, tmp_path):
    import geopandas as gpd

    from reben.report.figures import read_borders_near

    _, data, _ = built
    far = gpd.GeoDataFrame({"NAME": ["Faraway"]}, crs=4326, geometry=[gpd.points_from_xy([-60], [-10])[0].buffer(1)])
    borders = pd.concat([gpd.read_file(data["borders"]), far]).to_crs(3035)
    borders.to_file(tmp_path / "borders_3035.gpkg")
    kept = gpd.read_parquet(data["dataset"] / "patches.parquet")
    near = read_borders_near(tmp_path / "borders_3035.gpkg", kept)
    assert sorted(near["NAME"]) == ["Austria", "Slovenia"]
    assert near.crs.to_epsg() == 4326


# ------------------------------------------------------------------ the page in a browser


# Marks the page once everything has loaded: how many images failed to decode.
PROBE = """<script>
window.addEventListener("load", () => {
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0);
  document.body.setAttribute("data-images", String(document.images.length));
  document.body.setAttribute("data-broken-images", String(broken.length));
  const edge = document.body.getBoundingClientRect().right + 1;
  const wide = [...document.querySelectorAll("table")].filter(t => t.getBoundingClientRect().right > edge);
  document.body.setAttribute("data-tables-past-edge", String(wide.length));
  const sections = [...document.querySelectorAll("h2")].filter(h => {
    let n = h.nextElementSibling; return !(n && n.classList.contains("patch-set")); });
  document.body.setAttribute("data-sections-without-patch-set", sections.map(h => h.id).join(","));
});
</script>"""


class _Cells(HTMLParser):
    """The data-key cells of a page, their text and decimals, and the body's probe attributes."""

    def __init__(self):
        super().__init__()
        self.cells, self.body, self._open = [], {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        if "data-key" in attrs:
            self._open = [attrs["data-key"], int(attrs["data-decimals"]), ""]
            self._tag = tag

    def handle_data(self, data):
        if self._open is not None:
            self._open[2] += data

    def handle_endtag(self, tag):
        if self._open is not None and tag == self._tag:
            self.cells.append(tuple(self._open))
            self._open = None


def render_in_chromium(report_dir: Path, tmp_path: Path) -> str:
    """The DOM of the report page (with the probe script added) after headless Chromium loaded it."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium package to render the report")
    page = tmp_path / "page"
    shutil.copytree(report_dir, page)
    html = (page / "index.html").read_text()
    (page / "index.html").write_text(html.replace("</body>", PROBE + "</body>"))
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    proc = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--window-size=1280,900",
            "--dump-dom",
            (page / "index.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def check_rendered_page(dom: str, report: dict) -> int:
    """No broken image, and every number in the page equals report.json's; returns the count."""
    cells = _Cells()
    cells.feed(dom)
    assert cells.body.get("data-broken-images") == "0", f"broken images: {cells.body}"
    assert int(cells.body["data-images"]) >= 4  # label frequencies, co-occurrence, map, S1 time gap
    assert cells.body.get("data-tables-past-edge") == "0", "a table runs past the page's edge"
    assert cells.body.get("data-sections-without-patch-set") in ("", "provenance"), cells.body
    for key, decimals, text in cells.cells:
        value = lookup(report, key)
        if value is None:
            assert text == "n/a", key
        else:
            shown = float(re.sub(r"[,\s]", "", text))
            assert shown == pytest.approx(round(value, decimals), abs=10**-decimals / 2), key
    return len(cells.cells)


def test_the_page_renders_in_chromium_with_its_numbers_and_images(built, tmp_path):
    root, _, report = built
    dom = render_in_chromium(root / "report", tmp_path)
    assert check_rendered_page(dom, report) > 100
    assert "Arable land" in dom and "T33UUP_0_0" in dom


# ------------------------------------------------------------------ a demo run


@pytest.mark.integration
def test_report_of_a_demo_run(demo_run, tmp_path):
    import geopandas as gpd
    import rasterio

    ds, out = demo_run / "results" / "dataset", demo_run / "results" / "report"
    report = json.loads((out / "report.json").read_text())
    assert [c for c in report["checks"] if not c["ok"]] == []
    funnel = pd.read_csv(ds / "funnel.csv", index_col=0)
    tiles = funnel.drop(index="TOTAL")
    assert (tiles.sum() == funnel.loc["TOTAL"]).all()
    assert (
        funnel["grid_patches"] == funnel[["product_quality", "invalid", "unlabeled", "no_s1", "kept"]].sum(axis=1)
    ).all()
    assert (funnel["kept"] == funnel["flagged"] + funnel["clean"]).all()
    assert (funnel["kept"] == funnel[["train", "validation", "test"]].sum(axis=1)).all()
    assert report["funnel"]["TOTAL"] == {k: int(v) for k, v in funnel.loc["TOTAL"].items()}
    sidecar = gpd.read_parquet(ds / "patches.parquet")
    assert funnel.loc["TOTAL", "grid_patches"] == len(sidecar)

    # The demo's report counts the kept patches: both metadata files.
    meta = pd.concat(
        [
            pd.read_parquet(ds / "metadata.parquet"),
            pd.read_parquet(ds / "metadata_for_patches_with_snow_cloud_or_shadow.parquet"),
        ],
        ignore_index=True,
    )
    assert report["patch_set"]["patches"] == len(meta) == funnel.loc["TOTAL", "kept"]
    assert (
        report["splits"]["test"]["patches"]
        == funnel.loc["TOTAL", "test"]
        == sum(c["test"] for c in report["countries"].values())
    )
    overlap = report["leakage"]["overlaps"]["test_vs_train"]
    assert (overlap["overlapping"], overlap["patches"]) == (18, 66)  # accepted by the demo config
    counts = meta["labels"].explode().dropna().value_counts()
    freq = report["labels"]["frequencies"]
    assert {c: f["total"] for c, f in freq.items() if f["total"]} == counts.to_dict()
    for split in ("train", "validation", "test"):
        part = meta.loc[meta["split"] == split, "labels"].explode().dropna().value_counts()
        assert {c: f[split] for c, f in freq.items() if f[split]} == part.to_dict()

    stats = json.loads((out / "band_statistics.json").read_text())
    train = meta.loc[meta["split"] == "train", "patch_id"]
    assert stats["patches"]["s2"] == len(train) > 0
    # Merged from the tiles' per-patch tables: equal to numpy over the train GeoTIFFs.
    s1_train = [n for n in meta.loc[meta["split"] == "train", "s1_name"] if n]
    assert stats["patches"]["s1"] == len(s1_train) > 0
    files = {
        band: [ds / "BigEarthNet-S2" / p.rsplit("_", 2)[0] / p / f"{p}_{band}.tif" for p in train] for band in S2_BANDS
    }
    for pol in ("VV", "VH"):
        files[pol] = [ds / "BigEarthNet-S1" / "_".join(n.split("_")[:5]) / n / f"{n}_{pol}.tif" for n in s1_train]
    for band, paths in files.items():
        values = np.concatenate([rasterio.open(path).read(1).ravel() for path in paths]).astype("float64")
        got = stats["bands"][band]
        assert got["pixels"] == values.size, band
        assert got["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert got["std"] == pytest.approx(values.std(), rel=1e-10)
        assert (got["min"], got["max"]) == (values.min(), values.max())

    dom = render_in_chromium(out, tmp_path)
    assert check_rendered_page(dom, report) > 50


# ------------------------------------------------------------------ new report content


def test_report_content_a_dataset_paper_shows(built):
    root, _, report = built
    assert report["patch_set"] == {"name": "kept", "description": report["patch_set"]["description"], "patches": 12}
    assert report["splits"]["test"] == {"patches": 6, "share_pct": 50.0}
    assert report["splits"]["train"]["share_pct"] == 25.0
    balance = report["labels"]["balance"]
    assert balance["most_frequent"] == "Arable land" and balance["imbalance_ratio"] == 7.0  # 7 over 1
    assert balance["share_pct"]["Pastures"] == pytest.approx(100 * 4 / 12)
    assert report["flags"] == {"cloud_or_shadow_only": 1, "snow_only": 0, "both": 0, "neither": 11}
    tile = report["tiles"][TILE]
    assert (tile["date"], tile["season"], tile["processing_baseline"]) == ("2017-06-13", "Summer", "99.99")
    assert (tile["invalid"], tile["kept"], tile["epsg"]) == (2, 12, 32633)
    assert report["s1_time_gaps"]["patches"] == 0  # the hand-made sidecar has no S1 gap column
    assert report["sizes"]["dist"]["BigEarthNet-S2.tar.zst"]["bytes"] == 1500
    # 11 clean + 1 flagged patches of 12 S2 files, and 12 reference maps
    assert report["sizes"]["trees"]["BigEarthNet-S2"]["files"] == 12 * 12
    assert report["sizes"]["trees"]["Reference_Maps"]["files"] == 12
    import hashlib

    assert report["provenance"]["config_sha256"] == hashlib.sha256(b'{"a":[1,2],"b":1}').hexdigest()
    assert report["provenance"]["input_files"]["clc"]["sha256"] == "ab" * 32
    assert report["examples"]["Urban fabric"]["colour"] == "#e6004d"  # CLC 111 = 230, 0, 77
    assert report["examples"]["Arable land"]["colour"] == "#ffffa8"  # CLC 211 = 255, 255, 168
    html = (root / "report" / "index.html").read_text()
    for element in (
        'id="tile-table"',
        'id="split-shares"',
        'id="flag-breakdown"',
        'id="s1-gap-histogram"',
        'id="provenance-table"',
        'id="size-table"',
        'id="overlaps"',
        'data-colour="#e6004d"',
        'data-key="labels/balance/imbalance_ratio"',
    ):
        assert element in html, element
    assert 'class="wide"' not in html
    assert "invalid 2, unlabeled 1, no_s1 1" in html  # the tile table's drop reasons


def test_the_clean_patch_set_counts_metadata_parquet_only(tmp_path):
    data = make_dataset(tmp_path)
    report = run_report(tmp_path, data, patch_set="clean")
    assert report["patch_set"]["patches"] == 11
    assert report["labels"]["frequencies"]["Marine waters"]["total"] == 0  # only on the flagged patch
    assert report["leakage"]["test"]["patches"] == 5


def test_tree_sizes_come_from_the_archive_summaries_and_equal_a_walk(tmp_path):
    """The report takes a tree's files and bytes from archive_tree's summary instead of walking
    millions of files again; they are the walk's numbers. A summary without them (written
    before they were recorded) falls back to the walk."""
    from reben.distribution.archives import write_tar_zst
    from reben.io import write_json
    from reben.report.stats import dataset_sizes, folder_bytes

    tree = tmp_path / "BigEarthNet-S2"
    for i, size in enumerate((0, 1, 511, 512, 70_000)):
        (tree / f"T{i % 2}" / f"p{i}").mkdir(parents=True)
        (tree / f"T{i % 2}" / f"p{i}" / f"p{i}_B01.tif").write_bytes(b"x" * size)
    (tree / ".snakemake_timestamp").write_bytes(b"bookkeeping")
    summary = write_tar_zst(tree, tmp_path / "BigEarthNet-S2.tar.zst", level=1)
    write_json(summary, tmp_path / "s2.json")
    walked = folder_bytes(tree)
    assert walked == (5, 71_024)
    assert (summary["members"], summary["file_bytes"]) == walked
    (tree / "T0" / "p0" / "p0_B01.tif").write_bytes(b"changed after the archive")
    from_summary = dataset_sizes({"BigEarthNet-S2": tree}, [], [tmp_path / "s2.json"])["trees"]["BigEarthNet-S2"]
    assert (from_summary["files"], from_summary["bytes"]) == walked  # the summary, not a walk
    del summary["file_bytes"]
    write_json(summary, tmp_path / "old.json")
    old = dataset_sizes({"BigEarthNet-S2": tree}, [], [tmp_path / "old.json"])["trees"]["BigEarthNet-S2"]
    assert old["bytes"] == walked[1] + len(b"changed after the archive")


def test_tile_outlines_are_the_union_of_the_grid_footprints():
    import geopandas as gpd
    import shapely

    from reben.report.stats import tile_outlines

    grid = TileGrid("S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP", 32633, 300000.0, 5400000.0, 12000.0, 12000.0)
    frame = grid.to_frame().to_crs(4326)
    frame["tile_key"] = grid.tile_key
    outline = tile_outlines(gpd.GeoDataFrame(frame, crs=4326))[grid.tile_key]
    union = shapely.union_all(shapely.set_precision(frame.geometry.to_numpy(), 1e-7))
    assert shapely.normalize(outline).equals_exact(shapely.normalize(union), 0)
    assert outline.geom_type == "Polygon" and outline.bounds == union.bounds
