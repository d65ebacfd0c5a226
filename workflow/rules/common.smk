# What every stage needs: config validation, the product table, wildcard constraints, path helpers
# and the default target. Each stage's input functions stand at the top of its own rule file; the
# logic behind them lives in the package (workflow/reben), where it is tested without Snakemake.
import sys
from pathlib import Path

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO / "workflow"))

from reben import names
from reben.config import (
    expect_retrievals,
    load_config_file,
    product_table,
    put_package_first_for_jobs,
    resolve_results_placeholder,
    results_folder_problems,
    validate_config,
)
from reben.constants import DATASET_TREES, METADATA_FILES
from reben.errors import RebenError
from reben.run.identity import Identities
from reben.run.ownership import config_identity, refuse_results_of_another_dataset
from reben.run.cores import tail_jobs, tail_threads, tile_threads
from reben.run.slurm import mem_mb_grows

put_package_first_for_jobs(REPO / "workflow")
try:
    # Snakemake has read the config files already, keeping the last of two equal keys: each is
    # read again strictly, so that a duplicate key or a tab in the indentation names its line.
    for path in workflow.configfiles:
        load_config_file(path)
    validate_config(config, REPO / "workflow/schemas/config.schema.yaml")
    resolve_results_placeholder(config)
    PRODUCTS = product_table(config, REPO)
    if problems := results_folder_problems(config, PRODUCTS, REPO):
        raise WorkflowError("\n".join(problems))
except RebenError as e:
    raise WorkflowError(str(e)) from None

RESULTS = config["results"]
# A results folder holds one dataset's build: another's is refused before anything is written.
try:
    SETTINGS_CHANGED = refuse_results_of_another_dataset(RESULTS, config_identity(config, workflow.configfiles))
except RebenError as e:
    raise WorkflowError(str(e)) from None
TILES = list(PRODUCTS)
IDENTITIES = Identities(RESULTS)
# The Sentinel-1 switches several stages read (pairing, v1 archive, selection, trees, report).
S1 = config["sentinel1"]
S1_ENABLED = S1["enabled"]
S1_FROM_V1 = S1_ENABLED and S1["source"] == "bigearthnet_v1"


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


def dataset_path(name):
    """A file or folder of the assembled dataset: results/dataset/<name>."""
    return f"{RESULTS}/dataset/{name}"


def dist_path(name):
    """A file of the distribution: results/dist/<name>."""
    return f"{RESULTS}/dist/{name}"


def report_path(name):
    """A file or folder of the report: results/report/<name>."""
    return f"{RESULTS}/report/{name}"


def export_path(name):
    """A folder of an export of the dataset: results/export/<name>."""
    return f"{RESULTS}/export/{name}"


def dataset_trees():
    """The dataset's patch trees, by kind (Sentinel-1 only when it is on)."""
    return {kind: tree for kind, tree in DATASET_TREES.items() if kind != "s1" or S1_ENABLED}


# ------------------------------------------------------------------ The default target (rule all)


def final_artefacts(wildcards):
    """What a run makes: the dataset (trees, metadata files, sidecar, funnel, manifest,
    provenance, LMDB content hash), the distribution (LMDB, archives, checksums, dataset card),
    the report and, when configured, the BigEarthNet v1 export and the Zarr stores. Every
    per-tile intermediate is built because one of these needs it."""
    targets = [dataset_path(tree) for tree in dataset_trees().values()]
    targets += [dataset_path(name) for name in (*METADATA_FILES, "patches.parquet", "funnel.csv")]
    targets += [dataset_path(name) for name in ("MANIFEST.sha256", "LMDB_CONTENT.sha256", "PROVENANCE.json")]
    targets += [dataset_path("lmdb/data.mdb"), *dist_archives(), *(dist_path(name) for name in METADATA_FILES)]
    targets += [dist_path(name) for name in ("SHA256SUMS", "MD5SUMS", "TAR_MD5SUMS")]
    targets += [dist_path(name) for name in ("README.md", "stac", "croissant.json")]
    targets += [report_path(name) for name in ("index.html", "report.json", "band_statistics.json")]
    if config["export_v1"]["enabled"]:
        targets.append(export_path("bigearthnet_v1"))
    if config["export_zarr"]["enabled"]:
        targets += [zarr_store_root(split) for split in SPLITS]
    return targets


def final_targets(wildcards):
    """What `snakemake` builds by default: every artefact, then the verdict on the dataset's
    checks (rule check_dataset), which fails the run, last, on a failed check the config does not
    accept."""
    return [*final_artefacts(wildcards), report_path("checks.txt")]
