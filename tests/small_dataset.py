"""A small built dataset (one tile, 4 x 4 patches, with or without Sentinel-1) written straight
into the dataset layout, and the report built on it: shared by the report and dataset-card tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import REPO

from reben.bandstats import S1StatsRows, s2_block_stats, s2_stats_table, write_band_statistics
from reben.constants import S2_BAND_RESOLUTION, S2_BANDS
from reben.geotiff import write_geotiff
from reben.grid import TileGrid
from reben.labels.classes import class_table
from reben.report.build import build_report
from reben.report.stats import CLASSES_19

TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
CHROMIUM = Path("/usr/bin/chromium")
TEMPLATE = REPO / "resources" / "report" / "index.html.j2"

# A 4 x 4 grid (1200 m patches) at T33UUP's corner. Row y=3 is dropped (one reason each),
# column x=0 is train, x=1 validation, x=2 and x=3 test; (3, 2) is kept but cloudy.
DROPPED = {(0, 3): "invalid", (1, 3): "invalid", (2, 3): "unlabeled", (3, 3): "no_s1"}
LABELS = {
    (0, 0): ["Arable land"],
    (0, 1): ["Arable land", "Pastures"],
    (0, 2): ["Coniferous forest"],
    (1, 0): ["Arable land"],
    (1, 1): ["Pastures"],
    (1, 2): ["Arable land", "Coniferous forest", "Pastures"],
    (2, 0): ["Urban fabric"],
    (2, 1): ["Arable land"],
    (2, 2): ["Inland waters", "Urban fabric"],
    (3, 0): ["Arable land"],
    (3, 1): ["Arable land", "Pastures"],
    (3, 2): ["Marine waters"],
}
CLOUDY = {(3, 2)}


def split_of(x: int) -> str:
    return ["train", "validation", "test", "test"][x]


def country_of(x: int) -> str:
    return "Slovenia" if x == 3 else "Austria"


def reference_map(labels: list[str]) -> np.ndarray:
    """Equal vertical stripes, one per label, of the label's first CLC code."""
    table = class_table()
    codes = [min(code for code, cls in table.code_class.items() if cls == name) for name in labels]
    stripes = np.array_split(np.arange(120), len(codes))
    out = np.zeros((120, 120), dtype="uint16")
    for code, cols in zip(codes, stripes):
        out[:, cols] = code
    return out


