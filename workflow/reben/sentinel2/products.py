"""Sentinel-2 products: names, tile keys, SAFE discovery and metadata (MTD_MSIL2A.xml, MTD_TL.xml).

Tolerates the real variants: processing baselines 02.xx to 05.xx, BOA_ADD_OFFSET present or
absent, the `MTD_MSIL2a.xml` spelling, MTD_TL.xml in more than one place, zipped products.
"""

from __future__ import annotations

import fnmatch
import xml.etree.ElementTree as ET
import zipfile
import zlib
from pathlib import Path

from reben.constants import QUALITY_INDICATORS, S2_BAND_RESOLUTION, S2_BANDS, SCL_RESOLUTION, SEASONS
from reben.errors import ProductError
from reben.grid import TileGrid
from reben.names import parse_product_name

# BOA_ADD_OFFSET / SOLAR_IRRADIANCE band ids of the product metadata, in order.
METADATA_BAND_IDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")


def season(month: int) -> str:
    return SEASONS[month]


# --- reading XML from a SAFE folder or a zip --------------------------------------------------


class ProductFiles:
    """The files of a product, as a SAFE folder or a zip of one; paths are relative to the SAFE root.

    Every file must be inside the product: a symbolic link that resolves outside the folder (to
    /etc/passwd, say), or a zip member named with `..`, an absolute path or a link out, is
    refused with one line naming it, so that GDAL never opens it. `links_out` lets the test
    double of sen2cor read the mirror of links that sen2cor's staging makes of a SAFE folder."""

    def __init__(self, path, links_out: bool = False):
        self.path = Path(path)
        self.name = self.path.name
        if not self.path.exists():
            raise ProductError(self.name, "product not found", str(self.path))
        if self.path.is_dir():
            self._members = sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*"))
            self._zip = None
            if not links_out:
                self._refuse_links_out()
        elif zipfile.is_zipfile(self.path):
            self._zip = zipfile.ZipFile(self.path)
            names = self._zip.namelist()
            self._refuse_members_out()
            # A zip holds one top-level X.SAFE/ folder; strip it.
            roots = {n.split("/", 1)[0] for n in names}
            self._prefix = roots.pop() + "/" if len(roots) == 1 else ""
            self._members = sorted(n[len(self._prefix) :] for n in names if n.startswith(self._prefix))
        else:
            raise ProductError(self.name, "neither a SAFE folder nor a readable zip", str(self.path))

    def _refuse_links_out(self) -> None:
        root = self.path.resolve()
        for member in self._members:
            path = self.path / member
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise ProductError(
                    self.name,
                    f"a link to {path.resolve()}, outside the product: refused (every file of a "
                    f"product must be inside its folder)",
                    str(path),
                )

    def _refuse_members_out(self) -> None:
        import posixpath
        import stat

        for info in self._zip.infolist():
            name = info.filename
            target = name
            if stat.S_ISLNK(info.external_attr >> 16):
                target = posixpath.join(posixpath.dirname(name), self._zip.read(info).decode(errors="replace"))
            normal = posixpath.normpath(target)
            if posixpath.isabs(target) or normal == ".." or normal.startswith("../"):
                raise ProductError(
                    self.name,
                    f"zip member {name} resolves outside the product ({target}): refused",
                    str(self.path),
                )

    def glob(self, pattern: str) -> list[str]:
        """Members matching a shell pattern, case-insensitive (MTD_MSIL2a.xml exists in the wild)."""
        pat = pattern.lower()
        return [m for m in self._members if fnmatch.fnmatchcase(m.lower(), pat)]

    def read_bytes(self, member: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(self._prefix + member)
        return (self.path / member).read_bytes()

    def sizes(self, pattern: str) -> list[tuple[str, int]]:
        """(member, bytes) of the members matching `pattern`, from the file system or the zip's
        directory (no member is read)."""
        members = self.glob(pattern)
        if self._zip is not None:
            return [(m, self._zip.getinfo(self._prefix + m).file_size) for m in members]
        return [(m, (self.path / m).stat().st_size) for m in members]

    def open(self, member: str):
        """A binary file object of one member."""
        if self._zip is not None:
            return self._zip.open(self._prefix + member)
        return open(self.path / member, "rb")

    def gdal_path(self, member: str) -> str:
        """A path GDAL can open directly (through /vsizip/ for zipped products)."""
        if self._zip is not None:
            return f"/vsizip/{self.path.resolve()}/{self._prefix}{member}"
        return str(self.path / member)

    def parse_xml(self, member: str) -> ET.Element:
        try:
            return ET.fromstring(self.read_bytes(member))
        except ET.ParseError as e:
            raise ProductError(self.name, f"unreadable XML ({e})", member) from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: ET.Element, name: str) -> ET.Element | None:
    """First descendant whose tag, without namespace, is `name`."""
    for el in root.iter():
        if _local(el.tag) == name:
            return el
    return None


