"""The dataset card and machine-readable metadata in results/dist/ (rule write_dataset_card):
README.md (counts, splits, classes, sources and licences, citations, how to verify the
checksums), a STAC Collection with one Item per tile (pystac; label, projection, sat and eo
extensions) and a Croissant JSON-LD description (mlcroissant).

Everything comes from report.json, the tile.json files and SHA256SUMS: nothing reads pixels.
"""

from __future__ import annotations

import json
from pathlib import Path

from reben.constants import S2_BANDS
from reben.io import read_json, staged_dir, write_text

REBEN_CITATION = (
    'K. N. Clasen, L. Hackel, T. Burgert, G. Sumbul, B. Demir, V. Markl, "reBEN: Refined BigEarthNet '
    'Dataset for Remote Sensing Image Analysis", IEEE International Geoscience and Remote Sensing '
    "Symposium (IGARSS), 2025; arXiv:2407.03653."
)
WORKFLOW_CITATION = "reben-workflow: a Snakemake workflow that builds reBEN-style datasets from raw Copernicus inputs"
SOURCES = (
    (
        "Sentinel-2 L2A and Sentinel-1",
        "Contains modified Copernicus Sentinel data (free, full and open access: "
        "Copernicus Sentinel data terms and conditions)",
    ),
    (
        "CORINE Land Cover 2018",
        "(c) European Union, Copernicus Land Monitoring Service, European Environment Agency (EEA)",
    ),
    ("BigEarthNet (names, flags, split method)", "CDLA-Permissive-1.0"),
    ("Country borders", "Natural Earth, public domain"),
)
LICENSE = "CDLA-Permissive-1.0"


