"""TEST DOUBLE of sen2cor's L2A_Process (run through tests/doubles/L2A_Process).

It is not an atmospheric correction. It accepts the real L2A_Process command line (input
product folder, --output_dir, --resolution, --processing_baseline and the other options, which
it ignores), behaves like sen2cor where the workflow depends on it, and turns a synthetic L1C
product (reben.synthetic.l1c) into a synthetic L2A product with the real layout and names:

- fails (exit 1) when GRANULE/*/AUX_DATA or DATASTRIP/*/QI_DATA are missing, as sen2cor does
  on L1C zips from CDSE that were not repaired, and when the output product exists;
- names its product `<mission>_MSIL2A_<sensing>_N<baseline>_<orbit>_<tile>_<now>.SAFE`
  (baseline 99.99 unless --processing_baseline), granule `L2A_<tile>_A<orbit>_<sensing>`;
- writes the resolutions sen2cor writes: all by default, 10 and 20 m for --resolution 10,
  only 20 or 60 m for --resolution 20 or 60; BOA_ADD_OFFSET -1000 as sen2cor 2.11 does;
- inverts the synthetic atmosphere of reben.synthetic.l1c and derives SCL by thresholds;
- carries the L1C quality checks over into MTD_MSIL2A.xml.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "workflow"))

import numpy as np  # noqa: E402
import rasterio  # noqa: E402

from reben.constants import PATCH_SIZE_M, S2_BAND_RESOLUTION, S2_BANDS, SCL_RESOLUTION  # noqa: E402
from reben.names import parse_product_name
from reben.sentinel2.products import ProductFiles, find_tile_metadata, read_geocoding, read_product_metadata  # noqa: E402
from reben.synthetic import landscape as ls  # noqa: E402
from reben.synthetic.l1c import B10_CIRRUS, PATH_RADIANCE, TRANSMITTANCE  # noqa: E402
from reben.synthetic.scenario import SyntheticProduct  # noqa: E402
from reben.synthetic.sentinel2 import _write_jp2, product_metadata_xml, tile_metadata_xml  # noqa: E402

VERSION = "02.11.00"
BOA_ADD_OFFSET = -1000
WRITTEN_RESOLUTIONS = {None: (10, 20, 60), 10: (10, 20), 20: (20,), 60: (60,)}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="L2A_Process", description="Sentinel-2 Level 2A Processor (Sen2Cor): TEST DOUBLE")
    p.add_argument("input_dir", help="the L1C product folder (<name>.SAFE)")
    p.add_argument("--mode", choices=["generate_datastrip", "process_tile"])
    p.add_argument("--resolution", type=int, choices=[10, 20, 60])
    for option in (
        "--datastrip",
        "--tile",
        "--output_dir",
        "--work_dir",
        "--img_database_dir",
        "--res_database_dir",
        "--processing_centre",
        "--archiving_centre",
        "--processing_baseline",
        "--GIP_L2A",
        "--GIP_L2A_SC",
        "--GIP_L2A_AC",
        "--GIP_L2A_PB",
    ):
        p.add_argument(option)
    for flag in ("--raw", "--tif", "--sc_only", "--cr_only", "--debug"):
        p.add_argument(flag, action="store_true")
    return p.parse_args(argv)


def fail(message: str) -> None:
    print(f"ERROR: {message}", flush=True)
    sys.exit(1)


def read_band(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def surface_reflectance(toa: np.ndarray, band: str) -> np.ndarray:
    """The inverse of the synthetic atmosphere, as stored L2A digital numbers (nodata stays 0)."""
    sr = (toa.astype(np.float32) - PATH_RADIANCE[band]) / TRANSMITTANCE
    return np.where(toa == 0, 0, np.clip(sr - BOA_ADD_OFFSET, 1, 65535)).astype(np.uint16)


def scene_classification(sr: dict[str, np.ndarray], b10: np.ndarray) -> np.ndarray:
    """SCL at 20 m by thresholds on surface reflectance (offset removed) and the cirrus band."""

    def at20(band):
        a = sr[band].astype(np.float32) + BOA_ADD_OFFSET
        return ls.block_mode_sample(a, 2) if S2_BAND_RESOLUTION[band] == 10 else a

    b02, b03, b04, b8a, b11 = (at20(b) for b in ("B02", "B03", "B04", "B8A", "B11"))
    cirrus = np.repeat(np.repeat(b10, 3, axis=0), 3, axis=1)[: b8a.shape[0], : b8a.shape[1]] >= B10_CIRRUS
    ndvi = (b8a - b04) / np.maximum(b8a + b04, 1)
    water = b8a < 500
    cloud = (b02 > 5000) & (b11 > 2500)
    conditions = [
        sr["B8A"] == 0,
        cloud & (b02 > 6900),
        cloud,
        (b03 > 5000) & (b11 < 1500),
        cirrus,
        water,
        (b02 < 220) & (b8a < 2200),
        ndvi > 0.4,
    ]
    return np.select(conditions, [0, 9, 8, 11, 10, 6, 3, 4], 5).astype(np.uint8)


def main(argv=None) -> None:
    args = parse_args(argv)
    print(f"Sentinel-2 Level 2A Processor (Sen2Cor), TEST DOUBLE of version {VERSION}", flush=True)
    l1c = Path(args.input_dir.rstrip("/"))
    if not (l1c / "MTD_MSIL1C.xml").is_file():
        fail(f"{l1c}: no MTD_MSIL1C.xml, not an L1C product folder")
    for parent, leaf in [(g, "AUX_DATA") for g in sorted(l1c.glob("GRANULE/*"))] + [
        (d, "QI_DATA") for d in sorted(l1c.glob("DATASTRIP/*"))
    ]:
        if not (parent / leaf).is_dir():
            fail(f"[Errno 2] No such file or directory: '{parent / leaf}'")

    name = parse_product_name(l1c.name)
    baseline = args.processing_baseline or "99.99"
    now = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    l2a_name = f"{name.mission}_MSIL2A_{name.sensing}_N{baseline.replace('.', '')}_{name.orbit}_{name.tile}_{now}"
    target = Path(args.output_dir or l1c.parent) / f"{l2a_name}.SAFE"
    if target.exists():
        fail(f"{target} exists: the output product must not exist")

    # sen2cor's staging mirrors an L1C SAFE folder with links to the product's files.
    files = ProductFiles(l1c, links_out=True)
    geo = read_geocoding(files.parse_xml(find_tile_metadata(files)), l1c.name, "MTD_TL.xml")
    l1c_mtd = read_product_metadata(files.parse_xml("MTD_MSIL1C.xml"))
    granule_l1c = sorted(l1c.glob("GRANULE/L1C_*"))[0]
    orbit = int(re.search(r"_A(\d{6})_", granule_l1c.name).group(1))
    ulx, uly = geo["geopositions"]["10"][:2]
    size = geo["sizes"]["10"][1]
    img = granule_l1c / "IMG_DATA"
    toa = {band: read_band(next(img.glob(f"*_{band}.jp2"))) for band in S2_BANDS}
    b10 = read_band(next(img.glob("*_B10.jp2")))
    sr = {band: surface_reflectance(array, band) for band, array in toa.items()}
    scl = scene_classification(sr, b10)
    cloudy = float(np.isin(scl, (8, 9, 10)).mean())
    spec = SyntheticProduct(
        name=l2a_name,
        epsg=geo["epsg"],
        ulx=ulx,
        uly=uly,
        n_patches=size // (PATCH_SIZE_M // 10),
        extra_px=size % (PATCH_SIZE_M // 10),
        baseline=baseline,
        boa_add_offset=BOA_ADD_OFFSET,
        seed=0,
        absolute_orbit=orbit,
        cloud_fraction=cloudy,
        quality={k: v for k, v in l1c_mtd["quality"].items() if v != "PASSED"},
    )

    resolutions = WRITTEN_RESOLUTIONS[args.resolution]
    granule = f"L2A_{name.tile}_A{orbit:06d}_{name.sensing}"
    root = target
    gdir = root / "GRANULE" / granule
    for folder in [gdir / "IMG_DATA" / f"R{r}m" for r in resolutions] + [
        gdir / "QI_DATA",
        gdir / "AUX_DATA",
        root / "AUX_DATA",
        root / "HTML",
        root / "rep_info",
        root / "DATASTRIP" / f"DS_SYNT_{now}_S{name.sensing}" / "QI_DATA",
    ]:
        folder.mkdir(parents=True, exist_ok=True)
    image_files = []
    layers = [(band, S2_BAND_RESOLUTION[band], sr[band]) for band in S2_BANDS]
    layers += [("SCL", SCL_RESOLUTION, scl), ("SCL", 60, ls.block_mode_sample(scl, 3))]
    for band, res, array in layers:
        if res not in resolutions:
            continue
        rel = f"GRANULE/{granule}/IMG_DATA/R{res}m/{name.tile}_{name.sensing}_{band}_{res}m"
        image_files.append(rel)
        _write_jp2(root / f"{rel}.jp2", array, spec, res)
        print(f"written {rel}.jp2", flush=True)
    tile_id = f"{name.mission}_OPER_MSI_L2A_TL_SYNT_{now}_A{orbit:06d}_{name.tile}_N{baseline}"
    (root / "MTD_MSIL2A.xml").write_bytes(product_metadata_xml(spec, tile_id, image_files))
    (gdir / "MTD_TL.xml").write_bytes(tile_metadata_xml(spec, tile_id))
    (root / "manifest.safe").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" '
        'version="esa/safe/sentinel/1.1/sentinel-2/msi/archive_l2a_user_product"/>\n'
    )
    print(f"Product {target.name} written; processing finished", flush=True)


if __name__ == "__main__":
    main()
