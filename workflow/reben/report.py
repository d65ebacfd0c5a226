"""The dataset report (rule write_report): what went in, what was dropped and why, how labels
and countries spread over the splits, whether the splits leak, and the band statistics.

Every number comes from the dataset's tables (funnel.csv, metadata.parquet, the flagged
metadata file and the sidecar GeoParquet); only the example quick-looks read pixels, and the
band statistics arrive ready-made from reben.bandstats. The page (index.html) embeds its
images as data URIs, so it opens from disk and can be mailed; report.json holds the same
numbers (each number in the page carries a `data-key`, its path in report.json), and
tables/*.csv and figures/*.png are written beside it.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .assembly import DATASET_DROP_REASONS as DROP_REASONS
from .errors import ReportError
from .grid import tile_key_of
from .io import read_json, staged_dir, write_json, write_text
from .labels import class_table, configured_table
from .logs import Progress
from .splits import SPLITS

LOG = logging.getLogger("reben.report")

SPLIT_COLOURS = {"train": "#1f77b4", "validation": "#ff7f0e", "test": "#2ca02c"}
FUNNEL_COLUMNS = ("grid_patches", *DROP_REASONS, "kept", "flagged", "clean", *SPLITS)
FLAG_COLUMNS = ("contains_cloud_or_shadow", "contains_seasonal_snow")
TOTAL = "TOTAL"
CLC_LEGEND = Path(__file__).resolve().parents[2] / "resources" / "clc_legend.csv"

PATCH_SETS = {
    "kept": ("kept patches (metadata.parquet and metadata_for_patches_with_snow_cloud_or_shadow.parquet)"),
    "clean": "clean patches (metadata.parquet: kept patches without snow, cloud or shadow)",
}
"""The patch sets a report can count (config report.patch_set); every section counts the same."""


def report_class_table(nomenclature: str = "reben19", path=None, unlabeled_codes=()):
    """The class table the report counts labels by (labels.nomenclature, labels.class_table,
    labels.unlabeled_codes): the one place the report reads it."""
    return configured_table(nomenclature, path, unlabeled_codes)


# The default class table (reBEN's 19 classes); the report of a build takes the configured one.
CLASSES_19 = class_table().classes


# ------------------------------------------------------------------ numbers


def _require(frame: pd.DataFrame, columns, name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReportError(f"{name}: no column {', '.join(missing)}; rebuild it with this workflow")


def read_funnel(path) -> pd.DataFrame:
    """funnel.csv indexed by tile key (the first column), TOTAL last, the counts as int."""
    frame = pd.read_csv(path, dtype={0: str})
    frame = frame.set_index(frame.columns[0])
    frame.index.name = "tile_key"
    _require(frame, FUNNEL_COLUMNS, str(path))
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
        checks.append({"name": name, "ok": ok, "detail": detail or (f"fails for {', '.join(bad)}" if bad else "")})

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


def dataset_sizes(trees: dict, dist_files) -> dict:
    """Files and bytes of each dataset tree, and the bytes of each file of results/dist."""
    out = {"trees": {}, "dist": {}}
    for name, path in trees.items():
        if path:
            files, size = folder_bytes(path)
            out["trees"][name] = {"files": files, "bytes": size, "gb": size / 1e9}
    for path in dist_files:
        size = Path(path).stat().st_size
        out["dist"][Path(path).name] = {"bytes": size, "gb": size / 1e9}
    out["trees_gb"] = sum(t["bytes"] for t in out["trees"].values()) / 1e9
    out["dist_gb"] = sum(t["bytes"] for t in out["dist"].values()) / 1e9
    return out


def leakage_check(overlaps: dict, max_share: float) -> dict:
    """Fails when a larger share of validation or test patches than `max_share` overlaps train."""
    bad, parts = [], []
    for pair in ("validation_vs_train", "test_vs_train"):
        o = overlaps[pair]
        first = pair.split("_vs_")[0]
        parts.append(
            f"{first}: {o['overlapping']} of {o['patches']} overlap train"
            + (f" (up to {100 * o['max_pair_overlap_share']:.1f} % of a patch)" if o["overlapping"] else "")
        )
        if o["overlapping_share"] > max_share:
            bad.append(first)
    detail = "; ".join(parts) + f"; accepted share: report.max_overlapping_share = {max_share:g}"
    if bad:
        detail += "; set splits.overlapping_tiles, or accept it with report.max_overlapping_share"
    return {
        "name": "validation and test patches overlapping train: within report.max_overlapping_share",
        "ok": not bad,
        "detail": detail,
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


# ------------------------------------------------------------------ figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return path


def clc_legend(path=CLC_LEGEND) -> dict[int, str]:
    """The official CLC legend colour of every level-3 code (and 999), as "#rrggbb"."""
    import csv

    with open(path, newline="") as f:
        return {int(r["code"]): "#{:02x}{:02x}{:02x}".format(*map(int, r["rgb"].split())) for r in csv.DictReader(f)}


def class_colours(classes, table=None) -> dict[str, str]:
    """A class's colour: the CLC legend colour of its lowest level-3 code."""
    table = table or report_class_table()
    legend = clc_legend()
    return {c: legend[min(code for code, cls in table.code_class.items() if cls == c)] for c in classes}


