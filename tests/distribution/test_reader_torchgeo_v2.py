"""The real reader: torchgeo's BigEarthNetV2 (the reBEN class the README names) loads a demo run's
folder trees and metadata.parquet, for every split and band set.

torchgeo 0.10.1 runs in its own environment (envs/torchgeo-reader-requirements.txt, Python 3.12),
built on first use and cached (tests/reader_env.py). One subprocess loads every split with every
band set; the tests check what it saw against metadata.parquet and the dataset's GeoTIFFs:
counts, label vectors, and the pixels of the first and last patch of every split and band set.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from conftest import REPO
from rasterio.enums import Resampling
from reader_env import reader_python

from reben.constants import S2_BANDS

pytestmark = [pytest.mark.reader, pytest.mark.integration]

REQUIREMENTS = REPO / "envs" / "torchgeo-reader-requirements.txt"
SPLITS = {"train": "train", "val": "validation", "test": "test"}  # torchgeo's name -> ours
BAND_SETS = ("s1", "s2", "all")

DRIVER = r"""
import json, sys
from pathlib import Path
import numpy as np
from torchgeo.datasets import BigEarthNetV2

root, out = sys.argv[1], Path(sys.argv[2])
report = {"class_set": list(BigEarthNetV2.class_set), "clc_codes": BigEarthNetV2.clc_codes}
for split in ("train", "val", "test"):
    for bands in ("s1", "s2", "all"):
        ds = BigEarthNetV2(root, split=split, bands=bands)
        seen = {"n": len(ds), "shapes": {}, "labels": {}}
        for i in range(len(ds)):
            sample = ds[i]
            pid = str(ds.metadata_df.loc[i, "patch_id"])
            seen["labels"][pid] = [int(v) for v in sample["label"].tolist()]
            for key, value in sample.items():
                seen["shapes"].setdefault(key, set()).add(tuple(value.shape))
            if i in (0, len(ds) - 1):
                for key in ("image", "image_s1", "image_s2", "mask"):
                    if key in sample:
                        np.save(out / f"{split}__{bands}__{key}__{pid}.npy", sample[key].numpy())
        seen["shapes"] = {k: sorted(v) for k, v in seen["shapes"].items()}
        report[f"{split}/{bands}"] = seen
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def dataset(demo_run) -> Path:
    return demo_run / "results" / "dataset"


@pytest.fixture(scope="module")
def metadata(dataset) -> pd.DataFrame:
    return pd.read_parquet(dataset / "metadata.parquet")


@pytest.fixture(scope="module")
def reader_run(dataset, tmp_path_factory):
    python = reader_python(REQUIREMENTS)
    out = tmp_path_factory.mktemp("torchgeo_v2")
    proc = subprocess.run(
        [str(python), "-W", "ignore", "-c", DRIVER, str(dataset), str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, f"torchgeo's BigEarthNetV2 failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), out


def read_as_torchgeo(path: Path) -> np.ndarray:
    """A band file as BigEarthNetV2 reads it: 120 x 120 (bilinear for 20 m and 60 m), int32."""
    with rasterio.open(path) as src:
        return src.read(1, out_shape=(120, 120), out_dtype="int32", resampling=Resampling.bilinear)


@pytest.mark.parametrize("bands", BAND_SETS)
def test_every_split_loads_the_clean_patches_with_the_right_shapes(reader_run, metadata, bands):
    report, _ = reader_run
    channels = {"s1": 2, "s2": len(S2_BANDS)}
    for theirs, ours in SPLITS.items():
        seen = report[f"{theirs}/{bands}"]
        rows = metadata[metadata["split"] == ours]
        assert seen["n"] == len(rows) > 0
        assert set(seen["labels"]) == set(rows["patch_id"])
        images = {"image": channels[bands]} if bands != "all" else {"image_s1": 2, "image_s2": len(S2_BANDS)}
        for key, c in images.items():
            assert seen["shapes"][key] == [[c, 120, 120]], (theirs, key)
        assert seen["shapes"]["mask"] == [[1, 120, 120]] and seen["shapes"]["label"] == [[19]]


@pytest.mark.parametrize("bands", BAND_SETS)
def test_label_vectors_match_metadata(reader_run, metadata, bands):
    report, _ = reader_run
    classes = report["class_set"]
    expected = {
        pid: [int(c in set(labels)) for c in classes] for pid, labels in zip(metadata["patch_id"], metadata["labels"])
    }
    for theirs in SPLITS:
        got = report[f"{theirs}/{bands}"]["labels"]
        assert got == {pid: expected[pid] for pid in got}
    assert any(sum(v) > 1 for v in expected.values())  # multi-label patches are exercised


def test_pixels_are_the_geotiffs(reader_run, dataset, metadata):
    """The first and last patch of every split and band set, tensor by tensor: S2 bands in
    torchgeo's order (B01 .. B08, B8A, B09, B11, B12), S1 sorted by name (VH, VV), and the
    reference map with its CLC codes turned into class numbers as BigEarthNetV2 does."""
    report, out = reader_run
    s1_of = dict(zip(metadata["patch_id"], metadata["s1_name"]))
    clc_codes = {int(code): ordinal for code, ordinal in report["clc_codes"].items()}
    saved = sorted(out.glob("*.npy"))
    assert len(saved) == len(SPLITS) * (2 + 2 + 3) * 2  # s1, s2: image + mask; all: 2 images + mask
    for npy in saved:
        split, bands, key, pid = npy.stem.split("__")
        tensor = np.load(npy)
        tile, s1 = pid.rsplit("_", 2)[0], s1_of[pid]
        if key == "mask":
            with rasterio.open(dataset / "Reference_Maps" / tile / pid / f"{pid}_reference_map.tif") as src:
                codes = src.read(1).astype("int64")
            expected = codes.copy()
            for code, ordinal in clc_codes.items():
                expected[codes == code] = ordinal
            np.testing.assert_array_equal(tensor[0], expected, err_msg=f"{split} {bands} {pid} mask")
            continue
        sensor = "s1" if key == "image_s1" or (key == "image" and bands == "s1") else "s2"
        if sensor == "s1":
            files = [dataset / "BigEarthNet-S1" / s1.rsplit("_", 3)[0] / s1 / f"{s1}_{pol}.tif" for pol in ("VH", "VV")]
        else:
            files = [dataset / "BigEarthNet-S2" / tile / pid / f"{pid}_{band}.tif" for band in S2_BANDS]
        assert tensor.shape == (len(files), 120, 120)
        for i, path in enumerate(files):
            np.testing.assert_array_equal(tensor[i], read_as_torchgeo(path), err_msg=f"{split} {bands} {path.name}")
