"""A built dataset folder as the access wing reads it: which stores it holds (trees, LMDB), its
patch size, its bands, and its patches as one table from the metadata files.

A dataset folder is `results/dataset` of a run, or an extracted release with the published
layout: `metadata.parquet` (and the flagged file beside it), the trees `BigEarthNet-S2/`,
`BigEarthNet-S1/`, `Reference_Maps/` and/or `lmdb/`. Nothing here reads a patch: the table comes
from the metadata files, and what a patch id says by itself (tile key, x, y, sensing time,
season, CRS) is parsed from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reben.constants import (
    DATASET_TREES,
    METADATA_FILES,
    PATCH_SIZE_M,
    S1_POLARISATIONS,
    S2_BAND_RESOLUTION,
    S2_BANDS,
    SEASONS,
)
from reben.dataset.assembly import METADATA_SCHEMA
from reben.dataset.splits import SPLITS
from reben.errors import AccessError, ProductError
from reben.labels.classes import CLASS_TABLE, NOMENCLATURES, class_table
from reben.names import parse_product_name

REFERENCE_MAP = "reference_map"
"""The variable of the reference map (its LMDB tensor is `Data`, its key `<patch_id>_reference_map`)."""


@dataclass(frozen=True)
class Band:
    """A variable of a patch: where its values are (kind of store entry, tensor name), its
    native resolution and its dtype as stored."""

    name: str
    kind: str  # "s2", "s1" or "reference_maps" (DATASET_TREES, and the LMDB key kinds)
    tensor: str  # the tensor name in the LMDB value
    resolution: int
    dtype: str


BANDS: dict[str, Band] = {
    **{b: Band(b, "s2", b, S2_BAND_RESOLUTION[b], "uint16") for b in S2_BANDS},
    **{p: Band(p, "s1", p, 10, "float32") for p in S1_POLARISATIONS},
    REFERENCE_MAP: Band(REFERENCE_MAP, "reference_maps", "Data", 10, "uint16"),
}
"""Every variable a patch can have, in the order a dataset lists them."""


def grid_dims(resolution: int, native: bool) -> tuple[str, str]:
    """The (row, column) dimensions of a band at `resolution`: y and x on the 10 m grid; on its
    native grid a 20 m or 60 m band has its own, y_20m and x_20m, y_60m and x_60m."""
    if not native or resolution == 10:
        return ("y", "x")
    return (f"y_{resolution}m", f"x_{resolution}m")


def pixel_centres(start: float, step: float, n: int) -> np.ndarray:
    """Coordinates of `n` pixel centres from the edge `start`, `step` apart (negative: north to south)."""
    return start + step * (np.arange(n) + 0.5)


COLUMNS = (
    "tile_key",
    "split",
    "country",
    "season",
    "sensing_time",
    "s1_name",
    "s2v1_name",
    "contains_seasonal_snow",
    "contains_cloud_or_shadow",
    "epsg",
)
"""The per-patch coordinates every opened patch or split carries, after its patch_id."""

_OPTIONAL = {
    "country": "",
    "s1_name": "",
    "s2v1_name": "",
    "contains_seasonal_snow": False,
    "contains_cloud_or_shadow": False,
}


class DatasetFolder:
    """A dataset folder: its stores, patch size and patches. `patch_size_m` None takes the size
    the folder's PROVENANCE.json records (a dataset built here), else reBEN's 1200 m (the
    published layout); each value read is checked against it."""

    def __init__(self, path, patch_size_m: int | None = None):
        self.path = Path(path)
        if not self.path.is_dir():
            raise AccessError(f"{self.path}: no such dataset folder")
        self.metadata = [self.path / name for name in METADATA_FILES]
        if not self.metadata[0].is_file():
            raise AccessError(
                f"{self.path}: not a dataset folder: no {METADATA_FILES[0]} "
                "(give results/dataset or an extracted release)"
            )
        self.trees = {kind: self.path / tree for kind, tree in DATASET_TREES.items() if (self.path / tree).is_dir()}
        lmdb_dir = self.path / "lmdb"
        self.lmdb = lmdb_dir if (lmdb_dir / "data.mdb").is_file() else None
        if "s2" not in self.trees and self.lmdb is None:
            raise AccessError(
                f"{self.path}: not a dataset folder: neither a {DATASET_TREES['s2']}/ tree nor an lmdb/ beside "
                f"{METADATA_FILES[0]}"
            )
        self.patch_size_m = int(patch_size_m) if patch_size_m else self._recorded_patch_size()

    def _recorded_patch_size(self) -> int:
        provenance = self.path / "PROVENANCE.json"
        if not provenance.is_file():
            return PATCH_SIZE_M
        try:
            return int(json.loads(provenance.read_text())["config"]["patch_size_m"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise AccessError(f"{provenance}: cannot read the patch size (config.patch_size_m) from it ({e})") from None

    def pixels(self, resolution: int) -> int:
        return self.patch_size_m // resolution

    def source(self, source: str = "auto") -> str:
        """Where patch values come from: "lmdb" or "trees" ("auto": the LMDB where there is one)."""
        if source == "auto":
            return "lmdb" if self.lmdb is not None else "trees"
        if source == "lmdb" and self.lmdb is None:
            raise AccessError(f"{self.path}: no lmdb/data.mdb to read from (source='lmdb'); use source='trees'")
        if source == "trees" and "s2" not in self.trees:
            raise AccessError(f"{self.path}: no {DATASET_TREES['s2']}/ tree to read from (source='trees')")
        if source not in ("lmdb", "trees"):
            raise AccessError(f"source {source!r}: must be 'auto', 'lmdb' or 'trees'")
        return source

    # ---------------------------------------------------------------- the patch table

    def _read(self, path: Path, filters=None) -> pa.Table:
        """The rows of a metadata file in the DESIGN schema (a column the published files may
        lack filled with its empty value; an empty file's columns whatever type they have)."""
        try:
            table = pq.read_table(path, filters=filters)
        except (OSError, ValueError) as e:
            raise AccessError(f"{path}: cannot read ({e})") from None
        for column in ("patch_id", "labels", "split"):
            if column not in table.column_names:
                raise AccessError(f"{path}: no column {column}; not a dataset metadata file")
        if table.num_rows == 0:
            return METADATA_SCHEMA.empty_table()
        for column, value in _OPTIONAL.items():
            if column not in table.column_names:
                table = table.append_column(column, pa.array([value] * table.num_rows))
        try:
            return table.select(METADATA_SCHEMA.names).cast(METADATA_SCHEMA)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise AccessError(f"{path}: its columns are not those of a metadata file ({e})") from None

    def metadata_files(self, include_flagged: bool) -> list[Path]:
        """metadata.parquet, and the flagged patches' file where asked for and present."""
        return [p for i, p in enumerate(self.metadata) if i == 0 or (include_flagged and p.is_file())]

    def patches(self, split: str | None = None, include_flagged: bool = False) -> pa.Table:
        """The metadata rows of the patches of `split` (None: every split), sorted by patch_id."""
        if split is not None and split not in SPLITS:
            raise AccessError(f"split {split!r}: not a split (one of {', '.join(SPLITS)}, or None for all)")
        filters = [("split", "==", split)] if split is not None else None
        table = pa.concat_tables([self._read(p, filters) for p in self.metadata_files(include_flagged)])
        return table.take(pc.sort_indices(table, [("patch_id", "ascending")]))

    def patch(self, patch_id: str) -> pa.Table:
        """The metadata row of one patch (from either metadata file)."""
        if not isinstance(patch_id, str):
            raise AccessError(f"patch id {patch_id!r}: not a string")
        files = self.metadata_files(include_flagged=True)
        for path in files:
            table = self._read(path, [("patch_id", "==", patch_id)])
            if table.num_rows:
                return table
        raise AccessError(f"{self.path}: no patch {patch_id} in {' or '.join(p.name for p in files)}")

    def classes(self) -> list[str]:
        """The label classes, in alphabetical order (the order of ConfigILM's label vector): those
        of a shipped nomenclature (reBEN's 19 classes, else BigEarthNet v1's 43) when every label
        of the metadata files is one of them, else every label the files hold."""
        found: set[str] = set()
        for path in self.metadata:
            if path.is_file():
                try:
                    labels = pq.read_table(path, columns=["labels"]).column("labels").combine_chunks()
                    if len(labels):
                        found.update(pc.unique(pc.list_flatten(labels)).to_pylist())
                except (OSError, ValueError, KeyError, pa.ArrowNotImplementedError) as e:
                    raise AccessError(f"{path}: cannot read its labels as lists of class names ({e})") from None
        for table in (CLASS_TABLE, NOMENCLATURES["bigearthnet43"]):
            classes = set(class_table(table).classes)
            if found <= classes:
                return sorted(classes)
        return sorted(found)

    def bands(self, wanted, patches: pd.DataFrame) -> list[Band]:
        """The bands asked for (None: every band the dataset holds), each checked to be one the
        dataset holds: Sentinel-1 only where its patches have an S1 partner."""
        has_s1 = bool((patches["s1_name"] != "").any()) if len(patches) else "s1" in self.trees
        held = [b for b in BANDS.values() if b.kind != "s1" or has_s1]
        if wanted is None:
            return held
        if isinstance(wanted, str):
            wanted = [wanted]
        names = {b.name for b in held}
        out = []
        for name in wanted:
            if name not in BANDS:
                raise AccessError(f"band {name!r}: not a band of a reBEN patch (one of {', '.join(BANDS)})")
            if name not in names:
                raise AccessError(f"{self.path}: holds no Sentinel-1 patches, so no band {name}")
            out.append(BANDS[name])
        return out


def patch_table(rows: pa.Table, classes: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The per-patch coordinates of metadata `rows` (patch_id and COLUMNS, with what each patch
    id tells by itself: tile_key, x, y, sensing_time (naive UTC, from the tile key), season (of
    the sensing month), epsg (the UTM zone of the MGRS tile)), and their labels as a (patches,
    classes) boolean array. One line naming the first patch id that is not `<tile key>_<x>_<y>`."""
    frame = rows.drop_columns(["labels"]).to_pandas()
    parts = pc.extract_regex(rows.column("patch_id"), r"^(?P<tile>.+)_(?P<x>\d+)_(?P<y>\d+)$").combine_chunks()
    if parts.null_count:
        bad = rows.column("patch_id").filter(pc.is_null(parts))[0].as_py()
        raise AccessError(f"patch {bad}: not a patch id (<tile key>_<x>_<y>, e.g. {_EXAMPLE})")
    codes, keys = pd.factorize(parts.field("tile").to_numpy(zero_copy_only=False))
    tiles = []
    for i, key in enumerate(keys):
        try:
            tiles.append(parse_product_name(key))
        except ProductError:
            bad = frame["patch_id"][codes == i].iloc[0]
            raise AccessError(f"patch {bad}: not a patch id (<tile key>_<x>_<y>, e.g. {_EXAMPLE})") from None
    frame["tile_key"] = np.asarray(keys, dtype=object)[codes]
    frame["x"] = pc.cast(parts.field("x"), pa.int32()).to_numpy()
    frame["y"] = pc.cast(parts.field("y"), pa.int32()).to_numpy()
    per_tile = {
        "sensing_time": np.array([t.sensing_time.replace(tzinfo=None) for t in tiles], dtype="datetime64[ns]"),
        "season": np.array([SEASONS[t.sensing_time.month] for t in tiles], dtype=object),
        "epsg": np.array([t.epsg for t in tiles], dtype="int32"),
    }
    for column, values in per_tile.items():
        frame[column] = values[codes]
    for column in ("patch_id", "tile_key", "split", "country", "season", "s1_name", "s2v1_name"):
        frame[column] = frame[column].astype(str).to_numpy(dtype=object)
    for column in ("contains_seasonal_snow", "contains_cloud_or_shadow"):
        frame[column] = frame[column].astype(bool)
    return frame, label_matrix(rows.column("labels"), classes)


_EXAMPLE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57"


def label_matrix(labels, classes: list[str]) -> np.ndarray:
    """(patches, classes) booleans from a list<string> column: does the patch carry the class."""
    labels = labels.combine_chunks() if isinstance(labels, pa.ChunkedArray) else labels
    out = np.zeros((len(labels), len(classes)), dtype=bool)
    flat = pc.list_flatten(labels)
    if len(flat):
        column = pc.index_in(flat, value_set=pa.array(classes, pa.string())).to_numpy(zero_copy_only=False)
        out[pc.list_parent_indices(labels).to_numpy(), column.astype(int)] = True
    return out
