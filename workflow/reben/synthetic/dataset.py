"""Synthetic per-tile shards and dataset trees, made directly (no product, no cutting), for the
distribution stage's tests and benchmark: S2, S1 and reference-map shards keyed as the LMDB,
the matching GeoTIFFs in the dataset layout, and metadata files naming a chosen subset.

Arrays look like real patches where it matters for speed and compression: smooth fields with
noise (S2 digital numbers 1..10000, S1 dB around -12/-19), blocky CLC codes for reference maps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from reben.constants import DATASET_TREES, PATCH_SIZE_M, S1_POLARISATIONS, S2_BAND_RESOLUTION, S2_BANDS
from reben.geotiff import PatchTiffWriter
from reben.grid import TileGrid
from reben.io import write_json
from reben.shards import ShardWriter, encode

ORIGIN = (300000.0, 5400000.0)  # upper-left corner of the synthetic tiles (EPSG:32633)
CRS = "EPSG:32633"
# The 19-class names in alphabetical order (the order ConfigILM's label vector uses).
CLASS_NAMES = (
    "Agro-forestry areas",
    "Arable land",
    "Beaches, dunes, sands",
    "Broad-leaved forest",
    "Coastal wetlands",
    "Complex cultivation patterns",
    "Coniferous forest",
    "Industrial or commercial units",
    "Inland waters",
    "Inland wetlands",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Marine waters",
    "Mixed forest",
    "Moors, heathland and sclerophyllous vegetation",
    "Natural grassland and sparsely vegetated areas",
    "Pastures",
    "Permanent crops",
    "Transitional woodland, shrub",
    "Urban fabric",
)


def _pixels(resolution: int) -> int:
    """Pixels along a side of these synthetic patches, which are reBEN's 1200 m patches."""
    return PATCH_SIZE_M // resolution


CLC_CODES = np.array([112, 211, 231, 242, 311, 312, 313, 324, 411, 512, 523, 999], np.uint16)


