"""The 19-class nomenclature and the per-patch labels computed from reference-map pixels.

The class table `resources/clc_classes.csv` maps every CLC level-3 code (and 999, the no-data
code of the CLC product) to its official name and to one of the 19 classes of reBEN or
UNLABELED. It is read here and nowhere else. Class statistics are computed for all patches of a
tile at once: pixel codes go through a code -> class lookup, and `np.bincount` counts the
classes of every patch of a row of patches in one call.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from .io import write_arrow

CLASS_TABLE = Path(__file__).resolve().parents[2] / "resources" / "clc_classes.csv"
UNLABELED = "UNLABELED"
CLC_NODATA = 999
"""Reference-map code of a pixel no CLC polygon covers (the no-data code of the CLC product)."""
MAX_UNLABELED_FRACTION = 0.25
"""A patch whose UNLABELED pixels make this share of its area or more is not labelled."""
_NOT_A_CODE = 255


@dataclass(frozen=True)
class ClassTable:
    """CLC codes, their names and classes; `classes` are the 19 classes in nomenclature order."""

    names: dict[int, str]
    code_class: dict[int, str]
    classes: tuple[str, ...]

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(self.names)

    def lookup(self) -> np.ndarray:
        """uint8 array indexed by code: the class index (0..18), 19 for UNLABELED, 255 for a
        number that is not a code of the table."""
        lut = np.full(max(self.names) + 1, _NOT_A_CODE, dtype=np.uint8)
        index = {c: i for i, c in enumerate(self.classes)}
        for code, cls in self.code_class.items():
            lut[code] = index.get(cls, len(self.classes))
        return lut

    def fraction_columns(self) -> list[str]:
        return [f"fraction_{c}" for c in self.classes]


@lru_cache(maxsize=4)
def class_table(path=CLASS_TABLE) -> ClassTable:
    """The class table (code, name, class): the shipped one unless another path is given."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    names = {int(r["code"]): r["name"] for r in rows}
    code_class = {int(r["code"]): r["class"] for r in rows}
    classes = tuple(dict.fromkeys(r["class"] for r in rows if r["class"] != UNLABELED))
    return ClassTable(names=names, code_class=code_class, classes=classes)


def class_counts(reference: np.ndarray, n_rows: int, n_cols: int, px: int,
                 table: ClassTable | None = None) -> np.ndarray:
    """Pixel counts per patch (grid order) and class: shape (n_rows * n_cols, 20), the 19
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
        strip = lut[reference[row * px:(row + 1) * px, : n_cols * px]]
        if (strip == _NOT_A_CODE).any():
            bad = np.setdiff1d(np.unique(reference[row * px:(row + 1) * px]), np.array(table.codes))
            raise ValueError(f"reference map holds codes outside the class table: {bad.tolist()}")
        counts[row] = np.bincount((strip + column_key).ravel(), minlength=n_cols * k)
    return counts.reshape(n_rows * n_cols, k)


def labels_table(patch_ids: list[str], counts: np.ndarray,
                 max_unlabeled_fraction: float = MAX_UNLABELED_FRACTION,
                 table: ClassTable | None = None) -> pa.Table:
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
