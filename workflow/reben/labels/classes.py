"""Class tables (nomenclatures) and the per-patch labels computed from reference-map pixels.

A class table is a CSV (`code`, `class`, optionally `name`) that maps every source code of the
reference maps to a class or to UNLABELED. Two ship in resources/ and a config switch
(`labels.nomenclature`) selects one: `clc_classes.csv`, reBEN's 19 classes (the default), and
`clc_classes_43.csv`, the 43 CLC level-3 classes BigEarthNet v1 and BigEarthNet-MM were
labelled with, under the names those datasets used. `labels.class_table` gives a table of
one's own (e.g. for a WorldCover raster), and `labels.unlabeled_codes` adds codes that count
as UNLABELED. Tables are read here and nowhere else. Class statistics are computed for all
patches of a tile at once: pixel codes go through a code -> class lookup, and `np.bincount`
counts the classes of every patch of a row of patches in one call.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from reben.errors import ClassTableError
from reben.io import write_arrow

RESOURCES = Path(__file__).resolve().parents[3] / "resources"
CLASS_TABLE = RESOURCES / "clc_classes.csv"
NOMENCLATURES = {"reben19": CLASS_TABLE, "bigearthnet43": RESOURCES / "clc_classes_43.csv"}
"""The shipped class tables, by the value of `labels.nomenclature`."""
LABELS_43 = "labels_43"
"""labels.parquet / sidecar column: the 43-class BigEarthNet v1 labels, beside a CLC build's labels."""
UNLABELED = "UNLABELED"
CLC_NODATA = 999
"""Reference-map code of a pixel no CLC polygon covers (the no-data code of the CLC product)."""
MAX_UNLABELED_FRACTION = 0.25
"""A patch whose UNLABELED pixels make this share of its area or more is not labelled."""
_NOT_A_CODE = 255
_MAX_CODE = 65535  # reference maps are uint16


@dataclass(frozen=True)
class ClassTable:
    """Source codes, their names and classes; `classes` are the classes in table order
    (UNLABELED not among them); `path` is the CSV it was read from."""

    names: dict[int, str]
    code_class: dict[int, str]
    classes: tuple[str, ...]
    path: str = str(CLASS_TABLE)

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(self.names)

    def lookup(self) -> np.ndarray:
        """uint8 array indexed by code: the class index (0..n-1), n for UNLABELED, 255 for a
        number that is not a code of the table."""
        lut = np.full(max(self.names) + 1, _NOT_A_CODE, dtype=np.uint8)
        index = {c: i for i, c in enumerate(self.classes)}
        for code, cls in self.code_class.items():
            lut[code] = index.get(cls, len(self.classes))
        return lut

    def fraction_columns(self) -> list[str]:
        return [f"fraction_{c}" for c in self.classes]


