"""The metadata files as the release wrote them: DuckDB's Parquet writer and its settings."""

import pyarrow as pa
import pyarrow.parquet as pq

from reben.dataset.assembly import METADATA_SCHEMA
from reben.io import write_release_parquet

LABELS = [["Arable land", "Pastures"], ["Coniferous forest"], []]


def rows(n: int) -> pa.Table:
    # Written in reverse order: the file must come out sorted by patch_id.
    ids = [f"S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_{i // 100:02d}_{i % 100:02d}" for i in range(n)][::-1]
    return pa.Table.from_pydict(
        {
            "patch_id": ids,
            "labels": [LABELS[i % 3] for i in range(n)],
            "split": [("train", "validation", "test")[i % 3] for i in range(n)],
            "country": ["Austria"] * n,
            "s1_name": [f"S1A_IW_GRDH_1SDV_20170613T165043_33UUP_{i}" for i in range(n)],
            "s2v1_name": [f"S2A_MSIL2A_20170613T101031_{i % 100}_{i // 100}" for i in range(n)],
            "contains_seasonal_snow": [i % 2 == 0 for i in range(n)],
            "contains_cloud_or_shadow": [False] * n,
        },
        schema=METADATA_SCHEMA,
    )


def test_the_release_writer_settings_and_schema(tmp_path):
    # 130,000 rows: one full release row group of 124,928 rows and the 5,072 left.
    path = tmp_path / "metadata.parquet"
    write_release_parquet(rows(130_000), path)
    meta = pq.ParquetFile(path).metadata
    assert meta.created_by == "DuckDB"
    assert meta.format_version == "1.0"
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [124_928, 5_072]
    # Values PLAIN everywhere; DuckDB 1.0 adds a dictionary page only for the flat string
    # columns of few distinct values (split, country), as it did for the release's.
    dictionary = {"split", "country"}
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            column = meta.row_group(g).column(c)
            assert column.compression == "ZSTD"
            name = column.path_in_schema.split(".")[0]
            assert column.encodings == (("PLAIN", "RLE_DICTIONARY") if name in dictionary else ("PLAIN",)), name
    schema = pq.read_schema(path)
    assert schema.equals(METADATA_SCHEMA)  # list<string>: DuckDB names the item `element`
    types = {f.name: f.type for f in schema}
    assert pa.types.is_list(types["labels"]) and types["labels"].value_type == pa.string()
    assert all(types[n] == pa.string() for n in ("patch_id", "split", "country", "s1_name", "s2v1_name"))
    assert types["contains_seasonal_snow"] == types["contains_cloud_or_shadow"] == pa.bool_()
    table = pq.read_table(path)
    ids = table["patch_id"].to_pylist()
    assert ids == sorted(ids) and ids[0].endswith("T33UUP_00_00")
    # 00_00 was the last input row (129,999: labels 129,999 % 3 = 0, odd so no snow), 00_01 the
    # one before (129,998: labels 2, the empty list; even, so snow): their values went with them.
    assert table["labels"][0].as_py() == ["Arable land", "Pastures"]
    assert table["contains_seasonal_snow"][0].as_py() is False
    assert table["labels"][1].as_py() == []
    assert table["contains_seasonal_snow"][1].as_py() is True


def test_the_same_rows_give_the_same_bytes(tmp_path):
    table = rows(3_000)
    write_release_parquet(table, tmp_path / "a.parquet")
    write_release_parquet(table.take(list(range(2_999, -1, -1))), tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert not list(tmp_path.glob(".*"))  # nothing left under a temporary name


def test_no_rows_still_give_the_schema(tmp_path):
    path = tmp_path / "metadata_for_patches_with_snow_cloud_or_shadow.parquet"
    write_release_parquet(rows(0), path)
    assert pq.read_table(path).num_rows == 0
    assert pq.read_schema(path).names == METADATA_SCHEMA.names