def _findall(root: ET.Element, name: str) -> list[ET.Element]:
    return [el for el in root.iter() if _local(el.tag) == name]


def find_product_metadata(files: ProductFiles) -> str:
    """The product-level metadata file: MTD_MSIL2A.xml (or MTD_MSIL2a.xml, MTD_MSIL1C.xml)."""
    found = files.glob("MTD_MSIL*.xml")
    if not found:
        raise ProductError(
            files.name, "no product metadata (MTD_MSIL2A.xml or MTD_MSIL1C.xml) at the top of the SAFE folder"
        )
    return found[0]


def find_tile_metadata(files: ProductFiles) -> str:
    """The tile metadata MTD_TL.xml: GRANULE/<granule>/MTD_TL.xml where it is, else anywhere."""
    in_granule = files.glob("GRANULE/*/MTD_TL.xml")
    found = in_granule or files.glob("*MTD_TL.xml")
    if not found:
        raise ProductError(files.name, "no tile metadata MTD_TL.xml (looked in GRANULE/*/ and below)")
    return found[0]


def check_product_name(product_path, name: str) -> None:
    """The configured name, the folder or zip name and the product's own metadata
    (PRODUCT_URI, the tile of TILE_ID, PRODUCT_START_TIME) name the same product; the first
    disagreement is one line naming both (a product configured under another's name would give
    its tile another's data and date). Metadata a product lacks is not compared here: the input
    check and the tile's inspection name it."""
    files = ProductFiles(product_path)
    wanted = parse_product_name(name)
    where = str(files.path)

    def differs(what: str, found: str) -> None:
        raise ProductError(
            name, f"{what} is {found}, not the configured name's: the name and the product disagree", where
        )

    stem = files.name.removesuffix(".zip").removesuffix(".SAFE")
    if stem != name:
        differs("the product's file name", stem)
    if files._zip is not None and files._prefix.removesuffix("/").removesuffix(".SAFE") not in ("", name):
        differs("the SAFE folder in the zip", files._prefix.removesuffix("/"))
    if files.glob("MTD_MSIL*.xml"):  # a product without it fails its tile's checks, not this one
        mtd = read_product_metadata(files.parse_xml(find_product_metadata(files)))
        uri = (mtd["product_uri"] or "").removesuffix(".SAFE")
        if uri and uri != name:
            differs("its PRODUCT_URI", uri)
        start = (mtd["product_start_time"] or "")[:19]
        if start and start != wanted.sensing_time.strftime("%Y-%m-%dT%H:%M:%S"):
            differs("its PRODUCT_START_TIME", mtd["product_start_time"])
    if files.glob("GRANULE/*/MTD_TL.xml") or files.glob("*MTD_TL.xml"):
        tile_id = _find(files.parse_xml(find_tile_metadata(files)), "TILE_ID")
        if tile_id is not None and tile_id.text and f"_{wanted.tile}_" not in tile_id.text.strip() + "_":
            differs("the TILE_ID of its MTD_TL.xml", tile_id.text.strip())


# --- tile geocoding -------------------------------------------------------------------------