@lru_cache(maxsize=8)
def class_table(path=CLASS_TABLE, unlabeled_codes: tuple[int, ...] = ()) -> ClassTable:
    """The class table (code, class, optional name): the shipped 19-class one unless another
    path is given. `unlabeled_codes` count as UNLABELED whatever the table says, and need not
    be in it (e.g. the code of pixels the label source does not cover)."""
    path = Path(path)
    where = f"class table {path}"
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            fields = [c.strip() for c in reader.fieldnames or []]
    except FileNotFoundError:
        raise ClassTableError(f"{where}: does not exist") from None
    missing = [c for c in ("code", "class") if c not in fields]
    if missing:
        raise ClassTableError(
            f"{where}: no column {', '.join(missing)} (columns: {', '.join(fields) or 'none'}); it needs code and class"
        )
    rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in rows]
    codes, bad = [], []
    for line, r in enumerate(rows, 2):
        try:
            code = int(r["code"])
        except ValueError:
            code = -1
        if not 0 <= code <= _MAX_CODE or not r["class"]:
            bad.append(f"line {line}: {r['code']!r}, {r['class']!r}")
        codes.append(code)
    if bad:
        raise ClassTableError(f"{where}: codes must be integers 0..{_MAX_CODE} with a class; " + "; ".join(bad[:10]))
    seen, duplicates = set(), []
    for code in codes:
        if code in seen and code not in duplicates:
            duplicates.append(code)
        seen.add(code)
    if duplicates:
        raise ClassTableError(
            f"{where}: duplicate codes {', '.join(map(str, duplicates[:10]))}"
            + (f" and {len(duplicates) - 10} more" if len(duplicates) > 10 else "")
        )
    names = {c: r.get("name") or r["class"] for c, r in zip(codes, rows)}
    code_class = {c: r["class"] for c, r in zip(codes, rows)}
    for code in unlabeled_codes:
        names.setdefault(int(code), UNLABELED)
        code_class[int(code)] = UNLABELED
    classes = tuple(dict.fromkeys(c for c in code_class.values() if c != UNLABELED))
    if not classes:
        raise ClassTableError(f"{where}: every code is UNLABELED")
    if len(classes) >= _NOT_A_CODE:
        raise ClassTableError(f"{where}: {len(classes)} classes; at most {_NOT_A_CODE - 1}")
    return ClassTable(names=names, code_class=code_class, classes=classes, path=str(path))


def configured_table(
    nomenclature: str = "reben19", path=None, unlabeled_codes=(), uncovered_code: int = CLC_NODATA
) -> ClassTable:
    """The class table the config selects: `labels.class_table`, else the shipped table of
    `labels.nomenclature`; `labels.unlabeled_codes` and the uncovered code count as UNLABELED."""
    if nomenclature not in NOMENCLATURES:
        raise ClassTableError(f"config: labels.nomenclature: {nomenclature!r} is not one of {', '.join(NOMENCLATURES)}")
    extra = tuple(sorted({int(c) for c in unlabeled_codes} | {int(uncovered_code)}))
    return class_table(path or NOMENCLATURES[nomenclature], extra)


def table_43(unlabeled_codes=(), uncovered_code: int = CLC_NODATA) -> ClassTable:
    """The 43-class table with the same extra UNLABELED codes, for the `labels_43` column."""
    return configured_table("bigearthnet43", None, unlabeled_codes, uncovered_code)


def code_counts(codes: np.ndarray, valid: np.ndarray | None = None, rows: int = 1024) -> np.ndarray:
    """Pixels per code (0..65535) of a 2-D array of non-negative codes below 65536, where `valid`;
    counted in strips of `rows` rows, so that a whole tile never becomes one int64 copy."""
    counts = np.zeros(_MAX_CODE + 1, dtype=np.int64)
    for start in range(0, codes.shape[0], rows):
        strip = codes[start : start + rows]
        if valid is not None:
            strip = strip[valid[start : start + rows]]
        counts += np.bincount(strip.ravel(), minlength=_MAX_CODE + 1)
    return counts


def unknown_codes(reference: np.ndarray, table: ClassTable) -> list[tuple[int, int]]:
    """(code, pixels) of the codes in `reference` that the table does not list, by code."""
    counts = code_counts(reference)
    present = np.flatnonzero(counts)
    unknown = present[~np.isin(present, np.array(table.codes))]
    return [(int(c), int(counts[c])) for c in unknown]


def describe_codes(codes: list[tuple[int, int]], unit: str, limit: int = 10) -> str:
    """'5 (12 px), 7 (3 px)' for the first `limit` codes, and how many more there are."""
    text = ", ".join(f"{c} ({n} {unit})" for c, n in codes[:limit])
    return text + (f" and {len(codes) - limit} more" if len(codes) > limit else "")


