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
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .grid import tile_key_of
from .errors import RebenError
from .io import read_json, write_json
from .logs import Progress
from .selection import DROP_REASONS

LOG = logging.getLogger("reben.report")

from .labels import class_table, configured_table

SPLITS = ("train", "validation", "test")
SPLIT_COLOURS = {"train": "#1f77b4", "validation": "#ff7f0e", "test": "#2ca02c"}
FUNNEL_COLUMNS = ("grid_patches", *DROP_REASONS, "kept", "flagged", "clean", *SPLITS)
FLAG_COLUMNS = ("contains_cloud_or_shadow", "contains_seasonal_snow")
TOTAL = "TOTAL"

# The default class table (reBEN's 19 classes); the report of a build takes the configured one.
CLASSES_19 = class_table().classes


class ReportError(RebenError):
    """An input of the report lacks what the report needs."""


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


def funnel_checks(funnel: pd.DataFrame, sidecar: pd.DataFrame, metadata: pd.DataFrame,
                  flagged: pd.DataFrame, classes=CLASSES_19) -> list[dict]:
    """Does every number add up? One entry per check: name, ok, detail (what differs)."""
    checks = []

    def check(name, ok_rows, detail=""):
        bad = [str(t) for t, ok in ok_rows.items() if not ok] if isinstance(ok_rows, pd.Series) else []
        ok = not bad if isinstance(ok_rows, pd.Series) else bool(ok_rows)
        checks.append({"name": name, "ok": ok,
                       "detail": detail or (f"fails for {', '.join(bad)}" if bad else "")})

    f = funnel
    check(f"grid patches = {' + '.join(DROP_REASONS)} + kept",
          f["grid_patches"] == f[list(DROP_REASONS)].sum(axis=1) + f["kept"])
    check("kept = flagged + clean", f["kept"] == f["flagged"] + f["clean"])
    check("kept = train + validation + test", f["kept"] == f[list(SPLITS)].sum(axis=1))
    tiles = f.drop(index=TOTAL)
    check("TOTAL row = sum of the tile rows", (tiles.sum() == f.loc[TOTAL]).all(),
          "" if (tiles.sum() == f.loc[TOTAL]).all() else
          f"differs in {', '.join(c for c in f.columns if tiles[c].sum() != f.loc[TOTAL, c])}")
    recount = sidecar_funnel(sidecar)
    same = recount.reindex(f.index).fillna(-1).astype("int64").eq(f).all(axis=1) & \
        f.index.to_series().isin(recount.index)
    extra = sorted(set(recount.index) - set(f.index))
    check("funnel.csv = counts of the sidecar patches.parquet", same & (not extra),
          f"tiles missing from funnel.csv: {', '.join(extra)}" if extra else "")
    check("metadata.parquet rows = TOTAL clean", len(metadata) == f.loc[TOTAL, "clean"],
          f"{len(metadata)} rows, {f.loc[TOTAL, 'clean']} clean")
    check("flagged metadata rows = TOTAL flagged", len(flagged) == f.loc[TOTAL, "flagged"],
          f"{len(flagged)} rows, {f.loc[TOTAL, 'flagged']} flagged")
    both = pd.concat([metadata["split"], flagged["split"]])
    per_split = {s: int((both == s).sum()) for s in SPLITS}
    check("metadata files' splits = TOTAL train, validation, test",
          all(per_split[s] == f.loc[TOTAL, s] for s in SPLITS),
          ", ".join(f"{s} {per_split[s]} vs {f.loc[TOTAL, s]}" for s in SPLITS))
    unknown = sorted(set(metadata["labels"].explode().dropna()) - set(classes))
    check("labels are classes of the class table", not unknown,
          f"unknown: {', '.join(unknown)}" if unknown else "")
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
    per_patch = pd.DataFrame({s: np.bincount(n_labels[split == s], minlength=top + 1) for s in SPLITS},
                             index=pd.RangeIndex(top + 1, name="labels"))
    per_patch["total"] = per_patch[list(SPLITS)].sum(axis=1)
    return {"frequencies": freq.astype("int64"), "cooccurrence": cooccurrence.astype("int64"),
            "labels_per_patch": per_patch.astype("int64")}


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
            result = pd.DataFrame({"patch_id": group["patch_id"].to_numpy(), "split": split,
                                   "nearest_train_patch_id": "", "distance_m": np.nan})
            if len(train):
                tree_geoms = train.geometry.to_crs(epsg=int(epsg)).to_numpy()
                tree = STRtree(tree_geoms)
                (qi, ti), dist = tree.query_nearest(group.geometry.to_crs(epsg=int(epsg)).to_numpy(),
                                                    return_distance=True, all_matches=False)
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
        out[split] = {"patches": int((distances["split"] == split).sum()),
                      "min_m": float(d.min()) if d.size else None,
                      "median_m": float(np.median(d)) if d.size else None,
                      "max_m": float(d.max()) if d.size else None,
                      "touching": int((d == 0).sum())}
    return out


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


