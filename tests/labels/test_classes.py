"""The 19-class table and the per-patch labels: hand-counted pixels, the 25 % boundary."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reben.labels.classes import CLC_NODATA, UNLABELED, class_counts, class_table, labels_table

CLASSES_19 = [
    "Urban fabric",
    "Industrial or commercial units",
    "Arable land",
    "Permanent crops",
    "Pastures",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas",
    "Broad-leaved forest",
    "Coniferous forest",
    "Mixed forest",
    "Natural grassland and sparsely vegetated areas",
    "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland, shrub",
    "Beaches, dunes, sands",
    "Inland wetlands",
    "Coastal wetlands",
    "Inland waters",
    "Marine waters",
]


def test_class_table_is_the_design_table():
    t = class_table()
    assert list(t.classes) == CLASSES_19
    assert len(t.codes) == 45 and CLC_NODATA in t.codes  # the 44 level-3 codes and 999
    by_class = {}
    for code, cls in t.code_class.items():
        by_class.setdefault(cls, []).append(code)
    assert by_class[UNLABELED] == [122, 123, 124, 131, 132, 133, 141, 142, 332, 334, 335, 423, 999]
    assert by_class["Permanent crops"] == [221, 222, 223, 241]
    assert by_class["Natural grassland and sparsely vegetated areas"] == [321, 333]
    assert by_class["Marine waters"] == [521, 522, 523]
    assert t.names[243] == "Land principally occupied by agriculture, with significant areas of natural vegetation"
    assert t.names[324] == "Transitional woodland-shrub" and t.names[999] == "NODATA"


def test_class_counts_per_patch_by_hand():
    # 2 x 3 patches of 2 x 2 px, codes chosen per pixel.
    ref = np.array(
        [
            [211, 211, 311, 999, 523, 523],
            [212, 122, 311, 311, 523, 521],
            [111, 112, 999, 999, 231, 231],
            [121, 111, 999, 999, 231, 243],
        ],
        dtype=np.uint16,
    )
    counts = class_counts(ref, n_rows=2, n_cols=3, px=2)
    idx = {c: i for i, c in enumerate(CLASSES_19)}
    u = len(CLASSES_19)
    assert counts.shape == (6, 20)
    expected = np.zeros((6, 20), dtype=int)
    expected[0, idx["Arable land"]] = 3
    expected[0, u] = 1
    expected[1, idx["Broad-leaved forest"]] = 3
    expected[1, u] = 1
    expected[2, idx["Marine waters"]] = 4
    expected[3, idx["Urban fabric"]] = 3
    expected[3, idx["Industrial or commercial units"]] = 1
    expected[4, u] = 4
    expected[5, idx["Pastures"]] = 3
    expected[5, idx["Land principally occupied by agriculture, with significant areas of natural vegetation"]] = 1
    np.testing.assert_array_equal(counts, expected)


def test_class_counts_rejects_a_code_outside_the_table():
    ref = np.full((2, 2), 211, dtype=np.uint16)
    ref[0, 0] = 990
    with pytest.raises(ValueError, match="990"):
        class_counts(ref, 1, 1, 2)


def patch_with_unlabeled(n_unlabeled, px=120):
    ref = np.full(px * px, 311, dtype=np.uint16)
    ref[:n_unlabeled] = CLC_NODATA
    ref[n_unlabeled : n_unlabeled + 7] = 211
    ref[-5:] = 512
    return ref.reshape(px, px)


def test_exactly_25_percent_unlabeled_is_dropped_just_under_is_kept(tmp_path):
    area = 120 * 120
    quarter = area // 4  # 3600 px
    ref = np.hstack([patch_with_unlabeled(quarter), patch_with_unlabeled(quarter - 1)])
    counts = class_counts(ref, 1, 2, 120)
    stored = labels_table(["t_0_0", "t_1_0"], counts)
    table = stored.to_pandas()
    assert table["labelled"].tolist() == [False, True]
    assert table["unlabeled_fraction"].tolist() == pytest.approx([0.25, 3599 / 14400])
    assert list(table["labels"].tolist()[0]) == []
    assert list(table["labels"].tolist()[1]) == ["Arable land", "Broad-leaved forest", "Inland waters"]
    assert table["fraction_Arable land"].tolist() == pytest.approx([7 / area] * 2)
    # The stored table keeps the contract's types.
    from reben.labels.classes import write_labels

    write_labels(stored, tmp_path / "labels.parquet")
    schema = pq.read_schema(tmp_path / "labels.parquet")
    assert pa.types.is_string(schema.field("patch_id").type) or pa.types.is_large_string(schema.field("patch_id").type)
    assert str(schema.field("unlabeled_fraction").type) == "float"
    assert str(schema.field("labelled").type) == "bool"
    assert pa.types.is_list(schema.field("labels").type)
    assert pa.types.is_string(schema.field("labels").type.value_type)
    assert [f for f in schema.names if f.startswith("fraction_")] == [f"fraction_{c}" for c in CLASSES_19]
    assert all(str(schema.field(f"fraction_{c}").type) == "float" for c in CLASSES_19)
    assert pq.read_table(tmp_path / "labels.parquet").column("labels").to_pylist()[1] == [
        "Arable land",
        "Broad-leaved forest",
        "Inland waters",
    ]


def test_labels_are_sorted_alphabetically_not_in_table_order():
    ref = np.full((120, 120), 523, dtype=np.uint16)  # Marine waters (last in table order)
    ref[0, :10] = 111  # Urban fabric (first)
    ref[1, :10] = 331  # Beaches, dunes, sands
    table = labels_table(["p"], class_counts(ref, 1, 1, 120))
    assert table["labels"].to_pylist()[0] == ["Beaches, dunes, sands", "Marine waters", "Urban fabric"]


def test_threshold_is_configurable():
    counts = class_counts(patch_with_unlabeled(1440), 1, 1, 120)  # 10 % unlabeled
    assert labels_table(["p"], counts, max_unlabeled_fraction=0.10)["labelled"].to_pylist() == [False]
    assert labels_table(["p"], counts, max_unlabeled_fraction=0.11)["labelled"].to_pylist() == [True]
