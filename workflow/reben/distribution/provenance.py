"""Provenance of a built dataset: what went in (config, inputs, software) and what came out
(a sha256 manifest of every dataset file, and the LMDB content hash).

MANIFEST.sha256 is in `sha256sum` format with paths relative to the dataset folder, so that
`cd results/dataset && sha256sum -c MANIFEST.sha256` verifies a copy; two builds are compared
with `diff` on MANIFEST.sha256 and LMDB_CONTENT.sha256.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reben.errors import DistributionError, OutputError
from reben.grid import tile_key_of
from reben.io import read_json, read_kept_patches, sha256_file, staged_file, write_json
from reben.logs import LOG
from reben.sentinel1.products import s1_product_of

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


HOW_NOT_WHAT = {"threads", "mem_mb", "runtime", "zstd_threads", "cores"}
"""Settings that change how jobs run, never what they make: PROVENANCE.json leaves them out, so
that more threads or memory rerun nothing."""


def provenance_config(config: dict) -> dict:
    """The resolved config as PROVENANCE.json records it: without HOW_NOT_WHAT settings, without
    `retrieval` (where a product came from; its MD5 is checked either way), without `export_v1`
    (another layout of the same files: turning it on rebuilds nothing of the dataset), and with
    `export_zarr` only when it is on (its stores are then part of the dataset's manifest)."""

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in HOW_NOT_WHAT}
        return node

    left_out = {"retrieval", "export_v1"}
    if not config.get("export_zarr", {}).get("enabled"):
        left_out.add("export_zarr")
    return strip({k: v for k, v in config.items() if k not in left_out})


def _kept_folders(metadata_paths, kinds) -> tuple[dict[str, dict[str, list[str]]], dict[str, str]]:
    """The patch folders of the kept patches, by kind and tile, as the tiles' sha256 tables
    name them (`<patch_id>`, `<S1 product>/<s1_name>`); and the metadata file of each folder."""
    folders: dict[str, dict[str, list[str]]] = {kind: {} for kind in kinds}
    source: dict[str, str] = {}
    for name, patch_ids, s1_names in read_kept_patches(metadata_paths):
        for pid, s1_name in zip(patch_ids, s1_names):
            tile = tile_key_of(pid)
            for kind in ("s2", "reference_maps"):
                folders[kind].setdefault(tile, []).append(pid)
            source[pid] = name
            if "s1" in folders and s1_name:
                folder = f"{s1_product_of(s1_name)}/{s1_name}"
                folders["s1"].setdefault(tile, []).append(folder)
                source[folder] = name
    return folders, source


def _tile_rows(kind: str, tile: str, table_path, wanted: list[str], tree: str, source: dict[str, str]) -> pa.Table:
    """(path, sha256) of the files of the `wanted` patch folders in one tile's sha256 table,
    paths relative to the dataset folder."""
    try:
        table = pq.read_table(table_path, columns=["folder", "file", "sha256"])
    except (OSError, ValueError, KeyError) as e:
        raise DistributionError(f"{table_path}: not a readable sha256 table ({e}); rerun its tile's rule") from None
    table = table.filter(pc.is_in(table["folder"], value_set=pa.array(wanted, pa.string())))
    found = set(pc.unique(table["folder"]).to_pylist())
    if len(found) != len(set(wanted)):
        missing = sorted(set(wanted) - found)
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DistributionError(
            f"{table_path}: no files of {missing[0]}{more}, which {source[missing[0]]} keeps; rerun the tile's rule"
        )
    prefix = tree if kind == "s1" else f"{tree}/{tile}"  # reben.dataset.assembly.tree_folder
    paths = pc.binary_join_element_wise(prefix, table["folder"], table["file"], "/")
    return pa.table({"path": paths, "sha256": table["sha256"]})


def _listed_rows(summary) -> tuple[str, pa.Table]:
    """The folder (with a trailing /) and (path, sha256) rows of a summary of written files."""
    try:
        record = read_json(summary)
        store = PurePosixPath(record["store"])
        rows = pa.table(
            {
                "path": [f"{store}/{f['path']}" for f in record["files"]],
                "sha256": [f["sha256"] for f in record["files"]],
            }
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DistributionError(f"{summary}: not a summary of written files ({e}); rerun its rule") from None
    if store.is_absolute() or ".." in store.parts:
        raise DistributionError(f"{summary}: its folder {store} is not inside the dataset folder")
    return f"{store}/", rows


def _lines(rows: pa.Table) -> memoryview:
    """`<sha256>  <path>` lines of `rows`, sorted by path (byte order), as one buffer."""
    rows = rows.take(pc.sort_indices(rows["path"]))
    text = pc.binary_join_element_wise(pc.binary_join_element_wise(rows["sha256"], "", rows["path"], " "), "", "\n")
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    if not len(text):
        return memoryview(b"")
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset : text.offset + len(text) + 1]
    return memoryview(text.buffers()[2])[offsets[0] : offsets[-1]]


class _Sample:
    """A seeded uniform sample of `size` rows from rows offered in batches (each row is given a
    random key; the `size` smallest keys are kept)."""

    def __init__(self, size: int, seed: int):
        self.size, self.seed = max(0, int(size)), seed
        self._rng = np.random.default_rng(seed)
        self._keys = np.empty(0)
        self.rows: list[tuple[str, str, str]] = []  # (path, sha256, where the sha256 comes from)

    def offer(self, rows: pa.Table, source: str) -> None:
        if not self.size or not rows.num_rows:
            return
        keys = self._rng.random(rows.num_rows)
        best = np.argsort(keys, kind="stable")[: self.size]
        picked = rows.take(pa.array(best))
        candidates = self.rows + [
            (p, d, source) for p, d in zip(picked["path"].to_pylist(), picked["sha256"].to_pylist())
        ]
        keys = np.concatenate([self._keys, keys[best]])
        order = np.argsort(keys, kind="stable")[: self.size]
        self._keys, self.rows = keys[order], [candidates[i] for i in order]


