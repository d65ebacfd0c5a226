"""The real reader: ConfigILM's BENv2DataSet loads a demo run's LMDB and metadata files.

ConfigILM runs in its own environment (envs/reader-requirements.txt: torch CPU, configilm with
--no-deps, what its BENv2 reader imports), built on first use and reused (tests/reader_env.py).
One subprocess loads every split with every channel setting; the tests check what it saw
against metadata.parquet and the dataset's GeoTIFFs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from reader_env import reader_python

pytestmark = [pytest.mark.reader, pytest.mark.integration]

REQUIREMENTS = REPO / "envs" / "reader-requirements.txt"
SPLITS = ("train", "validation", "test")
CHANNELS = (2, 3, 4, 10, 12, 14)
# The bands of each channel setting, in tensor order (ConfigILM 0.7.1's BENv2DataSet docstring).
BANDS = {
    2: ["VV", "VH"],
    3: ["B04", "B03", "B02"],
    4: ["B02", "B03", "B04", "B08"],
    10: ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"],
    12: ["VV", "VH", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"],
    14: ["VV", "VH", "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"],
}
# The label vector's order: the 19 class names sorted alphabetically.
CLASSES = sorted(
    [
        "Urban fabric",
        "Industrial or commercial units",
        "Arable land",
        "Permanent crops",
        "Pastures",
        "Complex cultivation patterns",
        "Land principally occupied by agriculture, with significant areas of natural vegetation",
        "Agro-forestry areas",
        "Broad-leaved forest",
        "Coniferous forest",
        "Mixed forest",
        "Natural grassland and sparsely vegetated areas",
        "Moors, heathland and sclerophyllous vegetation",
        "Transitional woodland, shrub",
        "Beaches, dunes, sands",
        "Inland wetlands",
        "Coastal wetlands",
        "Inland waters",
        "Marine waters",
    ]
)

DRIVER = r"""
import json, sys
from pathlib import Path
import numpy as np
from configilm.extra.DataSets.BENv2_DataSet import BENv2DataSet

lmdb_dir, metadata, flagged = sys.argv[1], sys.argv[2], sys.argv[3]
out, channels = Path(sys.argv[4]), json.loads(sys.argv[5])
dirs = {"images_lmdb": lmdb_dir, "metadata_parquet": metadata, "metadata_snow_cloud_parquet": flagged}
report = {}
for split in ("train", "validation", "test"):
    for c in channels:
        clean = BENv2DataSet(dirs, split=split, img_size=(c, 120, 120))
        ds = BENv2DataSet(dirs, split=split, img_size=(c, 120, 120), include_cloudy=True,
                          include_snowy=True, return_extras=True)
        shapes, dtypes, labels = set(), set(), {}
        for i in range(len(ds)):
            img, lbl, key = ds[i]
            shapes.add(tuple(img.shape))
            dtypes.add(str(img.dtype))
            labels[key] = [int(v) for v in lbl.tolist()]
            if i in (0, len(ds) - 1):
                np.save(out / f"{split}__{c}__{key}.npy", img.numpy())
        report[f"{split}/{c}"] = {"clean": len(clean), "all": len(ds), "shapes": sorted(shapes),
                                  "dtypes": sorted(dtypes), "labels": labels}
