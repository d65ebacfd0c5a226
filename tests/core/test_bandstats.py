"""Band statistics (reben.bandstats): per-patch rows from block reductions, and their merge over a
split, on hand-made arrays and tables whose statistics are computed by hand or by numpy on
every pixel at once. The merge against the GeoTIFFs of a dataset is in test_report.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reben.bandstats import (
    S1StatsRows,
    band_statistics,
    combine_groups,
    empty_s2_stats,
    exact_sum,
    float_block_stats,
    s2_block_stats,
    s2_stats_table,
    write_band_statistics,
)
from reben.constants import S2_BAND_RESOLUTION, S2_BANDS
from reben.errors import BandStatisticsError
from reben.io import read_json

TILE_A = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
TILE_B = "S2B_MSIL2A_20170924T093020_N9999_R136_T35VPK"
S1_PRODUCT = "S1B_IW_GRDH_1SDV_20170612T165809"


def test_s2_block_stats_by_hand():
    # Two rows of three 2 x 2 patches.
    band = np.array(
        [
            [1, 2, 5, 5, 0, 9],
            [3, 4, 5, 5, 9, 9],
            [65535, 65535, 7, 1, 2, 2],
            [65535, 65534, 1, 7, 2, 2],
        ],
        dtype=np.uint16,
    )
    stats = s2_block_stats(band.reshape(2, 2, 3, 2))
    assert stats["count"].tolist() == [[4, 4, 4], [4, 4, 4]]
    assert stats["sum"].tolist() == [[10, 20, 27], [262139, 16, 8]]
    assert stats["sum_sq"].tolist() == [[30, 100, 243], [3 * 65535**2 + 65534**2, 100, 16]]
    assert stats["min"].tolist() == [[1, 5, 0], [65534, 1, 2]]
    assert stats["max"].tolist() == [[4, 5, 9], [65535, 7, 2]]
    assert stats["sum"].dtype == np.int64 and stats["min"].dtype == np.uint16


def test_s2_block_stats_are_exact_for_full_patches_of_the_largest_value():
    band = np.full((120, 240), 65535, dtype=np.uint16)
    stats = s2_block_stats(band.reshape(1, 120, 2, 120))
    assert stats["sum_sq"].tolist() == [[14400 * 65535**2] * 2]  # 6.2e13: wraps in uint32, not here


def test_float_block_stats_leave_out_nan():
    blocks = np.array([[1.0, 2.0, np.nan, np.nan], [3.0, np.nan, np.nan, np.nan]], dtype=np.float32)
    stats = float_block_stats(blocks.reshape(1, 2, 2, 2))
    assert stats["count"].tolist() == [[3, 0]]
    assert stats["mean"][0, 0] == 2.0 and stats["m2"][0, 0] == 2.0  # (1-2)^2 + 0 + (3-2)^2
    assert np.isnan(stats["mean"][0, 1]) and np.isnan(stats["m2"][0, 1])
    assert (stats["min"][0, 0], stats["max"][0, 0]) == (1.0, 3.0)


def test_exact_sum_past_int64():
    values = np.full(1000, 2**62 - 1, dtype=np.int64)  # a plain int64 sum wraps
    assert exact_sum(values) == 1000 * (2**62 - 1)
    assert exact_sum(np.array([-5, 3, -(2**40)], dtype=np.int64)) == -2 - 2**40


def test_chan_groups_equal_numpy_on_all_values():
    rng = np.random.default_rng(1)
    values = rng.normal(-12, 4, 200_001) + 1e4  # a large offset: where sums of squares lose digits
    groups = np.array_split(values, np.sort(rng.choice(values.size, 300, replace=False)))
    n, mean, m2 = combine_groups(
        [g.size for g in groups],
        [g.mean() if g.size else np.nan for g in groups],
        [((g - g.mean()) ** 2).sum() if g.size else np.nan for g in groups],
    )
    assert n == values.size
    assert mean == pytest.approx(values.mean(), rel=1e-14)
    assert np.sqrt(m2 / n) == pytest.approx(values.std(), rel=1e-10)


def s2_table(ids, value_of) -> pd.DataFrame:
    """An s2_band_stats table of patches whose every band is constant: `value_of(patch_id, band)`."""
    stats = {}
    for band in S2_BANDS:
        n = 1200 // S2_BAND_RESOLUTION[band]
        parts = [s2_block_stats(np.full((1, n, 1, n), value_of(pid, band), dtype=np.uint16)) for pid in ids]
        stats[band] = {k: np.concatenate([p[k].ravel() for p in parts]) for k in parts[0]}
    return s2_stats_table(ids, stats)


def test_merge_of_known_values_over_the_split_only(tmp_path):
    ids_a = [f"{TILE_A}_{x}_0" for x in range(3)]
    ids_b = [f"{TILE_B}_0_{y}" for y in range(2)]
    # Every band constant over a patch: train A_0_0 1000, B_0_0 3000 (its B02 5000), B_0_1 2000;
    # test A_1_0 and A_2_0 (cut, but not in the metadata) 60000.
    values = {ids_a[0]: 1000, ids_b[0]: 3000, ids_b[1]: 2000}

    def value_of(pid, band):
        return 5000 if (pid, band) == (ids_b[0], "B02") else values.get(pid, 60000)

    s2_table(ids_a, value_of).to_parquet(tmp_path / "a_s2.parquet")
    s2_table(ids_b, value_of).to_parquet(tmp_path / "b_s2.parquet")
    empty_s2_stats().to_parquet(tmp_path / "excluded_s2.parquet")
    s1 = {tile: S1StatsRows() for tile in "ab"}
    vv_a = np.full((120, 120), -10.0, dtype=np.float32)
    vv_a[0, :4] = np.nan  # 4 pixels without backscatter
    vv_b = np.full((120, 120), -20.0, dtype=np.float32)
    s1["a"].add_patch(ids_a[0], f"{S1_PRODUCT}_33UUP_0_0", {"VV": vv_a, "VH": vv_a - 6})
    s1["a"].add_patch(ids_a[1], f"{S1_PRODUCT}_33UUP_1_0", {"VV": vv_a + 50, "VH": vv_a + 50})
    s1["b"].add_patch(ids_b[0], f"{S1_PRODUCT}_35VPK_0_0", {"VV": vv_b, "VH": vv_b - 6})
    for tile, rows in s1.items():
        rows.write(tmp_path / f"{tile}_s1.parquet")
    meta = pd.DataFrame(
        {
            "patch_id": [ids_a[0], ids_a[1], ids_b[0], ids_b[1]],
            "split": ["train", "test", "train", "train"],
            "s1_name": [f"{S1_PRODUCT}_33UUP_0_0", f"{S1_PRODUCT}_33UUP_1_0", f"{S1_PRODUCT}_35VPK_0_0", ""],
        }
    )
    clean, flagged = tmp_path / "metadata.parquet", tmp_path / "metadata_flagged.parquet"
    meta.iloc[:3].to_parquet(clean)
    meta.iloc[3:].to_parquet(flagged)

    stats = write_band_statistics(
        [clean, flagged],
        [tmp_path / f"{t}_s2.parquet" for t in ("a", "excluded", "b")],
        tmp_path / "band_statistics.json",
        [tmp_path / "a_s1.parquet", tmp_path / "b_s1.parquet"],
    )
    assert read_json(tmp_path / "band_statistics.json") == stats
    assert stats["source"] == "metadata.parquet + metadata_flagged.parquet"
    assert stats["patches"] == {"s2": 3, "s1": 2}
    assert stats["order"] == list(S2_BANDS) + ["VV", "VH"]
    # Three equal-sized patches of 1000, 3000 and 2000: mean 2000, std sqrt(2/3) * 1000.
    for band in ("B01", "B05", "B12"):
        n = (1200 // S2_BAND_RESOLUTION[band]) ** 2
        assert stats["bands"][band] == {
            "pixels": 3 * n,
            "mean": 2000.0,
            "std": pytest.approx(np.sqrt(2 / 3) * 1000, rel=1e-15),
            "min": 1000.0,
            "max": 3000.0,
        }
    assert stats["bands"]["B02"]["mean"] == pytest.approx(8000 / 3, rel=1e-15)  # 1000, 5000, 2000
    # VV: 14396 pixels of -10 and 14400 of -20.
    n_a, n_b = 14400 - 4, 14400
    mean = (-10 * n_a - 20 * n_b) / (n_a + n_b)
    std = np.sqrt((n_a * (-10 - mean) ** 2 + n_b * (-20 - mean) ** 2) / (n_a + n_b))
    assert stats["bands"]["VV"] == {
        "pixels": n_a + n_b,
        "mean": pytest.approx(mean, rel=1e-14),
        "std": pytest.approx(std, rel=1e-12),
        "min": -20.0,
        "max": -10.0,
    }
    assert stats["bands"]["VH"]["mean"] == pytest.approx(mean - 6, rel=1e-14)
    assert stats["mean"] == [stats["bands"][b]["mean"] for b in stats["order"]]
    assert stats["std"] == [stats["bands"][b]["std"] for b in stats["order"]]

    test = band_statistics(meta, [tmp_path / "a_s2.parquet", tmp_path / "b_s2.parquet"], None, split="test")
    assert test["patches"] == {"s2": 1, "s1": 0} and test["order"] == list(S2_BANDS)
    assert test["bands"]["B03"]["mean"] == 60000.0 and test["bands"]["B03"]["std"] == 0.0
    none = band_statistics(meta, [tmp_path / "a_s2.parquet"], None, split="validation")
    assert none["bands"]["B01"] == {"pixels": 0, "mean": None, "std": None, "min": None, "max": None}


def test_s2_merge_is_exact_where_floats_lose_the_variance(tmp_path):
    # Half the pixels 65534, half 65535, over 2 x 10,000 patches: mean 65534.5, std 0.5 exactly.
    ids = [f"{TILE_A}_{i % 100:02d}_{i // 100:02d}" for i in range(10_000)] + [
        f"{TILE_B}_{i % 100:02d}_{i // 100:02d}" for i in range(10_000)
    ]
    table = s2_table(ids[:1], lambda pid, band: 65534)
    table = pd.concat([table] * len(ids), ignore_index=True).assign(patch_id=ids)
    for band in S2_BANDS:
        half = table.index >= 10_000
        n = table.loc[half, f"{band}_count"]
        table.loc[half, f"{band}_sum"] += n
        table.loc[half, f"{band}_sum_sq"] += 2 * 65534 * n + n  # (v + 1)^2 = v^2 + 2v + 1
        table.loc[half, f"{band}_max"] = 65535
    meta = pd.DataFrame({"patch_id": ids, "split": "train", "s1_name": ""})
    table.to_parquet(tmp_path / "s2.parquet")
    stats = band_statistics(meta, [tmp_path / "s2.parquet"])
    for band in S2_BANDS:
        assert stats["bands"][band]["mean"] == 65534.5
        assert stats["bands"][band]["std"] == 0.5


def test_merge_names_what_is_missing_or_inconsistent(tmp_path):
    ids = [f"{TILE_A}_0_0", f"{TILE_A}_1_0"]
    s2_table(ids[:1], lambda pid, band: 7).to_parquet(tmp_path / "s2.parquet")
    meta = pd.DataFrame({"patch_id": ids, "split": "train", "s1_name": [f"{S1_PRODUCT}_33UUP_0_0", ""]})
    with pytest.raises(
        BandStatisticsError,
        match=rf"^s2_band_stats.parquet of tile {TILE_A}: no row for patch {TILE_A}_1_0 of the metadata "
        r"\(1 missing\); rerun the tile's rule, then assemble_dataset$",
    ):
        band_statistics(meta, [tmp_path / "s2.parquet"])
    with pytest.raises(BandStatisticsError, match=r"has rows in two s2_band_stats.parquet tables"):
        band_statistics(meta.iloc[:1], [tmp_path / "s2.parquet", tmp_path / "s2.parquet"])

    rows = S1StatsRows()
    rows.add_patch(ids[0], f"{S1_PRODUCT}_33UUP_9_9", {"VV": np.zeros((4, 4), "float32"), "VH": np.zeros((4, 4))})
    rows.write(tmp_path / "s1.parquet")
    with pytest.raises(
        BandStatisticsError, match=rf"s1.parquet: patch {ids[0]} has S1 patch .*_33UUP_9_9, the metadata"
    ):
        band_statistics(meta.iloc[:1], [tmp_path / "s2.parquet"], [tmp_path / "s1.parquet"])
    S1StatsRows().write(tmp_path / "s1_empty.parquet")
    with pytest.raises(BandStatisticsError, match=rf"s1_band_stats.parquet of tile {TILE_A}: no row for patch"):
        band_statistics(meta.iloc[:1], [tmp_path / "s2.parquet"], [tmp_path / "s1_empty.parquet"])

    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(BandStatisticsError, match=r"broken.parquet: unreadable as a band statistics table"):
        band_statistics(meta.iloc[:1], [tmp_path / "broken.parquet"])
