"""The dataset card and machine-readable metadata in results/dist/ (rule write_dataset_card):
README.md (what the dataset holds, what went in and under which terms, its licence and citation,
the checksums), a STAC Collection with one Item per tile (pystac; label, projection, sat and eo
extensions) and a Croissant JSON-LD description (mlcroissant) with a record set per metadata file.

Every statement comes from what the run used: report.json (counts, splits, classes), the tile.json
files (dates, orbits, footprints), SHA256SUMS (the files that ship) and PROVENANCE.json (the config
and the input files). What the dataset is called, its licence, homepage, creators and citation are
the config's `dataset` keys: a config that does not state them gets neutral text, never reBEN's
(config/reben.yaml states reBEN's). The card links only files that ship in dist/.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from reben.constants import S2_BAND_RESOLUTION, S2_BANDS
from reben.io import read_json, staged_dir, write_text

WORKFLOW = "reben-workflow, a Snakemake workflow that builds reBEN-style datasets from raw Copernicus inputs"
METADATA_FILES = ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
NO_LICENCE = "No licence is stated for this dataset (config dataset.licence); its data keep the terms of the sources"
COPERNICUS = (
    "Contains modified Copernicus Sentinel data{years} (free, full and open access: Copernicus Sentinel data terms)"
)
CLC_TERMS = "(c) European Union, Copernicus Land Monitoring Service, European Environment Agency (EEA)"
NOMENCLATURES = {
    "reben19": "the 19 classes of the BigEarthNet nomenclature",
    "bigearthnet43": "the 43 CORINE Land Cover level-3 classes of BigEarthNet v1",
}


def read_sums(path) -> dict[str, str]:
    """SHA256SUMS as {file name: sha256}."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            out[name.lstrip("*")] = digest
    return out


def dataset_keys(provenance: dict) -> dict:
    """The config's `dataset` keys (name, description, licence, licence_url, version, url,
    creators, citation), as the run recorded them in PROVENANCE.json."""
    keys = {
        "name": "Unnamed dataset",
        "description": None,
        "licence": None,
        "licence_url": None,
        "version": "0.1.0",
        "url": None,
        "creators": [],
        "citation": None,
    }
    keys.update(provenance.get("config", {}).get("dataset") or {})
    return keys


def _years(tiles: list[dict]) -> str:
    """' 2017-2018', the years of the products' sensing times."""
    years = sorted({t["sensing_time"][:4] for t in tiles})
    return "" if not years else f" {years[0]}" if len(years) == 1 else f" {years[0]}-{years[-1]}"


def sources(provenance: dict, tiles: list[dict]) -> list[tuple[str, str, str]]:
    """(source, what the run used of it, its terms), for exactly the inputs the run used."""
    config, inputs = provenance["config"], provenance["inputs"]
    copernicus = COPERNICUS.format(years=_years(tiles))
    products = inputs.get("sentinel2_products", [])
    l1c = [p for p in products if "_MSIL1C_" in p]
    what = f"{len(products)} products, L2A"
    if l1c:
        what += f"; {len(l1c)} corrected from L1C by sen2cor {config['sen2cor']['version']}"
    rows = [("Sentinel-2", what, copernicus)]
    s1 = config["sentinel1"]
    if s1["enabled"]:
        n = len(inputs.get("sentinel1_products", []))
        if s1["source"] == "bigearthnet_v1":
            rows.append(
                (
                    "Sentinel-1",
                    f"patches of {n} products, unchanged from the BigEarthNet-S1 v1.0 archive",
                    f"{copernicus}; BigEarthNet-S1 v1.0: CDLA-Permissive-1.0",
                )
            )
        else:
            rows.append(("Sentinel-1", f"{n} products, backscatter (dB)", copernicus))
    labels = config["labels"]
    if labels["raster"]["path"]:
        raster = inputs.get("label_raster") or {"name": Path(labels["raster"]["path"]).name}
        rows.append(
            ("Land cover (reference maps, labels)", f"the raster {raster['name']}", "the terms of its provider")
        )
    else:
        clc = inputs.get("clc") or {"name": Path(config["clc"]["path"] or "").name}
        version = f", version {config['clc']['version']}" if config["clc"]["version"] else ""
        rows.append(("CORINE Land Cover (reference maps, labels)", f"{clc['name']}{version}", CLC_TERMS))
    countries = config["countries"]
    if countries["borders"]:
        borders = inputs.get("borders") or {"name": Path(countries["borders"]).name}
        rows.append(("Country borders", borders["name"], "the terms of its provider"))
    else:
        rows.append(
            ("Country borders", f"Natural Earth admin-0 1:110m ({countries['download']['url']})", "public domain")
        )
    v1 = config["bigearthnet_v1"]
    if v1["tables"]:
        used = ["patch names (s2v1_name)"] + (["snow and cloud flags"] if v1["flags"] else [])
        rows.append(("BigEarthNet v1 tables", ", ".join(used), "CDLA-Permissive-1.0"))
    return rows


