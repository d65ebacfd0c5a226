"""reBEN's tile-ring split of one tile's patches (rule assign_splits)."""

from reben.dataset.splits import write_splits

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    write_splits(geocoding=snakemake.input.geocoding, splits_path=snakemake.output.splits)
