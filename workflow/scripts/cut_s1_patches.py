"""Resample the paired Sentinel-1 products onto one tile's patches (rule cut_s1_patches)."""

from reben.sentinel1.patches import cut_tile

if __name__ == "__main__":
    from reben.logs import to_snakemake_log
    from reben.sentinel1.products import product_files

    to_snakemake_log(snakemake.log[0])
    cut_tile(
        tile_key=snakemake.wildcards.tile,
        grid_json=snakemake.input.geocoding,
        pairing_path=snakemake.input.pairing,
        s2_patches_path=None,
        products=product_files(snakemake.params.products, snakemake.input.vv, snakemake.input.vh),
        out_dir=snakemake.output.patches,
        shard_path=snakemake.output.shard,
        band_stats_path=snakemake.output.band_stats,
        sha256_path=snakemake.output.sha256,
        unit=snakemake.params.unit,
        nodata=snakemake.params.nodata,
    )