def label_statement(config: dict) -> str:
    labels = config["labels"]
    if labels["class_table"]:
        return f"the classes of the class table {Path(labels['class_table']).name}"
    return NOMENCLATURES.get(labels["nomenclature"], labels["nomenclature"])


def summary_text(report: dict, config: dict) -> str:
    """What the run built, in one paragraph."""
    s = report["summary"]
    size = config.get("patch_size_m", 1200)
    pairs = "Sentinel-2/Sentinel-1 patch pairs" if config["sentinel1"]["enabled"] else "Sentinel-2 patches"
    return (
        f"{s['kept_patches']:,} {pairs} of {size} m x {size} m from {s['tiles']} Sentinel-2 products: "
        f"{s['patches']:,} clean (`metadata.parquet`) and {s['flagged_patches']:,} with snow, cloud or shadow "
        f"(`metadata_for_patches_with_snow_cloud_or_shadow.parquet`). Each patch has a 10 m reference map of its "
        f"label source and multi-labels from {label_statement(config)}."
    )


def citation_text(keys: dict, published: date) -> str:
    """The config's citation, else one made of the dataset's own name, creators, version and date."""
    if keys["citation"]:
        return " ".join(keys["citation"].split())
    who = ", ".join(c["name"] for c in keys["creators"])
    return f"{who + ': ' if who else ''}{keys['name']}, version {keys['version']} ({published.isoformat()})"


