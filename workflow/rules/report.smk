# The dataset report: band statistics over the train split, and a page with the same numbers
# as JSON and CSV (funnel, tiles, splits, flags, labels, countries, map, leakage, S1 time gap,
# sizes, provenance, one example per class), all counting the patches of report.patch_set.


rule compute_band_statistics:
    input:
        unpack(band_statistics_inputs),
    output:
        statistics=report_path("band_statistics.json"),
    log:
        log_path("compute_band_statistics", "band_statistics"),
    benchmark:
        benchmark_path("compute_band_statistics", "band_statistics")
    threads: 1
    resources:
        mem_mb=mem_mb_grows(2000),
        runtime=30,
    params:
        split=config["report"]["band_statistics_split"],
        patch_set=config["report"]["patch_set"],
        sentinel1=config["sentinel1"]["enabled"],
    script:
        "../scripts/compute_band_statistics.py"


rule write_report:
    input:
        unpack(report_inputs),
    output:
        html=report_path("index.html"),
        json=report_path("report.json"),
        tables=directory(report_path("tables")),
        figures=directory(report_path("figures")),
    log:
        log_path("write_report", "report"),
    benchmark:
        benchmark_path("write_report", "report")
    threads: 1
    resources:
        mem_mb=mem_mb_grows(4000),
        runtime=30,
    params:
        borders=borders_identity(),
        name_field=config["countries"]["name_field"],
        map_max_footprints=config["report"]["map_max_footprints"],
        patch_set=config["report"]["patch_set"],
        max_overlapping_share=config["report"]["max_overlapping_share"],
        nomenclature=config["labels"]["nomenclature"],
        class_table=CLASS_TABLE_PATH,
        class_table_content=LABEL_TABLE_CONTENT,
        unlabeled_codes=LABEL_UNLABELED_CODES,
    script:
        "../scripts/write_report.py"
