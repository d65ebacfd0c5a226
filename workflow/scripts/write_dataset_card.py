"""Dataset card, STAC catalogue and Croissant description in results/dist (rule write_dataset_card)."""

from reben.distribution.card import write_dataset_card

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    write_dataset_card(
        report_path=snakemake.input.report,
        tile_paths=snakemake.input.tiles,
        sha256sums=snakemake.input.sha256,
        provenance_path=snakemake.input.provenance,
        out_readme=snakemake.output.readme,
        out_stac=snakemake.output.stac,
        out_croissant=snakemake.output.croissant,
    )
