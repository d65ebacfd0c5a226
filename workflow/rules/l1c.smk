# From L1C to L2A: product retrieval from the Copernicus Data Space and sen2cor.
#
# A tile that starts from an L1C product gets its L2A product from `sen2cor`; its patch grid
# still comes from the L1C (geocoding_source), so reference maps and labels never wait for, or
# rerun with, sen2cor. With `retrieval.enabled`, an L1C or L2A product that is not on disk is
# fetched from the Copernicus Data Space into `sentinel2.input_dir` (credentials from the
# environment); an L2A product goes to inspect_tile as it is, without sen2cor.

L1C_DIR = config["sentinel2"]["input_dir"]
if config["retrieval"]["enabled"]:
    expect_retrievals(PRODUCTS, L1C_DIR)

# Snakemake removes the empty folders of outputs that are missing at the end of a run, and so
# the user's own (still empty) input folder after a failed download: it is restored.
L1C_DIR_EXISTED = Path(L1C_DIR).is_dir()


def keep_input_dir():
    if L1C_DIR_EXISTED:
        Path(L1C_DIR).mkdir(parents=True, exist_ok=True)


def l1c_product(wildcards):
    """The L1C product (zip or SAFE folder) sen2cor turns into the tile's L2A product; a raw
    input, so touching it reruns nothing (its name is the sen2cor rule's `l1c` param)."""
    return ancient(PRODUCTS[wildcards.tile]["path"])


def l1c_name(wildcards):
    return PRODUCTS[wildcards.tile]["name"]


SEN2COR_SETTINGS = ("command", "version", "resolution", "extra_args")


def sen2cor_identity(wildcards):
    """What a tile's L2A product is made of: the params of rule sen2cor (the L1C product's name
    and sen2cor's settings). inspect_tile takes it as a param (tiles.smk). The name, not the
    content identity: a product fetched by the run has none before it is on disk, and a second
    sen2cor run after every download would cost hours."""
    return {"l1c": l1c_name(wildcards), **{key: config["sen2cor"][key] for key in SEN2COR_SETTINGS}}


def remove_sen2cor_leftovers():
    """The staging folders of sen2cor jobs that were killed (no cleanup runs on SIGKILL), at the
    start and the end of every run, when no sen2cor job of this run is running."""
    from reben.sentinel2.sen2cor import remove_staging_leftovers

    return remove_staging_leftovers(f"{RESULTS}/l2a")


rule sen2cor:
    input:
        l1c=l1c_product,
    output:
        product=directory(f"{RESULTS}/l2a/{{tile}}.SAFE"),
        record=f"{RESULTS}/l2a/{{tile}}.json",
    log:
        main=log_path("sen2cor", "{tile}"),
        l2a_process=log_path("sen2cor", "{tile}.L2A_Process"),
    benchmark:
        benchmark_path("sen2cor", "{tile}")
    threads: config["sen2cor"]["threads"]
    resources:
        mem_mb=mem_mb_grows(config["sen2cor"]["mem_mb"]),
        runtime=config["sen2cor"]["runtime"],
    params:
        l1c=l1c_name,
        command=config["sen2cor"]["command"],
        version=config["sen2cor"]["version"],
        resolution=config["sen2cor"]["resolution"],
        extra_args=config["sen2cor"]["extra_args"],
    script:
        "../scripts/sen2cor.py"


if config["retrieval"]["enabled"]:

    # A `run:` block, not a script: Snakemake reruns a script rule whenever its script file is
    # newer than the output, which would re-fetch every protected product after an update of
    # the workflow. The retrieval settings change how a product is fetched, never what it is
    # (the catalogue's MD5 is checked), so they are not params either. L1C and L2A products
    # alike; every CDSE download takes one of the shared `cdse_downloads`.
    rule retrieve_sentinel2:
        output:
            product=protected(f"{L1C_DIR}/{{s2}}.zip"),
        log:
            log_path("retrieve_sentinel2", "{s2}"),
        wildcard_constraints:
            s2=names.S2_NAME,
        localrule: True
        threads: 1
        resources:
            mem_mb=mem_mb_grows(300),
            runtime=config["retrieval"]["runtime"],
            cdse_downloads=1,
        run:
            from reben.catalogue.retrieval import retrieve_for_rule

            retrieve_for_rule(wildcards.s2, output.product, log[0], config["retrieval"])
