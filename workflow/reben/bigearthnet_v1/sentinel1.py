"""Sentinel-1 as reBEN has it: each patch's S1 patch is the BigEarthNet-MM v1 partner of its v1
patch, its files taken byte for byte from the published BigEarthNet-S1 v1.0 archive.

`sentinel1.source: bigearthnet_v1`. Three steps:
- fetch_archive (rule fetch_bigearthnet_v1_s1, only when no archive path is configured):
  `BigEarthNet-S1-v1.0.tar.gz` from bigearth.net, resumed from `<dest>.part`, checked against
  the configured sha256 (or its sha256 logged, to be pinned);
- extract_archive (rule extract_bigearthnet_v1_s1, one job for the whole archive): the VV and VH
  files of every patch folder (`<s1_name>/<s1_name>_VV.tif`, `_VH.tif`; the v1
  `_labels_metadata.json` files are left out) into one folder;
- take_tile (rule take_v1_s1_patches, per tile): s1_pairing.parquet from the tile's v1 links
  (partner = the S1 name that v1 pairs with the patch's s2v1_name), the files into the reBEN
  layout `<S1 product>/<s1_name>/<s1_name>_VV.tif|_VH.tif` (hard links to the extracted files,
  copies from a folder the user gave), the shard of their pixels for the LMDB and their band
  statistics (s1_band_stats.parquet, reben.bandstats).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tarfile
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from reben.bandstats import S1StatsRows
from reben.constants import S1_POLARISATIONS
from reben.errors import V1ArchiveError
from reben.grid import read_grid_json
from reben.hashes import FileHashes
from reben.io import check_download_sha256, sha256_file, staged_dir, write_parquet
from reben.logs import Progress
from reben.names import parse_product_name
from reben.sentinel1.products import parse_s1_name
from reben.shards import ShardWriter, encode

LOG = logging.getLogger("reben.bigearthnet_v1.sentinel1")

ARCHIVE_NAME = "BigEarthNet-S1-v1.0.tar.gz"
ARCHIVE_FOLDER = "BigEarthNet-S1-v1.0"
CHUNK_BYTES = 1 << 20
_MEMBER = re.compile(r"(?:^|/)(?P<name>S1[A-D]_[A-Z0-9_]+_\d+_\d+)/(?P=name)_(?P<pol>VV|VH)\.tif$")


def _total_size(response) -> int | None:
    """The full size of the file from a 206's Content-Range or a 200's Content-Length."""
    if response.status_code == 206:
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def fetch_archive(
    url: str,
    dest,
    sha256: str | None = None,
    retries: int = 5,
    backoff_s: float = 10,
    timeout_s: float = 120,
    sleep=time.sleep,
) -> str:
    """Download `url` to `dest`, resuming `<dest>.part` (HTTP Range) across attempts and runs;
    the complete file is checked against `sha256` (or its sha256 logged) and renamed. Returns
    its sha256."""
    import requests
    from urllib3.exceptions import HTTPError as Urllib3Error

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    total = None
    for attempt in range(1, retries + 1):
        have = part.stat().st_size if part.exists() else 0
        if total is not None and have == total:
            break
        try:
            headers = {"Range": f"bytes={have}-"} if have else {}
            with requests.get(url, headers=headers, stream=True, timeout=timeout_s) as r:
                if r.status_code == 416 and have:
                    break  # nothing beyond what we have
                if r.status_code not in (200, 206):
                    raise V1ArchiveError(f"{url}: download refused (HTTP {r.status_code})")
                total = _total_size(r) if r.status_code == 206 or not have else total
                if r.status_code == 200 and have:
                    LOG.info("%s: the server ignored the resume request; starting again", url)
                with open(part, "ab" if r.status_code == 206 else "wb") as f:
                    # Bytes as they arrive (read1), so that a dropped connection keeps all it
                    # delivered; no content decoding: the archive's bytes as served.
                    while chunk := r.raw.read1(CHUNK_BYTES, decode_content=False):
                        f.write(chunk)
        except (requests.RequestException, Urllib3Error, OSError) as e:
            LOG.warning("%s: attempt %d of %d stopped (%s); resuming", url, attempt, retries, type(e).__name__)
            sleep(backoff_s * attempt)
            continue
        if total is None or part.stat().st_size >= total:
            break
        LOG.warning(
            "%s: attempt %d of %d ended at %d of %d bytes; resuming", url, attempt, retries, part.stat().st_size, total
        )
        sleep(backoff_s * attempt)
    have = part.stat().st_size if part.exists() else 0
    if total is not None and have != total:
        raise V1ArchiveError(
            f"{url}: download incomplete after {retries} attempts ({have} of "
            f"{total} bytes kept in {part}; run again to resume)"
        )
    got = sha256_file(part)
    try:
        check_download_sha256(url, got, sha256, "sentinel1.v1_archive.sha256", V1ArchiveError)
    except V1ArchiveError:
        part.unlink()
        raise
    os.replace(part, dest)
    LOG.info("%s: %s, %d bytes, sha256 %s", url, dest, have, got)
    return got


def extract_archive(archive, out_dir) -> int:
    """Extract the VV and VH files of every patch of the v1 archive into `out_dir`/<s1_name>/,
    reading the archive once as a stream; returns the number of files. The folder is built as
    `<out_dir>.tmp` and renamed when the whole archive has been read."""
    archive, out_dir = Path(archive), Path(out_dir)
    if not archive.is_file():
        raise V1ArchiveError(
            f"{archive}: BigEarthNet-S1 v1.0 archive does not exist (download "
            f"{ARCHIVE_NAME} from bigearth.net, or set sentinel1.v1_archive.path "
            "to null to have it fetched)"
        )
    start = time.monotonic()
    files = 0
    with staged_dir(out_dir) as tmp:
        try:
            with tarfile.open(archive, "r|*") as tar:
                for member in tar:
                    m = _MEMBER.search(member.name)
                    if not m or not member.isfile():
                        continue
                    folder = tmp / m["name"]
                    folder.mkdir(exist_ok=True)
                    with tar.extractfile(member) as src, open(folder / f"{m['name']}_{m['pol']}.tif", "wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK_BYTES)
                    files += 1
                    if files % 100_000 == 0:
                        LOG.info("%s: %d files extracted", archive.name, files)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
            raise V1ArchiveError(
                f"{archive}: truncated or corrupt after {files} files ({type(e).__name__}: {e}); download it again"
            ) from None
        if not files:
            raise V1ArchiveError(
                f"{archive}: holds no S1 patch files (<s1_name>/<s1_name>_VV.tif); not the BigEarthNet-S1 v1.0 archive"
            )
    LOG.info(
        "%s: %d files of %d patch folders extracted to %s in %.1f s",
        archive,
        files,
        len(os.listdir(out_dir)),
        out_dir,
        time.monotonic() - start,
    )
    return files


def patch_root(source) -> Path:
    """Where the patch folders of an extracted v1 archive are: the folder itself, or its
    BigEarthNet-S1-v1.0 subfolder (as the archive extracts)."""
    source = Path(source)
    if not source.is_dir():
        raise V1ArchiveError(f"{source}: extracted BigEarthNet-S1 v1.0 folder does not exist")
    inner = source / ARCHIVE_FOLDER
    return inner if inner.is_dir() else source


def v1_pairing(tile_key: str, link: pd.DataFrame) -> pd.DataFrame:
    """s1_pairing.parquet from a tile's v1 links: partner = the v1 S1 partner of the patch's
    s2v1_name; the gap is between its acquisition (from its name) and the tile's sensing."""
    sensing = parse_product_name(tile_key).sensing_time
    s1_names = link["s1v1_name"].fillna("").to_numpy(dtype=object)
    products, gaps = [], np.full(len(link), np.nan)
    for i, name in enumerate(s1_names):
        if not name:
            products.append(None)
            continue
        parsed = parse_s1_name(name)
        products.append(parsed.product)
        gaps[i] = abs((parsed.acquisition_time - sensing).total_seconds()) / 86400
    return pd.DataFrame(
        {
            "patch_id": pd.array(link["patch_id"].to_numpy(dtype=object), dtype="string"),
            "s1_product": pd.array(products, dtype="string"),
            "s1_name": pd.array(s1_names, dtype="string"),
            "s1_time_gap_days": gaps,
        }
    )


