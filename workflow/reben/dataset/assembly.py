"""The dataset in results/dataset/ (rules stage_tile_trees, assemble_dataset): trees, metadata
files, sidecar, funnel.

Per tile, stage_tile_trees links the tile's selected patches (selection drop_reason "") into a
staging folder already in the dataset's layout, `<staged>/BigEarthNet-S2/<tile key>/<patch_id>/`,
`<staged>/Reference_Maps/<tile key>/<patch_id>/` and `<staged>/BigEarthNet-S1/<S1 product>/<s1_name>/`
(hard links to the per-tile outputs, copies where the file system refuses links), so that the
15 links per patch run in the per-tile jobs, in parallel.

One job for the whole dataset then joins the per-tile tables (all one row per grid patch, in grid
order), and:
- writes `metadata.parquet` (kept patches without flags) and
  `metadata_for_patches_with_snow_cloud_or_shadow.parquet` (kept patches with a flag) with
  exactly the DESIGN schema, sorted by patch_id, by DuckDB's Parquet writer as the release
  wrote them (reben.io.write_release_parquet);
- writes the sidecar `patches.parquet` (GeoParquet, EPSG:4326 footprints, every grid patch of
  every tile, all that is known of it) and `funnel.csv` (counts per tile and a TOTAL row);
- moves the staged folders into the trees, each built in `<tree>.tmp` and renamed when
  complete: per tile one rename into `BigEarthNet-S2` and one into `Reference_Maps`; per S1
  product one rename, or one per patch folder when another tile brought that product first;
- completes the trees: patch folders of patches dropped dataset-wide (splits.overlapping_tiles
  drop_later) are removed, and patch folders not staged (a tile without staged trees, or one
  whose staged folders an interrupted assembly had moved away) are linked from the per-tile
  outputs, so that a rerun after any failure builds the same trees.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from reben.constants import DATASET_TREES, S2_BANDS
from reben.dataset.flags import read_flag_list, unknown_ids
from reben.dataset.overlaps import OVERLAP_DROP_REASON, resolve_overlaps
from reben.dataset.selection import DROP_REASONS, selection_counts
from reben.dataset.splits import SPLITS
from reben.errors import AssemblyError
from reben.grid import read_grid_json
from reben.io import (
    Linker,
    disk_full_message,
    is_disk_full,
    read_json,
    staged_dir,
    write_csv,
    write_parquet,
    write_release_parquet,
)
from reben.labels.classes import LABELS_43
from reben.logs import Progress

LOG = logging.getLogger("reben.dataset.assembly")

METADATA_SCHEMA = pa.schema(
    [
        ("patch_id", pa.string()),
        ("labels", pa.list_(pa.string())),
        ("split", pa.string()),
        ("country", pa.string()),
        ("s1_name", pa.string()),
        ("s2v1_name", pa.string()),
        ("contains_seasonal_snow", pa.bool_()),
        ("contains_cloud_or_shadow", pa.bool_()),
    ]
)
"""metadata.parquet and metadata_for_patches_with_snow_cloud_or_shadow.parquet (DESIGN.md)."""

DATASET_DROP_REASONS = (*DROP_REASONS, OVERLAP_DROP_REASON)
"""The selection's drop reasons, then `overlap` (splits.overlapping_tiles: drop_later)."""
FUNNEL_COLUMNS = ("tile_key", "grid_patches", *DATASET_DROP_REASONS, "kept", "flagged", "clean", *SPLITS)


@dataclass(frozen=True)
class TileInputs:
    """The per-tile files the assembly reads for one tile (s1_* are None without Sentinel-1,
    v1_link, the tile's bigearthnet_v1.parquet, is None without the BigEarthNet v1 tables,
    staged_trees, the output of stage_tile_trees, is None where every patch folder is to be
    linked from s2_dir, reference_maps_dir and s1_dir)."""

    tile: str
    geocoding: str
    s2_patches: str
    labels: str
    splits: str
    countries: str
    selection: str
    s2_dir: str
    reference_maps_dir: str
    s1_pairing: str | None = None
    s1_dir: str | None = None
    v1_link: str | None = None
    staged_trees: str | None = None


def _check_rows(name: str, table: pd.DataFrame, ids: np.ndarray, key: str) -> None:
    if len(table) != len(ids) or not np.array_equal(table["patch_id"].to_numpy(dtype=object), ids):
        raise AssemblyError(f"{key}: {name} does not list the patches of the grid in grid order; rebuild it")


