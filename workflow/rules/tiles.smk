# Tile inspection: the patch grid from the tile geocoding, and what the L2A product holds.


rule make_patch_grid:
    input:
        product=geocoding_source,
    output:
        grid=tile_path("{tile}", "grid.parquet"),
        geocoding=tile_path("{tile}", "geocoding.json"),
    params:
        patch_size_m=config["patch_size_m"],
    log:
        log_path("make_patch_grid", "{tile}"),
    threads: 1
    resources:
        mem_mb=mem_mb_grows(1000),
        runtime=5,
    script:
        "../scripts/make_patch_grid.py"


rule inspect_tile:
    input:
        product=l2a_product,
    output:
        tile=tile_path("{tile}", "tile.json"),
    params:
        patch_size_m=config["patch_size_m"],
    log:
        log_path("inspect_tile", "{tile}"),
    threads: 1
    resources:
        mem_mb=mem_mb_grows(1000),
        runtime=5,
    script:
        "../scripts/inspect_tile.py"


FINAL_TARGETS.extend(per_tile("grid.parquet") + per_tile("tile.json"))
