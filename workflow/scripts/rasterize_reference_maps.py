"""Reference maps, their shard and the labels of one tile (rule rasterize_reference_maps)."""

from reben.labels.clc import rasterize_reference_maps

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    rasterize_reference_maps(
        geocoding=snakemake.input.geocoding,
        clc=snakemake.input.clc,
        out_dir=snakemake.output.maps,
        shard_path=snakemake.output.shard,
        sha256_path=snakemake.output.sha256,
        labels_path=snakemake.output.labels,
        layer=snakemake.params.layer,
        code_field=snakemake.params.code_field,
        recode=snakemake.params.recode,
        max_unlabeled_fraction=snakemake.params.max_unlabeled_fraction,
        raster=snakemake.params.raster,
        band=snakemake.params.band,
        uncovered_code=snakemake.params.uncovered_code,
        nomenclature=snakemake.params.nomenclature,
        class_table_path=snakemake.params.class_table,
        unlabeled_codes=snakemake.params.unlabeled_codes,
    )
