"""PROVENANCE.json: config, inputs, software, output hashes (rule write_provenance)."""

from reben.distribution.provenance import write_provenance

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    write_provenance(
        out_path=snakemake.output.provenance,
        config=snakemake.params.config,
        inputs=snakemake.params.inputs,
        input_files=snakemake.params.input_files,
        metadata_paths=[snakemake.input.metadata, snakemake.input.flagged_metadata],
        manifest_path=snakemake.input.manifest,
        lmdb_content_path=snakemake.input.lmdb_content,
        repo=snakemake.params.repo,
    )
