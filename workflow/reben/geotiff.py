"""Every GeoTIFF the workflow encodes, byte-identical to what rasterio writes: Sentinel-2 patches,
Sentinel-1 patches and reference maps.

A tile yields about 100,000 patch files. Opening each through GDAL costs more than the decode of
the whole product, so each writer asks rasterio once for a template (`_Template`): a file of the
patch's shape, dtype, CRS, resolution, nodata and creation options whose upper-left corner is a
sentinel position. Each patch is then the template's header with the patch's corner put into the
GeoTIFF tie point (and, when compressed, its strip offsets and sizes), followed by its strips.
Every writer checks its bytes against a real rasterio write when it is built. The published
reBEN files are byte-identical to rasterio writes (the S1 patches up to the type of one tag).

- `PatchTiffWriter`: uncompressed, any dtype and nodata (the S2 patches: uint16, nodata 0).
- `S1PatchWriter`: the S1 patches: float32, uncompressed, no nodata, StripByteCounts as LONG.
- `ReferenceMapWriter`: the reference maps: uint16, DEFLATE with predictor 2, nodata 0.
- `rasterio_bytes`, `write_geotiff`: one file through rasterio, any creation options.

DEFLATE. GDAL's GTiff driver leaves the strips to libtiff. A libtiff built with libdeflate (as in
the rasterio wheels) compresses each strip with one `libdeflate_zlib_compress` call at libdeflate
level 7 when no ZLEVEL is set (it maps zlib's default level to 7, "to get results as good as
zlib"); a libtiff without libdeflate uses zlib at its default level 6. The `deflate` package
(libdeflate bindings) at level 7 gives the same bytes as the GDAL of the rasterio 1.4.4 wheels on
the published reference map and on thousands of patches (tests/labels/test_clc.py). The writer tries
both on a probe when it is built; if neither reproduces this GDAL's bytes (another build, another
libdeflate), every reference map goes through rasterio: the same bytes, about ten times slower.
"""

from __future__ import annotations

import logging
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reben.io import write_bytes

LOG = logging.getLogger("reben.geotiff")

# The corner of every template, so that its tie point can be told from other values.
_SENTINEL_X, _SENTINEL_Y = 123456.25, 7654321.75

_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8}
_SHORT, _LONG = 3, 4
_STRIP_OFFSETS, _ROWS_PER_STRIP, _STRIP_BYTE_COUNTS = 273, 278, 279
_MODEL_TIEPOINT = 33922

REFERENCE_MAP_NODATA = 0
"""The nodata tag of a reference map (as in reBEN; no pixel takes it, 999 marks no CLC)."""
REFERENCE_MAP_OPTIONS = {"compress": "deflate", "predictor": 2}
"""The creation options of a reference map (as in reBEN)."""


# ------------------------------------------------------------------ through rasterio


def rasterio_bytes(array: np.ndarray, crs, left: float, top: float, resolution: float, nodata=None, **options) -> bytes:
    """The bytes rasterio writes for one single-band north-up GeoTIFF (any creation options)."""
    from affine import Affine
    from rasterio.io import MemoryFile

    height, width = array.shape
    with MemoryFile() as mem:
        with mem.open(
            driver="GTiff",
            width=width,
            height=height,
            count=1,
            dtype=array.dtype,
            crs=crs,
            nodata=nodata,
            transform=Affine(resolution, 0, left, 0, -resolution, top),
            **options,
        ) as dst:
            dst.write(array, 1)
        return mem.read()


def write_geotiff(
    path, array: np.ndarray, crs, left: float, top: float, resolution: float, nodata=None, **options
) -> None:
    """Write one single-band north-up GeoTIFF through rasterio (any creation options)."""
    Path(path).write_bytes(rasterio_bytes(array, crs, left, top, resolution, nodata, **options))


# ------------------------------------------------------------------ the template


@dataclass(frozen=True)
class _Entry:
    """One IFD entry: tag, type, count, and where its value is (in the entry when it fits)."""

    tag: int
    type: int
    count: int
    at: int

    @property
    def size(self) -> int:
        return _TYPE_SIZE[self.type] * self.count


