"""Synthetic Sentinel-2 L1C products in the real SAFE layout, zipped as the Copernicus Data Space
delivers them.

`write_l1c_safe` writes `<name>.SAFE/` with MTD_MSIL1C.xml, manifest.safe, INSPIRE.xml,
DATASTRIP/DS_<centre>_<time>_S<time>/MTD_DS.xml (+ QI_DATA/), AUX_DATA/, HTML/, rep_info/, and
GRANULE/L1C_<tile>_A<orbit>_<time>/ with MTD_TL.xml, QI_DATA/, AUX_DATA/ and
IMG_DATA/<tile>_<time>_<band>.jp2 for the 13 bands B01..B12, B8A at native resolution (uint16
top-of-atmosphere digital numbers, lossless JPEG2000). `write_l1c_zip` zips it like CDSE does:
one top-level `<name>.SAFE/` folder, file entries only, so that the empty folders
(GRANULE/*/AUX_DATA, DATASTRIP/*/QI_DATA, ...) are missing, which sen2cor then trips over.

The scene is the same as that of the matching synthetic L2A product (reben.synthetic.sentinel2
content), seen through a simple atmosphere: TOA = TRANSMITTANCE * surface + PATH_RADIANCE, and
a cirrus band B10 that is bright over cloud and cirrus. The sen2cor test double inverts this.
"""

from __future__ import annotations

import logging
import os
import shutil
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from reben.constants import S2_BAND_RESOLUTION, S2_BANDS
from reben.names import parse_product_name
from reben.sentinel2.products import METADATA_BAND_IDS

from . import landscape as ls
from .scenario import DEMO_PRODUCTS, SyntheticProduct
from .sentinel2 import (
    _iso,
    _sub,
    _write_jp2,
    product_content,
    product_info,
    quality_indicators,
    special_values,
    tile_metadata_xml,
    xml_bytes,
)

LOG = logging.getLogger("reben.synthetic")

N1_L1C = "https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-1C.xsd"

L1C_BANDS = METADATA_BAND_IDS
"""The 13 bands of an L1C product, B10 (cirrus, 60 m) included, in metadata band_id order."""
L1C_BAND_RESOLUTION = {**S2_BAND_RESOLUTION, "B10": 60}

TRANSMITTANCE = 0.92
PATH_RADIANCE = dict(zip(S2_BANDS, (700, 550, 380, 250, 220, 180, 160, 140, 130, 110, 40, 20)))
"""The synthetic atmosphere: additive path radiance per band (digital numbers), strongest in blue."""
B10_CLEAR, B10_CIRRUS, B10_CLOUD = 15, 900, 2500

L1C_DEMO_PRODUCTS = tuple(
    replace(l2a, name=name, baseline=baseline, boa_add_offset=None)
    for l2a, name, baseline in zip(
        DEMO_PRODUCTS,
        (
            "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608",
            "S2B_MSIL1C_20171221T100409_N0206_R122_T33UVP_20171221T120510",
            "S2A_MSIL1C_20180525T100031_N0206_R122_T33UUP_20180525T120312",
        ),
        ("02.05", "02.06", "02.06"),
    )
)
"""The demo's L1C products: the scenes of the three demo L2A products (same windows, seeds,
clouds, snow and failed SENSOR check), as L1C products of the baselines reBEN started from.
With the default l2a_baseline N9999 the first has the tile key of the first demo L2A product."""


def demo_l1c_product(name: str) -> SyntheticProduct:
    """The demo L1C product of that name (with or without .SAFE / .zip)."""
    name = name.removesuffix(".zip").removesuffix(".SAFE")
    for product in L1C_DEMO_PRODUCTS:
        if product.name == name:
            return product
    raise KeyError(f"{name} is not a demo L1C product")


