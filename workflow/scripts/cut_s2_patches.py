"""Cut one Sentinel-2 L2A product into the patches of its grid (rule cut_s2_patches)."""

from reben.sentinel2.patches import cut_tile

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    cut_tile(
        tile_json=snakemake.input.tile,
        out_dir=snakemake.output.patches,
        table_path=snakemake.output.table,
        shard_path=snakemake.output.shard,
        band_stats_path=snakemake.output.band_stats,
        sha256_path=snakemake.output.sha256,
        threads=snakemake.threads,
    )
