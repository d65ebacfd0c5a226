"""The dataset in the BigEarthNet v1.0 / BigEarthNet-MM folder layout (rule export_v1, optional).

For code and readers written for BigEarthNet v1 (torchgeo's `BigEarthNet`, bigearthnet-common):

    <out>/BigEarthNet-v1.0/<name>/<name>_B01.tif ... _B12.tif, <name>_labels_metadata.json
    <out>/BigEarthNet-S1-v1.0/<s1_name>/<s1_name>_VV.tif, _VH.tif, <s1_name>_labels_metadata.json
    <out>/bigearthnet-train.csv, bigearthnet-val.csv, bigearthnet-test.csv   (`<name>,<s1_name>`)
    <out>/patches_with_seasonal_snow.csv, patches_with_cloud_and_shadow.csv  (`<name>`)

Every kept patch of the dataset gets its folders (as v1 held its snow and cloud patches too);
the split files list the patches without a flag, as BigEarthNet-MM's split files did, and the
two lists name the flagged ones, as v1 shipped them. Band files are hard links to the
dataset's files (copies where the file system refuses links); the tree is built in
`<out>.tmp` and renamed when complete.

`<name>` is the patch's `s2v1_name` where it has one and else its `patch_id` (or always its
`patch_id`, with folder_names="patch_id"): v1 names leave out the tile, so a v1-style name of a
patch without a v1 counterpart would not be unique across tiles of one datatake.

The JSON files hold exactly the fields of the v1 files, in their order and formats (checked
against the v1 examples that bigearthnet-common ships): S2 `labels`, `coordinates` {ulx, uly,
lrx, lry}, `projection` (WKT1 as GDAL 2 wrote it), `tile_source` (`<product>.SAFE`),
`acquisition_date` (`2017-06-13 10:10:31`); S1 `labels`, `coordinates` {ulx, uly, lrx, lly}
(v1's own key), `projection`, `corresponding_s2_patch`, `scene_source`, `acquisition_time`
(`2017-06-13T16:50:43`). Labels are listed in nomenclature order, as in v1.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import pandas as pd

from reben.constants import S1_POLARISATIONS, S2_BANDS
from reben.errors import ExportError
from reben.grid import read_grid_json
from reben.io import Linker, staged_dir
from reben.logs import Progress
from reben.names import parse_product_name
from reben.sentinel1.products import parse_s1_name, s1_product_of

LOG = logging.getLogger("reben.distribution.v1_export")

S2_DIR = "BigEarthNet-v1.0"
S1_DIR = "BigEarthNet-S1-v1.0"
SPLIT_FILES = {"train": "bigearthnet-train.csv", "validation": "bigearthnet-val.csv", "test": "bigearthnet-test.csv"}
SNOW_LIST = "patches_with_seasonal_snow.csv"
CLOUD_LIST = "patches_with_cloud_and_shadow.csv"
FOLDER_NAMES = ("s2v1_name", "patch_id")
METADATA_SUFFIX = "_labels_metadata.json"


def v1_wkt(epsg: int) -> str:
    """The CRS as the v1 files spell it: GDAL's WKT1 with the axes of the geographic CRS, which
    GDAL 2 wrote and GDAL 3 leaves out (`AXIS["Latitude",NORTH],AXIS["Longitude",EAST]`)."""
    from rasterio.crs import CRS

    wkt = CRS.from_epsg(epsg).to_wkt()
    geogcs_end = 'AUTHORITY["EPSG","4326"]],'
    if geogcs_end in wkt and 'AXIS["Latitude"' not in wkt:
        wkt = wkt.replace(geogcs_end, 'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],' + geogcs_end, 1)
    return wkt


@lru_cache(maxsize=1)
def _nomenclature_rank() -> dict[str, int]:
    from bigearthnet_common.constants import NEW_LABELS_ORIGINAL_ORDER, OLD_LABELS_ORIGINAL_ORDER

    rank = {name: i for i, name in enumerate(OLD_LABELS_ORIGINAL_ORDER)}
    rank.update({name: 100 + i for i, name in enumerate(NEW_LABELS_ORIGINAL_ORDER) if name not in rank})
    return rank


def v1_label_order(labels) -> list[str]:
    """Labels in nomenclature order, as the v1 files list them (43-class CLC order, or the
    19-class order for 19-class names); names of neither keep their order, at the end."""
    rank = _nomenclature_rank()
    labels = list(labels)
    return sorted(labels, key=lambda name: (rank.get(name, 1000), labels.index(name)))


def _coordinates(bounds, bottom_key: str) -> dict:
    left, bottom, right, top = bounds
    return {"ulx": int(round(left)), "uly": int(round(top)), "lrx": int(round(right)), bottom_key: int(round(bottom))}


def s2_metadata(labels, bounds, wkt: str, tile_source: str, sensing: datetime) -> dict:
    """The fields of a v1 S2 `_labels_metadata.json`, in v1's order."""
    return {
        "labels": v1_label_order(labels),
        "coordinates": _coordinates(bounds, "lry"),
        "projection": wkt,
        "tile_source": tile_source,
        "acquisition_date": sensing.strftime("%Y-%m-%d %H:%M:%S"),
    }


