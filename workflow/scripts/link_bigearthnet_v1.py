"""Link one tile's patches to their BigEarthNet v1 counterparts (rule link_bigearthnet_v1)."""

from reben.bigearthnet_v1.links import write_tile_link

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    write_tile_link(snakemake.input.geocoding, snakemake.input.index, snakemake.output.link)
