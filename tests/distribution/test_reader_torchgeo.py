"""The real reader: torchgeo's BigEarthNet (v1) dataset class loads our BigEarthNet v1 layout export.

torchgeo runs in its own environment (envs/torchgeo-reader-requirements.txt), built on first use
and reused (tests/reader_env.py). The export is made from the demo run with a sidecar that
carries 43-class labels (tests/v1_layout.py). One subprocess loads every split with every band
setting and both nomenclatures; the tests check what it saw against metadata.parquet, the
43-class labels and the dataset's GeoTIFFs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from bigearthnet_common.constants import NEW_LABELS_ORIGINAL_ORDER, OLD2NEW_LABELS_DICT, OLD_LABELS_ORIGINAL_ORDER
from conftest import REPO
from reader_env import reader_python
from v1_layout import demo_export, sidecar_with_43_classes

from reben.constants import S2_BANDS

pytestmark = [pytest.mark.reader, pytest.mark.integration]

REQUIREMENTS = REPO / "envs" / "torchgeo-reader-requirements.txt"
SPLITS = {"train": "train", "val": "validation", "test": "test"}  # torchgeo's name -> ours
CHANNELS = {"s2": 12, "s1": 2, "all": 14}

DRIVER = r"""
import json, sys
from pathlib import Path
import numpy as np
from torchgeo.datasets import BigEarthNet

root, out, s2_only = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
report = {}
for split in ("train", "val", "test"):
    ds = BigEarthNet(s2_only, split=split, bands="s2", num_classes=43)
    report[f"s2_only/{split}"] = {Path(ds.folders[i]["s2"]).name: [int(v) for v in ds[i]["label"].tolist()]
                                  for i in range(len(ds))}
for split in ("train", "val", "test"):
    for bands in ("s2", "s1", "all"):
        for classes in (43, 19):
            ds = BigEarthNet(root, split=split, bands=bands, num_classes=classes)
            shapes, dtypes, labels = set(), set(), {}
            for i in range(len(ds)):
                sample = ds[i]
                name = Path(ds.folders[i]["s2"]).name
                shapes.add(tuple(sample["image"].shape))
                dtypes.add(str(sample["image"].dtype))
                labels[name] = [int(v) for v in sample["label"].tolist()]
                if bands == "all" and classes == 43 and i in (0, len(ds) - 1):
                    np.save(out / f"{split}__{name}.npy", sample["image"].numpy())
            report[f"{split}/{bands}/{classes}"] = {"n": len(ds), "shapes": sorted(shapes),
                                                    "dtypes": sorted(dtypes), "labels": labels}
report["class_sets"] = {str(k): v for k, v in BigEarthNet.class_sets.items()}
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def export(demo_run, tmp_path_factory) -> Path:
    return demo_export(demo_run, tmp_path_factory.mktemp("torchgeo") / "bigearthnet_v1")


@pytest.fixture(scope="module")
def s2_only_export(demo_run, tmp_path_factory) -> Path:
    """The export of a dataset without Sentinel-1 (split lines `<name>,`)."""
    return demo_export(demo_run, tmp_path_factory.mktemp("torchgeo_s2") / "bigearthnet_v1", with_s1=False)


@pytest.fixture(scope="module")
def patches(demo_run, tmp_path_factory) -> pd.DataFrame:
    """The kept patches without a flag (what the split files list), with their 43-class labels."""
    dataset = demo_run / "results" / "dataset"
    sidecar = sidecar_with_43_classes(dataset, tmp_path_factory.mktemp("sidecar") / "p.parquet")
    metadata = pd.read_parquet(dataset / "metadata.parquet")
    return metadata.merge(pd.DataFrame(sidecar[["patch_id", "labels_43"]]), on="patch_id")


