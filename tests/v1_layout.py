"""Test helpers: the BigEarthNet v1 layout export of a finished demo run, with a sidecar that
carries a 43-class column written here (tests/distribution/test_v1_export.py and
test_reader_torchgeo.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from bigearthnet_common.constants import OLD2NEW_LABELS_DICT
from conftest import demo_config

from reben.distribution.v1_export import export_v1
from reben.names import tile_key

# One 43-class name for each 19-class name (the first of bigearthnet-common's table), and a
# 43-class class without a 19-class counterpart added to every third patch.
FIRST_43 = {}
for old, new in OLD2NEW_LABELS_DICT.items():
    if new is not None:
        FIRST_43.setdefault(new, old)
EXTRA_43 = "Road and rail networks and associated land"


def sidecar_with_43_classes(dataset: Path, out: Path, v1_names: dict | None = None) -> pd.DataFrame:
    """The demo run's sidecar with a `labels_43` column, as the label stage will write it (and
    the given s2v1_names)."""
    import geopandas as gpd

    patches = gpd.read_parquet(dataset / "patches.parquet")
    if v1_names:
        patches["s2v1_name"] = [v1_names.get(pid, "") for pid in patches["patch_id"]]
    patches["labels_43"] = [
        sorted([FIRST_43[c] for c in labels] + ([EXTRA_43] if i % 3 == 0 and len(labels) else []))
        for i, labels in enumerate(patches["labels"])
    ]
    patches.to_parquet(out)
    return patches


def demo_export(demo_run: Path, out: Path, v1_names: dict | None = None, with_s1: bool = True, **kwargs) -> Path:
    """The v1 export of a demo run (the rule's function, called as its script calls it)."""
    results = demo_run / "results"
    dataset = results / "dataset"
    out.parent.mkdir(parents=True, exist_ok=True)
    sidecar = out.parent / "patches_43.parquet"
    sidecar_with_43_classes(dataset, sidecar, v1_names)
    config = demo_config()
    sources = {tile_key(p["name"]): p["name"] for p in config["sentinel2"]["products"]}
    tiles = sorted(sources)
    scenes = {p["name"][:32]: p["name"] for p in config["sentinel1"]["products"]}
    export_v1(
        sidecar=sidecar,
        s2_tree=dataset / "BigEarthNet-S2",
        out_dir=out,
        geocodings=[results / "tiles" / t / "geocoding.json" for t in tiles],
        tile_sources=sources,
        s1_tree=dataset / "BigEarthNet-S1" if with_s1 else None,
        s1_scenes=scenes,
        **kwargs,
    )
    return out
