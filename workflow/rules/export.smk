# Optional: the dataset in the BigEarthNet v1.0 / BigEarthNet-MM folder layout, for code and
# readers written for v1 (torchgeo's BigEarthNet). In the default target only with export_v1.enabled.


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
