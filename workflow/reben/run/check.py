"""The input check (rule check_inputs, and `reben check --configfile X`).

Reads the metadata of every input, never its pixels, and reports every problem at once, one
line each, with a summary table per tile: the Sentinel-2 products (files, geocoding, quality
indicators, band file sizes against manifest.safe), the CLC layer, field, CRS and its coverage
of each tile (one spatial-index query per tile), the Sentinel-1 products that overlap each tile
within the date window, the country names of the borders file, and the free disk space against
an estimate of what the run writes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from reben.constants import S2_BAND_RESOLUTION
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
    problems: list[str] = field(default_factory=list)


@dataclass
class CheckResult:
    tiles: list[TileRow]
    problems: list[str]
    notes: list[str]

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
                "?" if r.patches is None else str(r.patches),
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
        errors = self.errors
        warnings = [p for p in self.all_problems if p not in errors]
        parts = [self.table(), "", *self.notes]
        if warnings:
            parts += [f"{len(warnings)} warning(s):", *warnings]
        if errors:
            parts += [f"{len(errors)} problem(s):", *errors]
        else:
            parts.append(f"inputs: {len(self.tiles)} tiles checked, no problem")
        return "\n".join(parts) + "\n"


def check_product(row: TileRow, path: str, patch_size_m: int, inside_results: bool):
    """The product's files, geocoding and quality indicators; returns its TileGrid or None."""
    from reben.sentinel2.products import (
        ProductFiles,
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
            f"clc: {clc_path}: no polygon over any of the {len(checked)} tiles; the "
            f"dataset would be empty (is the layer's CRS {source.crs.splitlines()[0][:60]!r} right?)"
        )


def s1_footprint_in(path: str, crs: str):
    """The footprint of a Sentinel-1 file (from its header) in `crs`, as a shapely box."""
    import rasterio
    import shapely
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as src:
        bounds = transform_bounds(src.crs, crs, *src.bounds, densify_pts=21)
    return shapely.box(*bounds)


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
    (under `results`): those tiles count only their dataset-wide copies."""
    per_patch = patch_bytes(patch_size_m, sentinel1)
    done = {r.tile for r in rows if results and (Path(results) / "tiles" / r.tile / TILE_DONE).is_file()}
    patches = sum(r.patches or 0 for r in rows)
    to_cut = sum(r.patches or 0 for r in rows if r.tile not in done)
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
) -> CheckResult:
    """Check every input of a validated config; `products` is reben.config.product_table's.
    With `retrieval`, a missing product is to be fetched, not a problem."""
    results = config["results"]
    rows, grids, problems, notes = [], {}, [], []
    for key, product in products.items():
        row = TileRow(tile=key, product=product["name"], level=product["level"])
        to_fetch = retrieval and not Path(product["path"]).exists()
        grid = check_product(
            row, product["path"], config["patch_size_m"], _inside(product["path"], results) or to_fetch
        )
        if grid is not None:
            grids[key] = grid
        rows.append(row)
    if clc_path and not Path(clc_path).exists() and not _inside(clc_path, results):
        problems.append(f"clc: {clc_path} does not exist")
    raster = ((config.get("labels") or {}).get("raster") or {}).get("path")
    if raster:  # a land-cover raster is the label source instead of the CLC vector
        if not Path(raster).exists() and not _inside(raster, results):
            problems.append(f"labels.raster.path: {raster} does not exist")
    else:
        check_clc(rows, grids, config["clc"], clc_path, problems)
    s1 = config["sentinel1"]
    if s1["enabled"] and s1.get("source", "backscatter") == "backscatter":
        problems += check_s1(rows, grids, s1_products, s1["max_time_gap_days"], results)
    elif s1["enabled"]:  # the BigEarthNet v1 archive: its patches are v1's pairs, no overlap to check
        archive = (s1.get("v1_archive") or {}).get("path")
        if archive and not Path(archive).exists() and not _inside(archive, results):
            problems.append(f"sentinel1.v1_archive.path: {archive} does not exist")
    check_borders(config["countries"], borders_path, problems)
    needed, tiles_done = estimate_output_bytes(rows, config["patch_size_m"], config["sentinel1"]["enabled"], results)
    check_disk(results, needed, problems, notes, tiles_done)
    return CheckResult(rows, problems, notes)


def write_check_report(result: CheckResult, path) -> None:
    """Write the report; fail with every problem (warnings alone do not fail)."""
    path = Path(path)
    errors = result.errors
    if errors:
        raise InputCheckError(f"{len(errors)} input problem(s):\n" + "\n".join(errors))
    write_text(result.report(), path)


def missing_input_files(
    products: dict, clc_path, borders_path, s1_products: dict, results: str, retrieval: bool
) -> list[str]:
    """What can be checked when the workflow is parsed (so also by a dry run): the input files
    that do not exist, one line each. Files under the results folder are made by the workflow
    (the demo's), and with retrieval on, a missing L1C zip is fetched: neither is reported."""
    problems = []
    for key, product in products.items():
        path = product["path"]
        if Path(path).exists() or _inside(path, results) or (retrieval and path.endswith(".zip")):
            continue
        problems.append(f"{key}: {path}: product not found")
    for label, path in (("clc", clc_path), ("countries.borders", borders_path)):
        if path and not Path(path).exists() and not _inside(path, results):
            problems.append(f"{label}: {path} does not exist")
    for name, files in s1_products.items():
        for pol in ("VV", "VH"):
            if not Path(files[pol]).exists() and not _inside(files[pol], results):
                problems.append(f"sentinel1: {name}: {files[pol]} does not exist")
    return problems


def check_settings(
    config: dict, products: dict, clc_path, borders_path, s1_products: dict, retrieval: bool = False
) -> dict:
    """What check_inputs needs, as JSON (rule check_inputs reads it from a file)."""
    return {
        "config": config,
        "products": products,
        "clc_path": clc_path,
        "borders_path": borders_path,
        "retrieval": retrieval,
        "s1_products": {name: {pol: p[pol] for pol in ("VV", "VH")} for name, p in s1_products.items()},
    }


def run_check_settings(settings_path, report_path=None) -> CheckResult:
    """The check from a settings file; writes the report, or fails with every problem."""
    import logging

    from reben.io import read_json
    from reben.sentinel1.products import parse_s1_name

    s = read_json(settings_path)
    s1 = {name: {**files, "time": parse_s1_name(name).acquisition_time} for name, files in s["s1_products"].items()}
    result = check_inputs(s["config"], s["products"], s["clc_path"], s["borders_path"], s1, s.get("retrieval", False))
    logging.getLogger("reben.run.check").info("input check:\n%s", result.report())
    if report_path:
        write_check_report(result, report_path)
    elif result.errors:
        raise InputCheckError(f"{len(result.errors)} input problem(s):\n" + "\n".join(result.errors))
    return result


def write_settings(settings: dict, path) -> bool:
    """Write the check's settings to `path` only when they changed (the file's mtime is what
    Snakemake sees); returns whether it was written."""
    import json

    from reben.io import write_json

    path = Path(path)
    text = json.dumps(settings, indent=2, sort_keys=True, default=str) + "\n"
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(json.loads(text), path)
    return True


def recheck_at_start(rules_to_run: set[str], settings_path) -> None:
    """Every run but the first checks its inputs again before any job (the first runs rule
    check_inputs): a config changed since, or an input replaced, is caught here. Nothing to do
    when check_inputs itself runs, or when no tile job runs (e.g. downloads only)."""
    if "check_inputs" in rules_to_run or not rules_to_run & {"make_patch_grid", "sen2cor"}:
        return
    run_check_settings(settings_path)
