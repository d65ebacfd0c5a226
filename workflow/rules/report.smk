# The dataset report: band statistics over the train split, and a page with the same numbers
# as JSON and CSV (funnel, labels, countries, map, leakage check, one example per class).


rule compute_band_statistics:
    input:
        unpack(band_statistics_inputs),
    output:
        statistics=report_path("band_statistics.json"),
    params:
        split=config["report"]["band_statistics_split"],
        sentinel1=config["sentinel1"]["enabled"],
    log:
        log_path("compute_band_statistics", "band_statistics"),
    benchmark:
        benchmark_path("compute_band_statistics", "band_statistics")
    threads: 8
    resources:
        mem_mb=2000,
        runtime=240,
    script:
        "../scripts/compute_band_statistics.py"


rule write_report:
    input:
        metadata=f"{RESULTS}/dataset/metadata.parquet",
        flagged_metadata=f"{RESULTS}/dataset/metadata_for_patches_with_snow_cloud_or_shadow.parquet",
        sidecar=f"{RESULTS}/dataset/patches.parquet",
        funnel=f"{RESULTS}/dataset/funnel.csv",
        s2=f"{RESULTS}/dataset/BigEarthNet-S2",
        reference_maps=f"{RESULTS}/dataset/Reference_Maps",
        band_statistics=report_path("band_statistics.json"),
        borders=borders_file,
        template=REPORT_TEMPLATE,
    output:
        html=report_path("index.html"),
        json=report_path("report.json"),
        tables=directory(report_path("tables")),
        figures=directory(report_path("figures")),
    params:
        borders=borders_identity(),
        name_field=config["countries"]["name_field"],
        map_max_footprints=config["report"]["map_max_footprints"],
        nomenclature=config["labels"]["nomenclature"],
        class_table=CLASS_TABLE_PATH,
        class_table_content=LABEL_TABLE_CONTENT,
        unlabeled_codes=LABEL_UNLABELED_CODES,
    log:
        log_path("write_report", "report"),
    benchmark:
        benchmark_path("write_report", "report")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/write_report.py"


FINAL_TARGETS.extend(
    [report_path("index.html"), report_path("report.json"), report_path("band_statistics.json")]
)
