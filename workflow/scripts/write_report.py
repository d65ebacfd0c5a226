"""The dataset report: page, JSON, tables and figures (rule write_report)."""

from reben.constants import DATASET_TREES
from reben.report.build import build_report

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    build_report(
        metadata_path=snakemake.input.metadata,
        flagged_path=snakemake.input.flagged_metadata,
        sidecar_path=snakemake.input.sidecar,
        funnel_path=snakemake.input.funnel,
        band_statistics_path=snakemake.input.band_statistics,
        borders_path=snakemake.input.borders,
        s2_dir=snakemake.input.s2,
        refmap_dir=snakemake.input.reference_maps,
        template_path=snakemake.input.template,
        html_path=snakemake.output.html,
        json_path=snakemake.output.json,
        tables_dir=snakemake.output.tables,
        figures_dir=snakemake.output.figures,
        tiles=snakemake.input.tiles,
        provenance_path=snakemake.input.provenance,
        trees={name: snakemake.input.get(kind) for kind, name in DATASET_TREES.items() if snakemake.input.get(kind)},
        dist_files=snakemake.input.dist,
        archive_summaries=snakemake.input.archive_summaries,
        patch_set=snakemake.params.patch_set,
        max_overlapping_share=snakemake.params.max_overlapping_share,
        min_train_patches_per_class=snakemake.params.min_train_patches_per_class,
        map_max_footprints=snakemake.params.map_max_footprints,
        name_field=snakemake.params.name_field,
        nomenclature=snakemake.params.nomenclature,
        class_table_path=snakemake.params.class_table,
        unlabeled_codes=snakemake.params.unlabeled_codes,
    )
