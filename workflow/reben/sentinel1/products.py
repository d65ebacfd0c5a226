"""Sentinel-1 backscatter products: names, discovery, and reading them as linear power.

A product is a pair of GeoTIFFs, VV and VH, whose file (or folder) name holds the Sentinel-1
product name (`S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017042_01C6A2_5C2B`, or only
its first five fields). The files may be in any CRS and resolution, in dB or in linear power,
with a nodata value; `S1Source` reads windows of both bands as linear power with NaN wherever a
pixel is nodata, not finite, not positive (linear) or outside the raster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from reben import names
from reben.constants import S1_POLARISATIONS
from reben.errors import ConfigError, Sentinel1Error

S1_NAME = re.compile(names.S1_PRODUCT)
POL_TOKEN = re.compile(r"(?<![A-Za-z])(VV|VH)(?![A-Za-z])", re.IGNORECASE)
RASTER_SUFFIXES = (".tif", ".tiff")
UNITS = ("dB", "linear")


@dataclass(frozen=True)
class S1ProductName:
    name: str  # as found: the full name, or its first five fields
    mission: str
    start: str

    @property
    def product(self) -> str:
        """The first five fields (`S1A_IW_GRDH_1SDV_20170613T165043`): the folder of its patches."""
        return self.name[: S1_NAME.match(self.name).end("start")]

    @property
    def acquisition_time(self) -> datetime:
        return datetime.strptime(self.start, "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)


def parse_s1_name(text: str) -> S1ProductName:
    """The Sentinel-1 product name at the start of a file or folder name."""
    m = S1_NAME.match(Path(text).name)
    if not m:
        raise Sentinel1Error(
            Path(text).name,
            "not a Sentinel-1 product name (expected "
            "S1x_<mode>_<type>_<level><class><pol>_<start>[_<stop>_<orbit>_<datatake>_<crc>]...)",
        )
    return S1ProductName(name=m.group(0), mission=m["mission"], start=m["start"])


def s1_name(product: str, mgrs_tile: str, x: int, y: int) -> str:
    """`<S1 product>_<MGRS tile without T>_<x>_<y>`, x and y not padded (the reBEN S1 patch name)."""
    return f"{product}_{mgrs_tile.removeprefix('T')}_{int(x)}_{int(y)}"


def s1_product_of(s1_name: str) -> str:
    """The S1 product folder of an s1_name: `S1B_IW_GRDH_1SDV_20170612T165809_33UUP_26_57` ->
    `S1B_IW_GRDH_1SDV_20170612T165809` (the inverse of `s1_name`)."""
    return s1_name.rsplit("_", 3)[0]


def _polarisation(path: Path, name: S1ProductName) -> str | None:
    rest = path.name[len(name.name) :] if path.name.startswith(name.name) else path.name
    found = {m.upper() for m in POL_TOKEN.findall(Path(rest).stem)}
    return found.pop() if len(found) == 1 else None


def discover_products(input_dir) -> dict[str, dict]:
    """Products under `input_dir` (recursively), by name: {"VV": path, "VH": path}.

    A raster belongs to the product named at the start of its file name or, failing that, of
    its nearest parent folder; its polarisation is the VV or VH token of the file name.
    """
    root = Path(input_dir)
    if not root.is_dir():
        raise ConfigError(f"config: sentinel1.input_dir: {root} is not a folder")
    found: dict[str, dict] = {}
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in RASTER_SUFFIXES):
        holder = next((p for p in (path, *path.parents) if S1_NAME.match(p.name)), None)
        if holder is None or holder == root.parent:
            raise ConfigError(
                f"config: sentinel1.input_dir: {path}: no Sentinel-1 product name in the file name or its folders"
            )
        name = parse_s1_name(holder.name)
        pol = _polarisation(path, name)
        if pol is None:
            raise ConfigError(f"config: sentinel1.input_dir: {path}: no single VV or VH token in the file name")
        files = found.setdefault(name.name, {})
        if pol in files:
            raise ConfigError(f"config: sentinel1.input_dir: {name.name} has two {pol} files: {files[pol]} and {path}")
        files[pol] = str(path)
    return found


def configured_products(s1_config: dict, extra: dict | None = None) -> dict[str, dict]:
    """The Sentinel-1 products of a run by name, each {"VV", "VH", "product", "time"}.

    From `products` (names, with optional vv/vh paths, else `<input_dir>/<name>_VV.tif`) or,
    where that list is empty, from what `input_dir` holds; plus `extra` (GRD-derived products).
    """
    listed = s1_config.get("products") or []
    if listed:
        raw = {}
        for row in listed:
            name = parse_s1_name(row["name"]).name if S1_NAME.match(row["name"]) else None
            if name is None:
                raise ConfigError(f"config: sentinel1.products: {row['name']}: not a Sentinel-1 product name")
            base = Path(s1_config["input_dir"]) / name
            raw[name] = {"VV": row.get("vv") or f"{base}_VV.tif", "VH": row.get("vh") or f"{base}_VH.tif"}
    elif Path(s1_config["input_dir"]).is_dir():
        raw = discover_products(s1_config["input_dir"])
    else:
        raw = {}
    raw.update(extra or {})
    products: dict[str, dict] = {}
    by_product: dict[str, str] = {}
    for name, files in sorted(raw.items()):
        missing = [p for p in S1_POLARISATIONS if p not in files]
        if missing:
            have = ", ".join(files.values())
            raise ConfigError(
                f"config: sentinel1: {name}: no {' or '.join(missing)} file "
                f"(found only {have}); a product needs both VV and VH"
            )
        parsed = parse_s1_name(name)
        if parsed.product in by_product:
            raise ConfigError(
                f"config: sentinel1: {name} and {by_product[parsed.product]} are the same "
                f"product {parsed.product}; keep one"
            )
        by_product[parsed.product] = name
        products[name] = {
            "VV": files["VV"],
            "VH": files["VH"],
            "product": parsed.product,
            "time": parsed.acquisition_time,
        }
    return products


def grd_table(s1_config: dict, retrieval: bool, basedir: Path | None = None) -> dict[str, str]:
    """The raw GRD products of `sentinel1.product_table` (a CSV with a `name` column, as
    `reben search --pair-with` writes it; a name listed twice counts once; not a COG_SAFE copy), each
    as `<grd.input_dir>/<name>.zip` or `.SAFE`. With `retrieval` a product not on disk is
    expected as the `.zip` that rule retrieve_sentinel1 fetches; without it, one line names it."""
    from reben.config import read_product_table

    if not s1_config.get("product_table"):
        return {}
    rows = read_product_table(s1_config["product_table"], "sentinel1.product_table", basedir)
    names = [row["name"] for row in rows if row.get("name")]
    products = {}
    folder = Path(s1_config["grd"]["input_dir"])
    for text in names:
        if not S1_NAME.match(Path(text).name):
            raise ConfigError(f"config: sentinel1.product_table: {text}: not a Sentinel-1 product name")
        name = parse_s1_name(text).name
        if Path(text).name.removesuffix(".zip").removesuffix(".SAFE") == f"{name}_COG":
            # CDSE's COG_SAFE copy has its own CRC: cutting `_COG` would name no product.
            raise ConfigError(
                f"config: sentinel1.product_table: {text}: a COG_SAFE copy of a GRD scene; list the "
                f"original GRD product of the scene (as reben search --pair-with does)"
            )
        on_disk = [folder / f"{name}{suffix}" for suffix in (".zip", ".SAFE") if (folder / f"{name}{suffix}").exists()]
        if not on_disk and not retrieval:
            raise ConfigError(
                f"config: sentinel1.product_table: {name}: not in {folder} (as .zip or .SAFE); "
                f"turn retrieval.enabled on to fetch it from the Copernicus Data Space"
            )
        products[name] = str(on_disk[0] if on_disk else folder / f"{name}.zip")
    return products


def candidates(products: dict[str, dict], s2_time: datetime, max_gap_days: float) -> list[str]:
    """Names of the products acquired within `max_gap_days` of the Sentinel-2 sensing time, on
    either side, both ends included (names.within_time_gap, the rule of the search too)."""
    return [name for name, p in products.items() if names.within_time_gap(p["time"], s2_time, max_gap_days)]


# --- reading -----------------------------------------------------------------------------------

_DB_WORDS = {"db", "decibel", "decibels"}
_LINEAR_WORDS = {"linear", "power", "intensity", "lin", "natural"}


def unit_from_metadata(src, path: str) -> str | None:
    """dB or linear where the file says so: band unit, a UNIT(S) tag, or a _db/_lin name token."""
    said = [src.units[0] if src.units else None, src.descriptions[0] if src.descriptions else None]
    tags = {**src.tags(), **src.tags(1)}
    said += [v for k, v in tags.items() if k.lower() in ("unit", "units", "scale", "scaling")]
    said.append(Path(path).stem)
    for text in said:
        words = set(re.split(r"[^a-z0-9]+", (text or "").lower()))
        if words & _DB_WORDS:
            return "dB"
        if words & _LINEAR_WORDS:
            return "linear"
    return None


class S1Source:
    """The VV and VH rasters of one product, read as linear power with NaN where not valid."""

    def __init__(self, name: str, vv: str, vh: str, unit: str = "auto", nodata: float | None = None):
        import rasterio
        from rasterio.errors import RasterioError

        self.name = name
        self.product = parse_s1_name(name).product
        self.time = parse_s1_name(name).acquisition_time
        self.paths = {"VV": str(vv), "VH": str(vh)}
        self.datasets = {}
        try:
            for pol, path in self.paths.items():
                self.datasets[pol] = rasterio.open(path)
        except RasterioError as e:
            self.close()
            raise Sentinel1Error(name, f"{pol} file could not be opened ({e})", self.paths[pol]) from None
        vv_ds, vh_ds = self.datasets["VV"], self.datasets["VH"]
        for pol, ds in self.datasets.items():
            if ds.crs is None:
                self.close()
                raise Sentinel1Error(name, f"{pol} file has no CRS", self.paths[pol])
            if ds.transform.is_identity:
                self.close()
                raise Sentinel1Error(name, f"{pol} file has no georeferencing (identity transform)", self.paths[pol])
        if vv_ds.crs != vh_ds.crs or vv_ds.transform != vh_ds.transform or vv_ds.shape != vh_ds.shape:
            self.close()
            raise Sentinel1Error(
                name,
                f"VV and VH are on different grids ({vv_ds.shape[1]}x{vv_ds.shape[0]} "
                f"{vv_ds.transform[:6]} vs {vh_ds.shape[1]}x{vh_ds.shape[0]} "
                f"{vh_ds.transform[:6]}); resample one onto the other",
            )
        self.crs, self.transform, self.shape = vv_ds.crs, vv_ds.transform, vv_ds.shape
        self.bounds = vv_ds.bounds
        self.units = {}
        for pol, ds in self.datasets.items():
            found = unit_from_metadata(ds, self.paths[pol])
            if unit in UNITS:
                self.units[pol] = unit
            elif found is None:
                self.close()
                raise Sentinel1Error(
                    name,
                    f"{pol} file does not say whether it holds dB or linear power; set sentinel1.unit to dB or linear",
                    self.paths[pol],
                )
            else:
                self.units[pol] = found
        self.nodata = {pol: ds.nodata if nodata is None else nodata for pol, ds in self.datasets.items()}

    def close(self) -> None:
        for ds in self.datasets.values():
            ds.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read(self, pol: str, rows: tuple[int, int], cols: tuple[int, int]):
        """The part of window [rows) x [cols) inside the raster, its place in the window, and
        the mask of pixels that are not valid backscatter there."""
        from rasterio.windows import Window

        (r0, r1), (c0, c1) = rows, cols
        h, w = self.shape
        ir0, ir1, ic0, ic1 = max(r0, 0), min(r1, h), max(c0, 0), min(c1, w)
        if ir0 >= ir1 or ic0 >= ic1:
            return None, None, None
        data = self.datasets[pol].read(1, window=Window(ic0, ir0, ic1 - ic0, ir1 - ir0), out_dtype="float32")
        nodata = self.nodata[pol]
        bad = ~np.isfinite(data)
        if nodata is not None and not np.isnan(nodata):
            bad |= data == np.float32(nodata)
        if self.units[pol] == "linear":
            bad |= data <= 0
        return data, bad, (slice(ir0 - r0, ir1 - r0), slice(ic0 - c0, ic1 - c0))

    def read_linear(self, pol: str, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
        """Window [rows) x [cols) of one band (it may reach beyond the raster) as float32 linear
        power; NaN where nodata, not finite, not positive power, or outside the raster."""
        out = np.full((rows[1] - rows[0], cols[1] - cols[0]), np.nan, dtype=np.float32)
        data, bad, where = self._read(pol, rows, cols)
        if data is None:
            return out
        if self.units[pol] == "dB":
            data *= np.float32(np.log(10) / 10)
            with np.errstate(over="ignore"):
                np.exp(data, out=data)
        data[bad] = np.nan
        out[where] = data
        return out

    def read_valid(self, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
        """Window [rows) x [cols): True where both VV and VH hold valid backscatter."""
        out = np.zeros((rows[1] - rows[0], cols[1] - cols[0]), dtype=bool)
        for i, pol in enumerate(S1_POLARISATIONS):
            data, bad, where = self._read(pol, rows, cols)
            if data is None:
                return out
            if i == 0:
                out[where] = ~bad
            else:
                out[where] &= ~bad
        return out


def product_files(names, vv_paths, vh_paths) -> list[dict]:
    """The products a rule hands over: name, VV file and VH file of each (in the same order)."""
    return [{"name": name, "VV": vv, "VH": vh} for name, vv, vh in zip(names, vv_paths, vh_paths, strict=True)]
