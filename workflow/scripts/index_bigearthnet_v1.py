"""Index the BigEarthNet v1 tables by MGRS tile, day, x and y (rule index_bigearthnet_v1)."""

from pathlib import Path

from reben.bigearthnet_v1.links import write_v1_index

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    inputs = snakemake.input
    write_v1_index({role: Path(inputs[role]) for role in ("pairs", "snow", "cloud_or_shadow")}, snakemake.output.index)
