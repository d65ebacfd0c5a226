"""Benchmark of the access wing (issue 24) on one full-size tile, run by hand:

    .venv/bin/python bench/bench_xarray.py [work_dir] [--batches N] [--keep] [--reuse]

Synthesises a tile of 91 x 91 = 8,281 patches of 1200 m with Sentinel-1 (reben.synthetic.dataset,
as bench_distribution.py: shards and the GeoTIFF trees), builds its LMDB (encode_lmdb) and a Zarr
store of all its patches (write_split_store, shards of 256 patches), then reads the same random
batches of 32 patches from each (every band: the 12 S2 bands at their native size, VV, VH and the
reference map, as arrays per band of the batch) and prints patches per second (from the median
time of a batch, the readers taking turns batch by batch):

- the LMDB directly, as a training loader reads it (ConfigILM's BENv2 reader: one `txn.get` per
  key, `safetensors.numpy.load` of the value), the batch stacked per band;
- `reben.open_dataset` over the LMDB (native grids, and on the 10 m grid: 20 m and 60 m bands
  repeated), `ds.isel(patch=batch)` then each band's `.values`;
- the Zarr store through `xarray.open_zarr`, the same way;
- the GeoTIFF trees, read with rasterio (15 files a patch), and `open_dataset` over the trees;

and the size on disk of each store (allocated blocks). Every reader first runs once over all the
batches (page cache warm for all, as in an epoch after the first), then is timed. Target:
open_dataset over the LMDB within 1.5x of the LMDB directly (its patches per second at least
two thirds of the LMDB's). The work folder is deleted at the end unless --keep; --reuse reads
the stores a --keep run left instead of building them again.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

from reben.constants import DATASET_TREES, S1_POLARISATIONS, S2_BANDS  # noqa: E402

TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
SIDE = 91
BATCH = 32
LMDB = "LMDB directly (txn.get + safetensors load)"


def build(root: Path) -> Path:
    """The tile's dataset folder: trees, metadata files, LMDB; and its Zarr store."""
    from reben.access.zarr_store import write_split_store
    from reben.distribution.lmdb import encode_lmdb
    from reben.synthetic.dataset import metadata_frame, write_tile

    dataset = root / "dataset"
    t0 = time.perf_counter()
    patches = write_tile(root, TILE, [(x, y) for y in range(SIDE) for x in range(SIDE)], seed=7)
    metadata_frame(patches).to_parquet(dataset / "metadata.parquet", index=False)
    metadata_frame(patches.iloc[:0]).to_parquet(
        dataset / "metadata_for_patches_with_snow_cloud_or_shadow.parquet", index=False
    )
    print(f"synthetic tile: {len(patches)} patches, shards and trees, {time.perf_counter() - t0:.1f} s")
    tiles = root / "tiles" / TILE
    t0 = time.perf_counter()
    encode_lmdb(
        [dataset / "metadata.parquet", dataset / "metadata_for_patches_with_snow_cloud_or_shadow.parquet"],
        {k: [tiles / f"{k}_shard.parquet"] for k in ("s2", "reference_maps", "s1")},
        dataset / "lmdb",
        {kind: dataset / tree for kind, tree in DATASET_TREES.items()},
        [tiles / "geocoding.json"],
        sample_size=20,
    )
    print(f"encode_lmdb: {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    write_split_store(dataset, None, root / "all.zarr")
    print(f"write_split_store (every patch, shards of 256): {time.perf_counter() - t0:.1f} s")
    return dataset


def lmdb_direct(dataset: Path):
    """ConfigILM's way: get each key, decode the whole safetensors value, stack per band."""
    import pandas as pd
    from safetensors.numpy import load

    from reben.access.readers import lmdb_environment

    meta = pd.read_parquet(dataset / "metadata.parquet").sort_values("patch_id")
    ids, s1 = meta.patch_id.to_numpy(), meta.s1_name.to_numpy()
    # lmdb.open(lmdb_dir, readonly=True, lock=False, readahead=False): the environment the
    # Zarr store was written from, since LMDB allows one per process and folder
    env = lmdb_environment(dataset / "lmdb")

    def read(batch):
        with env.begin() as txn:
            values = [
                {
                    **load(txn.get(ids[i].encode())),
                    **load(txn.get(s1[i].encode())),
                    "reference_map": load(txn.get(f"{ids[i]}_reference_map".encode()))["Data"],
                }
                for i in batch
            ]
        return {name: np.stack([v[name] for v in values]) for name in values[0]}

    return read


def through_xarray(ds):
    names = list(ds.data_vars)

    def read(batch):
        one = ds.isel(patch=batch)
        return {name: one[name].values for name in names}

    return read


def trees_direct(dataset: Path):
    """One rasterio read per band file, as a loader of the folder trees reads them."""
    import pandas as pd
    import rasterio

    meta = pd.read_parquet(dataset / "metadata.parquet").sort_values("patch_id")
    ids, s1 = meta.patch_id.to_numpy(), meta.s1_name.to_numpy()

    def files(i):
        pid, name = ids[i], s1[i]
        s2 = dataset / DATASET_TREES["s2"] / TILE / pid
        out = {b: s2 / f"{pid}_{b}.tif" for b in S2_BANDS}
        product = "_".join(name.split("_")[:5])
        out.update({p: dataset / DATASET_TREES["s1"] / product / name / f"{name}_{p}.tif" for p in S1_POLARISATIONS})
        out["reference_map"] = dataset / DATASET_TREES["reference_maps"] / TILE / pid / f"{pid}_reference_map.tif"
        return out

    def read(batch):
        values = []
        for i in batch:
            patch = {}
            for name, path in files(i).items():
                with rasterio.open(path) as src:
                    patch[name] = src.read(1)
            values.append(patch)
        return {name: np.stack([v[name] for v in values]) for name in values[0]}

    return read


def timed(plan: dict) -> dict[str, float]:
    """Patches per second of each reader over its batches: one untimed pass over all of them,
    then each batch timed, the readers taking turns batch by batch (so that a change in the load
    of the machine falls on all alike), the rate from the median batch time."""
    for read, batches in plan.values():
        for batch in batches:
            read(batch)
    seconds = {name: [] for name in plan}
    for i in range(max(len(batches) for _, batches in plan.values())):
        for name, (read, batches) in plan.items():
            t0 = time.perf_counter()
            read(batches[i])
            seconds[name].append(time.perf_counter() - t0)
    return {name: BATCH / float(np.median(s)) for name, s in seconds.items()}


def disk_bytes(path: Path) -> int:
    """Bytes allocated on disk (blocks), as `du` counts them."""
    if path.is_file():
        return path.stat().st_blocks * 512
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file() or p.is_dir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work_dir", nargs="?", default=str(REPO / "bench" / "out" / "xarray"))
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--reuse", action="store_true", help="read the stores a --keep run left")
    args = parser.parse_args()
    import xarray as xr

    import reben

    root = Path(args.work_dir)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.reuse and (root / "all.zarr" / "zarr.json").exists():
        dataset = root / "dataset"
    else:
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        dataset = build(root)
    n = SIDE * SIDE
    rng = np.random.default_rng(0)
    batches = [rng.choice(n, BATCH, replace=False) for _ in range(args.batches)]
    readers = {
        LMDB: lmdb_direct(dataset),
        "open_dataset, LMDB, native grids": through_xarray(reben.open_dataset(dataset, resolution="native")),
        "open_dataset, LMDB, 10 m grid": through_xarray(reben.open_dataset(dataset)),
        "Zarr store, xarray.open_zarr": through_xarray(xr.open_zarr(root / "all.zarr")),
        "GeoTIFF trees, rasterio": trees_direct(dataset),
        "open_dataset, trees, native grids": through_xarray(
            reben.open_dataset(dataset, resolution="native", source="trees")
        ),
    }
    reference = readers[LMDB](batches[0])
    for name, read in readers.items():
        got = read(batches[0])
        for band, values in reference.items():  # the same arrays from every store
            assert np.array_equal(got[band], values) or got[band].shape[1] != values.shape[1], (name, band)
    # A loader that shuffles shards and reads runs of patches: 32 consecutive patches of one shard
    zarr_runs = "Zarr store, xarray.open_zarr, 32 consecutive patches"
    runs = [np.arange(start, start + BATCH) for start in rng.choice(n - BATCH, len(batches)) // BATCH * BATCH]
    plan = {name: (read, batches) for name, read in readers.items()}
    plan[zarr_runs] = (readers["Zarr store, xarray.open_zarr"], runs)
    rates = timed(plan)
    sizes = {
        "LMDB (lmdb/data.mdb)": disk_bytes(dataset / "lmdb" / "data.mdb"),
        "Zarr store": disk_bytes(root / "all.zarr"),
        "GeoTIFF trees": sum(disk_bytes(dataset / tree) for tree in DATASET_TREES.values()),
    }
    print(f"\n{len(batches)} random batches of {BATCH} of {n} patches; load average after: {os.getloadavg()[0]:.1f}")
    print("| reader | patches/s | vs LMDB directly |\n|---|---:|---:|")
    lmdb_rate = rates[LMDB]
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} | {lmdb_rate / rate:.2f}x |")
    print("\n| store | size on disk |\n|---|---:|")
    for name, size in sizes.items():
        print(f"| {name} | {size / 1e9:.2f} GB ({size / n / 1e3:.0f} kB a patch) |")
    ratio = lmdb_rate / rates["open_dataset, LMDB, native grids"]
    verdict = "met" if ratio <= 1.5 else "MISSED"
    print(f"\nopen_dataset over the LMDB: {ratio:.2f}x the LMDB directly (target 1.5x): {verdict}")
    if not args.keep:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
