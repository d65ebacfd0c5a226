"""sha256 of every file of the dataset trees and metadata files (rule write_manifest)."""

from pathlib import Path

from reben.provenance import write_manifest

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    write_manifest(
        dataset_dir=Path(snakemake.output.manifest).parent,  # paths in the manifest are relative to it
        members=snakemake.params.members,
        out_path=snakemake.output.manifest,
        threads=snakemake.threads,
    )
