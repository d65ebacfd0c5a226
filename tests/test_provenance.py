"""Manifest (sha256sum format) and PROVENANCE.json on hand-made dataset folders."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pandas as pd
import pytest
from conftest import REPO

from reben.errors import DistributionError
from reben.provenance import dataset_files, file_identity, git_commit, write_manifest, write_provenance

META = ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")


@pytest.fixture
def dataset(tmp_path):
    d = tmp_path / "dataset"
    (d / "BigEarthNet-S2/T/P").mkdir(parents=True)
    (d / "BigEarthNet-S2/T/P/P_B01.tif").write_bytes(b"b01")
    (d / "BigEarthNet-S2/T/P/P_B02.tif").write_bytes(b"b02")
    (d / "Reference_Maps/T/P").mkdir(parents=True)
    (d / "Reference_Maps/T/P/P_reference_map.tif").write_bytes(b"")
    # Snakemake's bookkeeping in its directory() outputs: never part of the manifest.
    (d / "BigEarthNet-S2/.snakemake_timestamp").write_bytes(b"")
    (d / "Reference_Maps/.snakemake_timestamp").write_bytes(b"")
    rows = {"patch_id": ["P"], "s1_name": ["S1B_IW_GRDH_1SDV_20170612T165809_33UUP_26_57"]}
    pd.DataFrame(rows).to_parquet(d / META[0], index=False)
    pd.DataFrame({"patch_id": ["Q"], "s1_name": [""]}).to_parquet(d / META[1], index=False)
    (d / "lmdb").mkdir()
    (d / "lmdb/data.mdb").write_bytes(b"not in the manifest")
    return d


def test_manifest_lists_every_file_with_its_sha256_relative_and_sorted(dataset):
    n = write_manifest(dataset, ["Reference_Maps", "BigEarthNet-S2", *META], dataset / "MANIFEST.sha256", threads=2)
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    lines = (dataset / "MANIFEST.sha256").read_text().splitlines()
    assert n == 5
    assert lines[:3] == [
        f"{sha(b'b01')}  BigEarthNet-S2/T/P/P_B01.tif",
        f"{sha(b'b02')}  BigEarthNet-S2/T/P/P_B02.tif",
        f"{sha(b'')}  Reference_Maps/T/P/P_reference_map.tif",
    ]
    assert [line.split("  ")[1] for line in lines[3:]] == list(META)
    if shutil.which("sha256sum"):
        subprocess.run(["sha256sum", "-c", "--strict", "--quiet", "MANIFEST.sha256"], cwd=dataset, check=True)
        (dataset / "BigEarthNet-S2/T/P/P_B02.tif").write_bytes(b"changed")
        assert (
            subprocess.run(
                ["sha256sum", "-c", "--quiet", "MANIFEST.sha256"], cwd=dataset, capture_output=True
            ).returncode
            != 0
        )


def test_a_missing_member_is_one_line(dataset):
    with pytest.raises(DistributionError, match=r"BigEarthNet-S1: missing; it must be in the manifest$"):
        dataset_files(dataset, ["BigEarthNet-S1"])


def test_provenance_records_config_inputs_software_commit_and_output_hashes(dataset, tmp_path):
    write_manifest(dataset, ["BigEarthNet-S2", *META], dataset / "MANIFEST.sha256")
    (dataset / "LMDB_CONTENT.sha256").write_text("ab" * 32 + "  3 entries\n")
    clc = tmp_path / "clc.gpkg"
    clc.write_bytes(b"clc bytes")
    config = {"results": "results", "distribution": {"zstd_level": 3}}
    record = write_provenance(
        dataset / "PROVENANCE.json",
        config,
        {"sentinel2_products": ["S2A_X"]},
        {"clc": clc},
        [dataset / m for m in META],
        dataset / "MANIFEST.sha256",
        dataset / "LMDB_CONTENT.sha256",
        REPO,
    )
    assert json.loads((dataset / "PROVENANCE.json").read_text()) == record
    assert record["config"] == config
    assert record["inputs"]["clc"] == {
        "name": "clc.gpkg",
        "size": 9,
        "sha256": hashlib.sha256(b"clc bytes").hexdigest(),
    }
    assert record["inputs"]["sentinel1_products"] == ["S1B_IW_GRDH_1SDV_20170612T165809"]
    assert record["inputs"]["sentinel2_products"] == ["S2A_X"]
    assert record["outputs"] == {
        "MANIFEST.sha256": hashlib.sha256((dataset / "MANIFEST.sha256").read_bytes()).hexdigest(),
        "LMDB_CONTENT.sha256": "ab" * 32,
    }
    for name in ("python", "snakemake", "gdal", "rasterio", "numpy"):
        assert record["software"][name]
    commit = git_commit(REPO)
    if commit is not None:
        assert record["workflow"] == commit and len(commit["commit"]) == 40


def test_git_commit_outside_a_checkout_is_none(tmp_path):
    assert git_commit(tmp_path) is None


def test_missing_input_file_is_one_line(tmp_path):
    with pytest.raises(DistributionError, match=r"clc\.gpkg: input named in the config is missing"):
        file_identity(tmp_path / "clc.gpkg")
