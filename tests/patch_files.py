"""The GeoTIFFs of one patch in a dataset folder, by band, spelled out from DESIGN.md's layout
(not from the code under test), and a sample of patches to check: shared by the tests of the
access wing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
RESOLUTION = {"B01": 60, "B09": 60, "B05": 20, "B06": 20, "B07": 20, "B8A": 20, "B11": 20, "B12": 20}


def patch_files(dataset: Path, patch_id: str, s1_name: str = "") -> dict[str, Path]:
    """{band: file} of a patch: 12 S2 bands, the reference map, and VV/VH where it has an S1 name."""
    tile = patch_id.rsplit("_", 2)[0]
    s2 = dataset / "BigEarthNet-S2" / tile / patch_id
    files = {band: s2 / f"{patch_id}_{band}.tif" for band in S2_BANDS}
    files["reference_map"] = dataset / "Reference_Maps" / tile / patch_id / f"{patch_id}_reference_map.tif"
    if s1_name:
        product = "_".join(s1_name.split("_")[:5])
        for pol in ("VV", "VH"):
            files[pol] = dataset / "BigEarthNet-S1" / product / s1_name / f"{s1_name}_{pol}.tif"
    return files


def read(path: Path) -> tuple[np.ndarray, rasterio.Affine, tuple]:
    with rasterio.open(path) as src:
        return src.read(1), src.transform, tuple(src.bounds)


def sample(dataset: Path, n: int, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of `n` rows of both metadata files (patch_id, s1_name, ...)."""
    rows = pd.concat(
        [
            pd.read_parquet(dataset / name)
            for name in ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
        ],
        ignore_index=True,
    )
    return rows.sample(n=min(n, len(rows)), random_state=seed).reset_index(drop=True)


def on_10m(values: np.ndarray, resolution: int) -> np.ndarray:
    """A band's native pixels repeated onto the 10 m grid (each 20 m pixel as 2x2, 60 m as 6x6)."""
    factor = resolution // 10
    return np.repeat(np.repeat(values, factor, axis=0), factor, axis=1)
