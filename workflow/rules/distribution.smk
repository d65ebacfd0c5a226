# LMDB, archives and provenance: the dataset as users load it (ConfigILM's LMDB + metadata),
# download it (reproducible tar.zst with checksums) and check it (manifest, provenance).


def lmdb_inputs(wildcards):
    """What encode_lmdb copies (the per-tile shards) and checks against (metadata, trees)."""
    inputs = {
        "metadata": dataset_path(METADATA_FILES[0]),
        "flagged_metadata": dataset_path(METADATA_FILES[1]),
        "s2_shards": per_tile("s2_shard.parquet"),
        "reference_map_shards": per_tile("reference_maps_shard.parquet"),
        "grids": per_tile("geocoding.json"),  # the patch size every tensor must have
    }
    if config["sentinel1"]["enabled"]:
        inputs["s1_shards"] = per_tile("s1_shard.parquet")
    inputs.update({f"{kind}_tree": dataset_path(tree) for kind, tree in dataset_trees().items()})
    return inputs


def dist_archives():
    return [dist_path(f"{tree}.tar.zst") for tree in dataset_trees().values()]


def archive_summary_path(tree):
    """What archive_tree measured of one archive (members, sizes, md5 of the uncompressed tar)."""
    return f"{RESULTS}/archives/{tree}.json"


from reben.distribution.provenance import provenance_config


def provenance_inputs():
    """Inputs recorded by name in PROVENANCE.json."""
    inputs = {"sentinel2_products": [p["name"] for p in PRODUCTS.values()]}
    if V1_TABLES:
        inputs["bigearthnet_v1_tables"] = v1_tables_identity()
    return inputs


def provenance_input_files():
    """Input files recorded by name, size and sha256 in PROVENANCE.json (where configured)."""
    files = {"clc": CLC_PATH, "label_raster": LABEL_RASTER_PATH, "borders": borders_path()}
    return {label: path for label, path in files.items() if path}


def tail_job_threads(job):
    """Threads of a dataset-wide job (archive:<kind>, lmdb, manifest): its share of the run's
    cores (reben.run.cores.tail_threads); these jobs are ready together once the last tile is
    done, and take the whole node side by side."""
    return tail_threads(job, tail_jobs(dataset_trees()), workflow, config["distribution"]["cores"])


def archive_threads(wildcards):
    """An archive's threads: `distribution.zstd_threads` where the config sets it, else its
    share of the run's cores. The archive's bytes are the same for any number."""
    if config["distribution"]["zstd_threads"]:
        return config["distribution"]["zstd_threads"]
    kind = {tree: kind for kind, tree in dataset_trees().items()}[wildcards.tree]
    return tail_job_threads(f"archive:{kind}")


rule encode_lmdb:
    input:
        unpack(lmdb_inputs),
    output:
        # The environment's one file, not directory(): Snakemake would add its
        # .snakemake_timestamp to the published LMDB folder.
        lmdb=dataset_path("lmdb/data.mdb"),
        # The content's identity, from each value's sha256 taken as it was written: no second
        # read of the LMDB (`reben lmdb-content` recomputes it from the LMDB).
        content=dataset_path("LMDB_CONTENT.sha256"),
    log:
        log_path("encode_lmdb", "dataset"),
    benchmark:
        benchmark_path("encode_lmdb", "dataset")
    # The long dataset-wide jobs start before the report's when cores are short.
    priority: 10
    threads: tail_job_threads("lmdb")
    resources:
        mem_mb=mem_mb_grows(2000),
        runtime=240,
    params:
        sample_size=config["distribution"]["lmdb_verify_sample"],
        seed=config["distribution"]["lmdb_verify_seed"],
    script:
        "../scripts/encode_lmdb.py"


rule archive_tree:
    input:
        tree=dataset_path("{tree}"),
    output:
        archive=dist_path("{tree}.tar.zst"),
        summary=archive_summary_path("{tree}"),
    log:
        log_path("archive_tree", "{tree}"),
    benchmark:
        benchmark_path("archive_tree", "{tree}")
    wildcard_constraints:
        tree="|".join(DATASET_TREES.values()),
    priority: 10
    threads: archive_threads
    resources:
        mem_mb=mem_mb_grows(2000),
        runtime=600,
    params:
        level=config["distribution"]["zstd_level"],
        mtime=config["distribution"]["archive_mtime"],
    script:
        "../scripts/archive_tree.py"


