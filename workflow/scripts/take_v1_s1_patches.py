"""One tile's S1 patches from the extracted BigEarthNet-S1 v1.0 archive (rule take_v1_s1_patches)."""

from reben.bigearthnet_v1.sentinel1 import take_tile

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    take_tile(
        tile_key=snakemake.wildcards.tile,
        grid_json=snakemake.input.geocoding,
        link_path=snakemake.input.link,
        source=snakemake.input.source,
        pairing_path=snakemake.output.pairing,
        out_dir=snakemake.output.patches,
        shard_path=snakemake.output.shard,
        band_stats_path=snakemake.output.band_stats,
        sha256_path=snakemake.output.sha256,
        link_files=snakemake.params.link_files,
    )
