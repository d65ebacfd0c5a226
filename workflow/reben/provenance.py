"""Provenance of a built dataset: what went in (config, inputs, software) and what came out
(a sha256 manifest of every dataset file, and the LMDB content hash).

MANIFEST.sha256 is in `sha256sum` format with paths relative to the dataset folder, so that
`cd results/dataset && sha256sum -c MANIFEST.sha256` verifies a copy; two builds are compared
with `diff` on MANIFEST.sha256 and LMDB_CONTENT.sha256.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .archives import tree_files
from .errors import DistributionError
from .io import sha256_file, write_json, write_text
from .logs import LOG

SOFTWARE = (
    "snakemake",
    "rasterio",
    "numpy",
    "pandas",
    "pyarrow",
    "geopandas",
    "shapely",
    "pyproj",
    "xarray",
    "rioxarray",
    "lmdb",
    "safetensors",
    "zstandard",
)


HOW_NOT_WHAT = {"threads", "mem_mb", "runtime", "zstd_threads"}
"""Settings that change how jobs run, never what they make: PROVENANCE.json leaves them out, so
that more threads or memory rerun nothing."""


def provenance_config(config: dict) -> dict:
    """The resolved config as PROVENANCE.json records it: without HOW_NOT_WHAT settings, without
    `retrieval` (where a product came from; its MD5 is checked either way) and without `export_v1`
    (another layout of the same files: turning it on rebuilds nothing of the dataset)."""

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in HOW_NOT_WHAT}
        return node

    return strip({k: v for k, v in config.items() if k not in ("retrieval", "export_v1")})


def dataset_files(dataset_dir, members) -> list[str]:
    """Every file of the named folders and files of `dataset_dir`, as sorted relative paths."""
    dataset_dir = Path(dataset_dir)
    out: list[str] = []
    for member in members:
        path = dataset_dir / member
        if path.is_dir():
            prefix = Path(member).parent
            out.extend(str(prefix / name) for name, _ in tree_files(path))
        elif path.exists():
            out.append(str(member))
        else:
            raise DistributionError(f"{path}: missing; it must be in the manifest")
    return sorted(out)


def write_manifest(dataset_dir, members, out_path, threads: int = 1) -> int:
    """MANIFEST.sha256 of every file of `members` (folders and files inside `dataset_dir`)."""
    dataset_dir = Path(dataset_dir)
    names = dataset_files(dataset_dir, members)
    # hashlib releases the GIL on large buffers, so threads overlap reads and hashing.
    with ThreadPoolExecutor(max(1, threads)) as pool:
        digests = pool.map(lambda n: sha256_file(dataset_dir / n), names, chunksize=64)
        lines = [f"{d}  {n}\n" for d, n in zip(digests, names)]
    write_text("".join(lines), out_path)
    LOG.info("write_manifest: %d files", len(names))
    return len(names)


def git_commit(repo) -> dict | None:
    """The workflow checkout's commit and whether it has uncommitted changes (None outside git)."""

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": dirty}


def software_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in SOFTWARE:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        import rasterio

        versions["gdal"] = rasterio.__gdal_version__
    except ImportError:
        versions["gdal"] = None
    return versions


def file_identity(path) -> dict | None:
    """Name, size and sha256 of an input file (None where the input is not configured)."""
    if not path:
        return None
    path = Path(path)
    if not path.exists():
        raise DistributionError(f"{path}: input named in the config is missing; cannot record it")
    return {"name": path.name, "size": path.stat().st_size, "sha256": sha256_file(path)}


def write_provenance(
    out_path, config: dict, inputs: dict, input_files: dict, metadata_paths, manifest_path, lmdb_content_path, repo
) -> dict:
    """PROVENANCE.json: the resolved config, the inputs, the software and the output hashes.

    inputs: plain descriptions (e.g. {"sentinel2_products": [names]}); input_files: {label: path}
    of files recorded by name, size and sha256 (CLC, borders). The Sentinel-1 products are those
    the metadata files name.
    """
    import pandas as pd

    from .sentinel1 import s1_product_of

    s1_products = set()
    for path in metadata_paths:
        names = pd.read_parquet(path, columns=["s1_name"])["s1_name"]
        s1_products.update(s1_product_of(n) for n in names if n)
    record = {
        "config": config,
        "inputs": {
            **inputs,
            **{label: file_identity(p) for label, p in sorted(input_files.items())},
            "sentinel1_products": sorted(s1_products),
        },
        "software": software_versions(),
        "workflow": git_commit(repo),
        "outputs": {
            "MANIFEST.sha256": sha256_file(manifest_path),
            "LMDB_CONTENT.sha256": Path(lmdb_content_path).read_text().split()[0],
        },
    }
    write_json(record, out_path)
    return record
