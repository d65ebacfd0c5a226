"""Turn one raw Sentinel-1 GRD product into VV and VH backscatter with SNAP gpt (rule grd_to_backscatter)."""

from reben.sentinel1.grd import grd_to_backscatter

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    grd_to_backscatter(
        grd=snakemake.input.grd,
        graph=snakemake.input.graph,
        out_vv=snakemake.output.vv,
        out_vh=snakemake.output.vh,
        gpt=snakemake.params.gpt,
        dem=snakemake.params.dem,
        external_dem=snakemake.params.external_dem,
        crs=snakemake.params.crs,
        threads=snakemake.threads,
        cache=snakemake.params.cache,
    )
