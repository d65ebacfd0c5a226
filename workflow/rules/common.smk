# Config validation, the product table, wildcard constraints and path helpers.
# The only rule file that holds Python functions.
import os
import sys
from pathlib import Path

REPO = Path(workflow.basedir)
# Scripts import the package from this checkout, also on cluster nodes (PYTHONPATH is inherited).
sys.path.insert(0, str(REPO / "workflow"))
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO / "workflow"), os.environ.get("PYTHONPATH")) if p
)

from reben.config import product_table, validate_config
from reben.errors import RebenError

try:
    validate_config(config, REPO / "workflow/schemas/config.schema.yaml")
    PRODUCTS = product_table(config, REPO)
except RebenError as e:
    raise WorkflowError(str(e)) from None

RESULTS = config["results"]
TILES = list(PRODUCTS)


wildcard_constraints:
    tile=r"S2[A-D]_MSIL2A_\d{8}T\d{6}_N\d{4}_R\d{3}_T\d{2}[A-Z]{3}",


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


def geocoding_source(wildcards):
    """The product whose MTD_TL.xml gives the tile geocoding: the L1C itself where the tile starts
    from L1C, so that the grid (and all that depends only on it) is not downstream of sen2cor."""
    return ancient(PRODUCTS[wildcards.tile]["path"])


# ------------------------------------------------------------------ From L1C to L2A: product retrieval from the Copernicus Data Space and sen2cor (l1c.smk)

L1C_NAME = r"S2[A-D]_MSIL1C_\d{8}T\d{6}_N\d{4}_R\d{3}_T\d{2}[A-Z]{3}_\d{8}T\d{6}"
L1C_DIR = config["sentinel2"]["input_dir"]


def _expect_retrieved_l1c():
    """With retrieval on, an L1C product that has no path of its own and is not on disk is
    expected as `<input_dir>/<name>.zip`, which retrieve_l1c fetches."""
    for product in PRODUCTS.values():
        default = Path(L1C_DIR) / (product["name"] + ".SAFE")
        if product["level"] == "MSIL1C" and product["path"] == str(default) and not default.exists():
            product["path"] = str(default.with_name(product["name"] + ".zip"))


if config["retrieval"]["enabled"]:
    _expect_retrieved_l1c()


def l1c_product(wildcards):
    """The L1C product (zip or SAFE folder) sen2cor turns into the tile's L2A product; a raw
    input, so touching it reruns nothing (its name is the sen2cor rule's `l1c` param)."""
    return ancient(PRODUCTS[wildcards.tile]["path"])


def l1c_name(wildcards):
    return PRODUCTS[wildcards.tile]["name"]


# ------------------------------------------------------------------ CORINE reference maps and 19-class labels (labels.smk)
from reben.clc import clc_identity

# "{results}" in clc.path stands for the results folder (the demo's CLC is made there).
CLC_PATH = (config["clc"]["path"] or "").replace("{results}", RESULTS) or None
try:
    # The configured version, else the file's sha256, cached by path, size and mtime.
    CLC_IDENTITY = CLC_PATH and clc_identity(CLC_PATH, config["clc"]["version"],
                                             cache_path=Path(RESULTS) / ".cache" / "clc_sha256.json")
except RebenError as e:
    raise WorkflowError(str(e)) from None


def clc_file(wildcards):
    """The CLC vector, as ancient(): its identity in params, not its mtime, decides reruns."""
    if not CLC_PATH:
        raise WorkflowError("config: clc.path: not set (the CORINE Land Cover vector file)")
    return ancient(CLC_PATH)


# ------------------------------------------------------------------ Sentinel-1 pairing and patches (sentinel1.smk)


# ------------------------------------------------------------------ Splits and countries (splits.smk)


# ------------------------------------------------------------------ Selection and dataset assembly (metadata parquet files, trees) (dataset.smk)


# ------------------------------------------------------------------ LMDB, archives and provenance (distribution.smk)


def dataset_path(name):
    """A file or folder of the assembled dataset: results/dataset/<name>.
    (The same helper as the dataset stage's; one of the two goes when both are on main.)"""
    return f"{RESULTS}/dataset/{name}"


def has_rule(name):
    """Whether a rule of that name has been defined (by an earlier include)."""
    try:
        getattr(rules, name)
    except Exception:
        return False
    return True


def dist_path(name):
    """A file of the distribution: results/dist/<name>."""
    return f"{RESULTS}/dist/{name}"