def tile_table(inputs: TileInputs):
    """Everything known of every grid patch of one tile, as a GeoDataFrame in the tile CRS."""
    from reben.bigearthnet_v1.links import read_tile_link

    tile = read_json(inputs.tile)
    grid = read_grid_json(inputs.geocoding)
    key = grid.tile_key
    frame = grid.to_frame()
    ids = frame["patch_id"].to_numpy(dtype=object)
    tables = {
        name: pd.read_parquet(getattr(inputs, attr))
        for name, attr in (
            ("s2_patches.parquet", "s2_patches"),
            ("labels.parquet", "labels"),
            ("splits.parquet", "splits"),
            ("countries.parquet", "countries"),
            ("selection.parquet", "selection"),
        )
    }
    if inputs.s1_pairing:
        tables["s1_pairing.parquet"] = pd.read_parquet(inputs.s1_pairing)
    for name, table in tables.items():
        _check_rows(name, table, ids, key)

    n = len(frame)
    frame.insert(1, "tile_key", key)
    frame["epsg"] = np.full(n, grid.epsg, dtype="int32")
    frame["sensing_time"] = pd.Timestamp(tile["sensing_time"])
    frame["season"] = tile["season"]
    frame["split"] = tables["splits.parquet"]["split"].to_numpy()
    frame["country"] = tables["countries.parquet"]["country"].to_numpy()
    labels = tables["labels.parquet"]
    frame["labels"] = [sorted(v) for v in labels["labels"]]
    for column in labels.columns:
        if column == LABELS_43:  # the 43-class labels (CLC sources), a list as `labels`
            frame[column] = [sorted(v) for v in labels[column]]
        elif column not in ("patch_id", "labels"):
            frame[column] = labels[column].to_numpy()
    s2 = tables["s2_patches.parquet"]
    for column in ("valid", "cloud_or_shadow_fraction", "snow_fraction"):
        frame[column] = s2[column].to_numpy()
    if inputs.s1_pairing:
        s1 = tables["s1_pairing.parquet"]
        frame["s1_product"] = s1["s1_product"].to_numpy(dtype=object)
        frame["s1_name"] = s1["s1_name"].fillna("").to_numpy(dtype=object)
        frame["s1_time_gap_days"] = s1["s1_time_gap_days"].to_numpy(dtype="float64")
    else:
        frame["s1_product"] = pd.Series([None] * n, dtype=object)
        frame["s1_name"] = ""
        frame["s1_time_gap_days"] = np.full(n, np.nan)
    selection = tables["selection.parquet"]
    for column in ("drop_reason", "contains_cloud_or_shadow", "contains_seasonal_snow"):
        frame[column] = selection[column].to_numpy()
    frame["s2v1_name"] = (
        read_tile_link(inputs.v1_link, ids, key)["s2v1_name"].to_numpy(dtype=object) if inputs.v1_link else ""
    )
    geometry = frame.pop("geometry")
    return frame.set_geometry(geometry)


def metadata_table(patches: pd.DataFrame) -> pa.Table:
    """The DESIGN metadata table of `patches` (sorted by patch_id, labels sorted)."""
    patches = patches.sort_values("patch_id", kind="stable")
    columns = {
        "patch_id": patches["patch_id"].astype(str).tolist(),
        "labels": [sorted(v) for v in patches["labels"]],
        "split": patches["split"].astype(str).tolist(),
        "country": patches["country"].astype(str).tolist(),
        "s1_name": patches["s1_name"].astype(str).tolist(),
        "s2v1_name": patches["s2v1_name"].astype(str).tolist(),
        "contains_seasonal_snow": patches["contains_seasonal_snow"].astype(bool).tolist(),
        "contains_cloud_or_shadow": patches["contains_cloud_or_shadow"].astype(bool).tolist(),
    }
    return pa.Table.from_pydict(columns, schema=METADATA_SCHEMA)


def funnel(patches: pd.DataFrame) -> pd.DataFrame:
    """Counts per tile and a TOTAL row: grid patches, each drop reason, kept, flagged, clean
    (kept without flag), and the kept patches of each split."""
    rows = []
    for key, group in patches.groupby("tile_key", sort=True):
        counts = {"tile_key": key, **selection_counts(group)}
        counts[OVERLAP_DROP_REASON] = int((group["drop_reason"] == OVERLAP_DROP_REASON).sum())
        counts["clean"] = counts["kept"] - counts["flagged"]
        kept = group.loc[group["drop_reason"] == "", "split"]
        counts.update({s: int((kept == s).sum()) for s in SPLITS})
        rows.append(counts)
    table = pd.DataFrame(rows, columns=list(FUNNEL_COLUMNS))
    total = table.drop(columns="tile_key").sum().astype(int)
    table.loc[len(table)] = {"tile_key": "TOTAL", **total.to_dict()}
    return table