def card_text(report: dict, sums: dict[str, str], provenance: dict, tiles: list[dict], published: date) -> str:
    keys, config = dataset_keys(provenance), provenance["config"]
    splits = report["splits"]
    classes = report["labels"]["frequencies"]
    lines = [f"# {keys['name']}", ""]
    if keys["description"]:
        lines += [" ".join(keys["description"].split()), ""]
    lines += [summary_text(report, config), ""]
    facts = [f"Version {keys['version']}, built {published.isoformat()} with reben-workflow."]
    if keys["url"]:
        facts.append(f"Homepage: {keys['url']}.")
    if keys["creators"]:
        facts.append(f"Made by {', '.join(c['name'] for c in keys['creators'])}.")
    lines += [" ".join(facts), "", "## Splits", ""]
    overlaps = config["splits"]["overlapping_tiles"]
    lines += [
        "Each tile's patches go by the distance of their centre to the tile's edge: train in the outer ring, "
        "validation, test in the centre"
        + (f"; patches where tiles overlap: `splits.overlapping_tiles: {overlaps}`." if overlaps != "none" else "."),
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
    if ratio:
        lines += ["", f"Imbalance ratio (most over least frequent class present): {ratio:.1f}"]
    checks = [c for c in report["checks"] if not c["ok"] or c.get("accepted")]
    if checks:
        lines += ["", "## Findings of the dataset's checks", ""]
        for c in checks:
            said = (
                f"FAILED: {c['name']}: {c['detail']}" if not c["ok"] else f"accepted ({c['setting']}): {c['finding']}"
            )
            lines.append(f"- {said}")
    lines += ["", "## Sources and their terms", "", "| source | what the build used | terms |", "|---|---|---|"]
    lines += [f"| {s} | {what} | {terms} |" for s, what, terms in sources(provenance, tiles)]
    lines += ["", "## Licence", ""]
    if keys["licence"]:
        lines.append(f"{keys['licence']}" + (f" ({keys['licence_url']})" if keys["licence_url"] else "") + ".")
    else:
        lines.append(NO_LICENCE + " above.")
    lines += ["", "## Citation", "", citation_text(keys, published), "", f"Built with {WORKFLOW}.", ""]
    lines += ["## Files and checksums", "", "| file | sha256 |", "|---|---|"]
    lines += [f"| [`{n}`]({n}) | `{d}` |" for n, d in sorted(sums.items())]
    lines += [
        "",
        "Verify a download with `sha256sum -c SHA256SUMS` (or `md5sum -c MD5SUMS`) in this folder. The same files "
        "are described for machines in [`stac/collection.json`](stac/collection.json) (STAC) and "
        "[`croissant.json`](croissant.json) (Croissant).",
        "",
    ]
    return "\n".join(lines)


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "dataset"


def _asset(pystac, file: str, digest: str, href: str, title: str, roles: list[str]):
    media = "application/x-parquet" if file.endswith(".parquet") else "application/zstd"
    return pystac.Asset(
        href=href, title=title, media_type=media, roles=roles, extra_fields={"file:checksum": "1220" + digest}
    )


def stac_collection(report: dict, tiles: list[dict], sums: dict[str, str], provenance: dict):
    """A pystac Collection (summaries of bands, GSD, dates and classes; the dist files as assets)
    with one Item per tile: footprint, sensing time, projection, orbit, bands, the archives and
    metadata files holding its patches as assets, and its labels (label:properties)."""
    from datetime import datetime

    import pystac
    from pystac.extensions.eo import Band, EOExtension
    from pystac.extensions.label import LabelClasses, LabelExtension, LabelTask, LabelType
    from pystac.extensions.projection import ProjectionExtension
    from pystac.extensions.sat import SatExtension

    keys, config = dataset_keys(provenance), provenance["config"]
    classes = list(report["labels"]["classes"])
    s1 = config["sentinel1"]["enabled"]
    bands = [{"name": b, "gsd": float(S2_BAND_RESOLUTION[b])} for b in S2_BANDS]
    bands += [{"name": pol, "gsd": 10.0} for pol in ("VV", "VH")] if s1 else []
    label_description = (
        "scene multi-labels: the `labels` column of the metadata files (rows whose patch_id starts with the tile "
        "key); pixel labels: the reference maps in Reference_Maps.tar.zst"
    )
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
        for file, digest in sorted(sums.items()):
            tree = file.removesuffix(".tar.zst")
            if file.endswith(".tar.zst"):
                where = f"{tree}/{t['tile_key']}/" if tree != "BigEarthNet-S1" else f"{tree}/ (its S1 partners)"
                roles = ["labels", "labels-raster"] if tree == "Reference_Maps" else ["data"]
                title = f"the tile's patches: {where} in the archive"
            elif file in METADATA_FILES:
                roles, title = ["labels", "metadata"], f"rows whose patch_id starts with {t['tile_key']}"
            else:
                continue
            item.add_asset(tree.removesuffix(".parquet"), _asset(pystac, file, digest, f"../../{file}", title, roles))
        label = LabelExtension.ext(item, add_if_missing=True)
        label.apply(
            label_description=label_description,
            label_type=LabelType.VECTOR,
            label_properties=["labels"],
            label_classes=[LabelClasses.create(classes=classes, name="labels")],
            label_tasks=[LabelTask.CLASSIFICATION],
        )
        items.append(item)
    times = sorted(i.datetime for i in items)
    collection = pystac.Collection(
        id=slug(keys["name"]),
        title=keys["name"],
        license=keys["licence"] or "other",
        description=" ".join((keys["description"] or "").split()) or summary_text(report, config),
        extent=pystac.Extent(
            pystac.SpatialExtent(
                [
                    [
                        min(t["bbox"][0] for t in tiles),
                        min(t["bbox"][1] for t in tiles),
                        max(t["bbox"][2] for t in tiles),
                        max(t["bbox"][3] for t in tiles),
                    ]
                ]
            ),
            pystac.TemporalExtent([[times[0], times[-1]]]),
        ),
        providers=[
            pystac.Provider(c["name"], roles=[pystac.ProviderRole.PRODUCER], url=c.get("url")) for c in keys["creators"]
        ]
        + [
            pystac.Provider(
                "Copernicus (ESA, European Commission): Sentinel data", roles=[pystac.ProviderRole.LICENSOR]
            )
        ],
        summaries=pystac.Summaries(
            {
                "platform": sorted({i.properties["platform"] for i in items}),
                "constellation": ["sentinel-2", *(["sentinel-1"] if s1 else [])],
                "instruments": ["msi", *(["c-sar"] if s1 else [])],
                "gsd": sorted({b["gsd"] for b in bands}),
                "bands": bands,
                "datetime": {"minimum": times[0].isoformat(), "maximum": times[-1].isoformat()},
                "proj:code": sorted({f"EPSG:{t['epsg']}" for t in tiles}),
                "label:classes": [{"name": "labels", "classes": classes}],
                "label:type": ["vector"],
                "label:properties": ["labels"],
            }
        ),
        extra_fields={"version": keys["version"]},
    )
    if keys["licence_url"]:
        collection.add_link(pystac.Link(rel="license", target=keys["licence_url"], title=keys["licence"]))
    if keys["url"]:
        collection.add_link(pystac.Link(rel="about", target=keys["url"], title="homepage"))
    for file, digest in sorted(sums.items()):
        collection.add_asset(file.split(".")[0], _asset(pystac, file, digest, f"../{file}", file, ["data"]))
    collection.add_items(items)
    return collection


def _fields(mlc, record_set: str, file: str, config: dict) -> list:
    """The fields of one metadata file's record set: every column the run fills."""
    text, flag = [mlc.DataType.TEXT], [mlc.DataType.BOOL]
    columns = [("patch_id", text, False), ("labels", text, True), ("split", text, False), ("country", text, False)]
    if config["sentinel1"]["enabled"]:
        columns.append(("s1_name", text, False))
    if config["bigearthnet_v1"]["tables"]:
        columns.append(("s2v1_name", text, False))
    columns += [("contains_seasonal_snow", flag, False), ("contains_cloud_or_shadow", flag, False)]
    return [
        mlc.Field(
            id=f"{record_set}/{name}",
            name=name,
            data_types=types,
            is_array=True if array else None,
            source=mlc.Source(file_object=file, extract=mlc.Extract(column=name)),
        )
        for name, types, array in columns
    ]


def croissant(report: dict, sums: dict[str, str], dist_dir: Path, provenance: dict, published: date) -> dict:
    """The Croissant JSON-LD of the distribution (mlcroissant's Metadata, serialised): every file
    of SHA256SUMS, and one record set per metadata file."""
    import mlcroissant as mlc

    keys, config = dataset_keys(provenance), provenance["config"]
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
    record_sets = [
        mlc.RecordSet(
            id=Path(f).stem,
            name=Path(f).stem,
            description="kept patches without snow, cloud or shadow"
            if f == METADATA_FILES[0]
            else "kept patches with seasonal snow, cloud or shadow",
            fields=_fields(mlc, Path(f).stem, f, config),
        )
        for f in METADATA_FILES
        if f in sums
    ]
    if keys["licence"]:
        licence = [keys["licence_url"] or keys["licence"]]
    else:
        licence = [mlc.CreativeWork(name="not stated", description=NO_LICENCE + " (see README.md)")]
    metadata = mlc.Metadata(
        name=keys["name"],
        description=" ".join((keys["description"] or "").split()) or summary_text(report, config),
        license=licence,
        url=keys["url"],
        version=keys["version"],
        date_published=published,
        creators=[mlc.Person(name=c["name"], url=c.get("url"), email=c.get("email")) for c in keys["creators"]],
        cite_as=citation_text(keys, published),
        distribution=files,
        record_sets=record_sets,
    )
    return metadata.to_json()


def write_dataset_card(
    report_path, tile_paths, sha256sums, provenance_path, out_readme, out_stac, out_croissant, published=None
) -> None:
    """README.md, the STAC catalogue folder and croissant.json beside the archives."""
    import pystac

    report = read_json(report_path)
    provenance = read_json(provenance_path)
    sums = read_sums(sha256sums)
    dist_dir = Path(sha256sums).parent
    published = published or date.today()
    tiles = []
    for path in tile_paths:
        t = read_json(path)
        info = report["tiles"].get(t["tile_key"])
        if info and info.get("bbox"):
            tiles.append({**t, "bbox": info["bbox"], "kept": info["kept"], "epsg": info["epsg"]})
    write_text(card_text(report, sums, provenance, tiles, published), out_readme)
    collection = stac_collection(report, tiles, sums, provenance)
    # No dot in the staging name: pystac takes "x.tmp" for a file.
    with staged_dir(Path(out_stac).resolve(), suffix="_tmp") as tmp:
        collection.normalize_hrefs(str(tmp))
        collection.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    text = json.dumps(croissant(report, sums, dist_dir, provenance, published), indent=1, default=str) + "\n"
    write_text(text, out_croissant)
