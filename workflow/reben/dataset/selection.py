"""Which patches of a tile enter the dataset, and why the others do not (rule select_patches).

A patch is kept when its product passed the quality indicators, it is valid (no nodata pixel
in any band), it is labelled (under 25 % unlabeled), with `bigearthnet_v1.require_match` it has a
BigEarthNet v1 counterpart (reason `no_v1`), and, when Sentinel-1 is enabled, it has a
Sentinel-1 partner. A dropped patch keeps the first of these reasons that applies. The cloud
and snow flags are recorded for every patch; they decide which metadata file a kept patch goes
to, never whether it is kept.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from reben.bigearthnet_v1.links import read_tile_link
from reben.dataset.flags import compute_flags, read_flag_list
from reben.errors import SelectionError
from reben.io import read_json, write_parquet

LOG = logging.getLogger("reben.dataset.selection")

DROP_REASONS = ("product_quality", "invalid", "unlabeled", "no_v1", "no_s1")
"""Reasons a patch is dropped, in the order they are checked."""

V1_FLAGS = {"contains_cloud_or_shadow": "v1_cloud_or_shadow", "contains_seasonal_snow": "v1_seasonal_snow"}
"""Flag column -> the column of bigearthnet_v1.parquet it is taken from with bigearthnet_v1.flags."""


def _aligned(name: str, table: pd.DataFrame, patch_ids: np.ndarray, columns, tile: str) -> pd.DataFrame:
    missing = [c for c in ("patch_id", *columns) if c not in table.columns]
    if missing:
        raise SelectionError(f"{tile}: {name} has no column {', '.join(missing)}")
    if len(table) != len(patch_ids) or not np.array_equal(table["patch_id"].to_numpy(dtype=object), patch_ids):
        raise SelectionError(
            f"{tile}: {name} does not list the patches of the grid in grid order "
            f"({len(table)} rows for {len(patch_ids)} patches); rebuild it"
        )
    return table


def select_patches(
    tile: dict,
    s2_patches: pd.DataFrame,
    labels: pd.DataFrame,
    flags: pd.DataFrame,
    s1_pairing: pd.DataFrame | None = None,
    v1_link: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """selection.parquet of one tile: patch_id, drop_reason ("" when kept) and the two flags.

    `tile` is tile.json; the tables are the tile's s2_patches.parquet, labels.parquet, flags
    (compute_flags), when Sentinel-1 is enabled s1_pairing.parquet, and with
    `bigearthnet_v1.require_match` bigearthnet_v1.parquet (each None otherwise).
    """
    key = tile["tile_key"]
    ids = s2_patches["patch_id"].to_numpy(dtype=object)
    _aligned("s2_patches.parquet", s2_patches, ids, ["valid"], key)
    _aligned("labels.parquet", labels, ids, ["labelled"], key)
    _aligned("flags", flags, ids, ["contains_cloud_or_shadow", "contains_seasonal_snow"], key)
    dropped = {
        "product_quality": np.full(len(ids), bool(tile["excluded"])),
        "invalid": ~s2_patches["valid"].to_numpy(dtype=bool),
        "unlabeled": ~labels["labelled"].to_numpy(dtype=bool),
        "no_v1": np.zeros(len(ids), dtype=bool),
        "no_s1": np.zeros(len(ids), dtype=bool),
    }
    if v1_link is not None:
        _aligned("bigearthnet_v1.parquet", v1_link, ids, ["s2v1_name"], key)
        dropped["no_v1"] = v1_link["s2v1_name"].fillna("").to_numpy(dtype=object) == ""
    if s1_pairing is not None:
        _aligned("s1_pairing.parquet", s1_pairing, ids, ["s1_name"], key)
        dropped["no_s1"] = s1_pairing["s1_name"].fillna("").to_numpy(dtype=object) == ""
    reason = np.select([dropped[r] for r in DROP_REASONS], DROP_REASONS, "")
    return pd.DataFrame(
        {
            "patch_id": ids,
            "drop_reason": reason.astype(object),
            "contains_cloud_or_shadow": flags["contains_cloud_or_shadow"].to_numpy(dtype=bool),
            "contains_seasonal_snow": flags["contains_seasonal_snow"].to_numpy(dtype=bool),
        }
    )


def selection_counts(selection: pd.DataFrame) -> dict[str, int]:
    """grid_patches, one count per drop reason, kept, and flagged (kept with either flag)."""
    reason = selection["drop_reason"]
    kept = reason == ""
    flagged = kept & (selection["contains_cloud_or_shadow"] | selection["contains_seasonal_snow"])
    counts = {"grid_patches": len(selection)}
    counts.update({r: int((reason == r).sum()) for r in DROP_REASONS})
    counts.update(kept=int(kept.sum()), flagged=int(flagged.sum()))
    return counts


def write_selection(
    tile_json,
    s2_patches_path,
    labels_path,
    selection_path,
    cloud_threshold: float,
    snow_threshold: float,
    cloud_list=None,
    snow_list=None,
    s1_pairing_path=None,
    v1_link_path=None,
    require_v1: bool = False,
    v1_flags: bool = False,
) -> pd.DataFrame:
    """selection.parquet of one tile; logs the tile's funnel in one line.

    With `v1_link_path` (the tile's bigearthnet_v1.parquet), `require_v1` drops the patches
    without a v1 counterpart as no_v1, and `v1_flags` takes both flags from the v1 lists.
    """
    start = time.monotonic()
    tile = read_json(tile_json)
    s2 = pd.read_parquet(s2_patches_path)
    if (require_v1 or v1_flags) and not v1_link_path:
        raise SelectionError(
            f"{tile['tile_key']}: bigearthnet_v1.require_match or .flags needs the v1 tables (bigearthnet_v1.tables)"
        )
    v1 = read_tile_link(v1_link_path, s2["patch_id"], tile["tile_key"]) if v1_link_path else None
    if v1_flags:
        lists = {flag: set(v1.loc[v1[column].to_numpy(dtype=bool), "patch_id"]) for flag, column in V1_FLAGS.items()}
    else:
        lists = {
            "contains_cloud_or_shadow": read_flag_list(cloud_list) if cloud_list else None,
            "contains_seasonal_snow": read_flag_list(snow_list) if snow_list else None,
        }
    flags = compute_flags(
        s2, {"contains_cloud_or_shadow": cloud_threshold, "contains_seasonal_snow": snow_threshold}, lists
    )
    s1 = pd.read_parquet(s1_pairing_path) if s1_pairing_path else None
    table = select_patches(tile, s2, pd.read_parquet(labels_path), flags, s1, v1 if require_v1 else None)
    write_parquet(table, selection_path)
    counts = selection_counts(table)
    LOG.info(
        "%s: %s in %.1f s", tile["tile_key"], ", ".join(f"{v} {k}" for k, v in counts.items()), time.monotonic() - start
    )
    return table