def read_geocoding(root: ET.Element, product: str, source: str) -> dict:
    """EPSG code, per-resolution size and upper-left corner, sensing time and tile id from MTD_TL."""
    geocoding = _find(root, "Tile_Geocoding")
    if geocoding is None:
        raise ProductError(product, "no Tile_Geocoding in the tile metadata", source)
    code = _find(geocoding, "HORIZONTAL_CS_CODE")
    if code is None or not (code.text or "").upper().startswith("EPSG:"):
        raise ProductError(product, "no HORIZONTAL_CS_CODE EPSG code in the tile geocoding", source)

    def number(el, name, kind):
        field = _find(el, name)
        try:
            return kind(field.text)
        except (AttributeError, TypeError, ValueError):
            text = None if field is None else field.text
            raise ProductError(
                product, f"{name} of the {el.get('resolution')} m {_local(el.tag)} is {text!r}, not a number", source
            ) from None

    sizes = {}
    for el in _findall(geocoding, "Size"):
        res = int(el.get("resolution"))
        sizes[res] = (number(el, "NROWS", int), number(el, "NCOLS", int))
    positions = {}
    for el in _findall(geocoding, "Geoposition"):
        res = int(el.get("resolution"))
        positions[res] = tuple(number(el, k, float) for k in ("ULX", "ULY", "XDIM", "YDIM"))
    if 10 not in positions:
        raise ProductError(product, "no 10 m Geoposition (ULX/ULY) in the tile geocoding", source)
    if 10 not in sizes:
        raise ProductError(product, "no 10 m Size (NROWS/NCOLS) in the tile geocoding", source)
    sensing = _find(root, "SENSING_TIME")
    tile_id = _find(root, "TILE_ID")
    return {
        "epsg": int(code.text.split(":")[1]),
        "sizes": {str(k): list(v) for k, v in sorted(sizes.items())},
        "geopositions": {str(k): list(v) for k, v in sorted(positions.items())},
        "sensing_time": sensing.text.strip() if sensing is not None else None,
        "tile_id": tile_id.text.strip() if tile_id is not None else None,
    }


def product_grid(product_path, key: str, patch_size_m: int) -> tuple[TileGrid, dict]:
    """The patch grid of a product (SAFE folder or zip, L1C or L2A) from its MTD_TL geocoding."""
    files = ProductFiles(product_path)
    member = find_tile_metadata(files)
    geo = read_geocoding(files.parse_xml(member), files.name, member)
    ulx, uly, xdim, ydim = geo["geopositions"]["10"]
    nrows, ncols = geo["sizes"]["10"]
    grid = TileGrid(
        tile_key=key,
        epsg=geo["epsg"],
        ulx=ulx,
        uly=uly,
        width_m=ncols * xdim,
        height_m=nrows * abs(ydim),
        patch_size_m=patch_size_m,
    )
    return grid, geo


def product_identity(product_path) -> str:
    """What reruns a tile when its product's content changes while its name stays: a hash of its
    metadata XML files (where the geocoding and the quality indicators are) and of the sizes of
    its image files, never of the pixels. Touching or copying the product changes nothing; a
    corrected MTD_TL.xml or a repaired, truncated band file does."""
    import hashlib

    path = Path(product_path)
    if not path.exists():
        return path.name
    files = ProductFiles(path)
    digest = hashlib.sha256()
    metadata = [m for m in files.glob("*.xml") if "/" not in m] + files.glob("*MTD_TL.xml")
    for member in metadata:
        digest.update(member.encode() + files.read_bytes(member))
    for member, size in files.sizes("*.jp2"):
        digest.update(f"{member}:{size}".encode())
    return f"{path.name} content:{digest.hexdigest()[:16]}"


# --- product metadata -----------------------------------------------------------------------


def read_product_metadata(root: ET.Element) -> dict:
    """Product URI, baseline, quantification, offsets, nodata value, quality checks, image files."""

    def text(name):
        el = _find(root, name)
        return el.text.strip() if el is not None and el.text else None

    offsets = {}
    for el in _findall(root, "BOA_ADD_OFFSET"):
        band_id = int(el.get("band_id"))
        offsets[METADATA_BAND_IDS[band_id]] = int(float(el.text))
    nodata = None
    for el in _findall(root, "Special_Values"):
        if (text_el := _find(el, "SPECIAL_VALUE_TEXT")) is not None and text_el.text == "NODATA":
            nodata = int(_find(el, "SPECIAL_VALUE_INDEX").text)
    quality = {el.get("checkType"): (el.text or "").strip() for el in _findall(root, "quality_check")}
    quantification = text("BOA_QUANTIFICATION_VALUE") or text("QUANTIFICATION_VALUE")
    return {
        "product_uri": text("PRODUCT_URI"),
        "processing_level": text("PROCESSING_LEVEL"),
        "processing_baseline": text("PROCESSING_BASELINE"),
        "product_start_time": text("PRODUCT_START_TIME"),
        "quantification_value": float(quantification) if quantification else None,
        "boa_add_offset": offsets,
        "nodata_value": nodata,
        "quality": quality,
        "image_files": [el.text.strip() for el in _findall(root, "IMAGE_FILE")],
    }


