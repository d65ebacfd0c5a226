# Config validation, the product table, wildcard constraints, path helpers, input functions and
# the default target. The only rule file that holds Python functions; their logic lives in the
# package (workflow/reben), where it is tested without Snakemake.
import sys
import time
from pathlib import Path

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO / "workflow"))

from reben import names
from reben.config import (
    expect_retrievals,
    product_table,
    put_package_first_for_jobs,
    resolve_results_placeholder,
    validate_config,
)
from reben.constants import DATASET_TREES
from reben.errors import RebenError
from reben.run.identity import Identities
from reben.run.slurm import mem_mb_grows

put_package_first_for_jobs(REPO / "workflow")
try:
    validate_config(config, REPO / "workflow/schemas/config.schema.yaml")
    resolve_results_placeholder(config)
    PRODUCTS = product_table(config, REPO)
except RebenError as e:
    raise WorkflowError(str(e)) from None

RESULTS = config["results"]
TILES = list(PRODUCTS)
IDENTITIES = Identities(RESULTS)


wildcard_constraints:
    tile=names.TILE_KEY,


def tile_path(tile, name):
    """A per-tile intermediate: results/tiles/<tile key>/<name>."""
    return f"{RESULTS}/tiles/{tile}/{name}"


def log_path(rule, name):
    return f"{RESULTS}/logs/{rule}/{name}.log"


def benchmark_path(rule, name):
    return f"{RESULTS}/benchmarks/{rule}/{name}.tsv"


def per_tile(name):
    """The same per-tile intermediate for every configured tile."""
    return [tile_path(tile, name) for tile in TILES]


def l2a_product(wildcards):
    """The L2A product of a tile: the configured one, or sen2cor's output for an L1C product."""
    product = PRODUCTS[wildcards.tile]
    if product["level"] == "MSIL2A":
        return ancient(product["path"])
    return f"{RESULTS}/l2a/{wildcards.tile}.SAFE"


def l2a_product_identity(wildcards):
    """A configured L2A product's content identity (metadata XML, image file sizes): a repaired
    file reruns its tile, a touched one nothing. sen2cor's output goes by its rule."""
    product = PRODUCTS[wildcards.tile]
    return product_identity_of(product["path"]) if product["level"] == "MSIL2A" else None


def geocoding_source_identity(wildcards):
    return product_identity_of(PRODUCTS[wildcards.tile]["path"])


def product_identity_of(path):
    try:
        return IDENTITIES.product(path)
    except RebenError as e:
        raise WorkflowError(str(e)) from None


def geocoding_source(wildcards):
    """The product whose MTD_TL.xml gives the tile geocoding: the L1C itself where the tile starts
    from L1C, so that the grid (and all that depends only on it) is not downstream of sen2cor."""
    return ancient(PRODUCTS[wildcards.tile]["path"])


# ------------------------------------------------------------------ Input check (rule check_inputs, tiles.smk)


def check_input_files_exist():
    """At parse time (a dry run too): every missing input file at once, before any job."""
    from reben.run.check import missing_input_files

    borders = config["countries"]["borders"] and borders_path()
    s1 = {name: p for name, p in S1_PRODUCTS.items() if name not in S1_GRD}
    missing = missing_input_files(PRODUCTS, CLC_PATH, borders, s1, RESULTS, config["retrieval"]["enabled"])
    if missing:
        raise WorkflowError(f"{len(missing)} input file(s) missing:\n" + "\n".join(missing))


def input_check_report(wildcards):
    """The check's report, as ancient(): a tile job waits for the check, but a rerun check (after
    a config change) reruns no tile by itself."""
    return ancient(f"{RESULTS}/check/inputs.txt")


# ------------------------------------------------------------------ From L1C to L2A: product retrieval from the Copernicus Data Space and sen2cor (l1c.smk)

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


# ------------------------------------------------------------------ reference maps and labels (labels.smk)
from reben.labels.clc import clc_identity
from reben.labels.classes import CLC_NODATA, configured_table

