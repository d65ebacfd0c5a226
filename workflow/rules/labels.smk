# Reference maps and labels, from the CORINE vector or a land-cover raster (labels.raster.path).
# Inputs are the tile grid and the label source only (never the L2A pixels), so that a new
# sen2cor run leaves them alone; CLC enters through ancient() with its identity as a param,
# so that touching the file reruns nothing and a new version reruns exactly this rule.


rule rasterize_reference_maps:
    input:
        geocoding=tile_path("{tile}", "geocoding.json"),
        clc=clc_file,
    output:
        maps=directory(tile_path("{tile}", "reference_maps")),
        shard=tile_path("{tile}", "reference_maps_shard.parquet"),
        sha256=tile_path("{tile}", "reference_maps_sha256.parquet"),
        labels=tile_path("{tile}", "labels.parquet"),
    log:
        log_path("rasterize_reference_maps", "{tile}"),
    benchmark:
        benchmark_path("rasterize_reference_maps", "{tile}")
    threads: 1
    resources:
        mem_mb=mem_mb_grows(2500),
        runtime=30,
    params:
        clc_identity=CLC_IDENTITY,
        layer=config["clc"]["layer"],
        code_field=config["clc"]["code_field"],
        recode=config["clc"]["recode"],
        max_unlabeled_fraction=config["labels"]["max_unlabeled_fraction"],
        raster=bool(LABEL_RASTER_PATH),
        band=LABEL_RASTER["band"],
        uncovered_code=LABEL_RASTER["uncovered_code"],
        nomenclature=config["labels"]["nomenclature"],
        class_table=CLASS_TABLE_PATH,
        class_table_content=LABEL_TABLE_CONTENT,
        unlabeled_codes=config["labels"]["unlabeled_codes"],
    script:
        "../scripts/rasterize_reference_maps.py"