def plot_label_frequencies(freq: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 7))
    y = np.arange(len(freq))
    height = 0.8 / len(SPLITS)
    for i, split in enumerate(SPLITS):
        ax.barh(y + (i - 1) * height, freq[split], height, label=split, color=SPLIT_COLOURS[split])
    ax.set_yticks(y, [c if len(c) < 48 else c[:45] + "..." for c in freq.index], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("patches with the label")
    ax.legend()
    ax.set_title("Label frequencies per split")
    return _save(fig, path)


def plot_cooccurrence(co: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 8))
    image = ax.imshow(np.log10(co.to_numpy() + 1.0), cmap="viridis")
    ticks = np.arange(len(co))
    short = [c if len(c) < 30 else c[:27] + "..." for c in co.index]
    ax.set_xticks(ticks, short, rotation=90, fontsize=7)
    ax.set_yticks(ticks, short, fontsize=7)
    fig.colorbar(image, ax=ax, label="log10(patches with both labels + 1)")
    ax.set_title("Label co-occurrence")
    return _save(fig, path)


def read_borders_near(path, kept):
    """The borders around the kept patches (a few degrees of margin), in EPSG:4326."""
    import geopandas as gpd
    import pyogrio
    import shapely
    from pyproj import Transformer

    xmin, ymin, xmax, ymax = kept.to_crs(4326).total_bounds if len(kept) else (-180, -90, 180, 90)
    pad = max(1.0, 0.2 * max(xmax - xmin, ymax - ymin))
    area = shapely.box(max(xmin - pad, -180), max(ymin - pad, -90), min(xmax + pad, 180), min(ymax + pad, 90))
    crs = pyogrio.read_info(path)["crs"]
    if crs:  # pyogrio filters by a box in the file's own CRS
        area = shapely.transform(
            shapely.segmentize(area, 0.5), Transformer.from_crs(4326, crs, always_xy=True).transform, interleaved=False
        )
    borders = gpd.read_file(path, bbox=area.bounds)
    return borders.to_crs(4326) if borders.crs else borders


def tile_outlines(sidecar):
    """One outline per tile: the union of its grid's footprints (EPSG:4326 GeoSeries by tile key)."""
    import shapely

    grouped = sidecar.geometry.groupby(sidecar["tile_key"].to_numpy(), sort=True)
    return {key: shapely.union_all(shapely.set_precision(g.to_numpy(), 1e-7)) for key, g in grouped}


