# The dataset report: band statistics over the train split, and a page with the same numbers
# as JSON and CSV (funnel, tiles, splits, flags, labels, countries, map, leakage, S1 time gap,
# sizes, provenance, one example per class), all counting the patches of report.patch_set.

REPORT_TEMPLATE = str(REPO / "resources" / "report" / "index.html.j2")


def report_metadata_files():
    """The metadata files of report.patch_set: both for `kept`, metadata.parquet for `clean`."""
    names = METADATA_FILES if config["report"]["patch_set"] == "kept" else METADATA_FILES[:1]
    return [dataset_path(name) for name in names]


def band_statistics_inputs(wildcards):
    """The metadata files of report.patch_set and every tile's per-patch band statistics, whose
    rows of the split's patches the band statistics merge (S1 only when it is on)."""
    inputs = {"metadata": report_metadata_files(), "s2": per_tile("s2_band_stats.parquet")}
    if S1_ENABLED:
        inputs["s1"] = per_tile("s1_band_stats.parquet")
    return inputs


def report_inputs(wildcards):
    """What write_report reads: the dataset's tables and trees, every tile.json, PROVENANCE.json
    and the distribution (whose sizes the page shows)."""
    inputs = {
        "metadata": dataset_path(METADATA_FILES[0]),
        "flagged_metadata": dataset_path(METADATA_FILES[1]),
        "sidecar": dataset_path("patches.parquet"),
        "funnel": dataset_path("funnel.csv"),
        "tiles": per_tile("tile.json"),
        "provenance": dataset_path("PROVENANCE.json"),
        "dist": [*dist_archives(), *(dist_path(name) for name in METADATA_FILES)],
        "archive_summaries": [archive_summary_path(tree) for tree in dataset_trees().values()],
        "band_statistics": report_path("band_statistics.json"),
        "borders": borders_file(wildcards),
        "template": REPORT_TEMPLATE,
    }
    inputs.update({kind: dataset_path(tree) for kind, tree in dataset_trees().items()})
    return inputs


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
        html=report(report_path("index.html"), caption="../report/dataset_report.rst", category="Dataset report"),
        json=report_path("report.json"),
        tables=report(
            directory(report_path("tables")),
            patterns=["{name}.csv"],
            caption="../report/tables.rst",
            category="Dataset report",
            subcategory="Tables",
        ),
        figures=report(
            directory(report_path("figures")),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Dataset report",
            subcategory="Figures",
        ),
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
        min_train_patches_per_class=config["report"]["min_train_patches_per_class"],
        nomenclature=config["labels"]["nomenclature"],
        class_table=CLASS_TABLE_PATH,
        class_table_content=LABEL_TABLE_CONTENT,
        unlabeled_codes=LABEL_UNLABELED_CODES,
    script:
        "../scripts/write_report.py"


rule check_dataset:
    """The run's verdict, its last job: fails when a check of the report failed and the config does
    not accept it. It waits for every other final output, so a failed check loses nothing."""
    input:
        report=report_path("report.json"),
        artefacts=final_artefacts,
    output:
        checks=report_path("checks.txt"),
    log:
        log_path("check_dataset", "dataset"),
    localrule: True
    threads: 1
    resources:
        mem_mb=mem_mb_grows(200),
        runtime=5,
    script:
        "../scripts/check_dataset.py"
