"""CORINE Land Cover: the configured vector file, its identity, the polygons of a tile, and the
tile's reference maps and labels (rule rasterize_reference_maps; with `labels.raster.path`
the codes come from a land-cover raster instead, see reben.labels.raster).

Per tile, only the polygons whose extent meets the tile are read, through the file's spatial
index (`bbox=` in the layer's CRS); invalid rings are repaired, the polygons reprojected to the
tile CRS and burnt once into a 10 m array of the whole grid (a pixel takes the polygon that
holds its centre; 999 where none does). Reference maps, the shard and the labels all come
from that one array; reben.geotiff encodes the reference-map files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401

from reben.constants import REFERENCE_MAP_RESOLUTION
from reben.errors import ClcError
from reben.geotiff import ReferenceMapWriter
from reben.grid import TileGrid, read_grid_json
from reben.hashes import FileHashes
from reben.io import staged_dir
from reben.labels.classes import (
    CLC_NODATA,
    MAX_UNLABELED_FRACTION,
    NOMENCLATURES,
    ClassTable,
    class_table,
    configured_table,
    describe_codes,
    table_43,
    tile_labels,
    unknown_codes,
    write_labels,
)
from reben.logs import Progress
from reben.shards import ShardWriter, encode

LOG = logging.getLogger("reben.labels.clc")

CODE_FIELDS = ("Code_18", "CODE_18")
"""Code fields looked for when none is configured: the EEA GeoPackage, the national extracts."""
LEGACY_CODES = {990: "unclassified land surface", 995: "unclassified water bodies"}


# ------------------------------------------------------------------ the input and its identity


@dataclass(frozen=True)
class ClcSource:
    """An opened CLC input: file, layer, code field and the layer's CRS (as WKT or EPSG)."""

    path: str
    layer: str
    code_field: str
    crs: str


def open_clc(path, layer: str | None = None, code_field: str | None = None) -> ClcSource:
    """Check the CLC input and settle its layer and code field. The layer may be left out when
    the file holds one layer, or one layer with a code field; the code field may be left out
    when the layer has one of CODE_FIELDS."""
    import pyogrio
    from pyogrio.errors import DataSourceError

    path = str(path)
    if not Path(path).exists():
        raise ClcError(f"clc: {path} does not exist")
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except DataSourceError as e:
        raise ClcError(f"clc: {path} is not a vector file GDAL can open ({e})") from None
    infos = {}

    def info(name):
        if name not in infos:
            infos[name] = pyogrio.read_info(path, layer=name)
        return infos[name]

    if layer is None:
        candidates = (
            layers if len(layers) == 1 else [name for name in layers if _code_field(info(name)["fields"], code_field)]
        )
        if len(candidates) != 1:
            raise ClcError(f"clc: {path} holds layers {', '.join(layers)}: set clc.layer to the CLC one")
        layer = candidates[0]
    elif layer not in layers:
        raise ClcError(f"clc: {path} has no layer {layer!r} (layers: {', '.join(layers)})")
    meta = info(layer)
    if meta["geometry_type"] is None:
        raise ClcError(f"clc: {path}: layer {layer} has no geometries")
    if not meta["crs"]:
        raise ClcError(f"clc: {path}: layer {layer} has no CRS; assign one (e.g. ogr2ogr -a_srs EPSG:3035)")
    field = _code_field(meta["fields"], code_field)
    if field is None:
        wanted = code_field or " or ".join(CODE_FIELDS)
        raise ClcError(
            f"clc: {path}: layer {layer} has no code field {wanted} "
            f"(fields: {', '.join(map(str, meta['fields']))}); set clc.code_field"
        )
    return ClcSource(path=path, layer=layer, code_field=field, crs=meta["crs"])


def _code_field(fields, configured: str | None) -> str | None:
    fields = [str(f) for f in fields]
    if configured is not None:
        return configured if configured in fields else None
    return next((f for f in CODE_FIELDS if f in fields), None)


def clc_identity(path, version: str | None = None, cache_path=None, config_key: str = "clc") -> str:
    """What identifies the CLC input for the rules' params: the configured version, else the
    file's sha256. Hashes are cached by (absolute path, size, mtime) in `cache_path`, so that
    an 8 GB file is hashed once, not on every parse; touching it costs one more hash, with
    the same result, so nothing reruns."""
    if version:
        return f"version:{version}"
    path = Path(path)
    if not path.exists():
        raise ClcError(f"{config_key}: {path} does not exist (set {config_key}.version if a rule makes it)")
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    cache = {}
    if cache_path and Path(cache_path).exists():
        try:
            cache = json.loads(Path(cache_path).read_text())
        except ValueError:
            cache = {}
    if key not in cache:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 24):
                digest.update(chunk)
        cache[key] = digest.hexdigest()
        if cache_path:
            from reben.io import write_json

            Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
            write_json(cache, cache_path)
    return f"sha256:{cache[key]}"


# ------------------------------------------------------------------ the polygons of a tile