def _smooth(rng, n: int, px: int, mean: float, spread: float, noise: float) -> np.ndarray:
    coarse = rng.normal(mean, spread, (n, 4, 4))
    field = np.repeat(np.repeat(coarse, px // 4 + 1, axis=1), px // 4 + 1, axis=2)[:, :px, :px]
    return field + rng.normal(0, noise, (n, px, px))


def s2_arrays(rng, n: int) -> dict[str, np.ndarray]:
    out = {}
    for band in S2_BANDS:
        px = _pixels(S2_BAND_RESOLUTION[band])
        out[band] = np.clip(_smooth(rng, n, px, 1500, 600, 40), 1, 10000).astype(np.uint16)
    return out


def s1_arrays(rng, n: int) -> dict[str, np.ndarray]:
    px = _pixels(10)
    return {
        "VV": _smooth(rng, n, px, -12, 3, 1.5).astype(np.float32),
        "VH": _smooth(rng, n, px, -19, 3, 1.5).astype(np.float32),
    }


def reference_map_arrays(rng, n: int) -> np.ndarray:
    px = _pixels(10)
    coarse = CLC_CODES[rng.integers(0, len(CLC_CODES), (n, 4, 4))]
    return np.repeat(np.repeat(coarse, px // 4, axis=1), px // 4, axis=2)


def s1_product_for(tile_key: str) -> str:
    """A Sentinel-1 product name (first five fields) a day before the S2 sensing."""
    sensing = tile_key.split("_")[2]
    day = int(sensing[6:8])
    return f"S1B_IW_GRDH_1SDV_{sensing[:6]}{max(day - 1, 1):02d}T165809"


def write_tile(root, tile_key: str, coords, seed: int = 0, tiffs: bool = True, chunk: int = 256) -> pd.DataFrame:
    """Write one tile's three shards and its grid (`geocoding.json`, a tile just large enough
    for `coords`) under `root/tiles/<tile key>/` and (optionally) its patches under
    `root/dataset/{BigEarthNet-S2,BigEarthNet-S1,Reference_Maps}/`.

    coords: (x, y) patch indices (ids padded to 2 digits). Returns patch_id, s1_name per patch.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    tile_dir = root / "tiles" / tile_key
    tile_dir.mkdir(parents=True, exist_ok=True)
    coords = list(coords)
    grid = TileGrid(
        tile_key,
        int(CRS.split(":")[1]),
        ORIGIN[0],
        ORIGIN[1],
        PATCH_SIZE_M * (1 + max(x for x, _ in coords)),
        PATCH_SIZE_M * (1 + max(y for _, y in coords)),
    )
    write_json({"tile_key": tile_key, "grid": grid.to_dict()}, tile_dir / "geocoding.json")
    s2_tree = root / "dataset" / DATASET_TREES["s2"] / tile_key
    rm_tree = root / "dataset" / DATASET_TREES["reference_maps"] / tile_key
    s1_product = s1_product_for(tile_key)
    s1_tree = root / "dataset" / DATASET_TREES["s1"] / s1_product
    mgrs = tile_key.rsplit("_", 1)[1][1:]
    writers = {}
    if tiffs:
        for band in S2_BANDS:
            px = _pixels(S2_BAND_RESOLUTION[band])
            writers[band] = PatchTiffWriter((px, px), np.uint16, CRS, S2_BAND_RESOLUTION[band], nodata=0)
        writers["S1"] = PatchTiffWriter((_pixels(10),) * 2, np.float32, CRS, 10)
        writers["Data"] = PatchTiffWriter((_pixels(10),) * 2, np.uint16, CRS, 10, nodata=0)
    rows = []
    with (
        ShardWriter(tile_dir / "s2_shard.parquet") as s2_shard,
        ShardWriter(tile_dir / "reference_maps_shard.parquet") as rm_shard,
        ShardWriter(tile_dir / "s1_shard.parquet") as s1_shard,
    ):
        for start in range(0, len(coords), chunk):
            part = coords[start : start + chunk]
            s2, s1, rm = s2_arrays(rng, len(part)), s1_arrays(rng, len(part)), reference_map_arrays(rng, len(part))
            for i, (x, y) in enumerate(part):
                pid = f"{tile_key}_{x:02d}_{y:02d}"
                s1_name = f"{s1_product}_{mgrs}_{x}_{y}"
                s2_shard.add(pid, encode({b: s2[b][i] for b in S2_BANDS}))
                rm_shard.add(f"{pid}_reference_map", encode({"Data": rm[i]}))
                s1_shard.add(s1_name, encode({p: s1[p][i] for p in S1_POLARISATIONS}))
                rows.append((pid, s1_name))
                if tiffs:
                    left, top = ORIGIN[0] + PATCH_SIZE_M * x, ORIGIN[1] - PATCH_SIZE_M * y
                    (s2_tree / pid).mkdir(parents=True, exist_ok=True)
                    for b in S2_BANDS:
                        writers[b].write(s2_tree / pid / f"{pid}_{b}.tif", s2[b][i], left, top)
                    (rm_tree / pid).mkdir(parents=True, exist_ok=True)
                    writers["Data"].write(rm_tree / pid / f"{pid}_reference_map.tif", rm[i], left, top)
                    (s1_tree / s1_name).mkdir(parents=True, exist_ok=True)
                    for p in S1_POLARISATIONS:
                        writers["S1"].write(s1_tree / s1_name / f"{s1_name}_{p}.tif", s1[p][i], left, top)
    return pd.DataFrame(rows, columns=["patch_id", "s1_name"])


def metadata_frame(patches: pd.DataFrame, flagged: bool = False) -> pd.DataFrame:
    """Metadata rows (DESIGN schema) for `patches` (patch_id, s1_name), sorted by patch_id;
    labels and split vary from row to row so that readers have something to check."""
    p = patches.sort_values("patch_id").reset_index(drop=True)
    n = len(p)
    labels = [sorted({CLASS_NAMES[(3 * i) % 19], CLASS_NAMES[(7 * i + 2) % 19]}) for i in range(n)]
    return pd.DataFrame(
        {
            "patch_id": p["patch_id"].astype(str),
            "labels": labels,
            "split": [("train", "validation", "test")[i % 3] for i in range(n)],
            "country": ["Austria"] * n,
            "s1_name": p["s1_name"].astype(str),
            "s2v1_name": [""] * n,
            "contains_seasonal_snow": [flagged and i % 2 == 0 for i in range(n)],
            "contains_cloud_or_shadow": [flagged and i % 2 == 1 for i in range(n)],
        }
    )
