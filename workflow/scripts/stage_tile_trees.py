"""Link one tile's selected patches into its staged trees, in the dataset's layout (rule stage_tile_trees)."""

from reben.dataset.assembly import stage_tile_trees

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    inputs = snakemake.input
    stage_tile_trees(
        geocoding=inputs.geocoding,
        selection=inputs.selection,
        s2_dir=inputs.s2_dir,
        reference_maps_dir=inputs.reference_maps_dir,
        out_dir=snakemake.output.trees,
        s1_pairing=inputs.get("s1_pairing"),
        s1_dir=inputs.get("s1_dir"),
        threads=snakemake.threads,
    )
