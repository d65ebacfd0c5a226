# Tile inspection: the patch grid from the tile geocoding, and what the L2A product holds. (The
# input check runs before any job, outside the DAG: run.smk.)


def l2a_product(wildcards):
    """The L2A product of a tile: the configured one, or sen2cor's output for an L1C product."""
    product = PRODUCTS[wildcards.tile]
    if product["level"] == "MSIL2A":
        return ancient(product["path"])
    return f"{RESULTS}/l2a/{wildcards.tile}.SAFE"


def l2a_product_identity(wildcards):
    """A configured L2A product's content identity (metadata XML, image file sizes): a repaired
    file reruns its tile, a touched one nothing. For sen2cor's output, what it is made of (the
    L1C product's name and sen2cor's settings, l1c.smk): a tile whose L2A product is of
    another setting reruns, and so does sen2cor when that product is missing (Snakemake removes
    the outputs of a killed sen2cor job, and would not look for them again otherwise)."""
    product = PRODUCTS[wildcards.tile]
    return product_identity_of(product["path"]) if product["level"] == "MSIL2A" else sen2cor_identity(wildcards)


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


rule make_patch_grid:
    input:
        product=geocoding_source,
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
