"""The input check: at the start of every run (in-process, outside the DAG: run.smk's onstart),
and `reben check --configfile X`.

Reads the metadata of every input, never its pixels, and reports every problem at once, one
line each, with a summary table per tile: the Sentinel-2 products (their names against their
files and metadata, files inside the product, geocoding, quality indicators, band file sizes
against manifest.safe), the CLC layer, field, CRS and its coverage of each tile (one
spatial-index query per tile; the map's and the tiles' extents when it covers none), the
Sentinel-1 folder and the products that overlap each tile within the date window, the country
names of the borders file, and the free disk space against an estimate of what the run writes
(products not on disk yet at their configured size).

What can be checked without reading the inputs' content runs when the workflow is parsed, so
also in a dry run (`parse_time_problems`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from reben.constants import S2_BAND_RESOLUTION, S2_TILE_SIDE_M
from reben.errors import InputCheckError, RebenError
from reben.io import write_text


def patch_bytes(patch_size_m: int, sentinel1: bool) -> int:
    """Bytes of one patch's pixels: 12 uint16 bands at their resolutions, a uint16 reference map
    and (with Sentinel-1) two float32 bands at 10 m."""
    s2 = sum((patch_size_m // res) ** 2 * 2 for res in S2_BAND_RESOLUTION.values())
    at_10m = (patch_size_m // 10) ** 2
    return s2 + at_10m * 2 + (2 * at_10m * 4 if sentinel1 else 0)


# Each kept patch is counted three and a half times: twice per tile (its GeoTIFFs and their
# shard), one and a half times dataset-wide (the LMDB copy and the compressed archives; the
# dataset trees are hard links). A rerun rewrites the dataset-wide copies (each is staged beside
# the old one), but not the per-tile outputs of tiles that are done.
TILE_COPIES = 2.0
DATASET_COPIES = 1.5
TILE_DONE = "s2_shard.parquet"
"""A tile whose results/tiles/<key>/ holds this file has its per-tile outputs on disk."""
L2A_PRODUCT_BYTES = 1.2e9
"""sen2cor's output for one full tile (L1C inputs only)."""


@dataclass
class TileRow:
    tile: str
    product: str
    level: str
    patches: int | None = None
    quality: str = "?"
    clc: str = "-"
    s1: str = "-"
    s1_overlapping: int = 0
    planned: int = 0  # patches of a product not on disk yet, at its configured size
    problems: list[str] = field(default_factory=list)


@dataclass
class CheckResult:
    tiles: list[TileRow]
    problems: list[str]
    notes: list[str]
    to_make: int = 0
    """Inputs not on disk yet that the run makes (the demo's) or fetches: checked once they exist."""

    @property
    def warnings(self) -> list[str]:
        errors = self.errors
        return [p for p in self.all_problems if p not in errors]

    @property
    def all_problems(self) -> list[str]:
        return self.problems + [p for row in self.tiles for p in row.problems]

    @property
    def errors(self) -> list[str]:
        """The problems that stop the run (warnings say what the dataset will lack)."""
        return [p for p in self.all_problems if ": warning: " not in p]

    def table(self) -> str:
        header = ("tile", "level", "patches", "quality", "CLC polygons", "S1 overlapping", "problems")
        rows = [
            (
                r.tile,
                r.level,
                str(r.patches) if r.patches is not None else f"~{r.planned}" if r.planned else "?",
                r.quality,
                r.clc,
                r.s1,
                str(len(r.problems)),
            )
            for r in self.tiles
        ]
        widths = [max(len(x) for x in column) for column in zip(header, *rows)]

        def line(cells):
            return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

        return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])

    def report(self) -> str:
        errors, warnings = self.errors, self.warnings
        parts = [self.table(), "", *self.notes]
        if warnings:
            parts += [f"{len(warnings)} warning(s):", *warnings]
        if errors:
            parts += [f"{len(errors)} problem(s):", *errors]
        else:
            parts.append(f"inputs: {len(self.tiles)} tiles checked, no problem")
        if self.to_make:
            parts.append(
                f"{self.to_make} input(s) not on disk yet, made or fetched by the run: checked once they exist"
            )
        return "\n".join(parts) + "\n"

    def summary(self, report_path) -> str:
        """One line for the run's console: what was checked and where the report is."""
        later = f", {self.to_make} input(s) to make or fetch first" if self.to_make else ""
        return (
            f"input check: {len(self.tiles)} tiles, {len(self.errors)} problem(s), {len(self.warnings)} "
            f"warning(s){later}; report {report_path}"
        )


