# Tile inspection: the input check, the patch grid from the tile geocoding, and what the L2A
# product holds.


# Every tile's first job (make_patch_grid, sen2cor) waits for this one: it reads the metadata of
# every input and reports every problem at once (also `python -m reben check --configfile X`).
# It has no inputs and its settings come in a file, not as params: a rerun of this job (after a
# config change of its inputs or params) would mask the tiles' own rerun reasons (Snakemake does
# not look past an ancient() input of a job that reruns), so it runs when its report is missing;
# inputs the workflow makes itself (the demo's) are checked once they exist, since every later
# run repeats the check at its start (common.smk).
rule check_inputs:
    output:
        report=f"{RESULTS}/check/inputs.txt",
    log:
        log_path("check_inputs", "inputs"),
    benchmark:
        benchmark_path("check_inputs", "inputs")
    localrule: True
    threads: 1
    resources:
        mem_mb=mem_mb_grows(1000),
        runtime=10,
    params:
        settings=CHECK_SETTINGS,
    script:
        "../scripts/check_inputs.py"


rule make_patch_grid:
    input:
        product=geocoding_source,
        check=input_check_report,
    output:
        grid=tile_path("{tile}", "grid.parquet"),
        geocoding=tile_path("{tile}", "geocoding.json"),
    log:
        log_path("make_patch_grid", "{tile}"),
    benchmark:
        benchmark_path("make_patch_grid", "{tile}")
    threads: 1
    resources:
        mem_mb=mem_mb_grows(1000),
        runtime=5,
    params:
        patch_size_m=config["patch_size_m"],
        product=geocoding_source_identity,
    script:
        "../scripts/make_patch_grid.py"


rule inspect_tile:
    input:
        product=l2a_product,
        geocoding=tile_path("{tile}", "geocoding.json"),
    output:
        tile=tile_path("{tile}", "tile.json"),
    log:
        log_path("inspect_tile", "{tile}"),
    benchmark:
        benchmark_path("inspect_tile", "{tile}")
    threads: 1
    resources:
        mem_mb=mem_mb_grows(1000),
        runtime=5,
    params:
        patch_size_m=config["patch_size_m"],
        product=l2a_product_identity,
    script:
        "../scripts/inspect_tile.py"