rule write_dist_checksums:
    input:
        archives=dist_archives(),
        summaries=[archive_summary_path(tree) for tree in dataset_trees().values()],
        metadata=dataset_path(METADATA_FILES[0]),
        flagged_metadata=dataset_path(METADATA_FILES[1]),
    output:
        metadata=dist_path(METADATA_FILES[0]),
        flagged_metadata=dist_path(METADATA_FILES[1]),
        sha256=report(dist_path("SHA256SUMS"), caption="../report/checksums.rst", category="Distribution"),
        md5=report(dist_path("MD5SUMS"), caption="../report/checksums.rst", category="Distribution"),
        tar_md5=report(dist_path("TAR_MD5SUMS"), caption="../report/checksums.rst", category="Distribution"),
    log:
        log_path("write_dist_checksums", "dist"),
    benchmark:
        benchmark_path("write_dist_checksums", "dist")
    threads: 1
    resources:
        mem_mb=mem_mb_grows(500),
        runtime=120,
    script:
        "../scripts/write_dist_checksums.py"


def manifest_zarr_summaries(wildcards):
    """The Zarr stores' summaries (export.smk): with export_zarr on, the manifest lists every
    file of the stores, with the sha256 export_zarr recorded."""
    return zarr_summaries()


rule write_manifest:
    input:
        trees=[dataset_path(tree) for tree in dataset_trees().values()],
        metadata=[dataset_path(name) for name in METADATA_FILES],
        # The sha256 of every patch file, recorded by the per-tile jobs as they wrote it.
        s2_sha256=per_tile("s2_sha256.parquet"),
        reference_maps_sha256=per_tile("reference_maps_sha256.parquet"),
        s1_sha256=per_tile("s1_sha256.parquet") if config["sentinel1"]["enabled"] else [],
        zarr=manifest_zarr_summaries,
    output:
        manifest=dataset_path("MANIFEST.sha256"),
    log:
        log_path("write_manifest", "dataset"),
    benchmark:
        benchmark_path("write_manifest", "dataset")
    priority: 10
    threads: tail_job_threads("manifest")
    resources:
        mem_mb=mem_mb_grows(1000),
        runtime=240,
    params:
        trees=dataset_trees(),
        tiles=TILES,
        sample_size=config["distribution"]["manifest_verify_sample"],
        seed=config["distribution"]["manifest_verify_seed"],
    script:
        "../scripts/write_manifest.py"


rule write_provenance:
    input:
        manifest=dataset_path("MANIFEST.sha256"),
        lmdb_content=dataset_path("LMDB_CONTENT.sha256"),
        metadata=dataset_path(METADATA_FILES[0]),
        flagged_metadata=dataset_path(METADATA_FILES[1]),
        files=[ancient(path) for path in provenance_input_files().values()],
    output:
        provenance=dataset_path("PROVENANCE.json"),
    log:
        log_path("write_provenance", "dataset"),
    benchmark:
        benchmark_path("write_provenance", "dataset")
    # Light (a small table, a JSON or a download): runs where Snakemake runs, not as a cluster job.
    localrule: True
    threads: 1
    resources:
        mem_mb=mem_mb_grows(500),
        runtime=60,
    params:
        config=provenance_config(config),
        inputs=provenance_inputs(),
        input_files=provenance_input_files(),
        repo=str(REPO),
    script:
        "../scripts/write_provenance.py"


rule write_dataset_card:
    input:
        report=report_path("report.json"),
        tiles=per_tile("tile.json"),
        sha256=dist_path("SHA256SUMS"),
        # The config (its `dataset` keys: name, licence, citation, ...) and the input files the
        # run used: every statement of the card comes from these.
        provenance=dataset_path("PROVENANCE.json"),
        metadata=[dist_path(name) for name in METADATA_FILES],
    output:
        readme=dist_path("README.md"),
        stac=directory(dist_path("stac")),
        croissant=dist_path("croissant.json"),
    log:
        log_path("write_dataset_card", "dist"),
    benchmark:
        benchmark_path("write_dataset_card", "dist")
    # Light (a few JSON files): runs where Snakemake runs, not as a cluster job.
    localrule: True
    threads: 1
    resources:
        mem_mb=mem_mb_grows(500),
        runtime=10,
    script:
        "../scripts/write_dataset_card.py"
