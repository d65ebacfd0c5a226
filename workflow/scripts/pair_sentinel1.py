"""Pair every patch of one tile with its Sentinel-1 product (rule pair_sentinel1)."""

from reben.sentinel1.pairing import pair_tile

if __name__ == "__main__":
    from reben.logs import to_snakemake_log
    from reben.sentinel1.products import product_files

    to_snakemake_log(snakemake.log[0])
    pair_tile(
        tile_key=snakemake.wildcards.tile,
        grid_json=snakemake.input.geocoding,
        products=product_files(snakemake.params.products, snakemake.input.vv, snakemake.input.vh),
        out_path=snakemake.output.pairing,
        max_gap_days=snakemake.params.max_time_gap_days,
        unit=snakemake.params.unit,
        nodata=snakemake.params.nodata,
    )