def read_v1_patch(path: Path) -> np.ndarray:
    """The pixels of one v1 S1 file (float32 dB, 120 x 120)."""
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1)


def take_tile(
    tile_key: str,
    grid_json,
    link_path,
    source,
    pairing_path,
    out_dir,
    shard_path,
    band_stats_path,
    link_files: bool = True,
    sha256_path=None,
) -> dict:
    """The v1 S1 patches of one tile from the extracted archive `source` (see module doc), and
    (with `sha256_path`) the sha256 of every file taken (reben.hashes)."""
    from reben.bigearthnet_v1.links import read_tile_link
    from reben.io import Linker

    start = time.monotonic()
    grid = read_grid_json(grid_json)
    link = read_tile_link(link_path, grid.patch_ids(), tile_key)
    pairing = v1_pairing(tile_key, link)
    root = patch_root(source)
    out_dir = Path(out_dir)
    linker = Linker()
    linker.copying = not link_files
    paired = pairing[pairing["s1_name"] != ""]
    stats = S1StatsRows()
    progress = Progress(f"{tile_key}: taking v1 S1 patches", len(paired))
    try:
        with staged_dir(out_dir) as tmp:
            files = FileHashes(tmp)
            with ShardWriter(shard_path) as shard:
                for done, (s2v1, pid, product, name) in enumerate(
                    zip(
                        link.loc[paired.index, "s2v1_name"], paired["patch_id"], paired["s1_product"], paired["s1_name"]
                    ),
                    1,
                ):
                    folder = tmp / product / name
                    folder.mkdir(parents=True)
                    tensors = {}
                    for pol in S1_POLARISATIONS:
                        src = root / name / f"{name}_{pol}.tif"
                        if not src.is_file():
                            raise V1ArchiveError(
                                f"{source}: no {name}/{name}_{pol}.tif, the S1 patch "
                                f"of v1 pair {s2v1} (tile {tile_key}); the archive is "
                                "incomplete"
                            )
                        linker.link(str(src), str(folder / src.name))
                        files.add(folder / src.name)
                        tensors[pol] = read_v1_patch(src)
                    shard.add(name, encode(tensors))
                    stats.add_patch(pid, name, tensors)
                    progress.update(done)
            stats.write(band_stats_path)
            write_parquet(pairing, pairing_path)
            if sha256_path:
                files.save(sha256_path)
    except BaseException:
        Path(shard_path).unlink(missing_ok=True)
        Path(band_stats_path).unlink(missing_ok=True)
        if sha256_path:
            Path(sha256_path).unlink(missing_ok=True)
        raise
    LOG.info(
        "%s: %d of %d patches have a v1 S1 partner; %d files %s from %s in %.1f s",
        tile_key,
        len(paired),
        len(pairing),
        2 * len(paired),
        "copied" if linker.copying else "linked",
        root,
        time.monotonic() - start,
    )
    return {"paired": len(paired)}