def s1_metadata(labels, bounds, wkt: str, s2_patch: str, scene_source: str) -> dict:
    """The fields of a v1 S1 `_labels_metadata.json`, in v1's order (v1 names the bottom `lly`)."""
    acquired = parse_s1_name(scene_source).acquisition_time
    return {
        "labels": v1_label_order(labels),
        "coordinates": _coordinates(bounds, "lly"),
        "projection": wkt,
        "corresponding_s2_patch": s2_patch,
        "scene_source": scene_source,
        "acquisition_time": acquired.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _write_json(obj: dict, path: Path) -> None:
    # v1's bytes: json.dumps with its default separators, no newline at the end.
    path.write_text(json.dumps(obj))


def folder_names(kept: pd.DataFrame, naming: str) -> pd.Series:
    """The v1 folder name of each kept patch: its s2v1_name (else its patch_id), or its patch_id."""
    if naming not in FOLDER_NAMES:
        raise ExportError(f"config: export_v1.folder_names: {naming!r} is not one of {FOLDER_NAMES}")
    names = kept["patch_id"].astype(str)
    if naming == "s2v1_name" and "s2v1_name" in kept:
        v1 = kept["s2v1_name"].fillna("").astype(str)
        names = v1.where(v1 != "", names)
    duplicated = names[names.duplicated()]
    if len(duplicated):
        raise ExportError(
            f"export_v1: {len(duplicated)} patches share a folder name (e.g. "
            f"{duplicated.iloc[0]}); set export_v1.folder_names: patch_id"
        )
    return names


SIDECAR_COLUMNS = (
    "patch_id",
    "tile_key",
    "x",
    "y",
    "drop_reason",
    "split",
    "s1_name",
    "s2v1_name",
    "contains_seasonal_snow",
    "contains_cloud_or_shadow",
)


def read_kept(sidecar, labels_column: str) -> pd.DataFrame:
    """The kept patches of the sidecar (only the columns the export needs), sorted by patch_id."""
    import pyarrow.parquet as pq

    columns = pq.read_schema(sidecar).names
    if labels_column not in columns:
        raise ExportError(
            f"{sidecar}: no column {labels_column!r} (export_v1.labels_column); "
            f"label columns there: {', '.join(c for c in columns if 'label' in c)}"
        )
    missing = [c for c in SIDECAR_COLUMNS if c not in columns and c != "s2v1_name"]
    if missing:
        raise ExportError(f"{sidecar}: no column {missing[0]!r}; rebuild the dataset")
    patches = pd.read_parquet(sidecar, columns=[c for c in (*SIDECAR_COLUMNS, labels_column) if c in columns])
    kept = patches[patches["drop_reason"] == ""].sort_values("patch_id").reset_index(drop=True)
    kept["s1_name"] = kept["s1_name"].fillna("")
    return kept.rename(columns={labels_column: "export_labels"})


class _PatchWriter:
    """Writes the S2 (and S1) folder of one patch into the export being built."""

    def __init__(self, tmp: Path, s2_tree, s1_tree, grids: dict, tile_sources: dict, s1_scenes: dict):
        self.tmp, self.s2_tree, self.s1_tree = tmp, Path(s2_tree), s1_tree and Path(s1_tree)
        self.grids, self.tile_sources, self.s1_scenes = grids, tile_sources, s1_scenes
        self.wkts = {key: v1_wkt(g.epsg) for key, g in grids.items()}
        self.linker = Linker()

    def __call__(self, row, name: str) -> None:
        key, pid = row.tile_key, row.patch_id
        if key not in self.grids:
            raise ExportError(f"{pid}: no geocoding.json of tile {key} among the inputs")
        if key not in self.tile_sources:
            raise ExportError(f"{pid}: no source product of tile {key} (tile_sources)")
        bounds = self.grids[key].patch_bounds(int(row.x), int(row.y))
        labels = [] if row.export_labels is None else list(row.export_labels)
        folder = self.tmp / S2_DIR / name
        folder.mkdir()
        src = self.s2_tree / key / pid
        for band in S2_BANDS:
            self.linker.link(str(src / f"{pid}_{band}.tif"), str(folder / f"{name}_{band}.tif"))
        sensing = parse_product_name(key).sensing_time
        _write_json(
            s2_metadata(labels, bounds, self.wkts[key], self.tile_sources[key] + ".SAFE", sensing),
            folder / f"{name}{METADATA_SUFFIX}",
        )
        if self.s1_tree is None or not row.s1_name:
            return
        s1_name, product = row.s1_name, s1_product_of(row.s1_name)
        s1_folder = self.tmp / S1_DIR / s1_name
        s1_folder.mkdir()
        for pol in S1_POLARISATIONS:
            self.linker.link(
                str(self.s1_tree / product / s1_name / f"{s1_name}_{pol}.tif"), str(s1_folder / f"{s1_name}_{pol}.tif")
            )
        _write_json(
            s1_metadata(labels, bounds, self.wkts[key], name, self.s1_scenes.get(product, product)),
            s1_folder / f"{s1_name}{METADATA_SUFFIX}",
        )


def export_v1(
    sidecar,
    s2_tree,
    out_dir,
    geocodings,
    tile_sources: dict,
    s1_tree=None,
    s1_scenes: dict | None = None,
    labels_column: str = "labels_43",
    naming: str = "s2v1_name",
    threads: int = 1,
) -> int:
    """Write the v1 layout of the kept patches of `sidecar` (results/dataset/patches.parquet) to
    `out_dir`; returns the number of patches. `geocodings`: the tiles' geocoding.json files;
    `tile_sources`: tile key -> the product name `tile_source` names; `s1_scenes`: S1 product
    (first five fields) -> its full name, for `scene_source` (the short name where absent)."""
    kept = read_kept(sidecar, labels_column)
    kept["name"] = folder_names(kept, naming)
    grids = {g.tile_key: g for g in map(read_grid_json, geocodings)}
    out_dir = Path(out_dir)
    progress = Progress("exporting patches", len(kept), logger=LOG)
    with staged_dir(out_dir) as tmp:
        (tmp / S2_DIR).mkdir()
        if s1_tree is not None:
            (tmp / S1_DIR).mkdir()
        write = _PatchWriter(tmp, s2_tree, s1_tree, grids, tile_sources, s1_scenes or {})
        rows = list(kept.itertuples(index=False))
        # Link and write syscalls release the GIL; a few threads hide file-system latency.
        with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
            for start in range(0, len(rows), 2000):
                chunk = rows[start : start + 2000]
                list(pool.map(lambda row: write(row, row.name), chunk))
                progress.update(start + len(chunk))
        s1_column = kept["s1_name"] if s1_tree is not None else pd.Series("", index=kept.index)
        snow, cloud = kept["contains_seasonal_snow"], kept["contains_cloud_or_shadow"]
        clean = ~(snow | cloud)
        for split, filename in SPLIT_FILES.items():
            rows_of_split = clean & (kept["split"] == split)
            _write_lines(
                tmp / filename,
                [f"{n},{s1}" for n, s1 in zip(kept.loc[rows_of_split, "name"], s1_column[rows_of_split])],
            )
        _write_lines(tmp / SNOW_LIST, kept.loc[snow, "name"])
        _write_lines(tmp / CLOUD_LIST, kept.loc[cloud, "name"])
    LOG.info(
        "BigEarthNet v1 layout: %d patches (files %s) in %s in %.1f s",
        len(kept),
        "copied" if write.linker.copying else "linked",
        out_dir,
        progress.elapsed(),
    )
    return len(kept)


def _write_lines(path: Path, lines) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))
