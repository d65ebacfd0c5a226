"""The report's figures: the matplotlib plots (label frequencies, co-occurrence, the map, the
Sentinel-1 time gap, one example per class), their colours (splits; classes in the CLC legend's
colours) and the few reads they need beyond the numbers (the borders near the patches, the
quick-look and reference-map pixels). Each plot writes one PNG and returns its path.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from reben.dataset.splits import SPLITS
from reben.grid import tile_key_of
from reben.labels.classes import class_table

from .stats import report_class_table

SPLIT_COLOURS = {"train": "#1f77b4", "validation": "#ff7f0e", "test": "#2ca02c"}
CLC_LEGEND = Path(__file__).resolve().parents[3] / "resources" / "clc_legend.csv"


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
