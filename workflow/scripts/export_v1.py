"""The dataset in the BigEarthNet v1.0 / BigEarthNet-MM folder layout (rule export_v1)."""

from reben.distribution.v1_export import export_v1

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    inputs, params = snakemake.input, snakemake.params
    export_v1(
        sidecar=inputs.sidecar,
        s2_tree=inputs.s2_tree,
        out_dir=snakemake.output.export,
        geocodings=inputs.geocodings,
        tile_sources=params.tile_sources,
        s1_tree=getattr(inputs, "s1_tree", None),
        s1_scenes=params.s1_scenes,
        labels_column=params.labels_column,
        naming=params.folder_names,
        threads=snakemake.threads,
    )
