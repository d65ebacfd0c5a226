"""Record what an L2A product holds in tile.json (rule inspect_tile)."""

from reben.sentinel2.tiles import inspect_tile

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    inspect_tile(
        product=snakemake.input.product,
        key=snakemake.wildcards.tile,
        patch_size_m=snakemake.params.patch_size_m,
        tile_path=snakemake.output.tile,
        geocoding_path=snakemake.input.geocoding,
    )