def tile_bbox(source: ClcSource, grid: TileGrid) -> tuple[float, float, float, float]:
    """The grid's extent in the layer's CRS (edges densified, so the curved edges fit)."""
    from pyproj import CRS, Transformer

    left, top = grid.ulx, grid.uly
    right = left + grid.n_cols * grid.patch_size_m
    bottom = top - grid.n_rows * grid.patch_size_m
    transformer = Transformer.from_crs(CRS.from_user_input(grid.crs), CRS.from_user_input(source.crs), always_xy=True)
    return transformer.transform_bounds(left, bottom, right, top, densify_pts=21)


def parse_codes(values, source: ClcSource, recode: dict | None = None, table: ClassTable | None = None) -> np.ndarray:
    """The codes of the polygons read, as uint16, after the configured recoding; a value that
    is not a code of the class table (default: the CLC nomenclature) stops the job with one
    line naming them all."""
    import pandas as pd

    text = pd.Series(values, dtype="string").str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.isna().any():
        bad = text[numbers.isna()].fillna("<null>").value_counts()
        raise ClcError(
            f"clc: {source.path}: field {source.code_field} holds non-numeric values "
            + ", ".join(f"{v!r} ({n} polygons)" for v, n in bad.items())
        )
    codes = numbers.to_numpy(dtype=np.int64)
    if recode:
        mapping = {int(k): int(v) for k, v in recode.items()}
        codes = np.array([mapping.get(c, c) for c in codes.tolist()], dtype=np.int64)
    table = table or class_table()
    known = np.array(table.codes)
    unknown, counts = np.unique(codes[~np.isin(codes, known)], return_counts=True)
    if unknown.size:
        listed = ", ".join(f"{c} ({n} polygons)" for c, n in zip(unknown.tolist(), counts.tolist()))
        hint = ""
        if set(unknown.tolist()) & set(LEGACY_CODES):
            hint = (
                "; 990/995 are the unclassified codes of CLC versions before 2018 V2020: "
                "map them with clc.recode, e.g. {990: 999, 995: 999}"
            )
        shipped = table.path in {str(p) for p in NOMENCLATURES.values()}
        what = "the CLC nomenclature" if shipped else f"the class table {table.path}"
        raise ClcError(f"clc: {source.path}: codes not in {what}: {listed}{hint}")
    return codes.astype(np.uint16)