def quality_verdict(quality: dict) -> tuple[bool, str | None]:
    """Passed unless one of the four indicators is recorded as something other than PASSED.

    Metadata that omit an indicator (some older baselines) are not excluded for it: the
    absence is recorded in tile.json, not treated as a failure.
    """
    failed = [f"{k}={quality[k]}" for k in QUALITY_INDICATORS if k in quality and quality[k] != "PASSED"]
    if failed:
        return False, "quality indicator not PASSED: " + ", ".join(failed)
    return True, None


def find_band_files(files: ProductFiles, image_files: list[str]) -> dict[str, str]:
    """The JPEG2000 file of every spectral band at its native resolution, and of SCL at 20 m.

    Uses the IMAGE_FILE list of the metadata where it names the band, else the SAFE layout
    (GRANULE/*/IMG_DATA/R<res>m/*_<band>_<res>m.jp2). Raises naming every missing file.
    """
    wanted = {band: S2_BAND_RESOLUTION[band] for band in S2_BANDS} | {"SCL": SCL_RESOLUTION}
    found, missing = {}, []
    for band, res in wanted.items():
        suffix = f"_{band}_{res}m"
        listed = [f + ".jp2" for f in image_files if f.endswith(suffix)]
        if listed:
            member = listed[0]
            if files.glob(member):
                found[band] = member
            else:
                missing.append(member)
            continue
        candidates = files.glob(f"GRANULE/*/IMG_DATA/R{res}m/*{suffix}.jp2")
        if candidates:
            found[band] = candidates[0]
        else:
            missing.append(f"GRANULE/*/IMG_DATA/R{res}m/*{suffix}.jp2")
    if missing:
        raise ProductError(files.name, f"{len(missing)} band file(s) missing: " + ", ".join(missing))
    return found


MANIFEST = "manifest.safe"
CHECKSUMS = {"MD5": "md5", "SHA3-256": "sha3_256"}
"""Checksum names of manifest.safe (MD5 up to baseline 03.xx, SHA3-256 since) and their hashlib names."""


def read_manifest(files: ProductFiles) -> dict[str, tuple[int | None, str | None, str | None]]:
    """The files manifest.safe lists, by member path: (size, checksum name, checksum); empty
    where the product has no manifest or the manifest lists no file."""
    if not files.glob(MANIFEST):
        return {}
    listed = {}
    for stream in _findall(files.parse_xml(MANIFEST), "byteStream"):
        location, checksum = _find(stream, "fileLocation"), _find(stream, "checksum")
        if location is None or not location.get("href"):
            continue
        member = location.get("href").removeprefix("./")
        size = stream.get("size")
        listed[member] = (
            int(size) if size and size.isdigit() else None,
            checksum.get("checksumName") if checksum is not None else None,
            (checksum.text or "").strip().lower() if checksum is not None else None,
        )
    return listed