# "{results}" in clc.path stands for the results folder (the demo's CLC is made there).
CLC_PATH = (config["clc"]["path"] or "").replace("{results}", RESULTS) or None
LABEL_RASTER = config["labels"]["raster"]
LABEL_RASTER_PATH = (LABEL_RASTER["path"] or "").replace("{results}", RESULTS) or None
CLASS_TABLE_PATH = (config["labels"]["class_table"] or "").replace("{results}", RESULTS) or None
# The code of pixels the label source does not cover; it always counts as UNLABELED.
UNCOVERED_CODE = LABEL_RASTER["uncovered_code"] if LABEL_RASTER_PATH else CLC_NODATA
if LABEL_RASTER_PATH and CLC_PATH:
    raise WorkflowError(
        "config: labels.raster.path and clc.path are both set: the label source "
        "is one of them; set the other to null"
    )
try:
    # The configured version, else the file's sha256, cached by path, size and mtime.
    CLC_IDENTITY = CLC_PATH and clc_identity(
        CLC_PATH, config["clc"]["version"], cache_path=Path(RESULTS) / ".cache" / "clc_sha256.json"
    )
    if LABEL_RASTER_PATH:
        CLC_IDENTITY = clc_identity(
            LABEL_RASTER_PATH,
            LABEL_RASTER["version"],
            cache_path=Path(RESULTS) / ".cache" / "clc_sha256.json",
            config_key="labels.raster",
        )
    # The class table is checked when the workflow is parsed; its content is a param.
    LABEL_TABLE = configured_table(
        config["labels"]["nomenclature"], CLASS_TABLE_PATH, config["labels"]["unlabeled_codes"], UNCOVERED_CODE
    )
except RebenError as e:
    raise WorkflowError(str(e)) from None
LABEL_TABLE_CONTENT = {code: LABEL_TABLE.code_class[code] for code in LABEL_TABLE.codes}
# The codes that count as UNLABELED beyond the table's own: configured, and the uncovered code.
LABEL_UNLABELED_CODES = sorted({*config["labels"]["unlabeled_codes"], UNCOVERED_CODE})


def clc_file(wildcards):
    """The label source (CLC vector or land-cover raster), as ancient(): its identity in
    params, not its mtime, decides reruns."""
    if LABEL_RASTER_PATH:
        return ancient(LABEL_RASTER_PATH)
    if not CLC_PATH:
        raise WorkflowError(
            "config: clc.path: not set (the CORINE Land Cover vector file, "
            "or labels.raster.path for a land-cover raster)"
        )
    return ancient(CLC_PATH)


# ------------------------------------------------------------------ Sentinel-1 pairing and patches (sentinel1.smk)


from reben.sentinel1.products import candidates as s1_candidates
from reben.sentinel1.products import configured_products as s1_configured_products
from reben.sentinel1.products import parse_s1_name
from reben.sentinel1.products import grd_table as s1_grd_table
from reben.names import parse_product_name as parse_s2_name

S1 = config["sentinel1"]
S1_ENABLED = S1["enabled"]
# Raw GRD products turned into backscatter by SNAP's gpt (optional): name -> GRD file.
S1_GRD = {}
try:
    if S1_ENABLED and S1["grd"]["gpt"]:
        S1_GRD = {parse_s1_name(Path(p).name).name: p for p in S1["grd"]["products"]}
        # The GRD scenes of sentinel1.product_table (e.g. from `python -m reben.catalogue.retrieval search
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


# ------------------------------------------------------------------ Splits and countries (splits.smk)

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


# ------------------------------------------------------------------ Selection and dataset assembly (metadata parquet files, trees) (dataset.smk)


def dataset_path(name):
    """A file or folder of the assembled dataset: results/dataset/<name>."""
    return f"{RESULTS}/dataset/{name}"


def flag_lists():
    """The configured lists of flagged patch ids, by flag (None where the threshold applies)."""
    flags = config["flags"]
    return {"cloud_or_shadow": flags["cloud_or_shadow_list"], "snow": flags["snow_list"]}


