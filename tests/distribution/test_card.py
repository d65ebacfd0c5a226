"""The dataset card, STAC catalogue and Croissant description (reben.distribution.card), built from a
hand-made dataset's report and a PROVENANCE.json of the config the run used, and read back
offline: STAC core schemas bundled with pystac, no schema fetched (the network is cut off in these
tests), Croissant validated and every record loaded with mlcroissant. A user's own dataset gets
no claim of reBEN's; config/reben.yaml still gets reBEN's card."""

from __future__ import annotations

import hashlib
import json
import re
import socket
from datetime import date

import pandas as pd
import pytest
import yaml
from conftest import REPO
from small_dataset import TILE, make_dataset, run_report

from reben.config import validate_config
from reben.distribution.card import write_dataset_card
from reben.distribution.provenance import provenance_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
METADATA = ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
PUBLISHED = date(2026, 3, 1)
# What only reBEN may claim: its name, licence, homepage, authors and paper.
REBEN_ONLY = ("CDLA", "cdla.dev", "bigearth.net", "Clasen", "2407.03653", "IGARSS", "Refined BigEarthNet", "reBEN ")


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access at test time: {args[1:] if len(args) > 1 else args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def own_config(**changes) -> dict:
    """A user's own config (the template's keys at their defaults), with their inputs."""
    config = {
        "results": "out",
        "sentinel2": {"products": [{"name": "S2A_MSIL2A_20170613T101031_N0205_R022_T33UUP_20170613T101608"}]},
        "clc": {"path": "/data/clc/U2018_CLC2018_V2020_20u1.gpkg"},
        "sentinel1": {"enabled": True, "input_dir": "/data/s1"},
        "countries": {"borders": "/data/borders/admin0.gpkg", "names": ["Austria", "Slovenia"]},
    }
    for key, value in changes.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return provenance_config(validate_config(config, SCHEMA))


def reben_config() -> dict:
    return provenance_config(validate_config(yaml.safe_load((REPO / "config" / "reben.yaml").read_text()), SCHEMA))


def build_card(root, config: dict, inputs: dict | None = None):
    """The card, STAC and Croissant of the small dataset, as built from `config`."""
    data = make_dataset(root)
    run_report(root, data)
    dist = data["dist"][0].parent
    for name in METADATA:
        (dist / name).write_bytes((data["dataset"] / name).read_bytes())
    sums = "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(dist.iterdir()) if p.is_file()
    )
    (dist / "SHA256SUMS").write_text(sums)
    default_inputs = {
        "sentinel2_products": [TILE + "_20170613T101608"],
        "sentinel1_products": ["S1B_IW_GRDH_1SDV_20170612T165809"],
        "clc": {"name": "U2018_CLC2018_V2020_20u1.gpkg", "size": 10, "sha256": "ab" * 32},
        "borders": {"name": "admin0.gpkg", "size": 10, "sha256": "cd" * 32},
    }
    provenance = root / "PROVENANCE.json"
    provenance.write_text(json.dumps({"config": config, "inputs": inputs or default_inputs}))
    write_dataset_card(
        root / "report" / "report.json",
        [data["tile_json"]],
        dist / "SHA256SUMS",
        provenance,
        dist / "README.md",
        dist / "stac",
        dist / "croissant.json",
        published=PUBLISHED,
    )
    return dist


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    """A user's own dataset: neutral dataset keys, their own CLC file, borders and Sentinel-1."""
    return build_card(tmp_path_factory.mktemp("card"), own_config())


def machine_readable(dist) -> str:
    return (dist / "croissant.json").read_text() + "".join(p.read_text() for p in (dist / "stac").rglob("*.json"))


def test_the_card_has_counts_splits_classes_sources_and_checksums(card):
    text = (card / "README.md").read_text()
    assert text.startswith("# Unnamed dataset\n")
    assert "12 Sentinel-2/Sentinel-1 patch pairs of 1200 m x 1200 m from 1 Sentinel-2 products: 11 clean" in text
    assert "| train | 3 | 25.0 % |" in text and "| test | 6 | 50.0 % |" in text
    assert "| Arable land | 7 |" in text
    assert "| Sentinel-2 | 1 products, L2A | Contains modified Copernicus Sentinel data 2017 " in text
    assert "| CORINE Land Cover (reference maps, labels) | U2018_CLC2018_V2020_20u1.gpkg |" in text
    assert "European Environment Agency" in text
    assert "| Country borders | admin0.gpkg | the terms of its provider |" in text
    assert "No licence is stated for this dataset" in text
    assert "Unnamed dataset, version 0.1.0 (2026-03-01)" in text and "reben-workflow" in text
    # The failed train-coverage check of this tiny dataset is said on the card too.
    assert "FAILED: every class in validation or test has train patches" in text
    digest = hashlib.sha256((card / "metadata.parquet").read_bytes()).hexdigest()
    assert f"| [`metadata.parquet`](metadata.parquet) | `{digest}` |" in text


