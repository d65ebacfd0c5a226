"""Extract the S1 patch files of the BigEarthNet-S1 v1.0 archive, once (rule extract_bigearthnet_v1_s1)."""

from reben.bigearthnet_v1.sentinel1 import extract_archive

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    extract_archive(snakemake.params.archive, snakemake.output.patches)
