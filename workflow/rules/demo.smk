# The demo's synthetic inputs, made on first use under results/demo/ (see reben.synthetic).
# A configuration that points at real inputs never needs these rules. Each waits for the input
# check (an ancient() input, as for the tile jobs): the check reads the demo's inputs from the
# next run on, never half of them while they are being made.


rule synthesize_sentinel2_product:
    input:
        check=input_check_report,
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
    input:
        check=input_check_report,
    output:
        product=f"{RESULTS}/demo/l1c/{{l1c}}.zip",
    log:
        log_path("synthesize_l1c_product", "{l1c}"),
    wildcard_constraints:
        l1c=names.L1C_NAME,
    threads: 1
    resources:
        mem_mb=mem_mb_grows(1000),
        runtime=10,
    params:
        name="{l1c}",
    script:
        "../scripts/synthesize_l1c_product.py"


rule synthesize_clc:
    input:
        check=input_check_report,
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


rule synthesize_country_borders:
    input:
        check=input_check_report,
    output:
        borders=f"{RESULTS}/demo/borders/countries.gpkg",
    log:
        log_path("synthesize_country_borders", "countries"),
    threads: 1
    resources:
        mem_mb=mem_mb_grows(500),
        runtime=5,
    script:
        "../scripts/synthesize_country_borders.py"


rule synthesize_sentinel1_product:
    # Like every demo rule, writes only under <results>/demo/, never into a folder a user
    # configured as input; only the demo's own product names match.
    input:
        check=input_check_report,
    output:
        vv=f"{RESULTS}/demo/sentinel1/{{s1}}_VV.tif",
        vh=f"{RESULTS}/demo/sentinel1/{{s1}}_VH.tif",
    log:
        log_path("synthesize_sentinel1_product", "{s1}"),
    wildcard_constraints:
        s1=names.S1_BACKSCATTER,
    threads: 1
    resources:
        mem_mb=mem_mb_grows(1000),
        runtime=10,
    script:
        "../scripts/synthesize_sentinel1_product.py"
