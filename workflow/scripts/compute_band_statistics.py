"""Per-band mean and standard deviation over one split of the dataset (rule compute_band_statistics)."""

from reben.bandstats import write_band_statistics

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    write_band_statistics(
        metadata_path=snakemake.input.metadata,
        s2_dir=snakemake.input.s2,
        s1_dir=snakemake.input.s1 if snakemake.params.sentinel1 else None,
        out_path=snakemake.output.statistics,
        split=snakemake.params.split,
        threads=snakemake.threads,
    )