def class_counts(
    reference: np.ndarray, n_rows: int, n_cols: int, px: int, table: ClassTable | None = None
) -> np.ndarray:
    """Pixel counts per patch (grid order) and class: shape (n_rows * n_cols, n + 1), the n
    classes in table order, then UNLABELED. `reference` is the tile's code array, whose first
    n_rows * px rows and n_cols * px columns are the grid."""
    table = table or class_table()
    lut = table.lookup()
    k = len(table.classes) + 1
    if int(reference.max(initial=0)) >= lut.size:
        raise ValueError(f"reference map holds code {int(reference.max())}, outside the class table")
    # Patch column of every pixel column, times k: added to the class index it keys the bincount.
    column_key = (np.arange(n_cols, dtype=np.intp).repeat(px) * k)[None, :]
    counts = np.empty((n_rows, n_cols * k), dtype=np.int64)
    for row in range(n_rows):  # one row of patches at a time bounds the memory of the keys
        strip = lut[reference[row * px : (row + 1) * px, : n_cols * px]]
        if (strip == _NOT_A_CODE).any():
            bad = np.setdiff1d(np.unique(reference[row * px : (row + 1) * px]), np.array(table.codes))
            raise ValueError(f"reference map holds codes outside the class table: {bad.tolist()}")
        counts[row] = np.bincount((strip + column_key).ravel(), minlength=n_cols * k)
    return counts.reshape(n_rows * n_cols, k)


def labels_table(
    patch_ids: list[str],
    counts: np.ndarray,
    max_unlabeled_fraction: float = MAX_UNLABELED_FRACTION,
    table: ClassTable | None = None,
) -> pa.Table:
    """The labels of every patch from its class counts (see `class_counts`): patch_id,
    unlabeled_fraction, labelled (unlabeled < the threshold), labels (the classes present,
    sorted alphabetically; empty when not labelled), and fraction_<class> per class."""
    table = table or class_table()
    n_classes = len(table.classes)
    area = counts.sum(axis=1, keepdims=True).astype(np.float64)
    unlabeled = counts[:, n_classes]
    # Compare counts, not rounded fractions: exactly 25 % unlabeled is not labelled.
    labelled = unlabeled < max_unlabeled_fraction * area[:, 0]
    alphabetical = np.array(sorted(range(n_classes), key=lambda i: table.classes[i]))
    present = (counts[:, alphabetical] > 0) & labelled[:, None]
    rows, cols = np.nonzero(present)  # row-major: per patch, classes in alphabetical order
    offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32)
    values = pa.array(np.array(table.classes, dtype=object)[alphabetical][cols], type=pa.string())
    labels = pa.ListArray.from_arrays(pa.array(offsets), values)
    fractions = (counts / area).astype(np.float32)
    columns = {
        "patch_id": pa.array(patch_ids, type=pa.string()),
        "unlabeled_fraction": pa.array(fractions[:, n_classes]),
        "labelled": pa.array(labelled),
        "labels": labels,
    }
    for i, column in enumerate(table.fraction_columns()):
        columns[column] = pa.array(fractions[:, i])
    return pa.table(columns)


def write_labels(labels: pa.Table, path) -> None:
    """labels.parquet, atomically; written by pyarrow so that any reader gets list<string>."""
    write_arrow(labels, path)


def tile_labels(
    patch_ids: list[str],
    reference: np.ndarray,
    n_rows: int,
    n_cols: int,
    px: int,
    table: ClassTable,
    max_unlabeled_fraction: float = MAX_UNLABELED_FRACTION,
    table43: ClassTable | None = None,
) -> pa.Table:
    """labels.parquet of one tile from its code array (see `labels_table`); with `table43`, also
    the column `labels_43`: the labels that table gives each patch under the same threshold
    (what a build with `labels.nomenclature: bigearthnet43` has as `labels`)."""
    labels = labels_table(patch_ids, class_counts(reference, n_rows, n_cols, px, table), max_unlabeled_fraction, table)
    if table43 is not None:
        other = (
            labels
            if table43 == table
            else labels_table(
                patch_ids, class_counts(reference, n_rows, n_cols, px, table43), max_unlabeled_fraction, table43
            )
        )
        labels = labels.append_column(LABELS_43, other["labels"])
    return labels
