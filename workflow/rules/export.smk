# Optional: the dataset in the BigEarthNet v1.0 / BigEarthNet-MM folder layout, for code and
# readers written for v1 (torchgeo's BigEarthNet). In the default target only with export_v1.enabled.
from reben.dataset.splits import SPLITS


def export_v1_inputs(wildcards):
    """The sidecar, the dataset's trees (S1 only when it is on) and every tile's geocoding."""
    inputs = {
        "sidecar": dataset_path("patches.parquet"),
        "s2_tree": dataset_path(DATASET_TREES["s2"]),
        "geocodings": per_tile("geocoding.json"),
    }
    if S1_ENABLED:
        inputs["s1_tree"] = dataset_path(DATASET_TREES["s1"])
    return inputs


def export_v1_tile_sources():
    """Tile key -> the product v1's `tile_source` names: the configured product (the L1C product
    where the tile starts from L1C, as in v1; else the L2A product)."""
    return {tile: product["name"] for tile, product in PRODUCTS.items()}


def export_v1_s1_scenes():
    """S1 product (first five fields) -> the configured name, for v1's `scene_source`."""
    return {parse_s1_name(name).product: parse_s1_name(name).name for name in S1_PRODUCTS}


rule export_v1:
    input:
        unpack(export_v1_inputs),
    output:
        export=directory(export_path("bigearthnet_v1")),
    log:
        log_path("export_v1", "dataset"),
    benchmark:
        benchmark_path("export_v1", "dataset")
    threads: 2
    resources:
        mem_mb=mem_mb_grows(2000),
        runtime=120,
    params:
        labels_column=config["export_v1"]["labels_column"],
        folder_names=config["export_v1"]["folder_names"],
        tile_sources=export_v1_tile_sources(),
        s1_scenes=export_v1_s1_scenes(),
    script:
        "../scripts/export_v1.py"


# Optional: one Zarr v3 store per split in the dataset folder, for training from object storage
# (xarray.open_zarr reads it as reben.open_dataset gives the split). In the default target, and
# in MANIFEST.sha256, only with export_zarr.enabled.
ZARR = config["export_zarr"]


def zarr_store(split):
    """The store of a split, relative to the dataset folder (its MANIFEST.sha256 paths)."""
    return f"zarr/{split}.zarr"


def zarr_store_root(split):
    """The store's root metadata, the file Snakemake tracks of it (the store is a folder)."""
    return dataset_path(f"{zarr_store(split)}/zarr.json")


def zarr_summary(split):
    """What export_zarr wrote: every file of the store with its size, sha256 and md5."""
    return export_path(f"zarr/{split}.json")


def zarr_summaries():
    """The summaries of the stores the default target and the manifest take (none when off)."""
    return [zarr_summary(split) for split in SPLITS] if ZARR["enabled"] else []


def export_zarr_inputs(wildcards):
    """The LMDB the values come from, the metadata files, and the S2 tree (one header per tile
    places the patches: their bounds)."""
    return {
        "lmdb": dataset_path("lmdb/data.mdb"),
        "metadata": [dataset_path(name) for name in METADATA_FILES],
        "s2_tree": dataset_path(DATASET_TREES["s2"]),
    }


rule export_zarr:
    input:
        unpack(export_zarr_inputs),
    output:
        # The store's root metadata, not directory(): Snakemake would add its
        # .snakemake_timestamp to the store.
        store=zarr_store_root("{split}"),
        summary=zarr_summary("{split}"),
    log:
        log_path("export_zarr", "{split}"),
    benchmark:
        benchmark_path("export_zarr", "{split}")
    wildcard_constraints:
        split="|".join(SPLITS),
    threads: 1
    resources:
        mem_mb=mem_mb_grows(2000),
        runtime=240,
    params:
        include_flagged=ZARR["include_flagged"],
        patch_size_m=config["patch_size_m"],
        shard_patches=ZARR["shard_patches"],
        zstd_level=ZARR["zstd_level"],
    script:
        "../scripts/export_zarr.py"
