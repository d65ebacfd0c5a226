"""Sentinel-1 patches on the Sentinel-2 grid (rule cut_s1_patches).

For every patch that has a partner product, VV and VH are resampled bilinearly in linear power
onto the patch's pixels at 10 m in the tile CRS (120 x 120 for reBEN's 1200 m patches; the grid's
size decides) (reben.s1_resample), turned into dB, and written as
`<S1 product>/<s1_name>/<s1_name>_VV.tif|_VH.tif` plus one shard row (key s1_name, tensors VV
and VH float32). The GeoTIFFs are byte for byte what the published reBEN S1 files are for the
same pixels: float32, uncompressed, strips of 17 rows, no nodata tag.
"""

from __future__ import annotations

import logging
import struct
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .constants import S1_POLARISATIONS
from .errors import Sentinel1Error
from .file_hashes import FileHashes
from .geotiff import _SENTINEL_X, _SENTINEL_Y, PatchTiffWriter
from .grid import read_grid_json
from .io import staged_dir
from .logs import Progress
from .s1_resample import RESOLUTION, PatchSampler, Taps, patch_blocks
from .sentinel1 import S1Source, parse_s1_name
from .shards import ShardWriter, encode

LOG = logging.getLogger("reben.s1_patches")

_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8}
_STRIP_OFFSETS, _STRIP_BYTE_COUNTS = 273, 279
_SHORT, _LONG = 3, 4


def long_strip_byte_counts(header: bytes) -> bytes:
    """The header of a little-endian classic TIFF with its StripByteCounts stored as LONG.

    GDAL stores them as SHORT where they fit; the published reBEN S1 patches (written by an older
    GDAL) store LONG. The out-of-line tag values keep their order and the strip offsets move by
    the header's growth. A header already in LONG comes back unchanged.
    """
    if header[:4] != b"II*\x00":
        raise ValueError("not a little-endian classic TIFF")
    ifd = struct.unpack_from("<I", header, 4)[0]
    count = struct.unpack_from("<H", header, ifd)[0]
    entries = []
    for k in range(count):
        tag, typ, n, raw = struct.unpack_from("<HHI4s", header, ifd + 2 + 12 * k)
        size = _TYPE_SIZE[typ] * n
        at = struct.unpack("<I", raw)[0] if size > 4 else None
        data = header[at : at + size] if at is not None else raw[:size]
        entries.append([tag, typ, n, data, at])
    if not any(e[0] == _STRIP_BYTE_COUNTS and e[1] == _SHORT for e in entries):
        return header
    if struct.unpack_from("<I", header, ifd + 2 + 12 * count)[0] != 0:
        raise ValueError("more than one IFD")
    for e in entries:
        if e[0] == _STRIP_BYTE_COUNTS:
            values = struct.unpack(f"<{e[2]}H", e[3])
            e[1], e[3] = _LONG, struct.pack(f"<{e[2]}I", *values)
    # Out-of-line values in their original order, word-aligned, after the IFD.
    position = ifd + 2 + 12 * count + 4
    placed = {}
    for e in sorted((e for e in entries if len(e[3]) > 4), key=lambda e: (e[4] is None, e[4] or 0)):
        placed[e[0]] = position
        position += len(e[3]) + len(e[3]) % 2
    growth = position - len(header)
    out = bytearray(header[: ifd + 2]) + bytearray(12 * count + 4) + bytearray(position - ifd - 6 - 12 * count)
    for k, (tag, typ, n, data, _) in enumerate(entries):
        if tag == _STRIP_OFFSETS:
            offsets = struct.unpack(f"<{n}{'I' if typ == _LONG else 'H'}", data)
            data = struct.pack(f"<{n}{'I' if typ == _LONG else 'H'}", *(o + growth for o in offsets))
        if len(data) > 4:
            struct.pack_into("<HHII", out, ifd + 2 + 12 * k, tag, typ, n, placed[tag])
            out[placed[tag] : placed[tag] + len(data)] = data
        else:
            struct.pack_into("<HHI4s", out, ifd + 2 + 12 * k, tag, typ, n, data.ljust(4, b"\x00"))
    return bytes(out)


class S1PatchWriter(PatchTiffWriter):
    """Writes `px` x `px` float32 dB patches at 10 m, as the published reBEN S1 files are
    (px = 120 for 1200 m patches)."""

    def __init__(self, crs, px: int):
        super().__init__((px, px), "float32", crs, RESOLUTION, nodata=None)
        self._header = bytearray(long_strip_byte_counts(bytes(self._header)))
        marker = struct.pack("<dd", _SENTINEL_X, _SENTINEL_Y)
        self._tiepoint_at = self._header.find(marker)
        if self._tiepoint_at < 0:
            raise RuntimeError("could not locate the GeoTIFF tie point in the S1 template")
        self._check(crs)

    def _check(self, crs) -> None:
        """The rewritten header must still read back as the same raster."""
        from rasterio.io import MemoryFile

        probe = np.arange(self.shape[0] * self.shape[1], dtype=np.float32).reshape(self.shape)
        with MemoryFile(self.to_bytes(probe, 1000.0, 2000.0)) as mem, mem.open() as src:
            ok = (
                np.array_equal(src.read(1), probe)
                and src.transform.c == 1000.0
                and src.transform.f == 2000.0
                and src.crs == crs
                and src.nodata is None
            )
        if not ok:
            raise RuntimeError("the S1 patch template does not read back as written")


