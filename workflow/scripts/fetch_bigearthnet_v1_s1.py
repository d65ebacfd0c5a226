"""Download the BigEarthNet-S1 v1.0 archive, resumed and checked (rule fetch_bigearthnet_v1_s1)."""

from reben.bigearthnet_v1.sentinel1 import fetch_archive

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    fetch_archive(snakemake.params.url, snakemake.output.archive, sha256=snakemake.params.sha256)