METADATA_FILES = ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")


def dataset_trees():
    """The dataset's patch trees, by kind (Sentinel-1 only when it is on)."""
    trees = {"s2": "BigEarthNet-S2", "reference_maps": "Reference_Maps"}
    if config["sentinel1"]["enabled"]:
        trees["s1"] = "BigEarthNet-S1"
    return trees


def lmdb_inputs(wildcards):
    """What encode_lmdb copies (the per-tile shards) and checks against (metadata, trees)."""
    inputs = {
        "metadata": dataset_path(METADATA_FILES[0]),
        "flagged_metadata": dataset_path(METADATA_FILES[1]),
        "s2_shards": per_tile("s2_shard.parquet"),
        "reference_map_shards": per_tile("reference_maps_shard.parquet"),
    }
    if config["sentinel1"]["enabled"]:
        inputs["s1_shards"] = per_tile("s1_shard.parquet")
    inputs.update({f"{kind}_tree": dataset_path(tree) for kind, tree in dataset_trees().items()})
    return inputs


def dist_archives():
    return [dist_path(f"{tree}.tar.zst") for tree in dataset_trees().values()]


def manifest_members():
    """What MANIFEST.sha256 covers, relative to results/dataset."""
    return [*dataset_trees().values(), *METADATA_FILES]


def provenance_inputs():
    """Inputs recorded by name in PROVENANCE.json."""
    return {"sentinel2_products": [p["name"] for p in PRODUCTS.values()]}


def provenance_input_files():
    """Input files recorded by name, size and sha256 in PROVENANCE.json (where configured)."""
    # From the CLC and countries stages' helpers, where those stages are in the workflow.
    files = {
        "clc": globals().get("CLC_PATH"),
        "borders": globals()["borders_path"]() if "borders_path" in globals() else None,
    }
    return {label: path for label, path in files.items() if path}



# ------------------------------------------------------------------ The dataset report (report.smk)


# ------------------------------------------------------------------ Cluster execution: memory per attempt, SLURM checks (profiles/slurm, issue 8)
import shutil
import subprocess
import time

from reben.slurm import (
    SlurmError,
    check_job_resources,
    check_sbatch,
    mem_mb_for_attempt,
    memory_kills,
    parse_sinfo_partitions,
)

RUN_STARTED = time.time()


def mem_mb_grows(first_attempt_mb):
    """A rule's mem_mb: the measured peak with headroom on the first attempt, that much more on
    each retry (profiles/slurm sets retries), so that a job SLURM killed for exceeding its memory
    gets through. In a rule: `resources: mem_mb=mem_mb_grows(3500)`."""

    def mem_mb(wildcards, attempt):
        return mem_mb_for_attempt(first_attempt_mb, attempt)

    return mem_mb


def submits_to_slurm():
    """True in the Snakemake process that submits jobs with sbatch (not inside a job)."""
    plugin = workflow.executor_plugin
    return plugin is not None and plugin.name == "slurm"


def check_slurm_submission():
    """Before the first sbatch: one line instead of a hung or half-submitted run when sbatch is
    missing, a partition does not exist or a placeholder of profiles/slurm is left."""
    check_sbatch(shutil.which("sbatch"))
    sinfo = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True)
    if sinfo.returncode != 0:
        raise SlurmError(f"sinfo cannot reach the SLURM controller: {sinfo.stderr.strip()}")
    submitted = [job.resources for job in workflow.dag.needrun_jobs() if not job.is_local]
    check_job_resources(submitted, parse_sinfo_partitions(sinfo.stdout))


def report_memory_kills():
    """One line per job of this run that SLURM killed for exceeding its memory, from the SLURM
    outputs the plugin keeps for failed jobs: <slurm-logdir>/rule_<rule>/<wildcards>/<id>.log."""
    logdir = getattr(workflow.executor_settings, "logdir", None) or ".snakemake/slurm_logs"
    for kill in memory_kills(Path(logdir), since=RUN_STARTED):
        logger.warning(kill.line())


onstart:
    if submits_to_slurm():
        try:
            check_slurm_submission()
        except SlurmError as e:
            raise WorkflowError(str(e)) from None


onsuccess:
    if submits_to_slurm():
        report_memory_kills()


onerror:
    if submits_to_slurm():
        report_memory_kills()


# Each rule file adds what the default target builds.
FINAL_TARGETS = []


def final_targets(wildcards):
    return FINAL_TARGETS
