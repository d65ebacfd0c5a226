"""open_patch and open_dataset on a dataset of 600 m patches without Sentinel-1, built by the real
workflow (one demo product): the patch grid, the sizes of every band and the values follow the
patch size, which comes from the dataset's PROVENANCE.json; no VV or VH."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import xarray as xr
import yaml
from affine import Affine
from conftest import demo_config, run_snakemake
from patch_files import RESOLUTION, on_10m, patch_files, read, sample

import reben
from reben.access.zarr_store import write_split_store
from reben.errors import AccessError

UUP = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
SIZE = 600


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("size600")
    config = demo_config()
    config["patch_size_m"] = SIZE
    config["sentinel1"]["enabled"] = False
    config["sentinel2"]["products"] = [p for p in config["sentinel2"]["products"] if p["name"].startswith(UUP)]
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    run_snakemake(workdir, "results/dataset/lmdb/data.mdb", "results/dataset/PROVENANCE.json", configfile=configfile)
    return workdir / "results" / "dataset"


@pytest.mark.integration
def test_a_600_m_patch_is_its_grid_cell_without_sentinel1(small):
    grid = gpd.read_parquet(small.parent / "tiles" / UUP / "grid.parquet").set_index("patch_id")
    for row in sample(small, 6, seed=1).itertuples():
        assert row.s1_name == ""
        left, bottom, right, top = grid.loc[row.patch_id].geometry.bounds
        assert right - left == SIZE
        p = reben.open_patch(small, row.patch_id)
        assert "VV" not in p and "VH" not in p and p.sizes == {"y": 60, "x": 60}
        assert p.rio.bounds() == (left, bottom, right, top) and p.rio.transform() == Affine(10, 0, left, 0, -10, top)
        assert np.array_equal(p.x.values, left + 5 + 10 * np.arange(60))
        assert p.attrs["patch_size_m"] == SIZE  # from PROVENANCE.json
        native = reben.open_patch(small, row.patch_id, resolution="native")
        assert native.sizes == {"y": 60, "x": 60, "y_20m": 30, "x_20m": 30, "y_60m": 10, "x_60m": 10}
        for band, path in patch_files(small, row.patch_id).items():
            values, transform, bounds = read(path)
            assert bounds == (left, bottom, right, top), path
            assert np.array_equal(native[band].values, values), path
            assert np.array_equal(p[band].values, on_10m(values, RESOLUTION.get(band, 10))), path


@pytest.mark.integration
def test_a_600_m_split_from_the_lmdb_and_its_zarr_store(small, tmp_path):
    ds = reben.open_dataset(small, "train", include_flagged=True, resolution="native")
    assert (
        "VV" not in ds
        and ds.B02.shape[1:] == (60, 60)
        and ds.B05.shape[1:] == (30, 30)
        and ds.B01.shape[1:] == (10, 10)
    )
    xr.testing.assert_identical(
        ds.load(), reben.open_dataset(small, "train", include_flagged=True, resolution="native", source="trees").load()
    )
    write_split_store(small, "train", tmp_path / "train.zarr", include_flagged=True, patch_size_m=SIZE)
    xr.testing.assert_identical(xr.open_zarr(tmp_path / "train.zarr").load(), ds.load())
    with pytest.raises(AccessError, match=r": holds no Sentinel-1 patches, so no band VH$"):
        reben.open_dataset(small, "train", bands=["VH"])


@pytest.mark.integration
def test_a_patch_size_that_is_not_the_dataset_s_is_one_line(small):
    pid = sample(small, 1).patch_id[0]
    with pytest.raises(AccessError) as e:
        reben.open_patch(small, pid, patch_size_m=1200)
    assert "\n" not in str(e.value)
    assert str(e.value).endswith(
        f"{pid}_B01.tif: uint16 10x10, the dataset's patches need uint16 20x20 (patch_size_m?)"
    )
    ds = reben.open_dataset(small, "train", patch_size_m=1200)
    with pytest.raises(
        AccessError, match=r"lmdb: .*: tensor B01 is uint16 10x10, the dataset's patches need uint16 20x20"
    ):
        ds.B01.isel(patch=0).values