def read_sums(path) -> dict[str, str]:
    """SHA256SUMS as {file name: sha256}."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            out[name.lstrip("*")] = digest
    return out


def card_text(report: dict, sums: dict[str, str], name: str) -> str:
    splits = report["splits"]
    classes = report["labels"]["frequencies"]
    lines = [
        f"# {name}",
        "",
        f"{report['summary']['kept_patches']:,} Sentinel-2/Sentinel-1 patch pairs from "
        f"{report['summary']['tiles']} Sentinel-2 products: {report['summary']['patches']:,} clean "
        f"(`metadata.parquet`) and {report['summary']['flagged_patches']:,} with snow, cloud or shadow "
        "(`metadata_for_patches_with_snow_cloud_or_shadow.parquet`). Built with reben-workflow; "
        "the report (`report/index.html`) holds every number below and more.",
        "",
        "## Splits",
        "",
        "| split | patches | share |",
        "|---|---:|---:|",
    ]
    for s in ("train", "validation", "test"):
        v = splits[s]
        lines.append(f"| {s} | {v['patches']:,} | {v['share_pct'] or 0:.1f} % |")
    lines += ["", "## Classes", "", "| class | patches |", "|---|---:|"]
    lines += [f"| {c} | {classes[c]['total']:,} |" for c in report["labels"]["classes"]]
    ratio = report["labels"]["balance"]["imbalance_ratio"]
    lines += [
        "",
        f"Imbalance ratio (most over least frequent class present): {ratio:.1f}" if ratio else "",
        "",
        "## Sources and licences",
        "",
        "| source | licence |",
        "|---|---|",
    ]
    lines += [f"| {s} | {lic} |" for s, lic in SOURCES]
    lines += [
        "",
        f"The dataset is distributed under {LICENSE}.",
        "",
        "## Citation",
        "",
        "Please cite reBEN:",
        "",
        REBEN_CITATION,
        "",
        "and this workflow:",
        "",
        WORKFLOW_CITATION,
        "",
        "## Files and checksums",
        "",
        "| file | sha256 |",
        "|---|---|",
    ]
    lines += [f"| `{n}` | `{d}` |" for n, d in sorted(sums.items())]
    lines += ["", "Verify a download with `sha256sum -c SHA256SUMS` (or `md5sum -c MD5SUMS`) in this folder.", ""]
    return "\n".join(lines)


def stac_collection(report: dict, tiles: list[dict], sums: dict[str, str], name: str):
    """A pystac Collection with one Item per tile (footprint, sensing time, platform, bands)."""
    from datetime import datetime

    import pystac
    from pystac.extensions.eo import Band, EOExtension
    from pystac.extensions.label import LabelExtension, LabelTask, LabelType
    from pystac.extensions.projection import ProjectionExtension
    from pystac.extensions.sat import SatExtension

    items = []
    for t in tiles:
        west, south, east, north = t["bbox"]
        geometry = {
            "type": "Polygon",
            "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
        }
        when = datetime.fromisoformat(t["sensing_time"].replace("Z", "+00:00"))
        item = pystac.Item(
            id=t["tile_key"],
            geometry=geometry,
            bbox=[west, south, east, north],
            datetime=when,
            properties={
                "platform": "sentinel-2" + t["tile_key"][2].lower(),
                "constellation": "sentinel-2",
                "instruments": ["msi"],
                "reben:kept_patches": t["kept"],
                "reben:season": t["season"],
            },
        )
        ProjectionExtension.ext(item, add_if_missing=True).code = f"EPSG:{t['epsg']}"
        SatExtension.ext(item, add_if_missing=True).relative_orbit = int(t["tile_key"].split("_")[4][1:])
        EOExtension.ext(item, add_if_missing=True).bands = [Band.create(name=b) for b in S2_BANDS]
        label = LabelExtension.ext(item, add_if_missing=True)
        label.apply(
            label_description="19-class scene labels and 10 m CLC 2018 reference maps",
            label_type=LabelType.RASTER,
            label_tasks=[LabelTask.CLASSIFICATION],
            label_properties=None,
        )
        items.append(item)
    west = min(t["bbox"][0] for t in tiles)
    south = min(t["bbox"][1] for t in tiles)
    east = max(t["bbox"][2] for t in tiles)
    north = max(t["bbox"][3] for t in tiles)
    times = sorted(i.datetime for i in items)
    collection = pystac.Collection(
        id=name,
        title=name,
        license=LICENSE,
        description=(
            f"{report['summary']['kept_patches']} Sentinel-2/Sentinel-1 patch pairs with 10 m CLC 2018 "
            "reference maps and multi-labels (reBEN layout)"
        ),
        extent=pystac.Extent(
            pystac.SpatialExtent([[west, south, east, north]]), pystac.TemporalExtent([[times[0], times[-1]]])
        ),
        providers=[
            pystac.Provider("ESA / Copernicus", roles=[pystac.ProviderRole.PRODUCER]),
            pystac.Provider("EEA (CORINE Land Cover)", roles=[pystac.ProviderRole.LICENSOR]),
        ],
    )
    for file, digest in sorted(sums.items()):
        collection.add_asset(
            file.split(".")[0],
            pystac.Asset(href=f"../{file}", roles=["data"], extra_fields={"file:checksum": "1220" + digest}),
        )
    collection.add_items(items)
    return collection


def croissant(report: dict, sums: dict[str, str], dist_dir: Path, name: str) -> dict:
    """The Croissant JSON-LD of the distribution (mlcroissant's Metadata, serialised)."""
    import mlcroissant as mlc

    files = [
        mlc.FileObject(
            id=f,
            name=f,
            content_url=f,
            sha256=d,
            encoding_formats=["application/x-parquet" if f.endswith(".parquet") else "application/zstd"],
            content_size=f"{(dist_dir / f).stat().st_size} B",
        )
        for f, d in sorted(sums.items())
    ]
    fields = [
        mlc.Field(
            id=f"metadata/{c}",
            name=c,
            data_types=[mlc.DataType.TEXT],
            source=mlc.Source(file_object="metadata.parquet", extract=mlc.Extract(column=c)),
        )
        for c in ("patch_id", "split", "country", "s1_name")
    ]
    record_sets = [mlc.RecordSet(id="metadata", name="metadata", fields=fields)] if "metadata.parquet" in sums else []
    metadata = mlc.Metadata(
        name=name,
        description=(
            f"{report['summary']['kept_patches']} Sentinel-2/Sentinel-1 patch pairs with CLC 2018 reference maps "
            "and 19-class multi-labels, in the layout of reBEN (BigEarthNet v2.0)"
        ),
        license=["https://cdla.dev/permissive-1-0/"],
        url="https://bigearth.net",
        cite_as=REBEN_CITATION,
        distribution=files,
        record_sets=record_sets,
    )
    return metadata.to_json()


def write_dataset_card(
    report_path, tile_paths, sha256sums, out_readme, out_stac, out_croissant, name: str = "reBEN-style dataset"
) -> None:
    """README.md, the STAC catalogue folder and croissant.json beside the archives."""
    report = read_json(report_path)
    sums = read_sums(sha256sums)
    dist_dir = Path(sha256sums).parent
    tiles = []
    for path in tile_paths:
        t = read_json(path)
        info = report["tiles"].get(t["tile_key"])
        if info and info.get("bbox"):
            tiles.append({**t, "bbox": info["bbox"], "kept": info["kept"], "epsg": info["epsg"]})
    write_text(card_text(report, sums, name), out_readme)
    stac_dir = Path(out_stac).resolve()
    collection = stac_collection(report, tiles, sums, name.replace(" ", "-"))
    import pystac

    # No dot in the staging name: pystac takes "x.tmp" for a file.
    with staged_dir(stac_dir, suffix="_tmp") as tmp:
        collection.normalize_hrefs(str(tmp))
        collection.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    write_text(json.dumps(croissant(report, sums, dist_dir, name), indent=1, default=str) + "\n", out_croissant)