def class_colours(classes) -> dict[str, str]:
    """A fixed colour per class (tab20 without its grey, which marks UNLABELED)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex
    tab = [to_hex(c) for i, c in enumerate(colormaps["tab20"].colors) if i not in (14, 15)]
    tab += ["#393b79", "#637939"]
    return {c: tab[i] for i, c in enumerate(classes)}


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
    ax.set_title("Label frequencies per split (metadata.parquet)")
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
    ax.set_title("Label co-occurrence (metadata.parquet)")
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
        area = shapely.transform(shapely.segmentize(area, 0.5),
                                 Transformer.from_crs(4326, crs, always_xy=True).transform, interleaved=False)
    borders = gpd.read_file(path, bbox=area.bounds)
    return borders.to_crs(4326) if borders.crs else borders


def plot_map(kept, borders, path: Path, max_footprints: int, name_field: str | None = None) -> Path:
    """Kept patches coloured by split over the country borders, in longitude/latitude."""
    plt = _pyplot()
    from matplotlib.collections import PolyCollection
    fig, ax = plt.subplots(figsize=(9, 8))
    if len(kept):
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
            ax.add_collection(PolyCollection(rings, facecolors=SPLIT_COLOURS[split], edgecolors="none",
                                             label=label, zorder=2))
        else:
            c = part.geometry.bounds
            ax.scatter((c.minx + c.maxx) / 2, (c.miny + c.maxy) / 2, s=0.5, marker="s", linewidths=0,
                       color=SPLIT_COLOURS[split], label=label, zorder=2)
    ax.set_xlim(view[0], view[2])
    ax.set_ylim(view[1], view[3])
    ax.set_aspect(1.0 / max(math.cos(math.radians((view[1] + view[3]) / 2)), 0.1))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.legend(loc="upper right", markerscale=10)
    ax.set_title(f"Kept patches by split ({len(kept):,})")
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


def plot_example(s2_dir, refmap_dir, patch_id: str, name: str, classes, colours, path: Path,
                 table=None) -> Path:
    plt = _pyplot()
    from matplotlib.colors import ListedColormap
    fig, (left, right) = plt.subplots(1, 2, figsize=(5, 2.7))
    left.imshow(quicklook_rgb(s2_dir, patch_id), interpolation="nearest")
    left.set_title("B04/B03/B02", fontsize=8)
    cmap = ListedColormap([colours[c] for c in classes] + ["#c7c7c7"])
    right.imshow(reference_map_classes(refmap_dir, patch_id, classes, table), cmap=cmap,
                 vmin=-0.5, vmax=len(classes) + 0.5, interpolation="nearest")
    right.set_title("reference map", fontsize=8)
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(name if len(name) < 60 else name[:57] + "...", fontsize=9)
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
        return Markup(f'<{tag} class="num" data-key="{escape(key)}" data-decimals="{decimals}">'
                      f"{escape(format_number(value, decimals))}</{tag}>")

    template_path = Path(template_path)
    env = Environment(loader=FileSystemLoader(template_path.parent), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    template = env.get_template(template_path.name)
    return template.render(report=report, cell=cell, img={k: data_uri(v) for k, v in figures.items()},
                           splits=SPLITS, funnel_columns=FUNNEL_COLUMNS)


def write_text(text: str, path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _fresh_dir(final: Path) -> Path:
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def build_report(metadata_path, flagged_path, sidecar_path, funnel_path, band_statistics_path,
                 borders_path, s2_dir, refmap_dir, template_path, html_path, json_path,
                 tables_dir, figures_dir, map_max_footprints: int = 20000,
                 name_field: str | None = None, nomenclature: str = "reben19",
                 class_table_path=None, unlabeled_codes=()) -> dict:
    """Write the report (index.html, report.json, the tables and figures folders) and return
    report.json's contents. Folders are built as `<name>.tmp` and renamed, files written to
    temporary names, the page last."""
    import geopandas as gpd

    from .geotiff import replace_dir

    start = time.monotonic()
    tables_dir, figures_dir = Path(tables_dir), Path(figures_dir)
    tables_tmp, figures_tmp = _fresh_dir(tables_dir), _fresh_dir(figures_dir)
    table = configured_table(nomenclature, class_table_path, unlabeled_codes)
    classes = list(table.classes)

    metadata = pd.read_parquet(metadata_path)
    flagged = pd.read_parquet(flagged_path)
    for frame, path in ((metadata, metadata_path), (flagged, flagged_path)):
        _require(frame, ["patch_id", "labels", "split", "country"], str(path))
    import json

    import pyarrow.parquet as pq
    schema = pq.read_schema(sidecar_path)
    geo = json.loads((schema.metadata or {}).get(b"geo", b"{}"))
    wanted = {"patch_id", "tile_key", "epsg", "split", "drop_reason", *FLAG_COLUMNS,
              geo.get("primary_column", "geometry")}
    columns = [c for c in schema.names if c in wanted or c.startswith("fraction_")]
    sidecar = gpd.read_parquet(sidecar_path, columns=columns)
    _require(sidecar, ["patch_id", "tile_key", "epsg", "split", "drop_reason", *FLAG_COLUMNS],
             str(sidecar_path))
    funnel = read_funnel(funnel_path)
    LOG.info("report: %d tiles, %d grid patches, %d in metadata.parquet, %d flagged",
             len(funnel) - 1, len(sidecar), len(metadata), len(flagged))

    checks = funnel_checks(funnel, sidecar, metadata, flagged, classes)
    for c in checks:
        (LOG.info if c["ok"] else LOG.warning)("check %s: %s %s", "passed" if c["ok"] else "FAILED",
                                               c["name"], c["detail"])
    labels = label_statistics(metadata, classes)
    countries = countries_by_split(metadata)
    kept = sidecar[sidecar["drop_reason"].fillna("").eq("")]
    distances = nearest_train_distances(kept)
    leakage = leakage_summary(distances)
    LOG.info("leakage: nearest train patch of %d validation and %d test patches in %.1f s",
             leakage["validation"]["patches"], leakage["test"]["patches"], time.monotonic() - start)
    band_stats = read_json(band_statistics_path)
    examples = choose_examples(metadata, sidecar, classes)

    tables = {
        "funnel.csv": funnel,
        "label_frequencies.csv": labels["frequencies"].rename_axis("class"),
        "label_cooccurrence.csv": labels["cooccurrence"].rename_axis("class"),
        "labels_per_patch.csv": labels["labels_per_patch"],
        "countries_by_split.csv": countries,
    }
    for name, frame in tables.items():
        frame.to_csv(tables_tmp / name)
    distances.to_csv(tables_tmp / "leakage.csv", index=False)

    figures = {
        "label_frequencies": plot_label_frequencies(labels["frequencies"], figures_tmp / "label_frequencies.png"),
        "cooccurrence": plot_cooccurrence(labels["cooccurrence"], figures_tmp / "label_cooccurrence.png"),
    }
    borders = read_borders_near(borders_path, kept) if borders_path else None
    figures["map"] = plot_map(kept.to_crs(4326), borders, figures_tmp / "map.png", map_max_footprints,
                              name_field)
    colours = class_colours(classes)
    progress = Progress("report: example quick-looks", len(classes))
    for j, (name, patch_id) in enumerate(examples.items(), 1):
        if patch_id:
            figures[f"example_{j:02d}"] = plot_example(s2_dir, refmap_dir, patch_id, name, classes, colours,
                                                       figures_tmp / f"example_{j:02d}.png", table)
        progress.update(j)

    report = _clean({
        "summary": {"tiles": len(funnel) - 1, "patches": len(metadata), "flagged_patches": len(flagged),
                    "checks_failed": sum(not c["ok"] for c in checks)},
        "checks": checks,
        "funnel": _table_dict(funnel),
        "labels": {"classes": classes,
                   "source": "metadata.parquet",
                   "frequencies": _table_dict(labels["frequencies"]),
                   "cooccurrence": _table_dict(labels["cooccurrence"]),
                   "labels_per_patch": _table_dict(labels["labels_per_patch"])},
        "countries": _table_dict(countries),
        "leakage": leakage,
        "band_statistics": band_stats,
        "examples": {name: {"patch_id": pid, "figure": f"figures/example_{j:02d}.png" if pid else None,
                            "colour": colours[name]}
                     for j, (name, pid) in enumerate(examples.items(), 1)},
    })
    html = render_html(report, figures, template_path)
    replace_dir(tables_tmp, tables_dir)
    replace_dir(figures_tmp, figures_dir)
    write_json(report, json_path)
    write_text(html, html_path)
    LOG.info("report: %d checks (%d failed), %d figures, written in %.1f s", len(checks),
             report["summary"]["checks_failed"], len(figures), time.monotonic() - start)
    return report