def read_tile_polygons(source: ClcSource, grid: TileGrid, recode: dict | None = None, table: ClassTable | None = None):
    """Polygons (shapely array, tile CRS) and codes (uint16) of the CLC features whose extent
    meets the tile, read through the spatial index; invalid geometries repaired."""
    import pyogrio
    import shapely
    from pyproj import Transformer

    bbox = tile_bbox(source, grid)
    meta, features = pyogrio.read_arrow(source.path, layer=source.layer, columns=[source.code_field], bbox=bbox)
    wkb = features.column(meta["geometry_name"] or "wkb_geometry").to_numpy(zero_copy_only=False)
    geometries = shapely.from_wkb(wkb) if len(wkb) else np.array([], dtype=object)
    codes = parse_codes(features.column(source.code_field).to_pylist(), source, recode, table)
    invalid = ~shapely.is_valid(geometries) & ~shapely.is_missing(geometries)
    if invalid.any():
        geometries[invalid] = shapely.make_valid(geometries[invalid], method="structure", keep_collapsed=False)
        LOG.info("%s: repaired %d invalid CLC geometries", grid.tile_key, int(invalid.sum()))
    keep = ~(shapely.is_missing(geometries) | shapely.is_empty(geometries))
    geometries, codes = geometries[keep], codes[keep]
    transformer = Transformer.from_crs(source.crs, grid.crs, always_xy=True)
    geometries = shapely.transform(geometries, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
    return geometries, codes


def rasterize_tile(geometries, codes: np.ndarray, grid: TileGrid, with_coverage: bool = False):
    """The grid's 10 m code array (uint16): each pixel takes the polygon holding its centre,
    CLC_NODATA where none does; where repaired polygons overlap, the later one in the file wins.
    With `with_coverage`, also the share of pixels a polygon covers."""
    from affine import Affine
    from rasterio.features import rasterize

    px = grid.patch_size_m // REFERENCE_MAP_RESOLUTION
    shape = (grid.n_rows * px, grid.n_cols * px)
    if len(geometries) == 0:
        reference = np.full(shape, CLC_NODATA, dtype=np.uint16)
        return (reference, 0.0) if with_coverage else reference
    # A fill no polygon has tells covered from uncovered pixels (999 polygons exist in CLC).
    fill = CLC_NODATA if not with_coverage else int(np.setdiff1d(np.arange(65536), codes)[-1])
    transform = Affine(REFERENCE_MAP_RESOLUTION, 0, grid.ulx, 0, -REFERENCE_MAP_RESOLUTION, grid.uly)
    reference = rasterize(
        zip(geometries, codes.tolist()),
        out_shape=shape,
        transform=transform,
        fill=fill,
        dtype="uint16",
        all_touched=False,
    )
    if not with_coverage:
        return reference
    uncovered = reference == fill
    covered = 1.0 - float(uncovered.mean())
    reference[uncovered] = CLC_NODATA
    return reference, covered


# ------------------------------------------------------------------ the job


def write_reference_maps(reference: np.ndarray, grid: TileGrid, out_dir, shard_path, sha256_path=None) -> None:
    """One GeoTIFF per grid patch in `out_dir/<patch_id>/`, the shard of `Data` tensors and
    (with `sha256_path`) the sha256 of every file (reben.hashes); the folder is built as
    `<out_dir>.tmp` and renamed at the end."""
    px = grid.patch_size_m // REFERENCE_MAP_RESOLUTION
    out_dir = Path(out_dir)
    writer = ReferenceMapWriter(grid.crs, (px, px), REFERENCE_MAP_RESOLUTION)
    blocks = reference[: grid.n_rows * px, : grid.n_cols * px].reshape(grid.n_rows, px, grid.n_cols, px)
    xs, ys = grid.indices()
    ids = grid.patch_ids()
    progress = Progress(f"{grid.tile_key}: writing reference maps", len(ids))
    with staged_dir(out_dir) as tmp_dir:
        files = FileHashes(tmp_dir)
        with ShardWriter(shard_path) as shard:
            for i, (x, y, pid) in enumerate(zip(xs.tolist(), ys.tolist(), ids)):
                patch = np.ascontiguousarray(blocks[y, :, x, :])
                left, _, _, top = grid.patch_bounds(x, y)
                folder = tmp_dir / pid
                folder.mkdir()
                files.write(folder / f"{pid}_reference_map.tif", writer.to_bytes(patch, left, top))
                shard.add(f"{pid}_reference_map", encode({"Data": patch}))
                progress.update(i + 1)
        if sha256_path:
            files.save(sha256_path)


def rasterize_reference_maps(
    geocoding,
    clc,
    out_dir,
    shard_path,
    labels_path,
    layer=None,
    code_field=None,
    recode=None,
    max_unlabeled_fraction: float = MAX_UNLABELED_FRACTION,
    raster: bool = False,
    band: int = 1,
    uncovered_code: int = CLC_NODATA,
    nomenclature: str = "reben19",
    class_table_path=None,
    unlabeled_codes=(),
    sha256_path=None,
) -> dict:
    """Reference maps, their shard and the labels of every patch of one tile's grid, from the
    CLC vector `clc` or, with `raster`, from the land-cover raster at that path (see
    reben.labels.raster). With a shipped nomenclature (no `class_table_path`) the labels also
    carry the 43-class labels (`labels_43`). With `sha256_path`, the sha256 of every reference
    map file (reben.hashes)."""
    from reben.labels.raster import open_label_raster, read_tile_codes

    start = time.monotonic()
    grid = read_grid_json(geocoding)
    uncovered_code = uncovered_code if raster else CLC_NODATA
    table = configured_table(nomenclature, class_table_path, unlabeled_codes, uncovered_code)
    if raster:
        source = open_label_raster(clc, band)
        reference, covered = read_tile_codes(source, grid, uncovered_code)
        what, summary = "raster", {"covered": covered}
        unknown = unknown_codes(reference, table)
        if unknown:
            raise ClcError(
                f"labels.raster.path: {source.path}: codes not in the class table "
                f"{table.path} on tile {grid.tile_key}: {describe_codes(unknown, 'px')}"
            )
    else:
        source = open_clc(clc, layer, code_field)
        geometries, codes = read_tile_polygons(source, grid, recode, table)
        reference, covered = rasterize_tile(geometries, codes, grid, with_coverage=True)
        what, summary = f"{len(geometries)} CLC polygons", {"polygons": len(geometries)}
    read = time.monotonic()
    if not raster and not len(geometries):
        LOG.warning(
            "%s: no CLC polygon of %s meets the tile: every pixel is %d, no patch is labelled",
            grid.tile_key,
            source.path,
            CLC_NODATA,
        )
    elif covered < 1:
        LOG.warning(
            "%s: %s covers %.1f %% of the tile's grid; the rest is %d (UNLABELED)",
            grid.tile_key,
            source.path,
            100 * covered,
            uncovered_code,
        )
    px = grid.patch_size_m // REFERENCE_MAP_RESOLUTION
    table43 = None if class_table_path else table_43(unlabeled_codes, uncovered_code)
    labels = tile_labels(
        grid.patch_ids(), reference, grid.n_rows, grid.n_cols, px, table, max_unlabeled_fraction, table43
    )
    write_reference_maps(reference, grid, out_dir, shard_path, sha256_path)
    write_labels(labels, labels_path)
    n, labelled = labels.num_rows, int(pa.compute.sum(labels["labelled"]).as_py() or 0)
    LOG.info(
        "%s: %s read and put on the 10 m grid in %.1f s; %d patches, %d labelled, "
        "%d unlabeled (>= %g %% UNLABELED); done in %.1f s",
        grid.tile_key,
        what,
        read - start,
        n,
        labelled,
        n - labelled,
        100 * max_unlabeled_fraction,
        time.monotonic() - start,
    )
    return {**summary, "patches": n, "labelled": labelled}
