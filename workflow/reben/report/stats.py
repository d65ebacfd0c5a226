"""The report's numbers: every count, share, distance and check of the dataset report, from the
dataset's tables (funnel.csv, the two metadata files, the sidecar GeoParquet), tile.json and
PROVENANCE.json. Nothing here reads pixels or draws: it returns plain dicts and DataFrames that
reben.report.build writes to report.json and tables/.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from reben.dataset.assembly import DATASET_DROP_REASONS as DROP_REASONS
from reben.dataset.splits import SPLITS
from reben.errors import ReportError
from reben.io import read_json
from reben.labels.classes import class_table, configured_table

FUNNEL_COLUMNS = ("grid_patches", *DROP_REASONS, "kept", "flagged", "clean", *SPLITS)
FLAG_COLUMNS = ("contains_cloud_or_shadow", "contains_seasonal_snow")
TOTAL = "TOTAL"


def report_class_table(nomenclature: str = "reben19", path=None, unlabeled_codes=()):
    """The class table the report counts labels by (labels.nomenclature, labels.class_table,
    labels.unlabeled_codes): the one place the report reads it."""
    return configured_table(nomenclature, path, unlabeled_codes)


# The default class table (reBEN's 19 classes); the report of a build takes the configured one.
CLASSES_19 = class_table().classes


def require_columns(frame: pd.DataFrame, columns, name: str) -> None:
    """Fails with one line naming the table `name` when it lacks one of `columns`."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReportError(f"{name}: no column {', '.join(missing)}; rebuild it with this workflow")


def read_funnel(path) -> pd.DataFrame:
    """funnel.csv indexed by tile key (the first column), TOTAL last, the counts as int."""
    frame = pd.read_csv(path, dtype={0: str})
    frame = frame.set_index(frame.columns[0])
    frame.index.name = "tile_key"
    require_columns(frame, FUNNEL_COLUMNS, str(path))
    if TOTAL not in frame.index:
        raise ReportError(f"{path}: no {TOTAL} row")
    frame = frame.loc[:, list(FUNNEL_COLUMNS)].astype("int64")
    return pd.concat([frame.drop(index=TOTAL).sort_index(), frame.loc[[TOTAL]]])


def sidecar_funnel(sidecar: pd.DataFrame) -> pd.DataFrame:
    """The funnel recounted from the sidecar's drop_reason, flags and split columns."""
    kept = sidecar["drop_reason"].fillna("").eq("")
    flagged = kept & sidecar[list(FLAG_COLUMNS)].any(axis=1)
    parts = {"grid_patches": pd.Series(1, index=sidecar.index)}
    parts.update({r: sidecar["drop_reason"].eq(r) for r in DROP_REASONS})
    parts.update(kept=kept, flagged=flagged, clean=kept & ~flagged)
    parts.update({s: kept & sidecar["split"].eq(s) for s in SPLITS})
    counts = pd.DataFrame(parts).astype("int64").groupby(sidecar["tile_key"].to_numpy()).sum()
    counts.loc[TOTAL] = counts.sum()
    counts.index.name = "tile_key"
    return counts.loc[:, list(FUNNEL_COLUMNS)]