def plot_map(
    kept, borders, path: Path, max_footprints: int, name_field: str | None = None, outlines: dict | None = None
) -> Path:
    """Kept patches coloured by split over the country borders and the tile outlines, in
    longitude/latitude."""
    plt = _pyplot()
    from matplotlib.collections import PolyCollection

    fig, ax = plt.subplots(figsize=(9, 8))
    if outlines:
        import shapely

        minx, miny, maxx, maxy = shapely.total_bounds(list(outlines.values()))
    elif len(kept):
        minx, miny, maxx, maxy = kept.total_bounds
    else:
        minx, miny, maxx, maxy = -10.0, 35.0, 30.0, 70.0
    pad = max(0.25, 0.1 * max(maxx - minx, maxy - miny))
    view = (minx - pad, miny - pad, maxx + pad, maxy + pad)
    if borders is not None and len(borders):
        borders.boundary.plot(ax=ax, color="#555555", linewidth=0.6, zorder=1)
        if name_field in borders.columns:
            import shapely

            inside = borders[borders.intersects(shapely.box(*view))]
            for name, geom in zip(inside[name_field], inside.geometry):
                point = shapely.clip_by_rect(geom, *view).representative_point()
                ax.annotate(str(name), (point.x, point.y), color="#555555", fontsize=9, ha="center", zorder=3)
    for split in SPLITS:
        part = kept[kept["split"] == split]
        if not len(part):
            continue
        label = f"{split} ({len(part):,})"
        if len(kept) <= max_footprints:
            import shapely

            rings = [np.asarray(shapely.get_coordinates(g.exterior)) for g in part.geometry]
            ax.add_collection(
                PolyCollection(rings, facecolors=SPLIT_COLOURS[split], edgecolors="none", label=label, zorder=2)
            )
        else:
            c = part.geometry.bounds
            ax.scatter(
                (c.minx + c.maxx) / 2,
                (c.miny + c.maxy) / 2,
                s=0.5,
                marker="s",
                linewidths=0,
                color=SPLIT_COLOURS[split],
                label=label,
                zorder=2,
            )
    for i, (key, outline) in enumerate(sorted((outlines or {}).items())):
        import shapely

        for ring in shapely.get_exterior_ring(shapely.get_parts(outline)):
            xy = shapely.get_coordinates(ring)
            ax.plot(
                xy[:, 0],
                xy[:, 1],
                color="#222222",
                linewidth=1.0,
                linestyle="--",
                zorder=4,
                label="tile outlines" if i == 0 else None,
            )
        corner = shapely.get_coordinates(outline)
        ax.annotate(
            key.rsplit("_", 1)[-1] + " " + key.split("_")[2][:8],
            (corner[:, 0].min(), corner[:, 1].max()),
            fontsize=7,
            color="#222222",
            zorder=5,
            va="bottom",
        )
    ax.set_xlim(view[0], view[2])
    ax.set_ylim(view[1], view[3])
    ax.set_aspect(1.0 / max(math.cos(math.radians((view[1] + view[3]) / 2)), 0.1))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.legend(loc="upper right", markerscale=10)
    ax.set_title(f"Patches by split ({len(kept):,}) and tile outlines")
    return _save(fig, path)


def quicklook_rgb(s2_dir, patch_id: str) -> np.ndarray:
    """B04/B03/B02 as an (h, w, 3) float image in [0, 1], stretched over its 2-98 % range."""
    import rasterio

    folder = Path(s2_dir) / tile_key_of(patch_id) / patch_id
    bands = []
    for band in ("B04", "B03", "B02"):
        with rasterio.open(folder / f"{patch_id}_{band}.tif") as src:
            bands.append(src.read(1).astype("float64"))
    rgb = np.dstack(bands)
    lo, hi = np.percentile(rgb, (2, 98))
    return np.clip((rgb - lo) / max(hi - lo, 1.0), 0, 1)


def reference_map_classes(refmap_dir, patch_id: str, classes, table=None) -> np.ndarray:
    """The reference map as class indices (0..n-1), len(classes) for UNLABELED codes."""
    import rasterio

    path = Path(refmap_dir) / tile_key_of(patch_id) / patch_id / f"{patch_id}_reference_map.tif"
    with rasterio.open(path) as src:
        codes = src.read(1)
    table = table or class_table()
    if list(classes) != list(table.classes):
        raise ValueError("class order differs from the class table")
    # Unknown numbers cannot occur in a map the workflow wrote; they would read as UNLABELED.
    lut = np.where(table.lookup() == 255, len(table.classes), table.lookup()).astype(np.int64)
    return lut[np.clip(codes, 0, lut.size - 1)]


