"""Per-band statistics over one split of the dataset, merged from the tiles' per-patch tables
(rule compute_band_statistics)."""

from reben.bandstats import write_band_statistics

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    write_band_statistics(
        metadata_path=snakemake.input.metadata,
        s2_tables=snakemake.input.s2,
        out_path=snakemake.output.statistics,
        s1_tables=snakemake.input.s1 if snakemake.params.sentinel1 else None,
        split=snakemake.params.split,
    )
