"""Turn one L1C product into the tile's L2A product with sen2cor (rule sen2cor)."""

from reben.sentinel2.sen2cor import run_sen2cor

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log.main)
    run_sen2cor(
        l1c=snakemake.input.l1c,
        out_product=snakemake.output.product,
        record=snakemake.output.record,
        command=snakemake.params.command,
        version=snakemake.params.version,
        resolution=snakemake.params.resolution,
        extra_args=snakemake.params.extra_args,
        tool_log=snakemake.log.l2a_process,
        l1c_name=snakemake.params.l1c,
    )
