"""Selection of the patches of a tile, drop reasons, counts, and the cloud and snow flags."""

import logging

import pandas as pd
import pytest

from reben.dataset.flags import compute_flags, read_flag_list, unknown_ids
from reben.dataset.selection import select_patches, selection_counts, write_selection
from reben.errors import FlagListError, SelectionError

IDS = [f"T_{i}" for i in range(6)]
DEFAULT = {"contains_cloud_or_shadow": 0.0, "contains_seasonal_snow": 0.0}


def s2_table(valid=(True, True, True, False, False, True), cloud=(0, 0.01, 0, 0, 0, 0), snow=(0, 0, 0.5, 0, 0, 0)):
    return pd.DataFrame(
        {
            "patch_id": IDS,
            "x": range(6),
            "y": [0] * 6,
            "valid": valid,
            "cloud_or_shadow_fraction": pd.array(cloud, dtype="float32"),
            "snow_fraction": pd.array(snow, dtype="float32"),
        }
    )


def labels_table(labelled=(True, True, True, True, False, False)):
    return pd.DataFrame(
        {
            "patch_id": IDS,
            "unlabeled_fraction": [0.0] * 6,
            "labelled": labelled,
            "labels": [["Arable land"] if lab else [] for lab in labelled],
        }
    )


def test_drop_reasons_in_order():
    # patch 3: invalid, labelled; 4: invalid and unlabeled (invalid comes first); 5: unlabeled.
    s2 = s2_table()
    table = select_patches({"tile_key": "T", "excluded": False}, s2, labels_table(), compute_flags(s2, DEFAULT))
    assert list(table["drop_reason"]) == ["", "", "", "invalid", "invalid", "unlabeled"]
    assert list(table["contains_cloud_or_shadow"]) == [False, True, False, False, False, False]
    assert list(table["contains_seasonal_snow"]) == [False, False, True, False, False, False]
    assert selection_counts(table) == {
        "grid_patches": 6,
        "product_quality": 0,
        "invalid": 2,
        "unlabeled": 1,
        "no_v1": 0,
        "no_s1": 0,
        "kept": 3,
        "flagged": 2,
    }


def test_an_excluded_product_drops_every_patch_for_its_quality():
    s2 = s2_table()
    table = select_patches({"tile_key": "T", "excluded": True}, s2, labels_table(), compute_flags(s2, DEFAULT))
    assert set(table["drop_reason"]) == {"product_quality"}
    counts = selection_counts(table)
    assert counts["product_quality"] == 6 and counts["kept"] == 0


def test_sentinel1_partner_required_when_enabled():
    s2 = s2_table(valid=[True] * 6)
    pairing = pd.DataFrame(
        {
            "patch_id": IDS,
            "s1_product": ["S1B_IW_GRDH_1SDV_20170612T165809", None, None, None, "P", "P"],
            "s1_name": ["S1B_IW_GRDH_1SDV_20170612T165809_33UUP_0_0", "", None, "", "n4", "n5"],
            "s1_time_gap_days": [0.5, float("nan"), float("nan"), float("nan"), 1.0, 1.0],
        }
    )
    table = select_patches(
        {"tile_key": "T", "excluded": False}, s2, labels_table(), compute_flags(s2, DEFAULT), pairing
    )
    # patch 3 lacks S1, patches 4 and 5 are unlabeled (checked before S1).
    assert list(table["drop_reason"]) == ["", "no_s1", "no_s1", "no_s1", "unlabeled", "unlabeled"]
    counts = selection_counts(table)
    assert counts["kept"] + sum(counts[r] for r in ("product_quality", "invalid", "unlabeled", "no_s1")) == 6


def test_tables_of_another_grid_fail_with_one_line():
    s2 = s2_table()
    labels = labels_table().iloc[::-1]
    with pytest.raises(SelectionError, match=r"^T: labels.parquet does not list the patches of the grid") as e:
        select_patches({"tile_key": "T", "excluded": False}, s2, labels, compute_flags(s2, DEFAULT))
    assert "\n" not in str(e.value)


def test_thresholds():
    s2 = s2_table(cloud=(0, 0.1, 0.11, 0, 0, 0), snow=(0.2, 0, 0, 0, 0, 0.21))
    flags = compute_flags(s2, {"contains_cloud_or_shadow": 0.1, "contains_seasonal_snow": 0.2})
    assert list(flags["contains_cloud_or_shadow"]) == [False, False, True, False, False, False]
    assert list(flags["contains_seasonal_snow"]) == [False, False, False, False, False, True]


def test_flag_lists_replace_their_threshold(tmp_path):
    text = tmp_path / "snow.txt"
    text.write_text("# v1 flags carried over\nT_4\n\n  T_5  # trailing comment\nOTHER_1\n")
    table = tmp_path / "cloud.csv"
    pd.DataFrame({"patch_id": ["T_0", "X_9"], "note": ["a", "b"]}).to_csv(table, index=False)
    lists = {"contains_cloud_or_shadow": read_flag_list(table), "contains_seasonal_snow": read_flag_list(text)}
    assert lists["contains_seasonal_snow"] == {"T_4", "T_5", "OTHER_1"}
    flags = compute_flags(s2_table(), DEFAULT, lists)
    assert list(flags["contains_cloud_or_shadow"]) == [True, False, False, False, False, False]
    assert list(flags["contains_seasonal_snow"]) == [False, False, False, False, True, True]
    assert unknown_ids(lists["contains_seasonal_snow"], IDS) == 1


def test_bad_flag_lists(tmp_path):
    with pytest.raises(FlagListError, match="does not exist"):
        read_flag_list(tmp_path / "missing.txt")
    table = tmp_path / "flags.csv"
    pd.DataFrame({"id": ["T_0"]}).to_csv(table, index=False)
    with pytest.raises(FlagListError, match=r"flag list has no 'patch_id' column \(columns: id\)"):
        read_flag_list(table)


def test_write_selection(tmp_path, caplog):
    import json

    tile = tmp_path / "tile.json"
    tile.write_text(json.dumps({"tile_key": "T", "excluded": False}))
    s2_table().to_parquet(tmp_path / "s2.parquet")
    labels_table().to_parquet(tmp_path / "labels.parquet")
    with caplog.at_level(logging.INFO, logger="reben"):
        write_selection(
            tile, tmp_path / "s2.parquet", tmp_path / "labels.parquet", tmp_path / "selection.parquet", 0.0, 0.0
        )
    table = pd.read_parquet(tmp_path / "selection.parquet")
    assert list(table.columns) == ["patch_id", "drop_reason", "contains_cloud_or_shadow", "contains_seasonal_snow"]
    assert (
        "T: 6 grid_patches, 0 product_quality, 2 invalid, 1 unlabeled, 0 no_v1, 0 no_s1, 3 kept, 2 flagged"
        in caplog.text
    )
