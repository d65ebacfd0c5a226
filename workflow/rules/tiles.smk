# Tile inspection: the input check, the patch grid from the tile geocoding, and what the L2A
# product holds.

CHECK_SETTINGS = f"{RESULTS}/check/settings.json"


def input_check_report(wildcards):
    """The check's report, as ancient(): a tile job waits for the check, but a rerun check (after
    a config change) reruns no tile by itself."""
    return ancient(f"{RESULTS}/check/inputs.txt")


def l2a_product(wildcards):
    """The L2A product of a tile: the configured one, or sen2cor's output for an L1C product."""
    product = PRODUCTS[wildcards.tile]
    if product["level"] == "MSIL2A":
        return ancient(product["path"])
    return f"{RESULTS}/l2a/{wildcards.tile}.SAFE"


def l2a_product_identity(wildcards):
    """A configured L2A product's content identity (metadata XML, image file sizes): a repaired
    file reruns its tile, a touched one nothing. sen2cor's output goes by its rule."""
    product = PRODUCTS[wildcards.tile]
    return product_identity_of(product["path"]) if product["level"] == "MSIL2A" else None


def geocoding_source_identity(wildcards):
    return product_identity_of(PRODUCTS[wildcards.tile]["path"])


def product_identity_of(path):
    try:
        return IDENTITIES.product(path)
    except RebenError as e:
        raise WorkflowError(str(e)) from None


def geocoding_source(wildcards):
    """The product whose MTD_TL.xml gives the tile geocoding: the L1C itself where the tile starts
    from L1C, so that the grid (and all that depends only on it) is not downstream of sen2cor."""
    return ancient(PRODUCTS[wildcards.tile]["path"])


# Every tile's first job (make_patch_grid, sen2cor) waits for this one: it reads the metadata of
# every input and reports every problem at once (also `reben check --configfile X`).
# It has no inputs and its settings come in a file, not as params: a rerun of this job (after a
# config change of its inputs or params) would mask the tiles' own rerun reasons (Snakemake does
# not look past an ancient() input of a job that reruns), so it runs when its report is missing;
# inputs the workflow makes itself (the demo's) are checked once they exist, since every later
# run repeats the check at its start (run.smk).
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