def _ifd(data) -> tuple[int, list[_Entry]]:
    """The offset and the entries of the only IFD of a little-endian classic TIFF."""
    if data[:4] != b"II*\x00":
        raise ValueError("not a little-endian classic TIFF")
    ifd = struct.unpack_from("<I", data, 4)[0]
    entries = []
    for k in range(struct.unpack_from("<H", data, ifd)[0]):
        where = ifd + 2 + 12 * k
        tag, kind, count = struct.unpack_from("<HHI", data, where)
        entry = _Entry(tag, kind, count, where + 8)
        if entry.size > 4:
            entry = _Entry(tag, kind, count, struct.unpack_from("<I", data, where + 8)[0])
        entries.append(entry)
    if struct.unpack_from("<I", data, ifd + 2 + 12 * len(entries))[0] != 0:
        raise ValueError("more than one IFD")
    return ifd, entries


def _tiepoint_at(header) -> int:
    """Where the X of the tie point's model corner is in `header` (a template's header)."""
    tiepoint = next((e for e in _ifd(header)[1] if e.tag == _MODEL_TIEPOINT), None)
    if tiepoint is None or tiepoint.count != 6:
        raise RuntimeError("the template has no single GeoTIFF tie point")
    at = tiepoint.at + 24  # after the raster point (I, J, K)
    if struct.unpack_from("<dd", header, at) != (_SENTINEL_X, _SENTINEL_Y):
        raise RuntimeError("the template's tie point is not its corner")
    return at


class _Template:
    """One rasterio write of `probe` with its corner at the sentinel, taken apart: the header
    (every byte before the first strip), where the tie point and the strip table are in it, the
    rows per strip and the strips."""

    def __init__(self, probe: np.ndarray, crs, resolution: float, nodata=None, **options):
        self.data = rasterio_bytes(probe, crs, _SENTINEL_X, _SENTINEL_Y, resolution, nodata, **options)
        tags = {e.tag: e for e in _ifd(self.data)[1]}
        self.strip_offsets, self.strip_byte_counts = tags[_STRIP_OFFSETS], tags[_STRIP_BYTE_COUNTS]
        self.n_strips = self.strip_offsets.count
        if self.strip_byte_counts.count != self.n_strips:
            raise RuntimeError("the template has not as many strip sizes as strip offsets")
        starts, sizes = self._values(self.strip_offsets), self._values(self.strip_byte_counts)
        in_order = starts == [starts[0] + sum(sizes[:i]) for i in range(self.n_strips)]
        if not in_order or starts[-1] + sizes[-1] != len(self.data):
            raise RuntimeError("the template's strips are not stored in order at the end of the file")
        table_end = max(e.at + e.size for e in (self.strip_offsets, self.strip_byte_counts))
        if table_end > starts[0]:
            raise RuntimeError("the template's strip table is not in its header")
        rows = tags.get(_ROWS_PER_STRIP)
        self.rows_per_strip = self._values(rows)[0] if rows else probe.shape[0]
        self.header = bytes(self.data[: starts[0]])
        self.strips = [self.data[o : o + n] for o, n in zip(starts, sizes)]
        self.tiepoint_at = _tiepoint_at(self.header)

    def _values(self, entry: _Entry) -> list[int]:
        if entry.type not in (_SHORT, _LONG):
            raise RuntimeError(f"the template's tag {entry.tag} is not SHORT or LONG")
        code = "H" if entry.type == _SHORT else "I"
        return list(struct.unpack_from(f"<{entry.count}{code}", self.data, entry.at))


def _put_corner(header: bytearray, at: int, left: float, top: float) -> None:
    struct.pack_into("<dd", header, at, float(left), float(top))


# ------------------------------------------------------------------ uncompressed patches


class PatchTiffWriter:
    """Writes uncompressed single-band GeoTIFFs of one shape, dtype, CRS, resolution and nodata."""

    def __init__(self, shape: tuple[int, int], dtype, crs, resolution: float, nodata=None):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype).newbyteorder("<")
        self.crs, self.resolution, self.nodata = crs, resolution, nodata
        probe = np.arange(np.prod(self.shape), dtype=self.dtype).reshape(self.shape)
        template = _Template(probe, crs, resolution, nodata)
        # Strips in row order, uncompressed: the pixel rows are the tail of the file.
        if b"".join(template.strips) != probe.tobytes():
            raise RuntimeError("rasterio wrote the pixel strips in an unexpected form")
        self._header, self._tiepoint_at = template.header, template.tiepoint_at

    @property
    def header(self) -> bytes:
        """Every byte of a file before its pixels (the corner is the template's)."""
        return self._header

    def to_bytes(self, array: np.ndarray, left: float, top: float) -> bytes:
        if array.shape != self.shape:
            raise ValueError(f"patch of shape {array.shape}, writer made for {self.shape}")
        header = bytearray(self._header)
        _put_corner(header, self._tiepoint_at, left, top)
        return bytes(header) + np.ascontiguousarray(array, dtype=self.dtype).tobytes()

    def write(self, path, array: np.ndarray, left: float, top: float) -> None:
        write_bytes(path, self.to_bytes(array, left, top))


