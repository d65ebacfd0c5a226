"""sha256 of every file of the dataset trees and metadata files (rule write_manifest): the
per-tile sha256 tables merged, the metadata files hashed, a sample of tree files checked."""

from pathlib import Path

from reben.distribution.provenance import write_manifest

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    inp, params = snakemake.input, snakemake.params
    tables = {"s2": inp.s2_sha256, "reference_maps": inp.reference_maps_sha256, "s1": getattr(inp, "s1_sha256", [])}
    write_manifest(
        dataset_dir=Path(snakemake.output.manifest).parent,  # paths in the manifest are relative to it
        trees=params.trees,
        tile_hashes={kind: dict(zip(params.tiles, tables[kind])) for kind in params.trees},
        metadata_paths=list(inp.metadata),
        listed=list(inp.zarr),
        out_path=snakemake.output.manifest,
        sample_size=params.sample_size,
        seed=params.seed,
        threads=snakemake.threads,
    )
