# The demo's synthetic inputs, made on first use under results/demo/ (see reben.synthetic).
# A configuration that points at real inputs never needs these rules.


rule synthesize_sentinel2_product:
    output:
        product=directory(f"{RESULTS}/demo/sentinel2/{{product}}.SAFE"),
    log:
        log_path("synthesize_sentinel2_product", "{product}"),
    threads: 1
    resources:
        mem_mb=mem_mb_grows(1000),
        runtime=10,
    script:
        "../scripts/synthesize_sentinel2_product.py"


rule synthesize_l1c_product:
    output:
        product=f"{RESULTS}/demo/l1c/{{l1c}}.zip",
    params:
        name="{l1c}",
    log:
        log_path("synthesize_l1c_product", "{l1c}"),
    wildcard_constraints:
        l1c=L1C_NAME,
    threads: 1
    resources:
        mem_mb=mem_mb_grows(1000),
        runtime=10,
    script:
        "../scripts/synthesize_l1c_product.py"


rule synthesize_clc:
    output:
        clc=f"{RESULTS}/demo/clc/clc2018_demo.gpkg",
    log:
        log_path("synthesize_clc", "clc2018_demo"),
    threads: 1
    resources:
        mem_mb=mem_mb_grows(1000),
        runtime=10,
    script:
        "../scripts/synthesize_clc.py"