def check_product(row: TileRow, path: str, patch_size_m: int, inside_results: bool):
    """The product's name against its files and metadata, its files, geocoding and quality
    indicators; returns its TileGrid or None."""
    from reben.sentinel2.products import (
        ProductFiles,
        check_product_name,
        find_band_files,
        find_product_metadata,
        find_tile_metadata,
        product_grid,
        quality_verdict,
        read_manifest,
        read_product_metadata,
    )

    if not Path(path).exists():
        if not inside_results:
            row.problems.append(f"{row.tile}: {path}: product not found")
        return None
    try:
        check_product_name(path, row.product)
        grid, _ = product_grid(path, row.tile, patch_size_m)
        files = ProductFiles(path)
        find_tile_metadata(files)
        mtd = read_product_metadata(files.parse_xml(find_product_metadata(files)))
        passed, reason = quality_verdict(mtd["quality"])
        row.quality = "PASSED" if passed else "excluded"
        if not passed:
            row.problems.append(f"{row.tile}: warning: excluded from the dataset: {reason}")
        row.patches = grid.n_rows * grid.n_cols
        if row.level == "MSIL2A":
            bands = find_band_files(files, mtd["image_files"])
            manifest = read_manifest(files)
            sizes = dict(files.sizes("*.jp2"))
            for member in bands.values():
                listed = manifest.get(member, (None,))[0]
                if listed is not None and sizes.get(member) != listed:
                    row.problems.append(
                        f"{row.tile}: {path}: {member}: {sizes.get(member)} bytes, "
                        f"manifest.safe lists {listed}: truncated or corrupt"
                    )
        return grid
    except RebenError as e:
        row.problems.append(f"{row.tile}: {e}")
        return None


def check_clc(rows: list[TileRow], grids: dict, clc: dict, clc_path: str | None, problems: list[str]):
    """The CLC layer, code field and CRS, and how many polygons meet each tile (index query)."""
    import pyogrio

    from reben.labels.clc import open_clc, tile_bbox

    if not clc_path:
        problems.append("config: clc.path: not set (the CORINE Land Cover vector file)")
        return
    if not Path(clc_path).exists():
        return  # made by the workflow (the demo), or reported missing below
    try:
        source = open_clc(clc_path, clc["layer"], clc["code_field"])
    except RebenError as e:
        problems.append(str(e))
        return
    for row in rows:
        grid = grids.get(row.tile)
        if grid is None:
            continue
        _, table = pyogrio.read_arrow(
            source.path,
            layer=source.layer,
            columns=[source.code_field],
            bbox=tile_bbox(source, grid),
            read_geometry=False,
        )
        row.clc = str(table.num_rows)
        if table.num_rows == 0:
            row.problems.append(
                f"{row.tile}: warning: {clc_path}: no CLC polygon over the tile "
                f"(another region, or a layer whose CRS is mislabelled)"
            )
    checked = [r for r in rows if r.clc != "-"]
    if checked and all(r.clc == "0" for r in checked):
        problems.append(
            f"clc: {clc_path}: no polygon over any of the {len(checked)} tiles; the dataset would be empty: "
            + extents_apart(source, [grids[r.tile] for r in checked])
        )


def extents_apart(source, grids: list) -> str:
    """The map's extent against the tiles' extent, both in the layer's CRS, in one line."""
    import pyogrio
    from pyproj import CRS

    from reben.labels.clc import tile_bbox

    boxes = [tile_bbox(source, grid) for grid in grids]
    tiles = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    crs = CRS.from_user_input(source.crs)
    name = crs.to_string() if crs.to_epsg() else crs.name
    try:
        bounds = pyogrio.read_info(source.path, layer=source.layer, force_total_bounds=True)["total_bounds"]
    except Exception as e:  # GDAL raises several types for a layer without an extent
        return f"the tiles cover {_extent(tiles)} in {name}; the map's extent is unknown ({e})"
    return (
        f"the map covers {_extent(bounds)}, the tiles {_extent(tiles)} in {name} "
        f"(another region, or a layer whose CRS is mislabelled)"
    )


def _extent(bounds) -> str:
    left, bottom, right, top = (float(v) for v in bounds)
    return f"x {left:,.0f} to {right:,.0f}, y {bottom:,.0f} to {top:,.0f}"


def s1_footprint_in(path: str, crs: str):
    """The footprint of a Sentinel-1 file (from its header) in `crs`, as a shapely box."""
    import rasterio
    import shapely
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as src:
        bounds = transform_bounds(src.crs, crs, *src.bounds, densify_pts=21)
    return shapely.box(*bounds)


