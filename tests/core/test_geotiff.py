"""The GeoTIFF encoders' shared parts: the template, the tie point, the DEFLATE compressor and the
fallback through rasterio. The formats themselves are tested against the real reBEN files in
test_s2_patches.py (S2), test_s1_patches.py (S1) and test_clc.py (reference maps)."""

import logging
import struct
import zlib

import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile

from reben import geotiff
from reben.geotiff import PatchTiffWriter, ReferenceMapWriter, S1PatchWriter, rasterio_bytes

CORNERS = [(300000.0, 5400000.0), (499980.0, 5900040.0), (600000.5, 5790000.25), (100.0, 200.0)]


def read_back(data: bytes):
    with MemoryFile(data) as mem, mem.open() as src:
        profile = {**src.profile, **src.tags(ns="IMAGE_STRUCTURE")}
        return src.read(1), src.transform, src.crs, src.nodata, profile


@pytest.mark.parametrize("dtype, nodata, shape", [("uint16", 0, (120, 120)), ("float32", None, (20, 20))])
def test_uncompressed_writer_equals_rasterio_at_any_corner(dtype, nodata, shape):
    rng = np.random.default_rng(3)
    data = rng.integers(1, 20000, shape).astype(dtype)
    writer = PatchTiffWriter(shape, dtype, "EPSG:32633", 10, nodata=nodata)
    for left, top in CORNERS:
        assert writer.to_bytes(data, left, top) == rasterio_bytes(data, "EPSG:32633", left, top, 10, nodata)


def test_a_file_is_the_header_with_its_corner_then_the_pixels():
    data = np.arange(60 * 60, dtype=np.uint16).reshape(60, 60)
    writer = PatchTiffWriter((60, 60), "uint16", "EPSG:32629", 20, nodata=0)
    written = writer.to_bytes(data, 499980.0, 5900040.0)
    header = writer.header
    assert written[len(header) :] == data.tobytes()
    # Only the 16 bytes of the tie point's corner differ from the header, and they hold the corner.
    changed = [i for i in range(len(header)) if written[i] != header[i]]
    assert changed and changed[-1] - changed[0] < 16
    corner = written.find(struct.pack("<dd", 499980.0, 5900040.0))
    assert corner <= changed[0] and changed[-1] < corner + 16
    assert writer.header == header  # writing a file leaves the writer's header alone


def test_a_patch_of_another_shape_is_refused():
    with pytest.raises(ValueError, match="shape"):
        PatchTiffWriter((60, 60), "uint16", "EPSG:32633", 20).to_bytes(np.zeros((20, 20), np.uint16), 0, 0)
    with pytest.raises(ValueError, match="shape"):
        ReferenceMapWriter("EPSG:32633", (120, 120)).to_bytes(np.zeros((60, 60), np.uint16), 0, 0)


def test_s1_file_reads_back_as_written():
    writer = S1PatchWriter("EPSG:32632", 120)
    assert geotiff.long_strip_byte_counts(writer.header) == writer.header  # no SHORT StripByteCounts left
    data = np.linspace(-30, 5, 120 * 120, dtype=np.float32).reshape(120, 120)
    array, transform, crs, nodata, profile = read_back(writer.to_bytes(data, 412345.0, 5123456.0))
    np.testing.assert_array_equal(array, data)
    assert (transform.c, transform.f, crs.to_epsg(), nodata) == (412345.0, 5123456.0, 32632, None)
    assert profile["blockysize"] == 17 and profile.get("compress") is None


def test_reference_maps_use_the_deflate_package_as_gdal_does():
    writer = ReferenceMapWriter("EPSG:32633", (120, 120))
    # The pinned deflate package reproduces the pinned rasterio's GDAL (not the zlib fallback).
    assert writer.compressor == "libdeflate level 7 (deflate package)"


def test_without_a_matching_compressor_reference_maps_go_through_rasterio(monkeypatch, caplog):
    # zlib at level 1 gives other bytes than GDAL's libdeflate at level 7: the writer must notice.
    monkeypatch.setattr(geotiff, "_deflate_candidates", lambda: iter([("zlib level 1", lambda d: zlib.compress(d, 1))]))
    with caplog.at_level(logging.WARNING, logger="reben.geotiff"):
        writer = ReferenceMapWriter("EPSG:32633", (120, 120))
    assert not writer.fast and writer.compressor is None
    assert "none of zlib level 1 reproduces GDAL's DEFLATE strips" in caplog.text
    codes = np.full((120, 120), 211, dtype=np.uint16)
    codes[:40, 70:] = 312
    for left, top in CORNERS:
        expected = rasterio_bytes(codes, "EPSG:32633", left, top, 10, 0, compress="deflate", predictor=2)
        assert writer.to_bytes(codes, left, top) == expected


def test_reference_map_reads_back_as_written():
    rng = np.random.default_rng(1)
    codes = np.array([211, 311, 999], dtype=np.uint16)[rng.integers(0, 3, (120, 120))]
    array, transform, crs, nodata, profile = read_back(
        ReferenceMapWriter("EPSG:32630", (120, 120)).to_bytes(codes, 455000.0, 4097000.0)
    )
    np.testing.assert_array_equal(array, codes)
    assert (transform.c, transform.f, crs.to_epsg(), nodata) == (455000.0, 4097000.0, 32630, 0)
    assert profile["compress"] == "deflate" and profile["PREDICTOR"] == "2"


def test_not_a_little_endian_tiff_is_refused():
    with pytest.raises(ValueError, match="little-endian classic TIFF"):
        geotiff.long_strip_byte_counts(b"MM\x00*" + bytes(16))


def test_write_geotiff_writes_what_rasterio_bytes_gives(tmp_path):
    data = np.arange(36, dtype=np.uint16).reshape(6, 6)
    geotiff.write_geotiff(tmp_path / "a.tif", data, "EPSG:32633", 1000.0, 2000.0, 10, 0, compress="deflate")
    assert (tmp_path / "a.tif").read_bytes() == rasterio_bytes(
        data, "EPSG:32633", 1000.0, 2000.0, 10, 0, compress="deflate"
    )
    with rasterio.open(tmp_path / "a.tif") as src:
        assert src.compression.value == "DEFLATE"
