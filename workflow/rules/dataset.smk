# Selection and dataset assembly (metadata parquet files, trees).


def flag_lists():
    """The configured lists of flagged patch ids, by flag (None where the threshold applies)."""
    flags = config["flags"]
    return {"cloud_or_shadow": flags["cloud_or_shadow_list"], "snow": flags["snow_list"]}


def flag_list_identities():
    return {flag: IDENTITIES.file(path) for flag, path in flag_lists().items()}


def selection_inputs(wildcards):
    """The tables select_patches reads for one tile (S1 pairing only when Sentinel-1 is on)."""
    inputs = {
        "tile": tile_path(wildcards.tile, "tile.json"),
        "s2_patches": tile_path(wildcards.tile, "s2_patches.parquet"),
        "labels": tile_path(wildcards.tile, "labels.parquet"),
    }
    for flag, path in flag_lists().items():
        if path:
            inputs[f"{flag}_list"] = ancient(path)
    if config["sentinel1"]["enabled"]:
        inputs["s1_pairing"] = tile_path(wildcards.tile, "s1_pairing.parquet")
    if V1_TABLES:
        inputs["v1_link"] = tile_path(wildcards.tile, "bigearthnet_v1.parquet")
    return inputs


def staging_inputs(wildcards):
    """What stage_tile_trees links from: the tile's selection and patch folders (S1 when on)."""
    inputs = {
        "geocoding": tile_path(wildcards.tile, "geocoding.json"),
        "selection": tile_path(wildcards.tile, "selection.parquet"),
        "s2_dir": tile_path(wildcards.tile, "s2"),
        "reference_maps_dir": tile_path(wildcards.tile, "reference_maps"),
    }
    if config["sentinel1"]["enabled"]:
        inputs["s1_pairing"] = tile_path(wildcards.tile, "s1_pairing.parquet")
        inputs["s1_dir"] = tile_path(wildcards.tile, "s1")
    return inputs


def dataset_inputs(wildcards):
    """Every per-tile output the dataset is assembled from, each as a list in TILES order."""
    names = {
        "tile": "tile.json",
        "geocoding": "geocoding.json",
        "s2_patches": "s2_patches.parquet",
        "labels": "labels.parquet",
        "splits": "splits.parquet",
        "countries": "countries.parquet",
        "selection": "selection.parquet",
        "s2_dir": "s2",
        "reference_maps_dir": "reference_maps",
        "staged_trees": "staged_trees",
    }
    if config["sentinel1"]["enabled"]:
        names.update(s1_pairing="s1_pairing.parquet", s1_dir="s1")
    inputs = {key: per_tile(name) for key, name in names.items()}
    for flag, path in flag_lists().items():
        if path:
            inputs[f"{flag}_list"] = ancient(path)
    if V1_TABLES:
        inputs["v1_link"] = per_tile("bigearthnet_v1.parquet")
    return inputs


rule select_patches:
    input:
        unpack(selection_inputs),
    output:
        selection=tile_path("{tile}", "selection.parquet"),
    log:
        log_path("select_patches", "{tile}"),
    benchmark:
        benchmark_path("select_patches", "{tile}")
    # Light (a small table, a JSON or a download): runs where Snakemake runs, not as a cluster job.
    localrule: True
    threads: 1
    resources:
        mem_mb=mem_mb_grows(1000),
        runtime=5,
    params:
        cloud_or_shadow_threshold=config["flags"]["cloud_or_shadow_threshold"],
        snow_threshold=config["flags"]["snow_threshold"],
        flag_lists=flag_list_identities(),
        sentinel1=config["sentinel1"]["enabled"],
        require_v1=config["bigearthnet_v1"]["require_match"],
        v1_flags=config["bigearthnet_v1"]["flags"],
    script:
        "../scripts/select_patches.py"


rule stage_tile_trees:
    input:
        unpack(staging_inputs),
    output:
        # Consumed by assemble_dataset, which moves its folders into the dataset's trees.
        trees=temp(directory(tile_path("{tile}", "staged_trees"))),
    log:
        log_path("stage_tile_trees", "{tile}"),
    benchmark:
        benchmark_path("stage_tile_trees", "{tile}")
    # Light (hard links, no pixel read): runs where Snakemake runs, not as a cluster job.
    localrule: True
    threads: 1
    resources:
        mem_mb=mem_mb_grows(1000),
        runtime=10,
    script:
        "../scripts/stage_tile_trees.py"


rule assemble_dataset:
    input:
        unpack(dataset_inputs),
    output:
        s2=directory(dataset_path(DATASET_TREES["s2"])),
        s1=directory(dataset_path(DATASET_TREES["s1"])),
        reference_maps=directory(dataset_path(DATASET_TREES["reference_maps"])),
        metadata=dataset_path("metadata.parquet"),
        flagged_metadata=dataset_path("metadata_for_patches_with_snow_cloud_or_shadow.parquet"),
        sidecar=dataset_path("patches.parquet"),
        funnel=report(dataset_path("funnel.csv"), caption="../report/funnel.rst", category="Dataset"),
    log:
        log_path("assemble_dataset", "dataset"),
    benchmark:
        benchmark_path("assemble_dataset", "dataset")
    threads: 2
    resources:
        mem_mb=mem_mb_grows(4000),
        runtime=60,
    params:
        v1_tables=bool(V1_TABLES),
        flag_lists=flag_list_identities(),
        sentinel1=config["sentinel1"]["enabled"],
        overlapping_tiles=config["splits"]["overlapping_tiles"],
    script:
        "../scripts/assemble_dataset.py"