def l1c_content(spec: SyntheticProduct) -> dict[str, np.ndarray]:
    """The 13 L1C bands (uint16 TOA digital numbers at native resolution, 0 = nodata)."""
    surface, scl = product_content(replace(spec, boa_add_offset=None))
    bands = {}
    for band, dn in surface.items():
        toa = dn.astype(np.float32) * TRANSMITTANCE + PATH_RADIANCE[band]
        bands[band] = np.where(dn == 0, 0, np.clip(toa, 1, 65535)).astype(np.uint16)
    scl60 = ls.block_mode_sample(scl, 60 // 20)
    b10 = np.select([scl60 == 0, np.isin(scl60, (8, 9)), scl60 == 10], [0, B10_CLOUD, B10_CIRRUS], B10_CLEAR).astype(
        np.uint16
    )
    bands["B10"] = b10
    return {band: bands[band] for band in L1C_BANDS}


def _names(spec: SyntheticProduct) -> dict[str, str]:
    p = parse_product_name(spec.name)
    baseline = f"N{spec.baseline}"
    return {
        "granule": f"L1C_{p.tile}_A{spec.absolute_orbit:06d}_{p.sensing}",
        "datastrip": f"DS_SYNT_{p.processed}_S{p.sensing}",
        "granule_id": f"{p.mission}_OPER_MSI_L1C_TL_SYNT_{p.processed}_A{spec.absolute_orbit:06d}_{p.tile}_{baseline}",
        "datastrip_id": f"{p.mission}_OPER_MSI_L1C_DS_SYNT_{p.processed}_S{p.sensing}_{baseline}",
    }


def l1c_metadata_xml(spec: SyntheticProduct, image_files: list[str]) -> bytes:
    """MTD_MSIL1C.xml with the fields and layout of a real L1C product."""
    names = _names(spec)
    root = ET.Element(
        "n1:Level-1C_User_Product", {"xmlns:n1": N1_L1C, "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance"}
    )
    general = _sub(root, "n1:General_Info")
    product_info(
        general,
        spec,
        "1C",
        {"datastripIdentifier": names["datastrip_id"], "granuleIdentifier": names["granule_id"]},
        image_files,
    )
    chars = _sub(general, "Product_Image_Characteristics")
    special_values(chars)
    _sub(chars, "QUANTIFICATION_VALUE", "10000", unit="none")
    quality_indicators(root, spec)
    return xml_bytes(root)


def l1c_tile_metadata_xml(spec: SyntheticProduct) -> bytes:
    """MTD_TL.xml of the L1C granule: the same tile geocoding as the L2A one, L1C root element."""
    xml = tile_metadata_xml(spec, _names(spec)["granule_id"])
    return xml.replace(b"Level-2A_Tile_ID", b"Level-1C_Tile_ID").replace(
        b"S2_PDI_Level-2A_Tile_Metadata", b"S2_PDI_Level-1C_Tile_Metadata"
    )


def write_l1c_safe(spec: SyntheticProduct, out_path) -> Path:
    """Write the product as the `<name>.SAFE` folder `out_path` (all folders, empty ones too)."""
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    p = parse_product_name(spec.name)
    names = _names(spec)
    granule = tmp / "GRANULE" / names["granule"]
    datastrip = tmp / "DATASTRIP" / names["datastrip"]
    for folder in (
        granule / "IMG_DATA",
        granule / "QI_DATA",
        granule / "AUX_DATA",
        datastrip / "QI_DATA",
        tmp / "AUX_DATA",
        tmp / "HTML",
        tmp / "rep_info",
    ):
        folder.mkdir(parents=True, exist_ok=True)
    image_files = []
    for band, array in l1c_content(spec).items():
        rel = f"GRANULE/{names['granule']}/IMG_DATA/{p.tile}_{p.sensing}_{band}"
        image_files.append(rel)
        _write_jp2(tmp / f"{rel}.jp2", array, spec, L1C_BAND_RESOLUTION[band])
    (tmp / "MTD_MSIL1C.xml").write_bytes(l1c_metadata_xml(spec, image_files))
    (granule / "MTD_TL.xml").write_bytes(l1c_tile_metadata_xml(spec))
    (datastrip / "MTD_DS.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<n1:Level-1C_DataStrip_ID '
        'xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-1C_Datastrip_Metadata.xsd">\n'
        f"  <n1:General_Info><Datastrip_Time_Info><DATASTRIP_SENSING_START>{_iso(p.sensing_time)}"
        "</DATASTRIP_SENSING_START></Datastrip_Time_Info></n1:General_Info>\n</n1:Level-1C_DataStrip_ID>\n"
    )
    (tmp / "manifest.safe").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" '
        'version="esa/safe/sentinel/1.1/sentinel-2/msi/archive_l1c_user_product">\n'
        '  <metadataSection><metadataObject ID="S2_Level-1C_Product_Metadata"/></metadataSection>\n'
        "</xfdu:XFDU>\n"
    )
    (tmp / "INSPIRE.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<gmd:MD_Metadata xmlns:gmd="http://www.isotc211.org/2005/gmd"/>\n'
    )
    if out_path.exists():
        shutil.rmtree(out_path)
    os.replace(tmp, out_path)
    LOG.info("%s: L1C written (%d x %d px at 10 m)", spec.name, spec.size_px, spec.size_px)
    return out_path


def zip_like_cdse(safe: Path, out_zip) -> Path:
    """Zip a SAFE folder as CDSE delivers it: `<name>.SAFE/...` file entries only, so empty
    folders are not in the zip. JPEG2000 files are stored, metadata deflated. Atomic."""
    safe, out_zip = Path(safe), Path(out_zip)
    tmp = out_zip.with_name(f".{out_zip.name}.tmp{os.getpid()}")
    try:
        with zipfile.ZipFile(tmp, "w") as z:
            for path in sorted(safe.rglob("*")):
                if path.is_file():
                    compress = zipfile.ZIP_STORED if path.suffix == ".jp2" else zipfile.ZIP_DEFLATED
                    z.write(path, f"{safe.name}/{path.relative_to(safe).as_posix()}", compress_type=compress)
        os.replace(tmp, out_zip)
    finally:
        tmp.unlink(missing_ok=True)
    return out_zip


def write_l1c_zip(spec: SyntheticProduct, out_zip) -> Path:
    """Write the product as `out_zip` (`<name>.zip` holding `<name>.SAFE/`), as CDSE delivers it."""
    out_zip = Path(out_zip)
    work = out_zip.with_name(f".{out_zip.name}.work{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        safe = write_l1c_safe(spec, work / spec.safe_name)
        return zip_like_cdse(safe, out_zip)
    finally:
        shutil.rmtree(work, ignore_errors=True)