def long_strip_byte_counts(header: bytes) -> bytes:
    """The header of a little-endian classic TIFF with its StripByteCounts stored as LONG.

    GDAL stores them as SHORT where they fit; the published reBEN S1 patches (written by an older
    GDAL) store LONG. The out-of-line tag values keep their order and the strip offsets move by
    the header's growth. A header already in LONG comes back unchanged.
    """
    ifd, entries = _ifd(header)
    if not any(e.tag == _STRIP_BYTE_COUNTS and e.type == _SHORT for e in entries):
        return header
    # [tag, type, count, value bytes, where the value was out of line (None: in the entry)]
    rows = [
        [e.tag, e.type, e.count, bytes(header[e.at : e.at + e.size]), e.at if e.size > 4 else None] for e in entries
    ]
    for row in rows:
        if row[0] == _STRIP_BYTE_COUNTS:
            values = struct.unpack(f"<{row[2]}H", row[3])
            row[1], row[3] = _LONG, struct.pack(f"<{row[2]}I", *values)
    # Out-of-line values in their original order, word-aligned, after the IFD.
    end_of_ifd = ifd + 2 + 12 * len(rows) + 4
    position, placed = end_of_ifd, {}
    for row in sorted((r for r in rows if len(r[3]) > 4), key=lambda r: (r[4] is None, r[4] or 0)):
        placed[row[0]] = position
        position += len(row[3]) + len(row[3]) % 2
    growth = position - len(header)
    out = bytearray(header[: ifd + 2]) + bytearray(position - ifd - 2)
    for k, (tag, kind, count, data, _) in enumerate(rows):
        if tag == _STRIP_OFFSETS:
            code = "I" if kind == _LONG else "H"
            data = struct.pack(f"<{count}{code}", *(o + growth for o in struct.unpack(f"<{count}{code}", data)))
        if len(data) > 4:
            struct.pack_into("<HHII", out, ifd + 2 + 12 * k, tag, kind, count, placed[tag])
            out[placed[tag] : placed[tag] + len(data)] = data
        else:
            struct.pack_into("<HHI4s", out, ifd + 2 + 12 * k, tag, kind, count, data.ljust(4, b"\x00"))
    return bytes(out)


class S1PatchWriter(PatchTiffWriter):
    """Writes `px` x `px` float32 dB patches at `resolution` (10 m), as the published reBEN S1
    files are: uncompressed, strips of 17 rows (GDAL's choice for 120 px), no nodata tag,
    StripByteCounts as LONG (px = 120 for 1200 m patches)."""

    def __init__(self, crs, px: int, resolution: float = 10):
        super().__init__((px, px), "float32", crs, resolution, nodata=None)
        self._header = long_strip_byte_counts(self._header)
        self._tiepoint_at = _tiepoint_at(self._header)
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


# ------------------------------------------------------------------ DEFLATE reference maps


def _deflate_candidates():
    """(name, zlib-stream compressor) that libtiff may be using, in the order tried (see the
    module's docstring): libdeflate at level 7, then zlib at level 6."""
    try:
        import deflate
    except ImportError:
        yield "libdeflate level 7 (not tried: the deflate package is not installed)", None
    else:
        yield "libdeflate level 7 (deflate package)", lambda data: deflate.zlib_compress(data, 7)
    yield "zlib level 6", lambda data: zlib.compress(data, 6)


