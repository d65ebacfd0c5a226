"""Synthetic Sentinel-2 L2A products in the real SAFE layout.

`write_l2a_product` writes `<name>.SAFE/` with MTD_MSIL2A.xml, manifest.safe,
DATASTRIP/<id>/QI_DATA, AUX_DATA, and GRANULE/L2A_<tile>_A<orbit>_<time>/ holding MTD_TL.xml,
QI_DATA, AUX_DATA and IMG_DATA/R10m|R20m|R60m/<tile>_<time>_<band>_<res>m.jp2: every spectral
band at its native resolution and SCL at 20 m, lossless JPEG2000, uint16 (SCL uint8).
Content: fields, forests, water and a town; cloud, cloud shadow, cirrus and snow where the
product asks for them (in the bands and in SCL); a nodata swath (0 everywhere) on the west edge.
"""

from __future__ import annotations

import logging
import os
import shutil
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import numpy as np

from reben.constants import QUALITY_INDICATORS, S2_BAND_RESOLUTION, S2_BANDS, SCL_RESOLUTION
from reben.names import parse_product_name
from reben.sentinel2.products import METADATA_BAND_IDS

from . import landscape as ls
from .scenario import SyntheticProduct

LOG = logging.getLogger("reben.synthetic")

JP2_OPTIONS = {"QUALITY": "100", "REVERSIBLE": "YES", "YCC": "NO"}
N1_L2A = "https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd"
N1_TILE = "https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-2A_Tile_Metadata.xsd"


def _quantile_threshold(noise: np.ndarray, share: float) -> float:
    sample = noise[::7, ::7]
    return float(np.quantile(sample, 1 - share)) if share > 0 else np.inf