def flag_list_identities():
    return {flag: IDENTITIES.file(path) for flag, path in flag_lists().items()}


# BigEarthNet v1 links (bigearthnet_v1.smk): the tables of bigearthnet-common, indexed once.
from reben.bigearthnet_v1.links import check_v1_config, table_files, tables_identity

V1 = config["bigearthnet_v1"]
try:
    check_v1_config(config)
    V1_TABLES = table_files(V1["tables"])  # None without v1 links
except RebenError as e:
    raise WorkflowError(str(e)) from None
V1_INDEX = f"{RESULTS}/bigearthnet_v1/v1_patches.parquet"
S1_FROM_V1 = S1_ENABLED and S1["source"] == "bigearthnet_v1"
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


def selection_inputs(wildcards):
    """The tables select_patches reads for one tile (S1 pairing only when Sentinel-1 is on)."""
    inputs = {
        "tile": tile_path(wildcards.tile, "tile.json"),
        "s2_patches": tile_path(wildcards.tile, "s2_patches.parquet"),
        "labels": tile_path(wildcards.tile, "labels.parquet"),
    }
    for flag, path in flag_lists().items():
        if path:
            inputs[f"{flag}_list"] = ancient(path)
    if config["sentinel1"]["enabled"]:
        inputs["s1_pairing"] = tile_path(wildcards.tile, "s1_pairing.parquet")
    if V1_TABLES:
        inputs["v1_link"] = tile_path(wildcards.tile, "bigearthnet_v1.parquet")
    return inputs


def staging_inputs(wildcards):
    """What stage_tile_trees links from: the tile's selection and patch folders (S1 when on)."""
    inputs = {
        "geocoding": tile_path(wildcards.tile, "geocoding.json"),
        "selection": tile_path(wildcards.tile, "selection.parquet"),
        "s2_dir": tile_path(wildcards.tile, "s2"),
        "reference_maps_dir": tile_path(wildcards.tile, "reference_maps"),
    }
    if config["sentinel1"]["enabled"]:
        inputs["s1_pairing"] = tile_path(wildcards.tile, "s1_pairing.parquet")
        inputs["s1_dir"] = tile_path(wildcards.tile, "s1")
    return inputs


def dataset_inputs(wildcards):
    """Every per-tile output the dataset is assembled from, each as a list in TILES order."""
    names = {
        "tile": "tile.json",
        "geocoding": "geocoding.json",
        "s2_patches": "s2_patches.parquet",
        "labels": "labels.parquet",
        "splits": "splits.parquet",
        "countries": "countries.parquet",
        "selection": "selection.parquet",
        "s2_dir": "s2",
        "reference_maps_dir": "reference_maps",
        "staged_trees": "staged_trees",
    }
    if config["sentinel1"]["enabled"]:
        names.update(s1_pairing="s1_pairing.parquet", s1_dir="s1")
    inputs = {key: per_tile(name) for key, name in names.items()}
    for flag, path in flag_lists().items():
        if path:
            inputs[f"{flag}_list"] = ancient(path)
    if V1_TABLES:
        inputs["v1_link"] = per_tile("bigearthnet_v1.parquet")
    return inputs


# ------------------------------------------------------------------ LMDB, archives and provenance (distribution.smk)


def dist_path(name):
    """A file of the distribution: results/dist/<name>."""
    return f"{RESULTS}/dist/{name}"


METADATA_FILES = ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")


def dataset_trees():
    """The dataset's patch trees, by kind (Sentinel-1 only when it is on)."""
    return {kind: tree for kind, tree in DATASET_TREES.items() if kind != "s1" or S1_ENABLED}


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


# ------------------------------------------------------------------ Export in the BigEarthNet v1 layout (export.smk)


def export_path(name):
    """A folder of an export of the dataset: results/export/<name>."""
    return f"{RESULTS}/export/{name}"


