"""The dataset as labelled arrays in its map projection (xarray, rioxarray), and as a Zarr store.

Downstream of the distribution: it reads what the workflow built (or a published release in the
same layout), never the per-tile intermediates.

- `open_patch(dataset, patch_id)`: one patch from its GeoTIFFs, x/y in its tile's UTM CRS;
- `open_dataset(dataset, split=..., bands=...)`: a whole split, lazily, from the LMDB or the trees;
- `select_patch(ds, patch_id)`: one patch of an opened split (or Zarr store) in its CRS;
- `to_10m(ds)`: bands kept on their native grids brought to the 10 m grid, values unchanged;
- `reben.access.zarr_store.export_zarr`: one Zarr v3 store per split (rule export_zarr).
"""

from reben.access.datasets import open_dataset, to_10m
from reben.access.patches import open_patch, select_patch

__all__ = ["open_dataset", "open_patch", "select_patch", "to_10m"]
