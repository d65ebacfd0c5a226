"""Which patches of one tile enter the dataset, with the reason for the others (rule select_patches)."""

from reben.dataset.selection import write_selection

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    inputs = snakemake.input
    write_selection(
        tile_json=inputs.tile,
        s2_patches_path=inputs.s2_patches,
        labels_path=inputs.labels,
        selection_path=snakemake.output.selection,
        cloud_threshold=snakemake.params.cloud_or_shadow_threshold,
        snow_threshold=snakemake.params.snow_threshold,
        cloud_list=inputs.get("cloud_or_shadow_list"),
        snow_list=inputs.get("snow_list"),
        s1_pairing_path=inputs.get("s1_pairing"),
        v1_link_path=inputs.get("v1_link"),
        require_v1=snakemake.params.require_v1,
        v1_flags=snakemake.params.v1_flags,
    )
