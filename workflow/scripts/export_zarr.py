"""One split of the dataset as a Zarr v3 store (rule export_zarr)."""

from pathlib import Path

from reben.access.zarr_store import write_split_store

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    params = snakemake.params
    write_split_store(
        dataset=Path(snakemake.input.metadata[0]).parent,
        split=snakemake.wildcards.split,
        out_dir=Path(snakemake.output.store).parent,
        include_flagged=params.include_flagged,
        patch_size_m=params.patch_size_m,
        shard_patches=params.shard_patches,
        zstd_level=params.zstd_level,
        summary_path=snakemake.output.summary,
    )