def funnel_checks(
    funnel: pd.DataFrame, sidecar: pd.DataFrame, metadata: pd.DataFrame, flagged: pd.DataFrame, classes=CLASSES_19
) -> list[dict]:
    """Does every number add up? One entry per check: name, ok, detail (what differs)."""
    checks = []

    def check(name, ok_rows, detail=""):
        bad = [str(t) for t, ok in ok_rows.items() if not ok] if isinstance(ok_rows, pd.Series) else []
        ok = not bad if isinstance(ok_rows, pd.Series) else bool(ok_rows)
        detail = detail or (f"fails for {', '.join(bad)}" if bad else "")
        # No setting accepts these: the dataset's own tables disagree, which is a bug to report.
        checks.append({"name": name, "ok": ok, "detail": detail, "setting": None, "accepted": False})

    f = funnel
    check(
        f"grid patches = {' + '.join(DROP_REASONS)} + kept",
        f["grid_patches"] == f[list(DROP_REASONS)].sum(axis=1) + f["kept"],
    )
    check("kept = flagged + clean", f["kept"] == f["flagged"] + f["clean"])
    check("kept = train + validation + test", f["kept"] == f[list(SPLITS)].sum(axis=1))
    tiles = f.drop(index=TOTAL)
    check(
        "TOTAL row = sum of the tile rows",
        (tiles.sum() == f.loc[TOTAL]).all(),
        ""
        if (tiles.sum() == f.loc[TOTAL]).all()
        else f"differs in {', '.join(c for c in f.columns if tiles[c].sum() != f.loc[TOTAL, c])}",
    )
    recount = sidecar_funnel(sidecar)
    same = recount.reindex(f.index).fillna(-1).astype("int64").eq(f).all(axis=1) & f.index.to_series().isin(
        recount.index
    )
    extra = sorted(set(recount.index) - set(f.index))
    check(
        "funnel.csv = counts of the sidecar patches.parquet",
        same & (not extra),
        f"tiles missing from funnel.csv: {', '.join(extra)}" if extra else "",
    )
    check(
        "metadata.parquet rows = TOTAL clean",
        len(metadata) == f.loc[TOTAL, "clean"],
        f"{len(metadata)} rows, {f.loc[TOTAL, 'clean']} clean",
    )
    check(
        "flagged metadata rows = TOTAL flagged",
        len(flagged) == f.loc[TOTAL, "flagged"],
        f"{len(flagged)} rows, {f.loc[TOTAL, 'flagged']} flagged",
    )
    both = pd.concat([metadata["split"], flagged["split"]])
    per_split = {s: int((both == s).sum()) for s in SPLITS}
    check(
        "metadata files' splits = TOTAL train, validation, test",
        all(per_split[s] == f.loc[TOTAL, s] for s in SPLITS),
        ", ".join(f"{s} {per_split[s]} vs {f.loc[TOTAL, s]}" for s in SPLITS),
    )
    unknown = sorted(set(metadata["labels"].explode().dropna()) - set(classes))
    check("labels are classes of the class table", not unknown, f"unknown: {', '.join(unknown)}" if unknown else "")
    return checks


def multi_hot(labels: pd.Series, classes) -> np.ndarray:
    """(patches, classes) bool matrix: patch i has class j."""
    index = {c: j for j, c in enumerate(classes)}
    exploded = labels.explode().dropna()
    rows = np.asarray(labels.index.get_indexer(exploded.index))
    cols = exploded.map(index)
    keep = cols.notna().to_numpy()
    hot = np.zeros((len(labels), len(classes)), dtype=bool)
    hot[rows[keep], cols[keep].astype(int).to_numpy()] = True
    return hot


def label_statistics(metadata: pd.DataFrame, classes) -> dict[str, pd.DataFrame]:
    """Per-split label frequencies, the co-occurrence matrix and the labels-per-patch counts."""
    meta = metadata.reset_index(drop=True)
    hot = multi_hot(meta["labels"], classes)
    split = meta["split"].to_numpy()
    freq = pd.DataFrame({s: hot[split == s].sum(axis=0) for s in SPLITS}, index=list(classes))
    freq["total"] = hot.sum(axis=0)
    co = hot.astype(np.int64)
    cooccurrence = pd.DataFrame(co.T @ co, index=list(classes), columns=list(classes))
    n_labels = hot.sum(axis=1)
    top = max(int(n_labels.max()) if len(n_labels) else 0, 1)
    per_patch = pd.DataFrame(
        {s: np.bincount(n_labels[split == s], minlength=top + 1) for s in SPLITS},
        index=pd.RangeIndex(top + 1, name="labels"),
    )
    per_patch["total"] = per_patch[list(SPLITS)].sum(axis=1)
    return {
        "frequencies": freq.astype("int64"),
        "cooccurrence": cooccurrence.astype("int64"),
        "labels_per_patch": per_patch.astype("int64"),
    }


def countries_by_split(metadata: pd.DataFrame) -> pd.DataFrame:
    table = pd.crosstab(metadata["country"], metadata["split"]).reindex(columns=list(SPLITS), fill_value=0)
    table["total"] = table.sum(axis=1)
    table.index.name = "country"
    table.columns.name = None
    return table.astype("int64")