def verify_band_files(files: ProductFiles, bands: dict[str, str], manifest: dict) -> int:
    """Check every band file that manifest.safe lists against its size and checksum; a truncated
    or corrupt file fails with one line naming it. Returns how many files were checked."""
    import hashlib

    checked = 0
    for member in bands.values():
        if member not in manifest:
            continue
        size, algorithm, digest = manifest[member]
        h = hashlib.new(CHECKSUMS[algorithm]) if algorithm in CHECKSUMS and digest else None
        got = 0
        try:
            with files.open(member) as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    got += len(block)
                    if h:
                        h.update(block)
        except (zipfile.BadZipFile, zlib.error, OSError) as e:  # a zip member fails its CRC
            raise ProductError(files.name, f"unreadable ({e}): corrupt, fetch the product again", member) from None
        if size is not None and got != size:
            raise ProductError(
                files.name,
                f"{got} bytes, {MANIFEST} lists {size}: truncated or corrupt, fetch the product again",
                member,
            )
        if h and h.hexdigest() != digest:
            raise ProductError(
                files.name,
                f"{algorithm} {h.hexdigest()} differs from {MANIFEST}'s {digest}: corrupt, fetch the product again",
                member,
            )
        checked += 1
    return checked


def check_band_geometry(files: ProductFiles, bands: dict[str, str], grid: TileGrid, geo: dict) -> None:
    """Every band file opens, is single-band uint16 (uint8 for SCL), and has the CRS, corner and
    size that the tile geocoding gives for its resolution."""
    import rasterio
    from rasterio.errors import RasterioIOError

    for band, member in bands.items():
        res = S2_BAND_RESOLUTION.get(band, SCL_RESOLUTION)
        try:
            with rasterio.open(files.gdal_path(member)) as src:
                crs, transform, shape = src.crs, src.transform, (src.height, src.width)
        except RasterioIOError as e:
            raise ProductError(files.name, f"unreadable JPEG2000 ({e})", member) from None
        if crs is None or crs.to_epsg() != grid.epsg:
            raise ProductError(files.name, f"CRS {crs} differs from the tile's EPSG:{grid.epsg}", member)
        ulx, uly = grid.ulx, grid.uly
        if abs(transform.c - ulx) > 1e-6 or abs(transform.f - uly) > 1e-6 or abs(transform.a - res) > 1e-9:
            raise ProductError(
                files.name,
                f"extent disagrees with the tile geocoding: corner "
                f"({transform.c}, {transform.f}) at {transform.a} m, "
                f"expected ({ulx}, {uly}) at {res} m",
                member,
            )
        expected = tuple(geo["sizes"].get(str(res), (round(grid.height_m / res), round(grid.width_m / res))))
        if shape != expected:
            raise ProductError(
                files.name,
                f"size {shape[1]}x{shape[0]} differs from the tile geocoding's {expected[1]}x{expected[0]} at {res} m",
                member,
            )


def inspect_product(product_path, key: str, patch_size_m: int) -> dict:
    """Everything later rules need to know of an L2A product, as recorded in tile.json.

    Raises ProductError for a broken product (missing or unreadable file, inconsistent geometry);
    a product that merely fails its quality indicators is returned with `excluded` set.
    """
    files = ProductFiles(product_path)
    name = parse_product_name(files.name)
    grid, geo = product_grid(product_path, key, patch_size_m)
    mtd = read_product_metadata(files.parse_xml(find_product_metadata(files)))
    bands = find_band_files(files, mtd["image_files"])
    # Sizes and checksums first: a truncated file is named as such, not as unreadable.
    verified = verify_band_files(files, bands, read_manifest(files))
    check_band_geometry(files, bands, grid, geo)
    passed, reason = quality_verdict(mtd["quality"])
    sensing = name.sensing_time
    return {
        "tile_key": key,
        "product": files.name.removesuffix(".zip"),
        "product_path": str(product_path),
        "mgrs_tile": name.tile,
        "crs": grid.crs,
        "epsg": grid.epsg,
        "ulx": grid.ulx,
        "uly": grid.uly,
        "sizes": geo["sizes"],
        "sensing_time": sensing.isoformat().replace("+00:00", "Z"),
        "season": season(sensing.month),
        "processing_baseline": mtd["processing_baseline"],
        "quantification_value": mtd["quantification_value"],
        "boa_add_offset": mtd["boa_add_offset"],
        "nodata_value": mtd["nodata_value"],
        "quality": {k: mtd["quality"].get(k, "MISSING") for k in QUALITY_INDICATORS},
        "excluded": not passed,
        "excluded_reason": reason,
        "band_paths": {band: files.gdal_path(member) for band, member in bands.items()},
        "band_files_verified": verified,
        "grid": grid.to_dict(),
    }