print(json.dumps(report))
"""


@pytest.fixture(scope="session")
def metadata(demo_run) -> pd.DataFrame:
    dataset = demo_run / "results" / "dataset"
    return pd.concat(
        [
            pd.read_parquet(dataset / "metadata.parquet").assign(flagged=False),
            pd.read_parquet(dataset / "metadata_for_patches_with_snow_cloud_or_shadow.parquet").assign(flagged=True),
        ],
        ignore_index=True,
    )


@pytest.fixture(scope="session")
def has_s1(metadata) -> bool:
    return bool((metadata["s1_name"] != "").all())


@pytest.fixture(scope="session")
def reader_run(demo_run, has_s1, tmp_path_factory):
    """What BENv2DataSet returns for the demo run: counts, shapes, label vectors, two tensors
    per split and setting (first and last patch) saved as .npy."""
    python = reader_python(REQUIREMENTS)
    dataset = demo_run / "results" / "dataset"
    out = tmp_path_factory.mktemp("reader")
    channels = [c for c in CHANNELS if has_s1 or c not in (2, 12, 14)]
    proc = subprocess.run(
        [
            str(python),
            "-c",
            DRIVER,
            str(dataset / "lmdb"),
            str(dataset / "metadata.parquet"),
            str(dataset / "metadata_for_patches_with_snow_cloud_or_shadow.parquet"),
            str(out),
            json.dumps(channels),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, f"BENv2DataSet failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), out


def _skip_without_s1(c, has_s1):
    if c in (2, 12, 14) and not has_s1:
        pytest.skip("the demo run has no Sentinel-1 patches (sentinel1.enabled is off)")


@pytest.mark.parametrize("c", CHANNELS)
def test_every_split_loads_with_the_right_count_and_shape(reader_run, metadata, has_s1, c):
    _skip_without_s1(c, has_s1)
    report, _ = reader_run
    for split in SPLITS:
        rows = metadata[metadata["split"] == split]
        seen = report[f"{split}/{c}"]
        assert seen["clean"] == int((~rows["flagged"]).sum())
        assert seen["all"] == len(rows)
        assert seen["shapes"] == ([[c, 120, 120]] if len(rows) else [])
    assert sum(report[f"{s}/{c}"]["all"] for s in SPLITS) == len(metadata) > 0


@pytest.mark.parametrize("c", CHANNELS)
def test_label_vectors_match_metadata(reader_run, metadata, has_s1, c):
    _skip_without_s1(c, has_s1)
    report, _ = reader_run
    expected = {
        pid: [int(name in set(labels)) for name in CLASSES]
        for pid, labels in zip(metadata["patch_id"], metadata["labels"])
    }
    for split in SPLITS:
        got = report[f"{split}/{c}"]["labels"]
        assert set(got) == set(metadata.loc[metadata["split"] == split, "patch_id"])
        assert all(got[pid] == expected[pid] for pid in got)
    assert any(sum(v) > 1 for v in expected.values())  # multi-label patches are exercised


def _geotiff(dataset: Path, pid: str, s1_name: str, band: str) -> np.ndarray:
    import rasterio

    tile = pid.rsplit("_", 2)[0]
    if band in ("VV", "VH"):
        path = dataset / "BigEarthNet-S1" / s1_name.rsplit("_", 3)[0] / s1_name / f"{s1_name}_{band}.tif"
    else:
        path = dataset / "BigEarthNet-S2" / tile / pid / f"{pid}_{band}.tif"
    with rasterio.open(path) as src:
        a = src.read(1)
    f = 120 // a.shape[0]  # 20 m and 60 m bands: nearest upsampling repeats each pixel
    return np.repeat(np.repeat(a, f, axis=0), f, axis=1).astype(np.float32)


@pytest.mark.parametrize("c", CHANNELS)
def test_tensors_are_the_geotiff_bands_in_the_readers_order(reader_run, demo_run, metadata, has_s1, c):
    _skip_without_s1(c, has_s1)
    _, out = reader_run
    dataset = demo_run / "results" / "dataset"
    s1_of = dict(zip(metadata["patch_id"], metadata["s1_name"]))
    saved = sorted(out.glob(f"*__{c}__*.npy"))
    assert saved
    for npy in saved:
        pid = npy.stem.split(f"__{c}__", 1)[1]
        tensor = np.load(npy)
        for i, band in enumerate(BANDS[c]):
            np.testing.assert_array_equal(
                tensor[i], _geotiff(dataset, pid, s1_of[pid], band), err_msg=f"{pid} channel {i} ({band})"
            )
