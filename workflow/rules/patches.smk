# Sentinel-2 patches: every valid patch of every product, with its SCL fractions and a shard.


rule cut_s2_patches:
    input:
        tile=tile_path("{tile}", "tile.json"),
    output:
        patches=directory(tile_path("{tile}", "s2")),
        table=tile_path("{tile}", "s2_patches.parquet"),
        shard=tile_path("{tile}", "s2_shard.parquet"),
        band_stats=tile_path("{tile}", "s2_band_stats.parquet"),
        sha256=tile_path("{tile}", "s2_sha256.parquet"),
    log:
        log_path("cut_s2_patches", "{tile}"),
    benchmark:
        benchmark_path("cut_s2_patches", "{tile}")
    threads: tile_threads(2, workflow, len(TILES))
    resources:
        mem_mb=mem_mb_grows(4000),
        runtime=30,
    script:
        "../scripts/cut_s2_patches.py"