def top_drop_reason(counts) -> tuple[str, int]:
    """The drop reason that took the most patches in a funnel row, and how many."""
    reason = max(DROP_REASONS, key=lambda r: int(counts[r]))
    return reason, int(counts[reason])


def check_funnel(table: pd.DataFrame) -> None:
    """Warn for every tile that contributes no patch, naming its main drop reason; fail when the
    whole dataset would be empty, with the funnel's top drop reason, so that no empty LMDB,
    archive or report is built from it."""
    for _, row in table.iloc[:-1].iterrows():
        if int(row["kept"]) == 0:
            reason, n = top_drop_reason(row)
            LOG.warning(
                "%s: contributes no patch: %d of %d grid patches dropped as %s",
                row["tile_key"],
                n,
                int(row["grid_patches"]),
                reason,
            )
    total = table.iloc[-1]
    if int(total["kept"]) == 0:
        reason, n = top_drop_reason(total)
        raise AssemblyError(
            f"dataset: no patch kept of {int(total['grid_patches'])} grid patches in "
            f"{len(table) - 1} tiles; top drop reason {reason} ({n} patches); see the "
            f"select_patches logs (an excluded product, a CLC that misses every tile, or "
            f"Sentinel-1 that covers none)"
        )


def tree_folder(kind: str, tile_key: str, folder: str) -> str:
    """Where a tile's patch folder goes in its dataset tree, relative to the tree: `<patch_id>`
    (S2, reference maps) under the tile key, `<S1 product>/<s1_name>` (S1) as it is."""
    return folder if kind == "s1" else f"{tile_key}/{folder}"


def link_trees(jobs: list[tuple[Path, Path, int | None]], threads: int = 1) -> Linker:
    """Link every (source folder, destination folder, expected file count) job."""
    linker = Linker()
    progress = Progress("linking patch folders", len(jobs))
    done = 0
    # Link syscalls release the GIL; a few threads hide file-system latency.
    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        for chunk_start in range(0, len(jobs), 2000):
            chunk = jobs[chunk_start : chunk_start + 2000]
            list(pool.map(lambda job: linker.link_folder(*job), chunk))
            done += len(chunk)
            progress.update(done)
    return linker


PATCH_FILES = {"s2": len(S2_BANDS), "reference_maps": 1, "s1": 2}
"""Files in one patch folder of each tree: the 12 bands, the reference map, VV and VH."""


def patch_folders(kind: str, patches: pd.DataFrame, sources: dict) -> pd.DataFrame:
    """The `kind` tree's patch folders of `patches` (tile_key, patch_id, s1_product, s1_name):
    tile_key, `parent` (the tile key, or the S1 product) and `name` (patch_id, or s1_name),
    the folder's place in the tree (tree_folder) and in the tile's output folder of that kind
    (`sources`: tile key -> that folder, None for a tile without S1)."""
    if kind == "s1":
        patches = patches[patches["s1_name"].fillna("").ne("") & patches["tile_key"].map(sources).notna()]
        parent, name = patches["s1_product"].astype(str), patches["s1_name"].astype(str)
    else:
        parent, name = patches["tile_key"], patches["patch_id"]
    return pd.DataFrame({"tile_key": patches["tile_key"], "parent": parent, "name": name})


def folder_jobs(kind: str, folders: pd.DataFrame, sources: dict, tree: Path) -> list:
    """Link jobs (source folder, destination folder, expected files) of patch_folders rows."""
    expected, jobs = PATCH_FILES[kind], []
    for key, parent, name in zip(folders["tile_key"], folders["parent"], folders["name"]):
        folder = f"{parent}/{name}" if kind == "s1" else name  # in the tile's output folder
        jobs.append((Path(sources[key]) / folder, tree / tree_folder(kind, key, folder), expected))
    return jobs


