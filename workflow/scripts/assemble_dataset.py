"""Assemble results/dataset/: trees, metadata parquet files, sidecar and funnel (rule assemble_dataset)."""

from reben.dataset.assembly import TileInputs, assemble_dataset

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    inputs, output = snakemake.input, snakemake.output
    s1 = bool(snakemake.params.sentinel1)
    v1 = bool(snakemake.params.v1_tables)
    tiles = [
        TileInputs(
            tile=inputs.tile[i],
            geocoding=inputs.geocoding[i],
            s2_patches=inputs.s2_patches[i],
            labels=inputs.labels[i],
            splits=inputs.splits[i],
            countries=inputs.countries[i],
            selection=inputs.selection[i],
            s2_dir=inputs.s2_dir[i],
            reference_maps_dir=inputs.reference_maps_dir[i],
            s1_pairing=inputs.s1_pairing[i] if s1 else None,
            s1_dir=inputs.s1_dir[i] if s1 else None,
            v1_link=inputs.v1_link[i] if v1 else None,
            staged_trees=inputs.staged_trees[i],
        )
        for i in range(len(inputs.tile))
    ]
    assemble_dataset(
        tiles,
        s2_tree=output.s2,
        s1_tree=output.s1,
        reference_maps_tree=output.reference_maps,
        metadata=output.metadata,
        flagged_metadata=output.flagged_metadata,
        sidecar=output.sidecar,
        funnel_csv=output.funnel,
        flag_lists=[p for p in (inputs.get("cloud_or_shadow_list"), inputs.get("snow_list")) if p],
        threads=snakemake.threads,
        overlapping_tiles=snakemake.params.overlapping_tiles,
    )