def export_v1_inputs(wildcards):
    """The sidecar, the dataset's trees (S1 only when it is on) and every tile's geocoding."""
    inputs = {
        "sidecar": dataset_path("patches.parquet"),
        "s2_tree": dataset_path(DATASET_TREES["s2"]),
        "geocodings": per_tile("geocoding.json"),
    }
    if S1_ENABLED:
        inputs["s1_tree"] = dataset_path(DATASET_TREES["s1"])
    return inputs


def export_v1_tile_sources():
    """Tile key -> the product v1's `tile_source` names: the configured product (the L1C product
    where the tile starts from L1C, as in v1; else the L2A product)."""
    return {tile: product["name"] for tile, product in PRODUCTS.items()}


def export_v1_s1_scenes():
    """S1 product (first five fields) -> the configured name, for v1's `scene_source`."""
    return {parse_s1_name(name).product: parse_s1_name(name).name for name in S1_PRODUCTS}


# ------------------------------------------------------------------ The dataset report (report.smk)

REPORT_TEMPLATE = str(REPO / "resources" / "report" / "index.html.j2")


def report_path(name):
    """A file or folder of the report: results/report/<name>."""
    return f"{RESULTS}/report/{name}"


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


# ------------------------------------------------------------------ Run handlers: input check, SLURM checks (profiles/slurm), closing line
from reben.run import slurm
from reben.run.check import check_settings, recheck_at_start, write_settings

RUN_STARTED = time.time()
CHECK_SETTINGS = f"{RESULTS}/check/settings.json"


onstart:
    try:
        recheck_at_start({job.rule.name for job in workflow.dag.needrun_jobs()}, CHECK_SETTINGS)
        if slurm.submits_to_slurm(workflow):
            slurm.check_submission(workflow)
    except RebenError as e:
        raise WorkflowError(str(e)) from None


onsuccess:
    if slurm.submits_to_slurm(workflow):
        slurm.report_memory_kills(workflow, RUN_STARTED, logger)
    keep_input_dir()
    closing_summary_line()


onerror:
    if slurm.submits_to_slurm(workflow):
        slurm.report_memory_kills(workflow, RUN_STARTED, logger)
    keep_input_dir()


def closing_summary_line():
    """What the run built, in one line, after Snakemake's own (when the dataset was built)."""
    from reben.run.summary import closing_summary

    funnel_csv = dataset_path("funnel.csv")
    if Path(funnel_csv).exists():
        logger.info(closing_summary(funnel_csv, len(TILES), report_path("index.html")))


check_input_files_exist()
write_settings(
    check_settings(
        provenance_config(config), PRODUCTS, CLC_PATH, borders_path(), S1_PRODUCTS, config["retrieval"]["enabled"]
    ),
    CHECK_SETTINGS,
)


# ------------------------------------------------------------------ The default target (rule all)


def final_targets(wildcards):
    """What `snakemake` builds by default: the dataset (trees, metadata files, sidecar, funnel,
    manifest, provenance, LMDB content hash), the distribution (LMDB, archives, checksums, dataset
    card), the report and, when configured, the BigEarthNet v1 export. Every per-tile
    intermediate is built because one of these needs it."""
    targets = [dataset_path(tree) for tree in dataset_trees().values()]
    targets += [dataset_path(name) for name in (*METADATA_FILES, "patches.parquet", "funnel.csv")]
    targets += [dataset_path(name) for name in ("MANIFEST.sha256", "LMDB_CONTENT.sha256", "PROVENANCE.json")]
    targets += [dataset_path("lmdb/data.mdb"), *dist_archives(), *(dist_path(name) for name in METADATA_FILES)]
    targets += [dist_path(name) for name in ("SHA256SUMS", "MD5SUMS", "TAR_MD5SUMS")]
    targets += [dist_path(name) for name in ("README.md", "stac", "croissant.json")]
    targets += [report_path(name) for name in ("index.html", "report.json", "band_statistics.json")]
    if config["export_v1"]["enabled"]:
        targets.append(export_path("bigearthnet_v1"))
    return targets
