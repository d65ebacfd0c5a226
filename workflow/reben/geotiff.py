"""Writing many small north-up GeoTIFFs fast, byte-identical to what rasterio writes.

A tile yields about 100,000 patch files. Opening each through GDAL costs more than the
decode of the whole product, so `PatchTiffWriter` asks rasterio once for a template file of
the patch size, dtype and CRS, and then writes each patch as that template's header with the
patch's upper-left corner put into the GeoTIFF tie point, followed by the pixel rows. The
result is byte-for-byte the file rasterio writes with the same profile (this is tested, and
the template is checked against a real rasterio write when it is built); the published reBEN
patch files are themselves byte-identical to a default rasterio write.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

# Sentinel corner put into the template so that the tie point can be found in its bytes.
_SENTINEL_X, _SENTINEL_Y = 123456.25, 7654321.75


def _rasterio_bytes(array: np.ndarray, crs, left: float, top: float, resolution: float, nodata, **options) -> bytes:
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
    Path(path).write_bytes(_rasterio_bytes(array, crs, left, top, resolution, nodata, **options))


class PatchTiffWriter:
    """Writes uncompressed single-band GeoTIFFs of one shape, dtype, CRS and resolution."""

    def __init__(self, shape: tuple[int, int], dtype, crs, resolution: float, nodata=None):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.crs, self.resolution, self.nodata = crs, resolution, nodata
        probe = np.arange(np.prod(self.shape), dtype=self.dtype).reshape(self.shape)
        template = _rasterio_bytes(probe, crs, _SENTINEL_X, _SENTINEL_Y, resolution, nodata)
        data = probe.astype(self.dtype.newbyteorder("<"), copy=False).tobytes()
        # The pixel strips must be the tail of the file, in row order, for the fast path.
        if not template.endswith(data):
            raise RuntimeError("rasterio wrote the pixel strips in an unexpected place")
        self._header = bytearray(template[: len(template) - len(data)])
        marker = struct.pack("<dd", _SENTINEL_X, _SENTINEL_Y)
        self._tiepoint_at = self._header.find(marker)
        if self._tiepoint_at < 0 or self._header.find(marker, self._tiepoint_at + 1) >= 0:
            raise RuntimeError("could not locate the GeoTIFF tie point in the template")

    def to_bytes(self, array: np.ndarray, left: float, top: float) -> bytes:
        if array.shape != self.shape:
            raise ValueError(f"patch of shape {array.shape}, writer made for {self.shape}")
        header = self._header
        struct.pack_into("<dd", header, self._tiepoint_at, float(left), float(top))
        return bytes(header) + np.ascontiguousarray(array, dtype=self.dtype.newbyteorder("<")).tobytes()

    def write(self, path, array: np.ndarray, left: float, top: float) -> None:
        with open(path, "wb") as f:
            f.write(self.to_bytes(array, left, top))