def make_dataset(root: Path, with_s1: bool = True) -> dict:
    """A tiny dataset in results/dataset/ layout, with the tables the dataset stage writes, and
    the tile's per-patch band statistics (also of two patches cut but dropped later, whose
    constant pixels would show in the statistics if they were counted)."""
    import geopandas as gpd
    import shapely

    grid = TileGrid(TILE, 32633, 300000.0, 5400000.0, 4800.0, 4800.0)
    ds = root / "dataset"
    rng = np.random.default_rng(9)
    frame = grid.to_frame()
    rows = []
    s2_ids, s2_stats, s1_stats = [], {band: [] for band in S2_BANDS}, S1StatsRows()
    for i, (x, y, pid) in enumerate(zip(frame["x"], frame["y"], frame["patch_id"])):
        x, y = int(x), int(y)
        reason = DROPPED.get((x, y), "")
        labels = LABELS.get((x, y), [])
        s1_name = f"S1B_IW_GRDH_1SDV_20170612T165809_33UUP_{x}_{y}" if with_s1 and reason != "no_s1" else ""
        fractions = {f"fraction_{c}": np.float32(labels.count(c) / len(labels) if labels else 0) for c in CLASSES_19}
        if len(labels) == 3:  # stripes of 40 px each
            fractions = {k: np.float32(1 / 3 if v else 0) for k, v in fractions.items()}
        rows.append(
            {
                "patch_id": pid,
                "tile_key": TILE,
                "x": x,
                "y": y,
                "epsg": 32633,
                "split": split_of(x),
                "country": country_of(x),
                "labels": labels,
                "s1_name": s1_name,
                "drop_reason": reason,
                "contains_cloud_or_shadow": (x, y) in CLOUDY,
                "contains_seasonal_snow": False,
                **fractions,
            }
        )
        if reason in ("unlabeled", "no_s1"):  # cut, then dropped by the selection
            s2_ids.append(pid)
            for band in S2_BANDS:
                n = 1200 // S2_BAND_RESOLUTION[band]
                s2_stats[band].append(s2_block_stats(np.full((1, n, 1, n), 60000, dtype="uint16")))
            if s1_name:
                s1_stats.add_patch(pid, s1_name, {pol: np.full((120, 120), 30, "float32") for pol in ("VV", "VH")})
        if reason:
            continue
        left, _, _, top = grid.patch_bounds(x, y)
        s2_ids.append(pid)
        folder = ds / "BigEarthNet-S2" / TILE / pid
        folder.mkdir(parents=True)
        for band in S2_BANDS:
            res = S2_BAND_RESOLUTION[band]
            n = 1200 // res
            values = rng.integers(1, 12000, (n, n), dtype="uint16")
            write_geotiff(folder / f"{pid}_{band}.tif", values, grid.crs, left, top, res, nodata=0)
            s2_stats[band].append(s2_block_stats(values[None, :, None, :]))
        folder = ds / "Reference_Maps" / TILE / pid
        folder.mkdir(parents=True)
        write_geotiff(folder / f"{pid}_reference_map.tif", reference_map(labels), grid.crs, left, top, 10, nodata=0)
        if s1_name:
            folder = ds / "BigEarthNet-S1" / "S1B_IW_GRDH_1SDV_20170612T165809" / s1_name
            folder.mkdir(parents=True)
            tensors = {}
            for pol in ("VV", "VH"):
                values = rng.normal(-12, 4, (120, 120)).astype("float32")
                values[0, :3] = np.nan  # a few pixels without backscatter
                write_geotiff(folder / f"{s1_name}_{pol}.tif", values, grid.crs, left, top, 10)
                tensors[pol] = values
            s1_stats.add_patch(pid, s1_name, tensors)
    tile_dir = root / "tiles" / TILE
    tile_dir.mkdir(parents=True)
    merged = {
        band: {k: np.concatenate([s[k].ravel() for s in parts]) for k in parts[0]} for band, parts in s2_stats.items()
    }
    s2_stats_table(s2_ids, merged).to_parquet(tile_dir / "s2_band_stats.parquet", index=False)
    if with_s1:
        s1_stats.write(tile_dir / "s1_band_stats.parquet")
    sidecar = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=frame.geometry.values, crs=grid.crs).to_crs(4326)
    sidecar.to_parquet(ds / "patches.parquet", index=False)

    kept = sidecar[sidecar["drop_reason"] == ""]
    columns = ["patch_id", "labels", "split", "country", "s1_name"]
    meta = pd.DataFrame(kept[columns]).assign(
        s2v1_name="",
        contains_seasonal_snow=kept["contains_seasonal_snow"],
        contains_cloud_or_shadow=kept["contains_cloud_or_shadow"],
    )
    flagged = meta["contains_cloud_or_shadow"] | meta["contains_seasonal_snow"]
    meta[~flagged].sort_values("patch_id").to_parquet(ds / "metadata.parquet", index=False)
    meta[flagged].sort_values("patch_id").to_parquet(
        ds / "metadata_for_patches_with_snow_cloud_or_shadow.parquet", index=False
    )

    funnel = pd.DataFrame(
        [
            {
                "tile_key": TILE,
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
        ]
    )
    funnel = pd.concat([funnel, funnel.assign(tile_key="TOTAL")])
    funnel.to_csv(ds / "funnel.csv", index=False)

    borders = gpd.GeoDataFrame(
        {"NAME": ["Austria", "Slovenia"]},
        crs=4326,
        geometry=[shapely.box(12.0, 48.0, 12.3, 48.9), shapely.box(12.3, 48.0, 13.0, 48.9)],
    )
    borders.to_file(root / "borders.gpkg")
    tile_json = root / "tile.json"
    tile_json.write_text(
        json.dumps(
            {
                "tile_key": TILE,
                "sensing_time": "2017-06-13T10:10:31Z",
                "season": "Summer",
                "processing_baseline": "99.99",
                "excluded": False,
                "excluded_reason": None,
            }
        )
    )
    provenance = root / "PROVENANCE.json"
    provenance.write_text(
        json.dumps(
            {
                "config": {"b": 1, "a": [1, 2]},
                "software": {"numpy": "2.4.6"},
                "inputs": {"sentinel2_products": [TILE], "clc": {"name": "clc.gpkg", "size": 10, "sha256": "ab" * 32}},
                "workflow": {"commit": "c0ffee", "dirty": False},
                "outputs": {"MANIFEST.sha256": "cd" * 32},
            }
        )
    )
    dist = root / "dist"
    dist.mkdir()
    (dist / "BigEarthNet-S2.tar.zst").write_bytes(b"x" * 1500)
    return {
        "dataset": ds,
        "s2_band_stats": tile_dir / "s2_band_stats.parquet",
        "s1_band_stats": tile_dir / "s1_band_stats.parquet" if with_s1 else None,
        "borders": root / "borders.gpkg",
        "grid": grid,
        "tile_json": tile_json,
        "provenance": provenance,
        "dist": [dist / "BigEarthNet-S2.tar.zst"],
    }


def run_report(root: Path, data: dict, band_stats: Path | None = None, **options) -> dict:
    ds = data["dataset"]
    out = root / "report"
    out.mkdir(exist_ok=True)
    if band_stats is None:
        band_stats = out / "band_statistics.json"
        write_band_statistics(ds / "metadata.parquet", data["s2_band_stats"], band_stats, data["s1_band_stats"])
    return build_report(
        metadata_path=ds / "metadata.parquet",
        flagged_path=ds / "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
        sidecar_path=ds / "patches.parquet",
        funnel_path=ds / "funnel.csv",
        band_statistics_path=band_stats,
        borders_path=data["borders"],
        s2_dir=ds / "BigEarthNet-S2",
        refmap_dir=ds / "Reference_Maps",
        template_path=TEMPLATE,
        html_path=out / "index.html",
        json_path=out / "report.json",
        tables_dir=out / "tables",
        figures_dir=out / "figures",
        name_field="NAME",
        tiles=[data["tile_json"]],
        provenance_path=data["provenance"],
        trees={"BigEarthNet-S2": ds / "BigEarthNet-S2", "Reference_Maps": ds / "Reference_Maps"},
        dist_files=data["dist"],
        **options,
    )