def s1_folder_problem(s1: dict, results: str) -> str | None:
    """A Sentinel-1 folder that does not exist, where the products are read from it (a list of
    names, or a scan when none is listed): one line naming it, rather than one per missing file,
    or a dataset with no Sentinel-1 product. Folders the workflow makes (the demo's) are made."""
    if not s1.get("enabled") or s1.get("source", "backscatter") != "backscatter":
        return None
    folder = s1["input_dir"]
    listed = s1.get("products") or []
    reads_folder = not listed or any(not (row.get("vv") and row.get("vh")) for row in listed)
    grd = (s1.get("grd") or {}).get("gpt") and not listed
    if reads_folder and not grd and not Path(folder).is_dir() and not _inside(folder, results):
        return f"sentinel1.input_dir: {folder} does not exist (the folder of the Sentinel-1 products)"
    return None


def check_s1(rows: list[TileRow], grids: dict, s1_products: dict, max_gap_days: float, results: str):
    """Per tile, the Sentinel-1 products within the date window, and those that overlap it."""
    import shapely

    from reben.names import parse_product_name
    from reben.sentinel1.products import candidates

    for row in rows:
        sensing = parse_product_name(row.tile).sensing_time
        names = candidates(s1_products, sensing, max_gap_days)
        grid = grids.get(row.tile)
        if grid is None:
            row.s1 = f"?/{len(names)}"
            row.s1_overlapping = len(names)
            continue
        tile = shapely.box(*grid.patch_bounds(0, grid.n_rows - 1)[:2], *grid.patch_bounds(grid.n_cols - 1, 0)[2:])
        overlapping, unknown = 0, 0
        for name in names:
            vv = s1_products[name]["VV"]
            if not Path(vv).exists():
                if not _inside(vv, results):
                    row.problems.append(f"{row.tile}: {vv}: Sentinel-1 file of {name} not found")
                unknown += 1
                continue
            try:
                if s1_footprint_in(vv, grid.crs).intersects(tile):
                    overlapping += 1
            except Exception as e:  # rasterio raises several types for unreadable headers
                row.problems.append(f"{row.tile}: {vv}: unreadable Sentinel-1 file ({e})")
        row.s1 = f"{overlapping}/{len(names)}" + (f" (+{unknown} to make)" if unknown else "")
        row.s1_overlapping = overlapping + unknown
        if not names:
            row.problems.append(
                f"{row.tile}: warning: no Sentinel-1 product within {max_gap_days} days of {sensing:%Y-%m-%d}"
            )
        elif overlapping == 0 and unknown == 0:
            row.problems.append(
                f"{row.tile}: warning: none of the {len(names)} Sentinel-1 products "
                f"within {max_gap_days} days overlaps the tile"
            )
    checked = [r for r in rows if r.tile in grids]
    if checked and all(r.s1_overlapping == 0 for r in checked):
        return [
            f"sentinel1: no product overlaps any of the {len(checked)} tiles within "
            f"{max_gap_days} days; the dataset would be empty"
        ]
    return []


def check_borders(countries: dict, borders_path: str | None, problems: list[str]):
    from reben.dataset.countries import read_borders

    if not borders_path or not Path(borders_path).exists():
        return  # downloaded or made by the workflow
    try:
        read_borders(borders_path, countries["name_field"], countries["names"], countries["layer"])
    except RebenError as e:
        problems.append(str(e))


def estimate_output_bytes(rows: list[TileRow], patch_size_m: int, sentinel1: bool, results=None) -> tuple[float, int]:
    """Bytes the run still writes, and how many tiles' per-tile outputs are on disk already
    (under `results`): those tiles count only their dataset-wide copies. A product not on disk
    yet counts its planned patches (TileRow.planned)."""
    per_patch = patch_bytes(patch_size_m, sentinel1)
    done = {r.tile for r in rows if results and (Path(results) / "tiles" / r.tile / TILE_DONE).is_file()}
    counted = {r.tile: r.patches if r.patches is not None else r.planned for r in rows}
    patches = sum(counted.values())
    to_cut = sum(n for tile, n in counted.items() if tile not in done)
    l1c = sum(r.level == "MSIL1C" and r.tile not in done for r in rows)
    return (patches * DATASET_COPIES + to_cut * TILE_COPIES) * per_patch + l1c * L2A_PRODUCT_BYTES, len(done)


def check_disk(results: str, needed: float, problems: list[str], notes: list[str], tiles_done: int = 0):
    folder = Path(results).resolve()
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    done = f"; {tiles_done} tiles' per-tile outputs exist already" if tiles_done else ""
    notes.append(
        f"disk: {free / 1e9:.1f} GB free at {folder}, the run writes about {needed / 1e9:.1f} GB (estimate{done})"
    )
    if free < needed:
        problems.append(f"{results}: {free / 1e9:.1f} GB free, the run needs about {needed / 1e9:.1f} GB")


def _inside(path, results) -> bool:
    return Path(path).resolve().is_relative_to(Path(results).resolve())


