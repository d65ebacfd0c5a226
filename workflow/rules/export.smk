# Optional: the dataset in the BigEarthNet v1.0 / BigEarthNet-MM folder layout, for code and
# readers written for v1 (torchgeo's BigEarthNet). In the default target only with export_v1.enabled.


rule export_v1:
    input:
        unpack(export_v1_inputs),
    output:
        export=directory(export_path("bigearthnet_v1")),
    log:
        log_path("export_v1", "dataset"),
    benchmark:
        benchmark_path("export_v1", "dataset")
    threads: 2
    resources:
        mem_mb=mem_mb_grows(2000),
        runtime=120,
    params:
        labels_column=config["export_v1"]["labels_column"],
        folder_names=config["export_v1"]["folder_names"],
        tile_sources=export_v1_tile_sources(),
        s1_scenes=export_v1_s1_scenes(),
    script:
        "../scripts/export_v1.py"