def stage_tile_trees(
    geocoding,
    selection,
    s2_dir,
    reference_maps_dir,
    out_dir,
    s1_pairing=None,
    s1_dir=None,
    threads: int = 1,
) -> Linker:
    """Link one tile's selected patches into `out_dir` in the dataset's layout (see the module
    doc; rule stage_tile_trees); `out_dir` is built as `<out_dir>.tmp` and renamed."""
    start = time.monotonic()
    key = read_grid_json(geocoding).tile_key
    table = pd.read_parquet(selection, columns=["patch_id", "drop_reason"])
    if s1_pairing:
        pairing = pd.read_parquet(s1_pairing, columns=["patch_id", "s1_product", "s1_name"])
        _check_rows("s1_pairing.parquet", pairing, table["patch_id"].to_numpy(dtype=object), key)
        table["s1_product"] = pairing["s1_product"].to_numpy(dtype=object)
        table["s1_name"] = pairing["s1_name"].fillna("").to_numpy(dtype=object)
    else:
        table["s1_product"], table["s1_name"] = None, ""
    kept = table[table["drop_reason"] == ""].assign(tile_key=key)
    sources = {"s2": {key: s2_dir}, "reference_maps": {key: reference_maps_dir}, "s1": {key: s1_dir}}
    with staged_dir(out_dir) as tmp:
        jobs = []
        for kind, tree in DATASET_TREES.items():
            (tmp / tree).mkdir()
            jobs += folder_jobs(kind, patch_folders(kind, kept, sources[kind]), sources[kind], tmp / tree)
        linker = link_trees(jobs, threads)
    LOG.info(
        "%s: %d kept patches, %d patch folders, %d files %s in %.1f s",
        key,
        len(kept),
        len(jobs),
        linker.files,
        "copied" if linker.copying else "linked",
        time.monotonic() - start,
    )
    return linker


def move_staged_trees(staged: dict[str, Path], trees: dict[str, Path], moves: list) -> None:
    """Move the staged folders of every tile (tile key -> its stage_tile_trees folder) into the
    trees being built (kind -> folder), recording each rename as (source, destination) in
    `moves`."""

    def move(src, dst) -> None:
        os.rename(src, dst)
        moves.append((src, dst))

    for key, root in staged.items():
        for kind in ("s2", "reference_maps"):
            folder = root / DATASET_TREES[kind] / key
            if folder.is_dir():
                move(folder, trees[kind] / key)
        s1 = root / DATASET_TREES["s1"]
        if not s1.is_dir():
            continue
        for product in os.scandir(s1):
            target = trees["s1"] / product.name
            if not target.exists():
                move(product.path, target)
                continue
            for patch in os.scandir(product.path):  # another tile brought this S1 product first
                if (target / patch.name).exists():
                    raise AssemblyError(f"{target / patch.name}: two tiles put this S1 patch into the dataset")
                move(patch.path, target / patch.name)


@contextmanager
def moved_back_on_error():
    """Yield a list for move_staged_trees; if the block fails, every folder is moved back to its
    staged trees (latest first), so that a rerun moves them again instead of linking them."""
    moves = []
    try:
        yield moves
    except BaseException:
        for src, dst in reversed(moves):
            with suppress(OSError):
                os.rename(dst, src)
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def complete_trees(kept: pd.DataFrame, sources: dict, trees: dict[str, Path], threads: int = 1):
    """Make each tree (kind -> folder) hold exactly the patch folders of `kept`: remove the
    others, link the missing ones from the per-tile outputs (`sources`: kind -> tile key ->
    folder). Returns the number of folders removed, of folders linked, and the Linker."""
    removed, missing = 0, []
    for kind, tree in trees.items():
        folders = patch_folders(kind, kept, sources[kind])
        wanted = {parent: set(group) for parent, group in folders.groupby("parent", sort=False)["name"]}
        for parent in os.listdir(tree):
            if parent not in wanted:  # a tile or S1 product none of whose patches is kept
                removed += len(os.listdir(tree / parent)) if (tree / parent).is_dir() else 1
                _remove(tree / parent)
        present = {}
        for parent, names in wanted.items():
            present[parent] = set(os.listdir(tree / parent)) if (tree / parent).is_dir() else set()
            for name in present[parent] - names:
                _remove(tree / parent / name)
                removed += 1
        absent = np.array([n not in present[p] for p, n in zip(folders["parent"], folders["name"])], dtype=bool)
        missing += folder_jobs(kind, folders[absent], sources[kind], tree)
    return removed, len(missing), link_trees(missing, threads)


