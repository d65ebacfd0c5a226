# Sentinel-1 pairing and patches: for every grid patch the S1 product closest in time that
# covers it with valid pixels, and the S1 patch pairs (VV, VH in dB) on the S2 patch grid.
# Only when sentinel1.enabled; the products are found when the workflow is parsed (below).

from reben.sentinel1.products import candidates as s1_candidates
from reben.sentinel1.products import configured_products as s1_configured_products
from reben.sentinel1.products import parse_s1_name
from reben.sentinel1.products import grd_table as s1_grd_table
from reben.names import parse_product_name as parse_s2_name

# Raw GRD products turned into backscatter by SNAP's gpt (optional): name -> GRD file.
S1_GRD = {}
try:
    if S1_ENABLED and S1["grd"]["gpt"]:
        S1_GRD = {parse_s1_name(Path(p).name).name: p for p in S1["grd"]["products"]}
        # The GRD scenes of sentinel1.product_table (e.g. from `reben search
        # --pair-with`): in grd.input_dir, or fetched there from CDSE with retrieval on.
        S1_GRD.update(s1_grd_table(S1, config["retrieval"]["enabled"], REPO))
    S1_PRODUCTS = (
        s1_configured_products(
            S1,
            extra={
                name: {pol: f"{RESULTS}/sentinel1/backscatter/{name}_{pol}_linear.tif" for pol in ("VV", "VH")}
                for name in S1_GRD
            },
        )
        if S1_ENABLED and S1["source"] == "backscatter"
        else {}
    )
except RebenError as e:
    raise WorkflowError(str(e)) from None


def s1_tile_products(wildcards):
    """Names of the S1 products acquired within the maximum gap of the tile's S2 sensing time."""
    sensing = parse_s2_name(wildcards.tile).sensing_time
    return s1_candidates(S1_PRODUCTS, sensing, S1["max_time_gap_days"])


def _s1_files(wildcards, pol):
    # Raw backscatter files enter through ancient(); GRD-derived ones are ordinary intermediates.
    return [
        S1_PRODUCTS[name][pol] if name in S1_GRD else ancient(S1_PRODUCTS[name][pol])
        for name in s1_tile_products(wildcards)
    ]


def s1_vv_files(wildcards):
    return _s1_files(wildcards, "VV")


def s1_vh_files(wildcards):
    return _s1_files(wildcards, "VH")


def s1_grd_product(wildcards):
    return ancient(S1_GRD[wildcards.s1])


def s1_grd_graph(wildcards):
    """The gpt graph: as configured, or shipped in this checkout's resources/."""
    graph = Path(S1["grd"]["graph"])
    return ancient(str(graph if graph.is_absolute() or graph.exists() else REPO / graph))


rule grd_to_backscatter:
    input:
        grd=s1_grd_product,
        graph=s1_grd_graph,
    output:
        vv=f"{RESULTS}/sentinel1/backscatter/{{s1}}_VV_linear.tif",
        vh=f"{RESULTS}/sentinel1/backscatter/{{s1}}_VH_linear.tif",
    log:
        log_path("grd_to_backscatter", "{s1}"),
    benchmark:
        benchmark_path("grd_to_backscatter", "{s1}")
    wildcard_constraints:
        s1=names.S1_BACKSCATTER,
    threads: S1["grd"]["threads"]
    resources:
        mem_mb=mem_mb_grows(16000),
        runtime=120,
    params:
        gpt=S1["grd"]["gpt"],
        dem=S1["grd"]["dem"],
        external_dem=S1["grd"]["external_dem"],
        crs=S1["grd"]["crs"],
        cache=S1["grd"]["cache"],
    script:
        "../scripts/grd_to_backscatter.py"


if config["retrieval"]["enabled"]:

    # As retrieve_sentinel2 (l1c.smk): a run block, one shared `cdse_downloads` per download.
    rule retrieve_sentinel1:
        output:
            product=protected(f"{S1['grd']['input_dir']}/{{s1}}.zip"),
        log:
            log_path("retrieve_sentinel1", "{s1}"),
        wildcard_constraints:
            s1=names.S1_GRD,
        localrule: True
        threads: 1
        resources:
            mem_mb=mem_mb_grows(300),
            runtime=config["retrieval"]["runtime"],
            cdse_downloads=1,
        run:
            from reben.catalogue.retrieval import retrieve_for_rule

            retrieve_for_rule(wildcards.s1, output.product, log[0], config["retrieval"])


# With sentinel1.source: bigearthnet_v1, rule take_v1_s1_patches (bigearthnet_v1.smk) makes
# these outputs instead.
if not S1_FROM_V1:

    rule pair_sentinel1:
        input:
            geocoding=tile_path("{tile}", "geocoding.json"),
            vv=s1_vv_files,
            vh=s1_vh_files,
        output:
            pairing=tile_path("{tile}", "s1_pairing.parquet"),
        log:
            log_path("pair_sentinel1", "{tile}"),
        benchmark:
            benchmark_path("pair_sentinel1", "{tile}")
        threads: 1
        resources:
            mem_mb=mem_mb_grows(1500),
            runtime=20,
        params:
            products=s1_tile_products,
            max_time_gap_days=S1["max_time_gap_days"],
            unit=S1["unit"],
            nodata=S1["nodata"],
        script:
            "../scripts/pair_sentinel1.py"

    # Every paired patch is cut, also where the S2 patch is invalid: that keeps the S1 side off
    # sen2cor's branch (a new sen2cor version reruns no S1 job); the selection drops the extras.
    rule cut_s1_patches:
        input:
            geocoding=tile_path("{tile}", "geocoding.json"),
            pairing=tile_path("{tile}", "s1_pairing.parquet"),
            vv=s1_vv_files,
            vh=s1_vh_files,
        output:
            patches=directory(tile_path("{tile}", "s1")),
            shard=tile_path("{tile}", "s1_shard.parquet"),
            band_stats=tile_path("{tile}", "s1_band_stats.parquet"),
            sha256=tile_path("{tile}", "s1_sha256.parquet"),
        log:
            log_path("cut_s1_patches", "{tile}"),
        benchmark:
            benchmark_path("cut_s1_patches", "{tile}")
        threads: 1
        resources:
            mem_mb=mem_mb_grows(2500),
            runtime=30,
        params:
            products=s1_tile_products,
            unit=S1["unit"],
            nodata=S1["nodata"],
        script:
            "../scripts/cut_s1_patches.py"
