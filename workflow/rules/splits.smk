# Splits and countries: from the patch grid alone (and the borders), never from pixels or labels.

NATURAL_EARTH_BORDERS = f"{RESULTS}/downloads/naturalearth/{Path(config['countries']['download']['url']).name}"


def borders_path():
    """The configured borders file ("{results}" stands for the results folder, where the demo's
    synthetic borders are made), or Natural Earth admin-0 1:110m (downloaded) when unset."""
    configured = config["countries"]["borders"]
    return configured.replace("{results}", RESULTS) if configured else NATURAL_EARTH_BORDERS


def borders_file(wildcards):
    return ancient(borders_path())


def borders_identity():
    if not config["countries"]["borders"]:
        download = config["countries"]["download"]
        return f"{download['url']} sha256:{download['sha256']}"
    return IDENTITIES.file(borders_path())


rule assign_splits:
    input:
        geocoding=tile_path("{tile}", "geocoding.json"),
    output:
        splits=tile_path("{tile}", "splits.parquet"),
    log:
        log_path("assign_splits", "{tile}"),
    benchmark:
        benchmark_path("assign_splits", "{tile}")
    # Light (a small table, a JSON or a download): runs where Snakemake runs, not as a cluster job.
    localrule: True
    threads: 1
    resources:
        mem_mb=mem_mb_grows(500),
        runtime=5,
    script:
        "../scripts/assign_splits.py"


rule assign_countries:
    input:
        geocoding=tile_path("{tile}", "geocoding.json"),
        borders=borders_file,
    output:
        countries=tile_path("{tile}", "countries.parquet"),
    log:
        log_path("assign_countries", "{tile}"),
    benchmark:
        benchmark_path("assign_countries", "{tile}")
    threads: 1
    resources:
        mem_mb=mem_mb_grows(1500),
        runtime=10,
    params:
        borders=borders_identity(),
        layer=config["countries"]["layer"],
        name_field=config["countries"]["name_field"],
        names=config["countries"]["names"],
        tie_break=config["countries"]["tie_break"],
        priority=config["countries"]["priority"],
    script:
        "../scripts/assign_countries.py"


rule download_country_borders:
    output:
        borders=NATURAL_EARTH_BORDERS,
    log:
        log_path("download_country_borders", "borders"),
    # Light (a small table, a JSON or a download): runs where Snakemake runs, not as a cluster job.
    localrule: True
    threads: 1
    resources:
        mem_mb=mem_mb_grows(500),
        runtime=10,
    params:
        url=config["countries"]["download"]["url"],
        sha256=config["countries"]["download"]["sha256"],
    script:
        "../scripts/download_country_borders.py"
