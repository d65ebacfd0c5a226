# The demo's synthetic inputs, made on first use under results/demo/ (see reben.synthetic).
# A configuration that points at real inputs never needs these rules. The input check runs
# before any job (run.smk): at the end of the run that made these inputs, it runs again on them.


def demo_product_sides():
    """Tile key -> side in metres of the demo's products, which the workflow makes: the input
    check counts them in its disk estimate before they exist."""
    demo = Path(RESULTS, "demo").resolve()
    keys = {key: p["name"] for key, p in PRODUCTS.items() if Path(p["path"]).resolve().is_relative_to(demo)}
    if not keys:
        return {}
    from reben.synthetic.l1c import L1C_DEMO_PRODUCTS
    from reben.synthetic.scenario import DEMO_PRODUCTS

    sides = {spec.name: spec.size_px * 10 for spec in (*DEMO_PRODUCTS, *L1C_DEMO_PRODUCTS)}
    return {key: sides[name] for key, name in keys.items() if name in sides}


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