def _verify(dataset_dir: Path, sample: _Sample, threads: int) -> None:
    """Hash the sampled tree files from the tree; each must have the sha256 its tile recorded."""

    def check(row):
        path, want, table = row
        try:
            got = sha256_file(dataset_dir / path)
        except FileNotFoundError:
            raise DistributionError(
                f"{dataset_dir / path}: missing from the tree, {table} lists it; rerun assemble_dataset"
            ) from None
        except OSError as e:
            raise DistributionError(f"{dataset_dir / path}: cannot read ({e.strerror or e})") from None
        if got != want:
            raise DistributionError(
                f"{dataset_dir / path}: sha256 {got}, its tile recorded {want} when it wrote the file ({table}); "
                "the tree no longer holds the tile's files: rerun assemble_dataset"
            )

    with ThreadPoolExecutor(max(1, threads)) as pool:
        list(pool.map(check, sample.rows))


def write_manifest(
    dataset_dir,
    trees: dict[str, str],
    tile_hashes: dict[str, dict[str, str]],
    metadata_paths,
    out_path,
    sample_size: int = 1000,
    seed: int = 0,
    threads: int = 1,
    listed=(),
) -> int:
    """MANIFEST.sha256 of the dataset: every file of the trees and the metadata files (and of the
    stores `listed` describes).

    The trees' files are hard links (or copies) of the per-tile files, whose sha256 the per-tile
    jobs recorded as they wrote them (reben.hashes): their lines are a merge of those
    tables, for the patches the metadata files keep, at their tree paths (reben.dataset.assembly
    tree_folder). The metadata files are hashed here. A seeded sample of `sample_size` tree
    files is hashed from the trees themselves, and one that differs from its recorded sha256
    stops the job.

    trees: {kind: tree folder name} ("s2", "reference_maps", optionally "s1"); tile_hashes:
    {kind: {tile key: sha256 table}}; metadata_paths: the metadata files, inside `dataset_dir`;
    listed: summaries (JSON) of folders written into `dataset_dir` by another rule, each with
    `store` (the folder, relative to `dataset_dir`) and `files` (`path` in it, `sha256`): the Zarr
    stores of export_zarr, whose lines are taken from the sha256 recorded as they were written.
    Lines are sorted by path, byte order, as `sha256sum` lists them for `sha256sum -c`.
    """
    dataset_dir = Path(dataset_dir)
    for path in metadata_paths:
        if not Path(path).exists():
            raise DistributionError(f"{path}: missing; it must be in the manifest")
    folders, source = _kept_folders(metadata_paths, trees)
    units: dict[str, tuple[str, list]] = {}  # sort prefix -> (kind, [(tile, table, wanted folders)])
    for kind, tree in trees.items():
        for tile, wanted in sorted(folders[kind].items()):
            if tile not in tile_hashes.get(kind, {}):
                raise DistributionError(
                    f"{source[wanted[0]]}: keeps patches of tile {tile}, which has no {kind} sha256 table "
                    "among the inputs"
                )
            # A unit per tile folder (S2, reference maps) or per S1 product (a product spans tiles),
            # so that one unit's lines are in memory at a time.
            if kind == "s1":
                groups: dict[str, list[str]] = {}
                for folder in wanted:
                    groups.setdefault(f"{tree}/{folder.split('/', 1)[0]}/", []).append(folder)
            else:
                groups = {f"{tree}/{tile}/": wanted}
            for prefix, group in groups.items():
                units.setdefault(prefix, (kind, []))[1].append((tile, tile_hashes[kind][tile], group))
    for summary in listed:
        prefix, rows = _listed_rows(summary)
        units[prefix] = ("listed", [rows])
    members = {}
    for path in metadata_paths:
        name = Path(os.path.relpath(path, dataset_dir)).as_posix()
        members[name] = path
        units[name] = ("file", [])
    # Units in prefix order, each sorted inside, give the whole list sorted: no prefix is the
    # start of another (tree names, tile keys and S1 product names hold no "/").
    order = sorted(units, key=lambda p: p.encode())
    for a, b in zip(order, order[1:]):
        if b.startswith(a):
            raise DistributionError(f"{b}: would sort inside {a}; the manifest cannot be merged")
    sample = _Sample(sample_size, seed)
    merged = hashed = 0
    try:
        with staged_file(out_path) as tmp, open(tmp, "wb") as out:
            for prefix in order:
                kind, parts = units[prefix]
                if kind == "file":
                    out.write(f"{sha256_file(members[prefix])}  {prefix}\n".encode())
                    hashed += 1
                    continue
                if kind == "listed":
                    out.write(_lines(parts[0]))
                    merged += parts[0].num_rows
                    continue
                tables = []
                for tile, table, wanted in parts:
                    tables.append(_tile_rows(kind, tile, table, wanted, trees[kind], source))
                    sample.offer(tables[-1], str(table))
                rows = pa.concat_tables(tables)
                out.write(_lines(rows))
                merged += rows.num_rows
            out.flush()
            _verify(dataset_dir, sample, threads)  # before the manifest takes its name
    except OSError as e:
        raise OutputError(f"{out_path}: cannot write ({e.strerror or e})") from None
    LOG.info(
        "write_manifest: %d files: %d from the tiles' sha256 tables, %d hashed here; %d tree files (seed %d) "
        "hashed from the trees and equal to their tiles' sha256",
        merged + hashed,
        merged,
        hashed,
        len(sample.rows),
        seed,
    )
    return merged + hashed


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
