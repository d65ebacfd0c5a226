# BigEarthNet v1 links: the v1 tables of bigearthnet-common indexed once, every tile's patches
# linked to their v1 counterparts (s2v1_name, v1 flags, v1 S1 partner). With
# sentinel1.source: bigearthnet_v1, the S1 patches come from the BigEarthNet-S1 v1.0 archive.

from reben.bigearthnet_v1.links import check_v1_config, table_files, tables_identity

V1 = config["bigearthnet_v1"]
try:
    check_v1_config(config)
    V1_TABLES = table_files(V1["tables"])  # None without v1 links
except RebenError as e:
    raise WorkflowError(str(e)) from None
V1_INDEX = f"{RESULTS}/bigearthnet_v1/v1_patches.parquet"
V1_ARCHIVE = S1["v1_archive"]["path"]
V1_S1_DOWNLOAD = f"{RESULTS}/downloads/bigearthnet_v1/BigEarthNet-S1-v1.0.tar.gz"
V1_S1_EXTRACTED = f"{RESULTS}/bigearthnet_v1/BigEarthNet-S1-v1.0"


def v1_table_inputs(wildcards):
    return {role: ancient(str(path)) for role, path in V1_TABLES.items()}


def v1_tables_identity():
    """The package and its version, or the sha256 of each table of a folder."""
    return tables_identity(V1["tables"]) or {role: IDENTITIES.file(p) for role, p in V1_TABLES.items()}


def v1_s1_archive(wildcards):
    """The archive to extract: as configured (when it exists: else the extraction job says so
    in one line), or the download."""
    if not V1_ARCHIVE:
        return V1_S1_DOWNLOAD
    return ancient(V1_ARCHIVE) if Path(V1_ARCHIVE).exists() else []


def v1_s1_folder(wildcards):
    """The extracted v1 S1 patches: a folder the user configured, or our extraction."""
    if V1_ARCHIVE and Path(V1_ARCHIVE).is_dir():
        return ancient(V1_ARCHIVE)
    return V1_S1_EXTRACTED


if V1_TABLES:

    rule index_bigearthnet_v1:
        input:
            unpack(v1_table_inputs),
        output:
            index=V1_INDEX,
        log:
            log_path("index_bigearthnet_v1", "bigearthnet_v1"),
        benchmark:
            benchmark_path("index_bigearthnet_v1", "bigearthnet_v1")
        localrule: True
        threads: 1
        resources:
            mem_mb=mem_mb_grows(2000),
            runtime=10,
        params:
            tables=v1_tables_identity(),
        script:
            "../scripts/index_bigearthnet_v1.py"

    rule link_bigearthnet_v1:
        input:
            geocoding=tile_path("{tile}", "geocoding.json"),
            index=V1_INDEX,
        output:
            link=tile_path("{tile}", "bigearthnet_v1.parquet"),
        log:
            log_path("link_bigearthnet_v1", "{tile}"),
        benchmark:
            benchmark_path("link_bigearthnet_v1", "{tile}")
        localrule: True
        threads: 1
        resources:
            mem_mb=mem_mb_grows(500),
            runtime=5,
        script:
            "../scripts/link_bigearthnet_v1.py"


if S1_FROM_V1:

    rule fetch_bigearthnet_v1_s1:
        output:
            archive=V1_S1_DOWNLOAD,
        log:
            log_path("fetch_bigearthnet_v1_s1", "bigearthnet_v1"),
        localrule: True
        threads: 1
        resources:
            runtime=1440,
        params:
            url=S1["v1_archive"]["url"],
            sha256=S1["v1_archive"]["sha256"],
        script:
            "../scripts/fetch_bigearthnet_v1_s1.py"

    # One job reads the whole archive once, for every tile.
    rule extract_bigearthnet_v1_s1:
        input:
            archive=v1_s1_archive,
        output:
            patches=directory(V1_S1_EXTRACTED),
        log:
            log_path("extract_bigearthnet_v1_s1", "bigearthnet_v1"),
        benchmark:
            benchmark_path("extract_bigearthnet_v1_s1", "bigearthnet_v1")
        threads: 1
        resources:
            mem_mb=mem_mb_grows(1000),
            runtime=720,
        params:
            archive=V1_ARCHIVE or V1_S1_DOWNLOAD,
        script:
            "../scripts/extract_bigearthnet_v1_s1.py"

    rule take_v1_s1_patches:
        input:
            geocoding=tile_path("{tile}", "geocoding.json"),
            link=tile_path("{tile}", "bigearthnet_v1.parquet"),
            source=v1_s1_folder,
        output:
            pairing=tile_path("{tile}", "s1_pairing.parquet"),
            patches=directory(tile_path("{tile}", "s1")),
            shard=tile_path("{tile}", "s1_shard.parquet"),
            band_stats=tile_path("{tile}", "s1_band_stats.parquet"),
            sha256=tile_path("{tile}", "s1_sha256.parquet"),
        log:
            log_path("take_v1_s1_patches", "{tile}"),
        benchmark:
            benchmark_path("take_v1_s1_patches", "{tile}")
        threads: 1
        resources:
            mem_mb=mem_mb_grows(1000),
            runtime=30,
        params:
            # Hard links to our own extraction; copies from a folder the user gave.
            link_files=not (V1_ARCHIVE and Path(V1_ARCHIVE).is_dir()),
        script:
            "../scripts/take_v1_s1_patches.py"
