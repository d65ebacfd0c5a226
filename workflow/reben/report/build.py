"""The report's orchestration (rule write_report): build_report reads the dataset's tables,
counts with reben.report.stats, draws with reben.report.figures, renders with
reben.report.page, and writes report.json, tables/*.csv, figures/*.png and index.html.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from reben.errors import ReportError
from reben.io import read_json, staged_dir, write_json, write_text
from reben.logs import Progress

from .figures import (
    class_colours,
    plot_cooccurrence,
    plot_example,
    plot_label_frequencies,
    plot_map,
    plot_s1_time_gaps,
    read_borders_near,
)
from .page import render_html
from .stats import (
    CHECK_DEFAULTS,
    FLAG_COLUMNS,
    choose_examples,
    class_balance,
    countries_by_split,
    dataset_sizes,
    flag_breakdown,
    funnel_checks,
    label_statistics,
    leakage_check,
    leakage_summary,
    nearest_train_distances,
    provenance_summary,
    read_funnel,
    report_class_table,
    require_columns,
    s1_time_gaps,
    split_shares,
    tile_outlines,
    tile_rows,
    train_coverage_check,
)

LOG = logging.getLogger("reben.report")

PATCH_SETS = {
    "kept": ("kept patches (metadata.parquet and metadata_for_patches_with_snow_cloud_or_shadow.parquet)"),
    "clean": "clean patches (metadata.parquet: kept patches without snow, cloud or shadow)",
}
"""The patch sets a report can count (config report.patch_set); every section counts the same."""


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
    archive_summaries=(),
    patch_set: str = "kept",
    max_overlapping_share: float = CHECK_DEFAULTS["report.max_overlapping_share"],
    min_train_patches_per_class: int = CHECK_DEFAULTS["report.min_train_patches_per_class"],
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
    trees and `dist_files` the files of results/dist whose sizes the page shows, `archive_summaries`
    archive_tree's summaries (the trees' file counts and bytes). Folders are
    built as `<name>.tmp` and renamed, files written to temporary names, the page last."""
    import json

    import geopandas as gpd
    import pyarrow.parquet as pq

    from reben.dataset.overlaps import split_overlaps

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
            require_columns(frame, ["patch_id", "labels", "split", "country"], str(path))
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
        require_columns(
            sidecar, ["patch_id", "tile_key", "epsg", "split", "drop_reason", *FLAG_COLUMNS], str(sidecar_path)
        )
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
        coverage = train_coverage_check(labels["frequencies"], min_train_patches_per_class)
        checks.append(coverage)
        for c in checks:
            outcome = "FAILED" if not c["ok"] else "accepted" if c["accepted"] else "passed"
            (LOG.info if c["ok"] else LOG.warning)("check %s: %s: %s", outcome, c["name"], c["detail"])
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
        sizes = dataset_sizes(trees or {}, dist_files, archive_summaries)

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
                    "checks_accepted": sum(bool(c["accepted"]) for c in checks),
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
                    # Classes in validation or test with fewer train patches than the minimum.
                    "too_few_train": coverage["classes"],
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