def check_inputs(
    config: dict,
    products: dict,
    clc_path: str | None,
    borders_path: str | None,
    s1_products: dict,
    retrieval: bool = False,
    planned_side_m: dict[str, float] | None = None,
) -> CheckResult:
    """Check every input of a validated config; `products` is reben.config.product_table's.
    With `retrieval`, a missing product is to be fetched, not a problem. A product not on disk
    yet is counted in the disk estimate at its side in `planned_side_m` (the demo's, made by the
    workflow), else, when it is to be fetched, as a full Sentinel-2 tile."""
    results = config["results"]
    patch_size_m = config["patch_size_m"]
    rows, grids, problems, notes = [], {}, [], []
    to_make = unsized = 0
    for key, product in products.items():
        row = TileRow(tile=key, product=product["name"], level=product["level"])
        missing = not Path(product["path"]).exists()
        made_or_fetched = _inside(product["path"], results) or (retrieval and missing)
        grid = check_product(row, product["path"], patch_size_m, made_or_fetched)
        if grid is not None:
            grids[key] = grid
        if missing and made_or_fetched:
            to_make += 1
            made = _inside(product["path"], results)
            side = (planned_side_m or {}).get(key, None if made else S2_TILE_SIDE_M)
            row.planned = int(side // patch_size_m) ** 2 if side else 0
            unsized += side is None
        rows.append(row)
    for path in (clc_path, borders_path):
        to_make += bool(path and not Path(path).exists() and _inside(path, results))
    if clc_path and not Path(clc_path).exists() and not _inside(clc_path, results):
        problems.append(f"clc: {clc_path} does not exist")
    raster = ((config.get("labels") or {}).get("raster") or {}).get("path")
    if raster:  # a land-cover raster is the label source instead of the CLC vector
        if not Path(raster).exists() and not _inside(raster, results):
            problems.append(f"labels.raster.path: {raster} does not exist")
    else:
        check_clc(rows, grids, config["clc"], clc_path, problems)
    s1 = config["sentinel1"]
    if folder_problem := s1_folder_problem(s1, results):
        problems.append(folder_problem)
    elif s1["enabled"] and s1.get("source", "backscatter") == "backscatter":
        problems += check_s1(rows, grids, s1_products, s1["max_time_gap_days"], results)
        files = [p[pol] for p in s1_products.values() for pol in ("VV", "VH")]
        to_make += sum(not Path(f).exists() and _inside(f, results) for f in files)
    elif s1["enabled"]:  # the BigEarthNet v1 archive: its patches are v1's pairs, no overlap to check
        archive = (s1.get("v1_archive") or {}).get("path")
        if archive and not Path(archive).exists() and not _inside(archive, results):
            problems.append(f"sentinel1.v1_archive.path: {archive} does not exist")
    check_borders(config["countries"], borders_path, problems)
    needed, tiles_done = estimate_output_bytes(rows, patch_size_m, s1["enabled"], results)
    check_disk(results, needed, problems, notes, tiles_done)
    if unsized:
        notes.append(f"disk: {unsized} product(s) the run makes are not counted (their size is known once made)")
    return CheckResult(rows, problems, notes, to_make)


def write_check_report(result: CheckResult, path) -> None:
    """Write the report (every run rewrites it, problems or not); then fail with every problem
    (warnings alone do not fail)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text(result.report(), path)
    errors = result.errors
    if errors:
        raise InputCheckError(f"{len(errors)} input problem(s) (report {path}):\n" + "\n".join(errors))


def parse_time_problems(
    products: dict, clc_path, borders_path, s1_config: dict, s1_products: dict, results: str, retrieval: bool
) -> list[str]:
    """What is checked when the workflow is parsed (so also by a dry run), one line each: the
    input files that do not exist, a Sentinel-1 folder that does not exist, and every product on
    disk whose name disagrees with its file or metadata or that holds a file outside itself.
    Files under the results folder are made by the workflow (the demo's), and with retrieval on,
    a missing L1C zip is fetched: neither is reported missing."""
    from reben.sentinel2.products import check_product_name

    problems = []
    for key, product in products.items():
        path = product["path"]
        if Path(path).exists():
            try:
                check_product_name(path, product["name"])
            except RebenError as e:
                problems.append(str(e))
            continue
        if _inside(path, results) or (retrieval and path.endswith(".zip")):
            continue
        problems.append(f"{key}: {path}: product not found")
    for label, path in (("clc", clc_path), ("countries.borders", borders_path)):
        if path and not Path(path).exists() and not _inside(path, results):
            problems.append(f"{label}: {path} does not exist")
    if folder_problem := s1_folder_problem(s1_config, results):
        return problems + [folder_problem]
    for name, files in s1_products.items():
        for pol in ("VV", "VH"):
            if not Path(files[pol]).exists() and not _inside(files[pol], results):
                problems.append(f"sentinel1: {name}: {files[pol]} does not exist")
    return problems
