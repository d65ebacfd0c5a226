"""One patch as an `xarray.Dataset` in its map projection: `open_patch` (from a dataset folder)
and `select_patch` (from a split opened with `open_dataset`, or from a Zarr store).

The patch's pixel-centre coordinates x and y (and x_20m, y_20m, x_60m, y_60m for bands kept on
their native grid) are in its tile's UTM CRS, which rioxarray reads from the `spatial_ref`
coordinate: `ds.rio.crs`, `ds.rio.transform()` and `ds.rio.bounds()` give the patch's grid cell.
What the metadata knows of the patch is in its attributes.
"""

from __future__ import annotations

import numpy as np
import rioxarray  # noqa: F401 - registers the .rio accessor select_patch writes the CRS with
import xarray as xr

from reben.access.arrays import BOUNDS
from reben.access.datasets import RESOLUTIONS, split_dataset, to_10m
from reben.access.layout import COLUMNS, DatasetFolder, grid_dims, patch_table, pixel_centres
from reben.access.readers import TreeReader
from reben.constants import S2_RESOLUTIONS
from reben.errors import AccessError


def select_patch(ds: xr.Dataset, patch_id: str) -> xr.Dataset:
    """One patch of a split (open_dataset, or xarray.open_zarr of a store) with its own pixel
    coordinates and CRS: what open_patch gives for it (lazy where `ds` is)."""
    if "patch" not in ds.dims:
        raise AccessError("select_patch: the dataset has no patch dimension (open it with reben.open_dataset)")
    if patch_id not in ds.indexes["patch"]:
        raise AccessError(f"select_patch: no patch {patch_id} in this dataset ({ds.sizes['patch']} patches)")
    missing = [c for c in ("epsg", *BOUNDS) if c not in ds.coords]
    if missing:
        raise AccessError(
            f"select_patch: no {missing[0]} coordinate to place patch {patch_id} (a split read without its "
            "BigEarthNet-S2/ tree has no bounds)"
        )
    one = ds.sel(patch=patch_id)
    left, top, epsg = float(one["left"]), float(one["top"]), int(one["epsg"])
    coords = {}
    for resolution in S2_RESOLUTIONS:
        y_dim, x_dim = grid_dims(resolution, native=True)
        if y_dim in one.dims:
            coords[y_dim] = ("y" if resolution == 10 else y_dim, pixel_centres(top, -resolution, one.sizes[y_dim]))
            coords[x_dim] = ("x" if resolution == 10 else x_dim, pixel_centres(left, resolution, one.sizes[x_dim]))
    labels = one["labels"].values
    attrs = {"patch_id": patch_id, "labels": [str(c) for c, has in zip(one["label"].values, labels) if has]}
    for column in COLUMNS:
        value = one[column].values[()]
        if column == "sensing_time":
            value = np.datetime_as_string(value, unit="s") + "Z"
        elif isinstance(value, np.generic):
            value = value.item()
        attrs[column] = value if not isinstance(value, bytes) else value.decode()
    attrs["patch_size_m"] = ds.attrs.get("patch_size_m")
    attrs["resolution"] = ds.attrs.get("resolution")
    per_patch = [name for name, c in one.coords.items() if name not in one.dims]
    out = one.drop_vars(per_patch).drop_dims(["label"], errors="ignore").assign_coords(coords)
    out.attrs = attrs
    out = out.rio.write_crs(f"EPSG:{epsg}")
    if all(v.dims[-2:] == ("y", "x") for v in out.data_vars.values()) and "x" in out.dims:
        # every band on the 10 m grid: the GeoTransform is that grid's (on native grids rioxarray
        # takes each grid's transform from its coordinates instead)
        out = out.rio.write_transform(out.rio.transform(recalc=True))
    return out


def open_patch(dataset, patch_id: str, bands=None, *, resolution=10, patch_size_m: int | None = None) -> xr.Dataset:
    """One patch of a built dataset as an xarray.Dataset, read from its GeoTIFFs.

    dataset: a dataset folder (results/dataset, or an extracted release); bands: names among
    B01..B12, VV, VH, reference_map (None: every band the dataset holds); resolution: 10
    (20 m and 60 m bands repeated onto the 10 m grid, values unchanged) or "native" (each band on
    its own grid: x_20m, y_20m, x_60m, y_60m); patch_size_m: None for the size PROVENANCE.json
    records (else reBEN's 1200 m). Every file must lie on the patch's grid cell.
    """
    if resolution not in RESOLUTIONS:
        raise AccessError(f"resolution {resolution!r}: must be 10 or 'native'")
    folder = DatasetFolder(dataset, patch_size_m)
    folder.source("trees")
    row = folder.patch(patch_id)
    classes = sorted(row.column("labels")[0].as_py())
    frame, labels = patch_table(row, classes)
    ds = split_dataset(folder, frame, labels, classes, folder.bands(bands, frame), TreeReader(folder.trees))
    if resolution == 10:
        ds = to_10m(ds)
    return select_patch(ds, patch_id).load()