def assemble_dataset(
    tiles: list[TileInputs],
    s2_tree,
    s1_tree,
    reference_maps_tree,
    metadata,
    flagged_metadata,
    sidecar,
    funnel_csv,
    flag_lists=(),
    threads: int = 1,
    overlapping_tiles: str = "none",
) -> pd.DataFrame:
    """Build the dataset from the per-tile outputs and, where given, the tiles' staged trees;
    returns the funnel table. `overlapping_tiles` is splits.overlapping_tiles (reben.dataset.overlaps)."""
    import geopandas as gpd

    start = time.monotonic()
    frames = [tile_table(t).to_crs("EPSG:4326") for t in tiles]
    patches = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")
    patches = patches.sort_values("patch_id", kind="stable").reset_index(drop=True)
    if patches["patch_id"].duplicated().any():
        dup = patches.loc[patches["patch_id"].duplicated(), "patch_id"].iloc[0]
        raise AssemblyError(f"patch_id {dup} occurs in two tiles; two products share a tile key")
    for path in flag_lists:
        n = unknown_ids(read_flag_list(path), patches["patch_id"])
        if n:
            LOG.warning("%s: %d patch ids are not patches of the dataset; ignored", path, n)
    patches, changed = resolve_overlaps(patches, overlapping_tiles)
    if overlapping_tiles != "none":
        LOG.info(
            "splits.overlapping_tiles %s: %d patches %s",
            overlapping_tiles,
            changed,
            "moved to another split" if overlapping_tiles == "same_split" else "dropped",
        )

    table = funnel(patches)
    check_funnel(table)
    kept = patches[patches["drop_reason"] == ""]
    flagged = kept["contains_cloud_or_shadow"] | kept["contains_seasonal_snow"]
    by_key = {read_grid_json(t.geocoding).tile_key: t for t in tiles}
    sources = {
        "s2": {key: t.s2_dir for key, t in by_key.items()},
        "reference_maps": {key: t.reference_maps_dir for key, t in by_key.items()},
        "s1": {key: t.s1_dir for key, t in by_key.items()},
    }
    staged = {key: Path(t.staged_trees) for key, t in by_key.items() if t.staged_trees}
    trees = {
        name: Path(path) for name, path in (("s2", s2_tree), ("s1", s1_tree), ("reference_maps", reference_maps_tree))
    }
    files = (metadata, flagged_metadata, sidecar, funnel_csv)
    try:
        # The files first: a failure there (a full disk) leaves the staged trees as they are.
        write_release_parquet(metadata_table(kept[~flagged]), metadata)
        write_release_parquet(metadata_table(kept[flagged]), flagged_metadata)
        write_parquet(patches, sidecar)
        write_csv(table, funnel_csv)
        with ExitStack() as building:
            tmp = {name: building.enter_context(staged_dir(path)) for name, path in trees.items()}
            moves = building.enter_context(moved_back_on_error())
            try:
                move_staged_trees(staged, tmp, moves)
            except OSError as e:
                if e.errno != errno.EXDEV:
                    raise
                LOG.warning(
                    "%s: on another file system than %s; linking (or copying) the patch folders instead of moving them",
                    trees["s2"].parent,
                    e.filename,
                )
            removed, linked, linker = complete_trees(kept, sources, tmp, threads)
    except BaseException as e:
        for path in files:
            Path(path).unlink(missing_ok=True)
        if not isinstance(e, OSError):
            raise
        # A full disk ([Errno 28]) or a refused write: one line naming the file, no traceback.
        where = e.filename or Path(metadata).parent
        problem = disk_full_message(where) if is_disk_full(e) else f"{where}: {e.strerror or e}"
        raise AssemblyError(f"{problem}; assembly stopped, its outputs are removed") from None
    if staged and linked:
        LOG.warning(
            "%d patch folders were not in the tiles' staged trees (moved away by an interrupted "
            "assembly, or not movable); linked from the per-tile outputs",
            linked,
        )
    total = table.iloc[-1]
    LOG.info(
        "dataset: %d tiles, %d grid patches, %d kept (%d clean, %d flagged); %d staged folders moved, "
        "%d patch folders removed (dropped dataset-wide), %d files %s in %.1f s",
        len(tiles),
        total["grid_patches"],
        total["kept"],
        total["clean"],
        total["flagged"],
        len(moves),
        removed,
        linker.files,
        "copied" if linker.copying else "linked",
        time.monotonic() - start,
    )
    return table