def product_content(spec: SyntheticProduct) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Band arrays (digital numbers as stored, native resolutions) and SCL at 20 m."""
    rng = np.random.default_rng(spec.seed)
    size = spec.size_px
    cover, ids = ls.land_cover(rng, size)
    parcel_gain = (0.85 + 0.3 * rng.random(int(ids.max()) + 1)).astype(np.float32)[ids]
    del ids
    cloud_noise = ls.smooth_noise(rng, size, 180)
    cloud_thr = _quantile_threshold(cloud_noise, spec.cloud_fraction)
    cloud = cloud_noise > cloud_thr
    cirrus = (cloud_noise > cloud_thr - 0.04) & ~cloud
    shadow = np.zeros_like(cloud)
    shadow[30:, 45:] = cloud[:-30, :-45]
    shadow &= ~cloud
    snow_noise = ls.smooth_noise(rng, size, 260)
    snow = (snow_noise > _quantile_threshold(snow_noise, spec.snow_fraction)) & ~cloud
    del snow_noise
    # Nodata swath along the west edge, widening to the south (the edge of the orbit swath).
    rows = np.arange(size)[:, None]
    swath = np.arange(size)[None, :] < (0.05 + 0.12 * rows / size) * size

    offset = -spec.boa_add_offset if spec.boa_add_offset else 0
    bands = {}
    for b, band in enumerate(S2_BANDS):
        factor = S2_BAND_RESOLUTION[band] // 10
        dn = ls.SPECTRA[cover, b] * parcel_gain
        dn *= 1 + 0.03 * rng.standard_normal((size, size), dtype=np.float32)
        dn[shadow] *= 0.45
        dn[cirrus] = 0.6 * dn[cirrus] + 0.4 * ls.CLOUD[b]
        dn[cloud] = ls.CLOUD[b] * (0.95 + 0.1 * cloud_noise[cloud])
        dn[snow] = ls.SNOW[b]
        if factor > 1:
            dn = ls.block_mean(dn, factor)
        dn = np.clip(dn + offset, 1, 65535).astype(np.uint16)
        dn[ls.block_mode_sample(swath, factor)] = 0
        bands[band] = dn
    del parcel_gain

    f = SCL_RESOLUTION // 10
    c = ls.block_mode_sample(cover, f)
    scl = np.select([c == ls.WATER, np.isin(c, (ls.BARE, ls.URBAN))], [6, 5], 4).astype(np.uint8)
    strong = ls.block_mode_sample(cloud_noise > cloud_thr + 0.05, f)
    for mask, value in ((shadow, 3), (cirrus, 10), (cloud, 8), (snow, 11), (swath, 0)):
        scl[ls.block_mode_sample(mask, f)] = value
    scl[strong & (scl == 8)] = 9
    return bands, scl


def _write_jp2(path: Path, array: np.ndarray, spec: SyntheticProduct, resolution: int) -> None:
    import rasterio
    from affine import Affine

    profile = dict(
        driver="JP2OpenJPEG",
        width=array.shape[1],
        height=array.shape[0],
        count=1,
        dtype=array.dtype,
        crs=f"EPSG:{spec.epsg}",
        transform=Affine(resolution, 0, spec.ulx, 0, -resolution, spec.uly),
        **JP2_OPTIONS,
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
    aux = path.with_name(path.name + ".aux.xml")
    aux.unlink(missing_ok=True)


def _sub(parent, tag, text=None, **attrib):
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrib.items()})
    if text is not None:
        el.text = str(text)
    return el


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.024Z")


def product_info(
    general: ET.Element, spec: SyntheticProduct, level: str, granule_attrib: dict, image_files: list[str]
) -> None:
    """The Product_Info block of MTD_MSIL1C.xml / MTD_MSIL2A.xml (level "1C" or "2A")."""
    p = parse_product_name(spec.name)
    t = p.sensing_time
    info = _sub(general, "Product_Info")
    _sub(info, "PRODUCT_START_TIME", _iso(t))
    _sub(info, "PRODUCT_STOP_TIME", _iso(t))
    _sub(info, "PRODUCT_URI", spec.safe_name)
    _sub(info, "PROCESSING_LEVEL", f"Level-{level}")
    _sub(info, "PRODUCT_TYPE", f"S2MSI{level}")
    _sub(info, "PROCESSING_BASELINE", spec.baseline)
    _sub(info, "GENERATION_TIME", datetime.strptime(p.processed, "%Y%m%dT%H%M%S").strftime("%Y-%m-%dT%H:%M:%S.000000Z"))
    datatake = _sub(
        info, "Datatake", datatakeIdentifier=f"G{p.mission}_{p.sensing}_{spec.absolute_orbit:06d}_N{spec.baseline}"
    )
    _sub(datatake, "SPACECRAFT_NAME", f"Sentinel-2{p.mission[-1]}")
    _sub(datatake, "DATATAKE_TYPE", "INS-NOBS")
    _sub(datatake, "DATATAKE_SENSING_START", _iso(t))
    _sub(datatake, "SENSING_ORBIT_NUMBER", int(p.orbit[1:]))
    _sub(datatake, "SENSING_ORBIT_DIRECTION", "DESCENDING")
    options = _sub(info, "Query_Options", completeSingleTile="true")
    _sub(options, "PRODUCT_FORMAT", "SAFE_COMPACT")
    granule = _sub(
        _sub(_sub(info, "Product_Organisation"), "Granule_List"), "Granule", **granule_attrib, imageFormat="JPEG2000"
    )
    for f in image_files:
        _sub(granule, "IMAGE_FILE", f)


def special_values(chars: ET.Element) -> None:
    for text, index in (("NODATA", 0), ("SATURATED", 65535)):
        sv = _sub(chars, "Special_Values")
        _sub(sv, "SPECIAL_VALUE_TEXT", text)
        _sub(sv, "SPECIAL_VALUE_INDEX", index)


def quality_indicators(root: ET.Element, spec: SyntheticProduct) -> None:
    """Cloud coverage and the quality checks (PASSED unless the spec says otherwise)."""
    qi = _sub(root, "n1:Quality_Indicators_Info")
    _sub(qi, "Cloud_Coverage_Assessment", f"{100 * spec.cloud_fraction:.6f}")
    inspections = _sub(_sub(qi, "Quality_Control_Checks"), "Quality_Inspections")
    for check in ("FORMAT_CORRECTNESS",) + QUALITY_INDICATORS:
        _sub(inspections, "quality_check", spec.quality.get(check, "PASSED"), checkType=check)


def xml_bytes(root: ET.Element, indent: str = "    ") -> bytes:
    ET.indent(root, space=indent)
    return b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + ET.tostring(root)


def product_metadata_xml(spec: SyntheticProduct, granule: str, image_files: list[str]) -> bytes:
    """MTD_MSIL2A.xml with the fields and layout of a real L2A product."""
    root = ET.Element(
        "n1:Level-2A_User_Product", {"xmlns:n1": N1_L2A, "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance"}
    )
    general = _sub(root, "n1:General_Info")
    product_info(general, spec, "2A", {"granuleIdentifier": granule}, image_files)
    chars = _sub(general, "Product_Image_Characteristics")
    special_values(chars)
    quant = _sub(chars, "QUANTIFICATION_VALUES_LIST")
    _sub(quant, "BOA_QUANTIFICATION_VALUE", "10000", unit="none")
    _sub(quant, "AOT_QUANTIFICATION_VALUE", "1000.0", unit="none")
    _sub(quant, "WVP_QUANTIFICATION_VALUE", "1000.0", unit="cm")
    if spec.boa_add_offset is not None:
        offsets = _sub(chars, "BOA_ADD_OFFSET_VALUES_LIST")
        for band_id, _ in enumerate(METADATA_BAND_IDS):
            _sub(offsets, "BOA_ADD_OFFSET", spec.boa_add_offset, band_id=band_id)
    quality_indicators(root, spec)
    return xml_bytes(root)


def tile_metadata_xml(spec: SyntheticProduct, tile_id: str) -> bytes:
    """MTD_TL.xml with the tile geocoding (EPSG code, size and corner at 10, 20 and 60 m)."""
    p = parse_product_name(spec.name)
    root = ET.Element(
        "n1:Level-2A_Tile_ID", {"xmlns:n1": N1_TILE, "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance"}
    )
    general = _sub(root, "n1:General_Info")
    _sub(general, "TILE_ID", tile_id, metadataLevel="Brief")
    _sub(general, "SENSING_TIME", _iso(p.sensing_time), metadataLevel="Standard")
    geocoding = _sub(_sub(root, "n1:Geometric_Info"), "Tile_Geocoding", metadataLevel="Brief")
    zone = spec.epsg % 100
    _sub(geocoding, "HORIZONTAL_CS_NAME", f"WGS84 / UTM zone {zone:02d}N")
    _sub(geocoding, "HORIZONTAL_CS_CODE", f"EPSG:{spec.epsg}")
    for res in (10, 20, 60):
        size = _sub(geocoding, "Size", resolution=res)
        _sub(size, "NROWS", spec.size_px * 10 // res)
        _sub(size, "NCOLS", spec.size_px * 10 // res)
    for res in (10, 20, 60):
        pos = _sub(geocoding, "Geoposition", resolution=res)
        _sub(pos, "ULX", f"{spec.ulx:.0f}")
        _sub(pos, "ULY", f"{spec.uly:.0f}")
        _sub(pos, "XDIM", res)
        _sub(pos, "YDIM", -res)
    return xml_bytes(root, "  ")


def manifest_xml(safe: Path, members: list[str]) -> str:
    """manifest.safe as real products have it: a dataObject per file with its size and MD5
    (baselines before 04.00; later ones use SHA3-256), so that corruption is detectable."""
    import hashlib

    objects = "".join(
        f'    <dataObject ID="IMG_DATA_{Path(m).stem}">\n'
        f'      <byteStream mimeType="application/octet-stream" size="{(safe / m).stat().st_size}">\n'
        f'        <fileLocation locatorType="URL" href="./{m}"/>\n'
        f'        <checksum checksumName="MD5">{hashlib.md5((safe / m).read_bytes()).hexdigest()}</checksum>\n'
        f"      </byteStream>\n    </dataObject>\n"
        for m in members
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" '
        'version="esa/safe/sentinel/1.1/sentinel-2/msi/archive_l2a_user_product">\n'
        '  <metadataSection><metadataObject ID="S2_Level-2A_Product_Metadata"/></metadataSection>\n'
        f"  <dataObjectSection>\n{objects}  </dataObjectSection>\n</xfdu:XFDU>\n"
    )


def rewrite_manifest(safe) -> None:
    """Update manifest.safe to the band files as they are now (for tests that change a band on
    purpose, so that the manifest check lets it through to the check under test)."""
    safe = Path(safe)
    members = sorted(str(p.relative_to(safe)) for p in safe.glob("GRANULE/*/IMG_DATA/R*m/*.jp2"))
    (safe / "manifest.safe").write_text(manifest_xml(safe, members))


def write_l2a_product(spec: SyntheticProduct, out_path) -> Path:
    """Write the product as `out_path` (a `<name>.SAFE` folder), atomically."""
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    p = parse_product_name(spec.name)
    granule = f"L2A_{p.tile}_A{spec.absolute_orbit:06d}_{p.sensing}"
    img = tmp / "GRANULE" / granule / "IMG_DATA"
    for folder in (
        img / "R10m",
        img / "R20m",
        img / "R60m",
        tmp / "GRANULE" / granule / "QI_DATA",
        tmp / "GRANULE" / granule / "AUX_DATA",
        tmp / "AUX_DATA",
        tmp / "HTML",
        tmp / "rep_info",
        tmp / "DATASTRIP" / f"DS_SYNT_{p.processed}_S{p.sensing}" / "QI_DATA",
    ):
        folder.mkdir(parents=True, exist_ok=True)

    bands, scl = product_content(spec)
    image_files = []
    for band in S2_BANDS + ("SCL",):
        res = S2_BAND_RESOLUTION.get(band, SCL_RESOLUTION)
        rel = f"GRANULE/{granule}/IMG_DATA/R{res}m/{p.tile}_{p.sensing}_{band}_{res}m"
        image_files.append(rel)
        _write_jp2(tmp / f"{rel}.jp2", scl if band == "SCL" else bands.pop(band), spec, res)
    tile_id = f"{p.mission}_OPER_MSI_L2A_TL_SYNT_{p.processed}_A{spec.absolute_orbit:06d}_{p.tile}_N{spec.baseline}"
    (tmp / "MTD_MSIL2A.xml").write_bytes(product_metadata_xml(spec, tile_id, image_files))
    (tmp / "GRANULE" / granule / "MTD_TL.xml").write_bytes(tile_metadata_xml(spec, tile_id))
    (tmp / "manifest.safe").write_text(manifest_xml(tmp, [f"{rel}.jp2" for rel in image_files]))
    if out_path.exists():
        shutil.rmtree(out_path)
    os.replace(tmp, out_path)
    LOG.info("%s: written (%d x %d px at 10 m)", spec.name, spec.size_px, spec.size_px)
    return out_path