def nearest_train_distances(kept) -> pd.DataFrame:
    """For every validation and test patch, its nearest train patch and the distance in metres
    between the two footprints (0 when they touch or overlap).

    `kept` is a GeoDataFrame (any CRS) with patch_id, split and epsg (the tile's UTM zone).
    Distances are measured in the UTM zone of the patch asked about, with every train footprint
    projected into that zone, so a nearest neighbour in the next zone is measured correctly.
    """
    from shapely import STRtree

    train = kept[kept["split"] == "train"]
    frames = []
    for split in ("validation", "test"):
        query = kept[kept["split"] == split]
        for epsg, group in query.groupby("epsg", sort=True):
            result = pd.DataFrame(
                {
                    "patch_id": group["patch_id"].to_numpy(),
                    "split": split,
                    "nearest_train_patch_id": "",
                    "distance_m": np.nan,
                }
            )
            if len(train):
                tree_geoms = train.geometry.to_crs(epsg=int(epsg)).to_numpy()
                tree = STRtree(tree_geoms)
                (qi, ti), dist = tree.query_nearest(
                    group.geometry.to_crs(epsg=int(epsg)).to_numpy(), return_distance=True, all_matches=False
                )
                result.loc[qi, "nearest_train_patch_id"] = train["patch_id"].to_numpy()[ti]
                result.loc[qi, "distance_m"] = dist
            frames.append(result)
    columns = ["patch_id", "split", "nearest_train_patch_id", "distance_m"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).sort_values("patch_id", ignore_index=True)[columns]


def leakage_summary(distances: pd.DataFrame) -> dict:
    out = {}
    for split in ("validation", "test"):
        d = distances.loc[distances["split"] == split, "distance_m"].dropna().to_numpy()
        out[split] = {
            "patches": int((distances["split"] == split).sum()),
            "min_m": float(d.min()) if d.size else None,
            "median_m": float(np.median(d)) if d.size else None,
            "max_m": float(d.max()) if d.size else None,
            "touching": int((d == 0).sum()),
        }
    return out


def split_shares(patches: pd.DataFrame) -> dict:
    """Patches per split and their share of the set in %."""
    n = len(patches)
    counts = patches["split"].value_counts()
    return {
        s: {"patches": int(counts.get(s, 0)), "share_pct": 100.0 * counts.get(s, 0) / n if n else None} for s in SPLITS
    }


def class_balance(freq: pd.DataFrame, patches: int) -> dict:
    """Share of patches per class (%) and the imbalance ratio: patches of the most frequent
    class over those of the least frequent class that occurs (absent classes listed apart)."""
    total = freq["total"]
    present = total[total > 0]
    return {
        "share_pct": {c: 100.0 * int(v) / patches if patches else None for c, v in total.items()},
        "most_frequent": str(present.idxmax()) if len(present) else None,
        "least_frequent": str(present.idxmin()) if len(present) else None,
        "imbalance_ratio": float(present.max() / present.min()) if len(present) else None,
        "absent": [str(c) for c in total.index[total == 0]],
    }


def flag_breakdown(patches: pd.DataFrame) -> dict:
    """Patches with cloud or shadow only, snow only, both, neither."""
    cloud = patches["contains_cloud_or_shadow"].astype(bool)
    snow = patches["contains_seasonal_snow"].astype(bool)
    return {
        "cloud_or_shadow_only": int((cloud & ~snow).sum()),
        "snow_only": int((snow & ~cloud).sum()),
        "both": int((cloud & snow).sum()),
        "neither": int((~cloud & ~snow).sum()),
    }


def tile_rows(funnel: pd.DataFrame, tiles: list[dict]) -> dict:
    """Per tile: sensing date, season, processing baseline, exclusion reason and its funnel counts."""
    info = {t["tile_key"]: t for t in tiles}
    out = {}
    for key in funnel.index.drop(TOTAL):
        t = info.get(key, {})
        out[key] = {
            "date": str(t.get("sensing_time", ""))[:10],
            "season": t.get("season", ""),
            "processing_baseline": t.get("processing_baseline", ""),
            "excluded_reason": t.get("excluded_reason") or "",
            **{c: int(funnel.at[key, c]) for c in ("grid_patches", *DROP_REASONS, "kept")},
        }
    return out