def to_db(linear: np.ndarray) -> np.ndarray:
    """10 log10 of linear power, float32, in place."""
    np.log10(linear, out=linear)
    linear *= np.float32(10)
    return linear


def cut_tile(
    tile_key: str,
    grid_json,
    pairing_path,
    s2_patches_path,
    products: list[dict],
    out_dir,
    shard_path,
    unit: str = "auto",
    nodata: float | None = None,
    sha256_path=None,
) -> dict:
    """Write the S1 patch pair of every paired patch (of those valid on the Sentinel-2 side
    only, where `s2_patches_path` is given), their shard and (with `sha256_path`) the sha256 of
    every file written (reben.file_hashes).

    `products`: [{name, VV, VH}], at least every product the pairing names. The workflow passes
    no s2_patches table, so that S1 patches are not downstream of sen2cor (see sentinel1.smk).
    """
    start = time.monotonic()
    grid = read_grid_json(grid_json)
    pairing = pd.read_parquet(pairing_path)
    ids = grid.patch_ids()
    s2 = (
        pd.read_parquet(s2_patches_path, columns=["patch_id", "valid"])
        if s2_patches_path
        else pd.DataFrame({"patch_id": ids, "valid": np.ones(len(ids), bool)})
    )
    for name, table in (("s1_pairing", pairing), ("s2_patches", s2)):
        if table["patch_id"].tolist() != ids:
            raise Sentinel1Error(
                tile_key, f"{name} table does not list the grid's patches in grid order; rerun its rule"
            )
    needed = pairing["s1_product"].notna().to_numpy() & s2["valid"].to_numpy(dtype=bool)
    by_product = {parse_s1_name(p["name"]).product: p for p in products}
    out_dir = Path(out_dir)
    px = grid.pixels(RESOLUTION)
    writer = S1PatchWriter(grid.crs, px)
    xs, ys = grid.indices()
    s1_names = pairing["s1_name"].to_numpy(dtype=object)
    progress = Progress(f"{tile_key}: writing S1 patches", int(needed.sum()))
    done, resampling = 0, 0.0
    with staged_dir(out_dir) as tmp_dir:
        files = FileHashes(tmp_dir)
        with ShardWriter(shard_path) as shard:
            for product in sorted(pairing.loc[needed, "s1_product"].unique()):
                if product not in by_product:
                    raise Sentinel1Error(
                        tile_key,
                        f"paired with {product}, which is not among the "
                        "configured Sentinel-1 products; rerun pair_sentinel1",
                    )
                p = by_product[product]
                mine = (needed & (pairing["s1_product"] == product).to_numpy()).reshape(grid.n_rows, grid.n_cols)
                (tmp_dir / product).mkdir()
                with S1Source(p["name"], p["VV"], p["VH"], unit=unit, nodata=nodata) as source:
                    sampler = PatchSampler(grid, source.crs, source.transform)
                    for y0, y1 in sampler.chunks(np.flatnonzero(mine.any(axis=1))):
                        cols = np.flatnonzero(mine[y0:y1].any(axis=0))
                        x0, x1 = int(cols.min()), int(cols.max()) + 1
                        t0 = time.monotonic()
                        rows_w, cols_w = sampler.window(y0, y1, x0, x1)
                        taps = Taps(*sampler.positions(y0, y1, x0, x1), rows_w, cols_w)
                        bands = {
                            pol: patch_blocks(to_db(taps.bilinear(source.read_linear(pol, rows_w, cols_w))), px)
                            for pol in S1_POLARISATIONS
                        }
                        del taps
                        resampling += time.monotonic() - t0
                        for dy, dx in zip(*np.nonzero(mine[y0:y1, x0:x1])):
                            i = (y0 + dy) * grid.n_cols + x0 + dx
                            name = s1_names[i]
                            tensors = {pol: np.ascontiguousarray(bands[pol][dy, :, dx, :]) for pol in ("VV", "VH")}
                            if not all(np.isfinite(t).all() for t in tensors.values()):
                                raise Sentinel1Error(
                                    p["name"],
                                    f"patch {name} touches nodata although the "
                                    "pairing found it covered; did the file change? rerun "
                                    "pair_sentinel1",
                                    p["VV"],
                                )
                            folder = tmp_dir / product / name
                            folder.mkdir()
                            left, _, _, top = grid.patch_bounds(int(xs[i]), int(ys[i]))
                            for pol, patch in tensors.items():
                                files.write(folder / f"{name}_{pol}.tif", writer.to_bytes(patch, left, top))
                            shard.add(name, encode(tensors))
                            done += 1
                            progress.update(done)
        if sha256_path:
            files.save(sha256_path)
    LOG.info(
        "%s: %d patches paired%s: %d S1 patch pairs written in %.1f s (%.1f s reading and resampling)",
        tile_key,
        int(pairing["s1_product"].notna().sum()),
        f", {int(s2['valid'].sum())} valid on the S2 side" if s2_patches_path else "",
        done,
        time.monotonic() - start,
        resampling,
    )
    return {"written": done}
