"""The dataset card, STAC catalogue and Croissant description (reben.distribution.card), built from a
hand-made dataset's report and read back offline: STAC core schemas bundled with pystac, no
schema fetched (the network is cut off in these tests), Croissant loaded with mlcroissant."""

from __future__ import annotations

import hashlib
import json
import socket

import pytest
from small_dataset import TILE, make_dataset, run_report

from reben.distribution.card import write_dataset_card


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access at test time: {args[1:] if len(args) > 1 else args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    root = tmp_path_factory.mktemp("card")
    data = make_dataset(root)
    run_report(root, data)
    dist = data["dist"][0].parent
    (dist / "metadata.parquet").write_bytes((data["dataset"] / "metadata.parquet").read_bytes())
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(dist.iterdir()))
    (dist / "SHA256SUMS").write_text(sums)
    write_dataset_card(
        root / "report" / "report.json",
        [data["tile_json"]],
        dist / "SHA256SUMS",
        dist / "README.md",
        dist / "stac",
        dist / "croissant.json",
    )
    return dist


def test_the_card_has_counts_splits_classes_licences_citations_and_checksums(card):
    text = (card / "README.md").read_text()
    assert "12 Sentinel-2/Sentinel-1 patch pairs from 1 Sentinel-2 products: 11 clean" in text
    assert "| train | 3 | 25.0 % |" in text and "| test | 6 | 50.0 % |" in text
    assert "| Arable land | 7 |" in text
    for needle in (
        "Copernicus Sentinel data",
        "European Environment Agency",
        "CDLA-Permissive-1.0",
        "Natural Earth, public domain",
        "reBEN: Refined BigEarthNet Dataset for Remote Sensing Image Analysis",
        "arXiv:2407.03653",
        "IGARSS",
        "reben-workflow",
        "sha256sum -c SHA256SUMS",
    ):
        assert needle in text, needle
    digest = hashlib.sha256((card / "metadata.parquet").read_bytes()).hexdigest()
    assert f"| `metadata.parquet` | `{digest}` |" in text


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
    items = list(collection.get_items())
    assert [i.id for i in items] == [TILE]
    item = items[0]
    validate_dict(item.to_dict(), extensions=[])
    assert item.datetime.isoformat() == "2017-06-13T10:10:31+00:00"
    assert ProjectionExtension.ext(item).code == "EPSG:32633"
    assert SatExtension.ext(item).relative_orbit == 22
    assert [b.name for b in EOExtension.ext(item).bands][:3] == ["B01", "B02", "B03"]
    assert LabelExtension.ext(item).label_type == "raster"
    assert item.properties["reben:kept_patches"] == 12
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


def test_the_croissant_description_loads_with_mlcroissant(card, offline):
    import mlcroissant as mlc

    dataset = mlc.Dataset(jsonld=str(card / "croissant.json"))
    meta = dataset.metadata
    assert "Refined BigEarthNet" in meta.cite_as
    names = {d.name: d for d in meta.distribution}
    assert names["metadata.parquet"].sha256 == hashlib.sha256((card / "metadata.parquet").read_bytes()).hexdigest()
    records = list(dataset.records("metadata"))
    assert len(records) == 11
    assert {r["metadata/split"].decode() for r in records} == {"train", "validation", "test"}
    assert json.loads((card / "croissant.json").read_text())["@type"] == "sc:Dataset"