@pytest.fixture(scope="module")
def reader_run(export, s2_only_export, tmp_path_factory):
    python = reader_python(REQUIREMENTS)
    out = tmp_path_factory.mktemp("torchgeo_out")
    proc = subprocess.run(
        [str(python), "-W", "ignore", "-c", DRIVER, str(export), str(out), str(s2_only_export)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, f"torchgeo's BigEarthNet failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), out


@pytest.mark.parametrize("bands", CHANNELS)
def test_every_split_loads_with_the_right_count_and_shape(reader_run, patches, bands):
    report, _ = reader_run
    for theirs, ours in SPLITS.items():
        rows = patches[patches["split"] == ours]
        for classes in (43, 19):
            seen = report[f"{theirs}/{bands}/{classes}"]
            assert seen["n"] == len(rows)
            assert set(seen["labels"]) == set(rows["patch_id"])
            assert seen["shapes"] == ([[CHANNELS[bands], 120, 120]] if len(rows) else [])
    assert sum(report[f"{s}/{bands}/43"]["n"] for s in SPLITS) == len(patches) > 0


@pytest.mark.parametrize("bands", CHANNELS)
def test_label_vectors_are_the_43_class_labels_and_the_metadata_labels(reader_run, patches, bands):
    """43 classes: the sidecar's labels_43 (from the S2 JSON, or the S1 JSON for s1/all); 19
    classes: torchgeo's own 43 -> 19 mapping gives back metadata.parquet's labels."""
    report, _ = reader_run
    assert report["class_sets"] == {"43": list(OLD_LABELS_ORIGINAL_ORDER), "19": list(NEW_LABELS_ORIGINAL_ORDER)}
    expected_43 = {
        pid: [int(c in set(labels)) for c in OLD_LABELS_ORIGINAL_ORDER]
        for pid, labels in zip(patches["patch_id"], patches["labels_43"])
    }
    expected_19 = {
        pid: [int(c in set(labels)) for c in NEW_LABELS_ORIGINAL_ORDER]
        for pid, labels in zip(patches["patch_id"], patches["labels"])
    }
    for theirs in SPLITS:
        got_43 = report[f"{theirs}/{bands}/43"]["labels"]
        got_19 = report[f"{theirs}/{bands}/19"]["labels"]
        assert all(got_43[pid] == expected_43[pid] for pid in got_43)
        assert all(got_19[pid] == expected_19[pid] for pid in got_19)
    # The case that tells the nomenclatures apart is exercised: a 43-class label without a 19-class one.
    assert any(OLD2NEW_LABELS_DICT[c] is None for labels in patches["labels_43"] for c in labels)


def test_an_s2_only_export_loads_with_bands_s2(reader_run, patches):
    report, _ = reader_run
    for theirs, ours in SPLITS.items():
        rows = patches[patches["split"] == ours]
        got = report[f"s2_only/{theirs}"]
        assert got == report[f"{theirs}/s2/43"]["labels"] and set(got) == set(rows["patch_id"])


def test_tensors_are_the_geotiff_bands_in_the_readers_order(reader_run, demo_run, patches):
    _, out = reader_run
    dataset = demo_run / "results" / "dataset"
    s1_of = dict(zip(patches["patch_id"], patches["s1_name"]))
    saved = sorted(out.glob("*.npy"))
    assert saved
    for npy in saved:
        pid = npy.stem.split("__", 1)[1]
        tensor = np.load(npy)
        assert tensor.shape == (14, 120, 120)
        s1 = s1_of[pid]
        for i, pol in enumerate(("VH", "VV")):  # torchgeo sorts the S1 files by name
            with rasterio.open(dataset / "BigEarthNet-S1" / s1.rsplit("_", 3)[0] / s1 / f"{s1}_{pol}.tif") as src:
                db = src.read(1)
            # torchgeo reads as int32: dB values lose their fraction.
            assert np.abs(tensor[i] - db).max() <= 1.0, f"{pid} {pol}"
        tile = pid.rsplit("_", 2)[0]
        for i, band in enumerate(S2_BANDS, start=2):
            with rasterio.open(dataset / "BigEarthNet-S2" / tile / pid / f"{pid}_{band}.tif") as src:
                a = src.read(1)
            if a.shape == (120, 120):  # 10 m bands come through unchanged
                np.testing.assert_array_equal(tensor[i], a.astype(np.float32), err_msg=f"{pid} {band}")
            else:  # 20 m and 60 m bands: bilinear upsampling keeps the band's range
                assert a.min() - 1 <= tensor[i].min() and tensor[i].max() <= a.max() + 1, f"{pid} {band}"
