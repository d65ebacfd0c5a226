"""A whole split as one lazy `xarray.Dataset` (`open_dataset`), and the 10 m view of bands kept
at their native grids (`to_10m`).

Dimensions: `patch` (the patch ids, sorted), the pixel rows and columns (`y`, `x` on the 10 m
grid; `y_20m`, `x_20m`, `y_60m`, `x_60m` for the bands kept at their native grid) and `label`
(the classes). Coordinates along `patch`: the metadata columns (split, country, s1_name,
s2v1_name, both flags), what the patch id tells (tile_key, sensing_time, season, epsg), the
labels as a (patch, label) boolean array, and the patch bounds (left, bottom, right, top in the
CRS of its epsg). Patches of a split lie in many tiles and UTM zones, so they share no x/y
coordinates: `select_patch` gives one patch with its own x/y and CRS for rioxarray.

Nothing of a patch is read at open: the metadata files are, the LMDB and the trees are not
touched until values are asked for (the bounds read one GeoTIFF header per tile, when asked).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from reben.access.arrays import BOUNDS, BoundsArray, PatchArray, Patches, lazy
from reben.access.layout import COLUMNS, Band, DatasetFolder, grid_dims, patch_table
from reben.access.readers import LmdbReader, TileCorners, TreeReader
from reben.errors import AccessError

RESOLUTIONS = (10, "native")

RESOLUTION_NOTE = {
    10: "every band on the 10 m grid; 20 m and 60 m bands by nearest-neighbour repetition (2x2, 6x6): "
    "the stored digital numbers, unchanged",
    "native": "every band on its native grid (10 m: y, x; 20 m: y_20m, x_20m; 60 m: y_60m, x_60m)",
}


def split_dataset(folder: DatasetFolder, frame, labels: np.ndarray, classes, bands: list[Band], reader) -> xr.Dataset:
    """The lazy Dataset of the patches of `frame` (layout.patch_table) at their native grids."""
    patches = Patches(frame, reader, TileCorners(folder.trees.get("s2"), folder.patch_size_m))
    variables = {
        band.name: xr.Variable(
            ("patch", *grid_dims(band.resolution, native=True)),
            lazy(PatchArray(patches, band, folder.pixels(band.resolution))),
        )
        for band in bands
    }
    coords = {"patch": frame["patch_id"].to_numpy(dtype=object)}
    for column in COLUMNS:
        values = frame[column].to_numpy()
        coords[column] = ("patch", values.astype(object) if values.dtype.kind in "OUT" else values)
    coords["labels"] = (("patch", "label"), labels)
    coords["label"] = np.asarray(classes, dtype=object)
    if "s2" in folder.trees:
        for which in BOUNDS:
            coords[which] = xr.Variable(("patch",), lazy(BoundsArray(patches, which)), attrs={"units": "m"})
    attrs = {
        "patch_size_m": folder.patch_size_m,
        "resolution": RESOLUTION_NOTE["native"],
        "crs": "each patch in the WGS 84 / UTM CRS of its epsg coordinate; left, bottom, right, top: its bounds",
    }
    return xr.Dataset(variables, coords, attrs)


def to_10m(ds: xr.Dataset) -> xr.Dataset:
    """Every 20 m and 60 m variable of `ds` (on y_20m/x_20m, y_60m/x_60m) brought to the 10 m
    grid (y, x) by nearest-neighbour repetition: each pixel becomes 2x2 or 6x6 pixels of the same
    value, so the values stay the stored digital numbers. Lazy on lazy data (an outer indexing
    with repeated indices), so it applies as well to `xarray.open_zarr` of a store. Pixel
    coordinates of the native grids give those of the 10 m grid."""
    out = ds
    for resolution in (20, 60):
        y_dim, x_dim = grid_dims(resolution, native=True)
        if y_dim not in out.dims:
            continue
        factor = resolution // 10
        n = out.sizes[y_dim] * factor
        repeat = np.arange(n) // factor
        grid = {}
        if x_dim in out.coords and "x" not in out.coords:
            grid["x"] = out[x_dim].values[0] - resolution / 2 + 10 * (np.arange(n) + 0.5)
            grid["y"] = out[y_dim].values[0] + resolution / 2 - 10 * (np.arange(n) + 0.5)
        names = [name for name, v in out.data_vars.items() if y_dim in v.dims]
        moved = {
            name: out[name].isel({y_dim: repeat, x_dim: repeat}).drop_vars([y_dim, x_dim], errors="ignore")
            for name in names
        }
        moved = {name: v.rename({y_dim: "y", x_dim: "x"}).variable for name, v in moved.items()}
        rest = out.drop_vars(names).drop_dims([y_dim, x_dim], errors="ignore").assign_coords(grid)
        data = {name: moved[name] if name in moved else rest[name].variable for name in out.data_vars}
        out = xr.Dataset(data, rest.coords)
    out.attrs = {**ds.attrs, "resolution": RESOLUTION_NOTE[10]} if "resolution" in ds.attrs else dict(ds.attrs)
    return out


def open_dataset(
    dataset,
    split: str | None = None,
    bands=None,
    *,
    resolution=10,
    source: str = "auto",
    include_flagged: bool = False,
    patch_size_m: int | None = None,
) -> xr.Dataset:
    """The patches of one split of a built dataset as a lazy xarray.Dataset.

    dataset: a dataset folder (results/dataset, or an extracted release); split: "train",
    "validation", "test" or None (every split); bands: names among B01..B12, VV, VH,
    reference_map (None: every band the dataset holds); resolution: 10 (every band on the 10 m
    grid, see to_10m) or "native"; source: "lmdb", "trees" or "auto" (the LMDB where there is
    one); include_flagged: also the patches flagged for snow or cloud/shadow (their metadata
    file); patch_size_m: None for the size PROVENANCE.json records (else reBEN's 1200 m).

    Nothing of a patch is read here; `ds.isel(patch=[...]).load()` reads exactly those patches.
    """
    if resolution not in RESOLUTIONS:
        raise AccessError(f"resolution {resolution!r}: must be 10 or 'native'")
    folder = DatasetFolder(dataset, patch_size_m)
    source = folder.source(source)
    rows = folder.patches(split, include_flagged)
    classes = folder.classes()
    frame, labels = patch_table(rows, classes)
    chosen = folder.bands(bands, frame)
    reader = LmdbReader(folder.lmdb) if source == "lmdb" else TreeReader(folder.trees)
    ds = split_dataset(folder, frame, labels, classes, chosen, reader)
    return to_10m(ds) if resolution == 10 else ds