def s1_time_gaps(patches: pd.DataFrame) -> dict:
    """The time between each patch's Sentinel-2 sensing and its Sentinel-1 acquisition (days)."""
    gaps = (
        patches["s1_time_gap_days"].dropna().to_numpy(dtype="float64")
        if "s1_time_gap_days" in patches.columns
        else np.array([])
    )
    return {
        "patches": int(gaps.size),
        "median_days": float(np.median(gaps)) if gaps.size else None,
        "max_days": float(gaps.max()) if gaps.size else None,
        "within_1_day": int((gaps <= 1).sum()),
    }


def canonical_sha256(value) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def provenance_summary(provenance: dict) -> dict:
    """What the page shows of PROVENANCE.json: the config's hash, the workflow commit, the
    software versions and the input files' sha256."""
    inputs = provenance.get("inputs", {})
    files = {k: v for k, v in inputs.items() if isinstance(v, dict) and "sha256" in v}
    workflow = provenance.get("workflow") or {}
    return {
        "config_sha256": canonical_sha256(provenance.get("config", {})),
        "workflow_commit": workflow.get("commit"),
        "workflow_dirty": workflow.get("dirty"),
        "software": provenance.get("software", {}),
        "input_files": files,
        "sentinel2_products": len(inputs.get("sentinel2_products", [])),
        "sentinel1_products": len(inputs.get("sentinel1_products", [])),
        "manifest_sha256": provenance.get("outputs", {}).get("MANIFEST.sha256"),
    }


def folder_bytes(path) -> tuple[int, int]:
    """Files and bytes under a folder (hard links count once per name, as a copy would)."""
    files = size = 0
    for root, _, names in os.walk(path):
        for name in names:
            if name.startswith(".snakemake"):
                continue
            files += 1
            size += os.stat(os.path.join(root, name)).st_size
    return files, size


def dataset_sizes(trees: dict, dist_files, archive_summaries=()) -> dict:
    """Files and bytes of each dataset tree, and the bytes of each file of results/dist. A tree's
    files and bytes come from its archive's summary (archive_tree counted them as it read them:
    millions of files are not walked again); a tree without one is walked."""
    counted = {}
    for path in archive_summaries:
        record = read_json(path)
        if "file_bytes" in record:  # summaries written before it was recorded: walk the tree
            counted[record["archive"].removesuffix(".tar.zst")] = (record["members"], record["file_bytes"])
    out = {"trees": {}, "dist": {}}
    for name, path in trees.items():
        if path:
            files, size = counted.get(name) or folder_bytes(path)
            out["trees"][name] = {"files": files, "bytes": size, "gb": size / 1e9}
    for path in dist_files:
        size = Path(path).stat().st_size
        out["dist"][Path(path).name] = {"bytes": size, "gb": size / 1e9}
    out["trees_gb"] = sum(t["bytes"] for t in out["trees"].values()) / 1e9
    out["dist_gb"] = sum(t["bytes"] for t in out["dist"].values()) / 1e9
    return out


CHECK_DEFAULTS = {"report.max_overlapping_share": 0.0, "report.min_train_patches_per_class": 10}
"""The schema defaults of the settings that accept a failed check (tested to equal the schema): a
check that passes only because its setting is above (or below) its default is *accepted*, and
the run says so."""


