# Selection and dataset assembly (metadata parquet files, trees).


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
        funnel=dataset_path("funnel.csv"),
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