def test_a_users_card_stac_and_croissant_hold_no_claim_of_rebens(card):
    text = (card / "README.md").read_text() + machine_readable(card)
    for claim in (*REBEN_ONLY, "Natural Earth", "BigEarthNet v1 tables", "BigEarthNet-S1 v1.0"):
        assert claim not in text, claim


def test_the_card_links_only_what_ships_in_dist(card):
    text = (card / "README.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert "stac/collection.json" in links and "croissant.json" in links
    for link in links:
        assert (card / link).is_file(), link
    assert "report/" not in text and "index.html" not in text


def test_natural_earth_and_a_label_raster_only_when_the_run_used_them(tmp_path):
    config = own_config(
        countries={"borders": None}, labels={"raster": {"path": "/data/worldcover.tif"}}, clc={"path": None}
    )
    inputs = {
        "sentinel2_products": [TILE + "_20170613T101608"],
        "label_raster": {"name": "worldcover.tif", "size": 10, "sha256": "ef" * 32},
    }
    text = (build_card(tmp_path, config, inputs) / "README.md").read_text()
    assert "| Country borders | Natural Earth admin-0 1:110m (https://raw.githubusercontent.com/nvkelso/" in text
    assert "| Land cover (reference maps, labels) | the raster worldcover.tif | the terms of its provider |" in text
    assert "CORINE" not in text and "European Environment Agency" not in text


def test_the_dataset_keys_are_stated_where_a_config_sets_them(tmp_path):
    dataset = {
        "name": "Alpine forests",
        "description": "Forest types of the Alps.",
        "licence": "CC-BY-4.0",
        "licence_url": "https://creativecommons.org/licenses/by/4.0/",
        "version": "1.2.0",
        "url": "https://example.org/alpine",
        "creators": [{"name": "A. Researcher", "email": "a@example.org"}],
        "citation": "A. Researcher, Alpine forests, 2026.",
    }
    dist = build_card(tmp_path, own_config(dataset=dataset))
    text = (dist / "README.md").read_text()
    assert text.startswith("# Alpine forests\n\nForest types of the Alps.\n")
    assert "CC-BY-4.0 (https://creativecommons.org/licenses/by/4.0/)." in text
    assert "A. Researcher, Alpine forests, 2026." in text and "Homepage: https://example.org/alpine." in text
    croissant = json.loads((dist / "croissant.json").read_text())
    assert croissant["name"] == "Alpine forests" and croissant["version"] == "1.2.0"
    assert croissant["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert croissant["url"] == "https://example.org/alpine" and croissant["datePublished"].startswith("2026-03-01")
    collection = json.loads((dist / "stac" / "collection.json").read_text())
    assert (collection["id"], collection["license"], collection["version"]) == ("Alpine-forests", "CC-BY-4.0", "1.2.0")


def test_reben_yaml_still_gets_rebens_card(tmp_path):
    inputs = {
        "sentinel2_products": [TILE.replace("MSIL2A", "MSIL1C") + "_20170613T101608"],
        "sentinel1_products": ["S1B_IW_GRDH_1SDV_20170612T165809"],
        "clc": {"name": "U2018_CLC2018_V2020_20u1.gpkg", "size": 10, "sha256": "ab" * 32},
        "borders": {"name": "ne_110m_admin_0_countries.geojson", "size": 10, "sha256": "cd" * 32},
        "bigearthnet_v1_tables": "bigearthnet-common 2.8.0",
    }
    dist = build_card(tmp_path, reben_config(), inputs)
    text = (dist / "README.md").read_text()
    assert text.startswith("# reBEN\n\nThe refined BigEarthNet (BigEarthNet v2.0)")
    assert "1 corrected from L1C by sen2cor 2.11" in text
    assert "CDLA-Permissive-1.0 (https://cdla.dev/permissive-1-0/)." in text
    assert "reBEN: Refined BigEarthNet Dataset for Remote Sensing Image Analysis" in text and "arXiv:2407.03653" in text
    assert "Natural Earth admin-0 1:110m" in text and "public domain" in text
    assert "unchanged from the BigEarthNet-S1 v1.0 archive" in text
    assert "| BigEarthNet v1 tables | patch names (s2v1_name), snow and cloud flags | CDLA-Permissive-1.0 |" in text
    assert "Made by Kai Norman Clasen, Leonard Hackel" in text and "Homepage: https://bigearth.net." in text
    croissant = json.loads((dist / "croissant.json").read_text())
    assert croissant["url"] == "https://bigearth.net" and croissant["version"] == "2.0"
    assert croissant["license"] == "https://cdla.dev/permissive-1-0/"
    assert "Refined BigEarthNet" in croissant["citeAs"]
    fields = {f["name"] for f in croissant["recordSet"][0]["field"]}
    assert {"s1_name", "s2v1_name"} <= fields


def test_the_stac_catalogue_validates_offline_and_reads_back(card, offline):
    import pystac
    from pystac.extensions.eo import EOExtension
    from pystac.extensions.label import LabelExtension
    from pystac.extensions.projection import ProjectionExtension
    from pystac.extensions.sat import SatExtension
    from pystac.validation import validate_dict

    collection = pystac.Collection.from_file(str(card / "stac" / "collection.json"))
    # Core schemas only: pystac bundles those; the extension schemas are not bundled by any
    # package we found, so the extensions are checked by reading them back below.
    validate_dict(collection.to_dict(), extensions=[])
    summaries = collection.summaries.to_dict()
    assert [b["name"] for b in summaries["bands"]][:3] == ["B01", "B02", "B03"]
    assert {b["name"]: b["gsd"] for b in summaries["bands"]}["B8A"] == 20.0 and summaries["gsd"] == [10.0, 20.0, 60.0]
    assert summaries["datetime"] == {"minimum": "2017-06-13T10:10:31+00:00", "maximum": "2017-06-13T10:10:31+00:00"}
    assert summaries["label:classes"][0]["classes"][:2] == ["Urban fabric", "Industrial or commercial units"]
    assert collection.license == "other" and collection.title == "Unnamed dataset"
    items = list(collection.get_items())
    assert [i.id for i in items] == [TILE]
    item = items[0]
    validate_dict(item.to_dict(), extensions=[])
    assert item.datetime.isoformat() == "2017-06-13T10:10:31+00:00"
    assert ProjectionExtension.ext(item).code == "EPSG:32633"
    assert SatExtension.ext(item).relative_orbit == 22
    assert [b.name for b in EOExtension.ext(item).bands][:3] == ["B01", "B02", "B03"]
    label = LabelExtension.ext(item)
    assert label.label_type == "vector" and label.label_properties == ["labels"]
    assert len(label.label_classes[0].classes) == 19
    assert item.properties["reben:kept_patches"] == 12
    hrefs = {key: asset.get_absolute_href() for key, asset in item.assets.items()}
    assert hrefs == {
        "BigEarthNet-S2": str(card / "BigEarthNet-S2.tar.zst"),
        "metadata": str(card / "metadata.parquet"),
        "metadata_for_patches_with_snow_cloud_or_shadow": str(card / METADATA[1]),
    }
    assert "labels" in item.assets["metadata"].roles
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(32633, 4326, always_xy=True).transform
    corners = [to_lonlat(x, y) for x in (300000, 304800) for y in (5395200, 5400000)]  # the 4 x 4 grid
    assert item.bbox == pytest.approx(
        [
            min(c[0] for c in corners),
            min(c[1] for c in corners),
            max(c[0] for c in corners),
            max(c[1] for c in corners),
        ],
        abs=1e-6,
    )
    asset = collection.assets["metadata"]
    assert asset.get_absolute_href() == str(card / "metadata.parquet")


def test_croissant_validates_without_warning_and_every_record_loads(card, offline):
    import mlcroissant as mlc

    dataset = mlc.Dataset(jsonld=str(card / "croissant.json"))
    meta = dataset.metadata
    assert not meta.ctx.issues.warnings and not meta.ctx.issues.errors
    assert meta.cite_as == "Unnamed dataset, version 0.1.0 (2026-03-01)"
    names = {d.name: d for d in meta.distribution}
    assert names["metadata.parquet"].sha256 == hashlib.sha256((card / "metadata.parquet").read_bytes()).hexdigest()
    for name in METADATA:
        record_set = name.removesuffix(".parquet")
        rows = pd.read_parquet(card / name).sort_values("patch_id")
        records = sorted(dataset.records(record_set), key=lambda r: r[f"{record_set}/patch_id"])
        assert len(records) == len(rows) > 0
        for record, (_, row) in zip(records, rows.iterrows()):
            got = {k.split("/", 1)[1]: v for k, v in record.items()}
            assert set(got) == {
                "patch_id",
                "labels",
                "split",
                "country",
                "s1_name",
                "contains_seasonal_snow",
                "contains_cloud_or_shadow",
            }
            assert got["patch_id"].decode() == row["patch_id"]
            assert [v.decode() for v in got["labels"]] == list(row["labels"])
            assert (got["split"].decode(), got["country"].decode()) == (row["split"], row["country"])
            assert got["s1_name"].decode() == row["s1_name"]
            assert got["contains_seasonal_snow"] == row["contains_seasonal_snow"]
            assert got["contains_cloud_or_shadow"] == row["contains_cloud_or_shadow"]
    assert json.loads((card / "croissant.json").read_text())["@type"] == "sc:Dataset"


def test_the_croissant_names_no_licence_when_none_is_stated(card):
    croissant = json.loads((card / "croissant.json").read_text())
    assert (
        croissant["license"]["name"] == "not stated" and "No licence is stated" in croissant["license"]["description"]
    )
    assert "url" not in croissant and "creator" not in croissant