def leakage_check(overlaps: dict, max_share: float) -> dict:
    """Fails when a larger share of validation or test patches than `max_share` overlaps train;
    accepted when it passes with a share the default (CHECK_DEFAULTS) would fail."""
    setting = "report.max_overlapping_share"
    bad, over_default, parts = [], [], []
    for pair in ("validation_vs_train", "test_vs_train"):
        o = overlaps[pair]
        first = pair.split("_vs_")[0]
        parts.append(
            f"{first}: {o['overlapping']} of {o['patches']} overlap train"
            + (f" (up to {100 * o['max_pair_overlap_share']:.1f} % of a patch)" if o["overlapping"] else "")
        )
        if o["overlapping_share"] > max_share:
            bad.append(first)
        if o["overlapping_share"] > CHECK_DEFAULTS[setting]:
            over_default.append(f"{first} {100 * o['overlapping_share']:.0f} %")
    detail = "; ".join(parts) + f"; accepted share: {setting} = {max_share:g}"
    return {
        "name": f"validation and test patches overlapping train: within {setting}",
        "ok": not bad,
        "detail": detail,
        "setting": setting,
        "value": max_share,
        "remedy": f"set splits.overlapping_tiles, or accept it with {setting} in the config",
        "accepted": not bad and bool(over_default),
        "finding": f"{' and '.join(over_default)} of the patches overlap train" if over_default else "",
    }


def train_coverage_check(frequencies: pd.DataFrame, min_train: int) -> dict:
    """Every class that occurs in validation or test has at least `min_train` train patches (a
    class with fewer is one a model cannot learn from this dataset). `classes` lists the classes
    that fail; accepted when it passes with a minimum below the default (CHECK_DEFAULTS)."""
    setting = "report.min_train_patches_per_class"
    evaluated = frequencies[(frequencies["validation"] + frequencies["test"]) > 0]

    def under(minimum):
        return [str(c) for c in evaluated.index[evaluated["train"] < minimum]]

    def described(classes):
        return "; ".join(
            f"{c}: {int(frequencies.at[c, 'train'])} train, {int(frequencies.at[c, 'validation'])} validation, "
            f"{int(frequencies.at[c, 'test'])} test"
            for c in classes
        )

    failing, under_default = under(min_train), under(CHECK_DEFAULTS[setting])
    if failing:
        detail = (
            f"{len(failing)} of {len(evaluated)} classes in validation or test have fewer than {min_train} train "
            f"patches: {described(failing)}"
        )
    else:
        detail = f"{len(evaluated)} classes in validation or test, each with at least {min_train} train patches"
    return {
        "name": f"every class in validation or test has train patches: at least {setting}",
        "ok": not failing,
        "detail": detail,
        "setting": setting,
        "value": min_train,
        "remedy": f"add products where these classes occur, or accept it with {setting} in the config",
        "accepted": not failing and bool(under_default),
        "finding": (
            f"{len(under_default)} classes with fewer than {CHECK_DEFAULTS[setting]} train patches "
            f"({described(under_default)})"
            if under_default
            else ""
        ),
        "classes": failing,
    }


def choose_examples(metadata: pd.DataFrame, sidecar: pd.DataFrame, classes) -> dict[str, str | None]:
    """For each class, the patch of metadata.parquet where that class covers the largest
    fraction (sidecar fraction_<class>; ties go to the smallest patch_id); None if no patch
    has the class."""
    meta = metadata.sort_values("patch_id").reset_index(drop=True)
    hot = multi_hot(meta["labels"], classes)
    fractions = sidecar.set_index("patch_id")
    out = {}
    for j, name in enumerate(classes):
        candidates = meta.loc[hot[:, j], "patch_id"]
        if candidates.empty:
            out[name] = None
            continue
        column = f"fraction_{name}"
        if column in fractions.columns:
            share = fractions[column].reindex(candidates.to_numpy()).fillna(-1).to_numpy()
            out[name] = str(candidates.iloc[int(np.argmax(share))])
        else:
            out[name] = str(candidates.iloc[0])
    return out


def tile_outlines(sidecar):
    """One outline per tile: the union of its grid's footprints (EPSG:4326 GeoSeries by tile key)."""
    import shapely

    grouped = sidecar.geometry.groupby(sidecar["tile_key"].to_numpy(), sort=True)
    # A tile's grid footprints share their edges and never overlap (a coverage): the coverage
    # union is the same polygon as union_all's, 50x faster (0.01 s instead of 0.5 s a full tile).
    return {key: shapely.coverage_union_all(shapely.set_precision(g.to_numpy(), 1e-7)) for key, g in grouped}