def reference_map_rgb(refmap_dir, patch_id: str) -> np.ndarray:
    """The reference map in the CLC legend colours of its codes, (h, w, 3) uint8."""
    import rasterio

    path = Path(refmap_dir) / tile_key_of(patch_id) / patch_id / f"{patch_id}_reference_map.tif"
    with rasterio.open(path) as src:
        codes = src.read(1)
    legend = clc_legend()
    lut = np.zeros((max(legend) + 1, 3), dtype=np.uint8)
    for code, colour in legend.items():
        lut[code] = [int(colour[k : k + 2], 16) for k in (1, 3, 5)]
    return lut[np.clip(codes, 0, len(lut) - 1)]


def plot_example(s2_dir, refmap_dir, patch_id: str, name: str, path: Path) -> Path:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(5, 2.7))
    left.imshow(quicklook_rgb(s2_dir, patch_id), interpolation="nearest")
    left.set_title("B04/B03/B02", fontsize=8)
    right.imshow(reference_map_rgb(refmap_dir, patch_id), interpolation="nearest")
    right.set_title("reference map (CLC legend colours)", fontsize=8)
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(name if len(name) < 60 else name[:57] + "...", fontsize=9)
    return _save(fig, path)


def plot_s1_time_gaps(patches: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3))
    gaps = (
        patches["s1_time_gap_days"].dropna().to_numpy(dtype="float64")
        if "s1_time_gap_days" in patches.columns
        else np.array([])
    )
    top = max(1, int(np.ceil(gaps.max()))) if gaps.size else 1
    for split in SPLITS:
        part = patches.loc[patches["split"] == split, "s1_time_gap_days"].dropna() if gaps.size else []
        ax.hist(
            part,
            bins=np.arange(0, top + 0.5, 0.5),
            histtype="step",
            linewidth=1.5,
            color=SPLIT_COLOURS[split],
            label=split,
        )
    ax.set_xlabel("days between Sentinel-2 sensing and Sentinel-1 acquisition")
    ax.set_ylabel("patches")
    ax.legend()
    ax.set_title(f"Sentinel-1 time gap ({gaps.size:,} patches)")
    return _save(fig, path)


# ------------------------------------------------------------------ page