def _probe(shape, seed: int) -> np.ndarray:
    """A patch with the structure of a reference map: regions of codes with ragged edges."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(np.arange(100, 1000, dtype=np.uint16), size=48, replace=False)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    region = ((xx + 7 * np.sin(yy / 9.0)) // 31 + 4 * ((yy + 5 * np.cos(xx / 7.0)) // 29)).astype(int)
    return codes[region % codes.size]


class ReferenceMapWriter:
    """Writes reference maps (uint16, DEFLATE, predictor 2, nodata 0) byte-identical to what
    rasterio writes, without opening a GDAL dataset per file.

    Each file is the template's header with its corner, strip offsets and strip sizes filled in,
    followed by its strips, differenced (predictor 2) and compressed as this GDAL compresses
    them (see the module's docstring). With `fast=False`, or when no compressor here reproduces
    this GDAL's bytes, each file is written through rasterio instead (`fast` then is False).
    """

    def __init__(self, crs, shape, resolution: float = 10, fast: bool = True):
        self.crs, self.shape, self.resolution = crs, tuple(shape), resolution
        self._compress, self.compressor = None, None
        if fast:
            try:
                self._build()
            except Exception as e:  # any surprise in the layout: the slow path is still right
                LOG.warning("reference maps written through rasterio, one GDAL dataset per file (%s)", e)
                self._compress, self.compressor = None, None

    @property
    def fast(self) -> bool:
        """Whether files are put together here (True; `compressor` names what compresses their
        strips) or written through rasterio (False)."""
        return self._compress is not None

    def _through_rasterio(self, array: np.ndarray, left: float, top: float) -> bytes:
        return rasterio_bytes(
            array, self.crs, left, top, self.resolution, REFERENCE_MAP_NODATA, **REFERENCE_MAP_OPTIONS
        )

    def _build(self) -> None:
        probe = _probe(self.shape, seed=1)
        template = _Template(probe, self.crs, self.resolution, REFERENCE_MAP_NODATA, **REFERENCE_MAP_OPTIONS)
        offsets, sizes = template.strip_offsets, template.strip_byte_counts
        # Each file has its own strip sizes: they must have room in the header whatever they are.
        if offsets.type != _LONG or sizes.type != _LONG:
            raise RuntimeError("the template's strip offsets or sizes are not LONG")
        self._header, self._tiepoint_at = template.header, template.tiepoint_at
        self._offsets_at, self._counts_at = offsets.at, sizes.at
        self._n_strips, self.rows_per_strip = template.n_strips, template.rows_per_strip
        tried = []
        for name, compress in _deflate_candidates():
            tried.append(name)
            self._compress = compress
            if compress is not None and self._strips(probe) == template.strips:
                break
        else:
            self._compress = None
            raise RuntimeError(f"none of {'; '.join(tried)} reproduces GDAL's DEFLATE strips")
        check = _probe(self.shape, seed=2)
        if self.to_bytes(check, 500000.0, 5000040.0) != self._through_rasterio(check, 500000.0, 5000040.0):
            raise RuntimeError(f"{name} differs from rasterio on a check patch")
        self.compressor = name

    def _strips(self, array: np.ndarray) -> list:
        codes = np.asarray(array, dtype="<u2")
        diff = np.empty_like(codes)
        diff[:, 0] = codes[:, 0]
        np.subtract(codes[:, 1:], codes[:, :-1], out=diff[:, 1:])  # horizontal differencing, modulo 2**16
        r = self.rows_per_strip
        return [self._compress(diff[i : i + r].tobytes()) for i in range(0, codes.shape[0], r)]

    def to_bytes(self, array: np.ndarray, left: float, top: float) -> bytes:
        if array.shape != self.shape:
            raise ValueError(f"reference map of shape {array.shape}, writer made for {self.shape}")
        if self._compress is None:
            return self._through_rasterio(np.ascontiguousarray(array, dtype=np.uint16), left, top)
        strips = self._strips(array)
        header = bytearray(self._header)
        sizes = [len(s) for s in strips]
        offsets = np.cumsum([len(header)] + sizes[:-1]).tolist()
        struct.pack_into(f"<{self._n_strips}I", header, self._offsets_at, *offsets)
        struct.pack_into(f"<{self._n_strips}I", header, self._counts_at, *sizes)
        _put_corner(header, self._tiepoint_at, left, top)
        return b"".join([header, *strips])

    def write(self, path, array: np.ndarray, left: float, top: float) -> None:
        write_bytes(path, self.to_bytes(array, left, top))