def _clean(value):
    """JSON-safe: numpy scalars to Python, NaN to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _table_dict(frame: pd.DataFrame) -> dict:
    return {str(i): {str(c): frame.at[i, c] for c in frame.columns} for i in frame.index}


def lookup(report: dict, key: str):
    """The value at a `/`-separated path of report.json (the page's data-key)."""
    value = report
    for part in key.split("/"):
        value = value[part]
    return value


def format_number(value, decimals: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{decimals}f}"


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def render_html(report: dict, figures: dict, template_path) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined
    from markupsafe import Markup, escape

    def cell(key: str, decimals: int = 0, tag: str = "td") -> Markup:
        value = lookup(report, key)
        return Markup(
            f'<{tag} class="num" data-key="{escape(key)}" data-decimals="{decimals}">'
            f"{escape(format_number(value, decimals))}</{tag}>"
        )

    template_path = Path(template_path)
    env = Environment(
        loader=FileSystemLoader(template_path.parent),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template(template_path.name)
    return template.render(
        report=report,
        cell=cell,
        img={k: data_uri(v) for k, v in figures.items()},
        splits=list(SPLITS),
        drop_reasons=list(DROP_REASONS),
    )


def build_report(
    metadata_path,
    flagged_path,
    sidecar_path,
    funnel_path,
    band_statistics_path,
    borders_path,
    s2_dir,
    refmap_dir,
    template_path,
    html_path,
    json_path,
    tables_dir,
    figures_dir,
    tiles=(),
    provenance_path=None,
    trees=None,
    dist_files=(),
    patch_set: str = "kept",
    max_overlapping_share: float = 0.0,
    map_max_footprints: int = 20000,
    name_field: str | None = None,
    nomenclature: str = "reben19",
    class_table_path=None,
    unlabeled_codes=(),
) -> dict:
    """Write the report (index.html, report.json, the tables and figures folders) and return
    report.json's contents. Every section counts `patch_set` (PATCH_SETS); labels go by the
    configured class table (report_class_table). `tiles` are the
    tile.json files, `provenance_path` PROVENANCE.json, `trees` {name: folder} the dataset's
    trees and `dist_files` the files of results/dist whose sizes the page shows. Folders are
    built as `<name>.tmp` and renamed, files written to temporary names, the page last."""
    import json

    import geopandas as gpd
    import pyarrow.parquet as pq

    from .overlaps import split_overlaps

    if patch_set not in PATCH_SETS:
        raise ReportError(f"report.patch_set: {patch_set!r} is not one of {', '.join(PATCH_SETS)}")
    start = time.monotonic()
    tables_dir, figures_dir = Path(tables_dir), Path(figures_dir)
    with staged_dir(tables_dir) as tables_tmp, staged_dir(figures_dir) as figures_tmp:
        table = report_class_table(nomenclature, class_table_path, unlabeled_codes)
        classes = list(table.classes)

        metadata = pd.read_parquet(metadata_path)
        flagged = pd.read_parquet(flagged_path)
        for frame, path in ((metadata, metadata_path), (flagged, flagged_path)):
            _require(frame, ["patch_id", "labels", "split", "country"], str(path))
        schema = pq.read_schema(sidecar_path)
        geo = json.loads((schema.metadata or {}).get(b"geo", b"{}"))
        wanted = {
            "patch_id",
            "tile_key",
            "epsg",
            "split",
            "drop_reason",
            "s1_time_gap_days",
            *FLAG_COLUMNS,
            geo.get("primary_column", "geometry"),
        }
        columns = [c for c in schema.names if c in wanted or c.startswith("fraction_")]
        sidecar = gpd.read_parquet(sidecar_path, columns=columns)
        _require(sidecar, ["patch_id", "tile_key", "epsg", "split", "drop_reason", *FLAG_COLUMNS], str(sidecar_path))
        funnel = read_funnel(funnel_path)
        LOG.info(
            "report: %d tiles, %d grid patches, %d in metadata.parquet, %d flagged; counting %s",
            len(funnel) - 1,
            len(sidecar),
            len(metadata),
            len(flagged),
            PATCH_SETS[patch_set],
        )

        # The one patch set every section counts.
        chosen = pd.concat([metadata, flagged], ignore_index=True) if patch_set == "kept" else metadata
        chosen = chosen.sort_values("patch_id", ignore_index=True)
        kept = sidecar[sidecar["drop_reason"].fillna("").eq("")]
        members = sidecar[sidecar["patch_id"].isin(chosen["patch_id"])]

        checks = funnel_checks(funnel, sidecar, metadata, flagged, classes)
        labels = label_statistics(chosen, classes)
        balance = class_balance(labels["frequencies"], len(chosen))
        countries = countries_by_split(chosen)
        distances = nearest_train_distances(members)
        leakage = leakage_summary(distances)
        overlaps, overlap_pairs = split_overlaps(members)
        leakage["overlaps"] = overlaps
        checks.append(leakage_check(overlaps, max_overlapping_share))
        for c in checks:
            (LOG.info if c["ok"] else LOG.warning)(
                "check %s: %s %s", "passed" if c["ok"] else "FAILED", c["name"], c["detail"]
            )
        LOG.info(
            "leakage: distances and overlaps of %d validation and %d test patches in %.1f s",
            leakage["validation"]["patches"],
            leakage["test"]["patches"],
            time.monotonic() - start,
        )
        band_stats = read_json(band_statistics_path)
        examples = choose_examples(chosen, sidecar, classes)
        tile_info = tile_rows(funnel, [read_json(p) for p in tiles])
        outlines = tile_outlines(sidecar.to_crs(4326))
        epsg = sidecar.groupby("tile_key")["epsg"].first()
        for key, info in tile_info.items():
            info["bbox"] = list(outlines[key].bounds) if key in outlines else None
            info["epsg"] = int(epsg[key]) if key in epsg.index else None
        provenance = provenance_summary(read_json(provenance_path)) if provenance_path else None
        sizes = dataset_sizes(trees or {}, dist_files)

        tables = {
            "funnel.csv": funnel,
            "tiles.csv": pd.DataFrame.from_dict(tile_info, orient="index").drop(columns="bbox").rename_axis("tile_key"),
            "label_frequencies.csv": labels["frequencies"].rename_axis("class"),
            "label_cooccurrence.csv": labels["cooccurrence"].rename_axis("class"),
            "labels_per_patch.csv": labels["labels_per_patch"],
            "countries_by_split.csv": countries,
        }
        for name, frame in tables.items():
            frame.to_csv(tables_tmp / name)
        distances.to_csv(tables_tmp / "leakage.csv", index=False)
        overlap_pairs.to_csv(tables_tmp / "overlaps.csv", index=False)

        figures = {
            "label_frequencies": plot_label_frequencies(labels["frequencies"], figures_tmp / "label_frequencies.png"),
            "cooccurrence": plot_cooccurrence(labels["cooccurrence"], figures_tmp / "label_cooccurrence.png"),
            "s1_time_gaps": plot_s1_time_gaps(members, figures_tmp / "s1_time_gaps.png"),
        }
        borders = read_borders_near(borders_path, kept) if borders_path else None
        figures["map"] = plot_map(
            members.to_crs(4326), borders, figures_tmp / "map.png", map_max_footprints, name_field, outlines=outlines
        )
        colours = class_colours(classes, table)
        with_patch = [name for name, pid in examples.items() if pid]
        progress = Progress("report: example quick-looks", len(with_patch))
        for j, (name, patch_id) in enumerate(examples.items(), 1):
            if patch_id:
                figures[f"example_{j:02d}"] = plot_example(
                    s2_dir, refmap_dir, patch_id, name, figures_tmp / f"example_{j:02d}.png"
                )
                progress.update(with_patch.index(name) + 1)

        report = _clean(
            {
                "summary": {
                    "tiles": len(funnel) - 1,
                    "patches": len(metadata),
                    "flagged_patches": len(flagged),
                    "kept_patches": len(metadata) + len(flagged),
                    "checks_failed": sum(not c["ok"] for c in checks),
                },
                "patch_set": {"name": patch_set, "description": PATCH_SETS[patch_set], "patches": len(chosen)},
                "checks": checks,
                "funnel": _table_dict(funnel),
                "tiles": tile_info,
                "splits": split_shares(chosen),
                "flags": flag_breakdown(kept),
                "labels": {
                    "classes": classes,
                    "frequencies": _table_dict(labels["frequencies"]),
                    "balance": balance,
                    "cooccurrence": _table_dict(labels["cooccurrence"]),
                    "labels_per_patch": _table_dict(labels["labels_per_patch"]),
                },
                "countries": _table_dict(countries),
                "leakage": leakage,
                "s1_time_gaps": s1_time_gaps(members),
                "band_statistics": band_stats,
                "sizes": sizes,
                "provenance": provenance,
                "examples": {
                    name: {
                        "patch_id": pid,
                        "figure": f"figures/example_{j:02d}.png" if pid else None,
                        "colour": colours[name],
                    }
                    for j, (name, pid) in enumerate(examples.items(), 1)
                },
            }
        )
        html = render_html(report, figures, template_path)
    write_json(report, json_path)
    write_text(html, html_path)
    LOG.info(
        "report: %d checks (%d failed), %d figures (%d of %d classes with an example), written in %.1f s",
        len(checks),
        report["summary"]["checks_failed"],
        len(figures),
        len(with_patch),
        len(classes),
        time.monotonic() - start,
    )
    return report
