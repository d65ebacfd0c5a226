"""reben.open_dataset: a whole split as a lazy xarray.Dataset over the LMDB or the trees; nothing
of a patch is read at open, and a batch reads those patches only. On the demo's dataset."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import lmdb
import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from patch_files import RESOLUTION, on_10m, patch_files, read, sample

import reben
from reben.access import readers
from reben.errors import AccessError

META = ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")


@pytest.fixture(scope="module")
def demo(demo_run) -> Path:
    return demo_run / "results" / "dataset"


@pytest.fixture
def counted(monkeypatch):
    """Counts of what is read: GeoTIFF opens (rasterio.open), LMDB environments opened, LMDB
    values and GeoTIFFs read by the access wing."""
    counts = {"rasterio.open": 0, "lmdb.open": 0}

    def counting(name, real):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(rasterio, "open", counting("rasterio.open", rasterio.open))
    monkeypatch.setattr(lmdb, "open", counting("lmdb.open", lmdb.open))
    monkeypatch.setattr(readers, "READS", {"lmdb": 0, "tiff": 0})
    monkeypatch.setattr(readers, "_ENVIRONMENTS", {})  # no environment left open by another test
    return lambda: {**counts, **{f"{k} values": v for k, v in readers.READS.items()}}


NOTHING = {"rasterio.open": 0, "lmdb.open": 0, "lmdb values": 0, "tiff values": 0}


@pytest.mark.parametrize("source", ["lmdb", "trees"])
def test_opening_a_split_reads_nothing_and_a_batch_reads_its_patches(demo, counted, source):
    ds = reben.open_dataset(demo, split="train", source=source)
    arable = ds.isel(patch=ds.labels.sel(label="Arable land").values)  # select by label
    batch = arable.isel(patch=[5, 0, 3])
    repr(ds), repr(batch), batch.B04.isel(x=slice(0, 10))  # noqa: B018 - views, not reads
    assert counted() == NOTHING
    loaded = batch.load()
    tiles = len(set(loaded.tile_key.values))  # one GeoTIFF header per tile gives the bounds
    per_patch = len(ds.data_vars)  # 12 S2 bands, VV, VH, the reference map
    if source == "lmdb":
        assert counted() == {"rasterio.open": tiles, "lmdb.open": 1, "lmdb values": 3 * per_patch, "tiff values": tiles}
    else:
        assert counted() == {
            "rasterio.open": tiles + 3 * per_patch,
            "lmdb.open": 0,
            "lmdb values": 0,
            "tiff values": tiles + 3 * per_patch,
        }


def test_the_lmdb_and_the_trees_give_the_same_split(demo):
    for split in ("train", "validation", "test"):
        for resolution in (10, "native"):
            a = reben.open_dataset(demo, split, source="lmdb", resolution=resolution, include_flagged=True).load()
            b = reben.open_dataset(demo, split, source="trees", resolution=resolution, include_flagged=True).load()
            xr.testing.assert_identical(a, b)


def test_values_equal_the_geotiffs_bit_for_bit(demo):
    picked = sample(demo, 10, seed=5)
    ds = reben.open_dataset(demo, include_flagged=True, resolution="native")
    on_grid = reben.open_dataset(demo, include_flagged=True)
    for row in picked.itertuples():
        for band, path in patch_files(demo, row.patch_id, row.s1_name).items():
            values = read(path)[0]
            stored = ds[band].sel(patch=row.patch_id).values
            assert stored.dtype == values.dtype and np.array_equal(stored, values), path
            repeated = on_grid[band].sel(patch=row.patch_id).values
            assert np.array_equal(repeated, on_10m(values, RESOLUTION.get(band, 10))), path


def test_coordinates_are_the_metadata_and_the_grid(demo):
    clean = pd.read_parquet(demo / META[0])
    ds = reben.open_dataset(demo, split="validation")
    rows = clean[clean.split == "validation"].sort_values("patch_id").reset_index(drop=True)
    assert list(ds.patch.values) == list(rows.patch_id)
    for column in ("split", "country", "s1_name", "s2v1_name", "contains_seasonal_snow", "contains_cloud_or_shadow"):
        assert list(ds[column].values) == list(rows[column]), column
    assert ds.labels.dims == ("patch", "label") and ds.labels.dtype == bool
    assert len(ds.label) == 19 and list(ds.label.values) == sorted(ds.label.values)
    held = [list(ds.label.values[ds.labels.values[i]]) for i in range(len(rows))]
    assert held == [list(v) for v in rows.labels]
    sidecar = pd.read_parquet(demo / "patches.parquet").set_index("patch_id").loc[rows.patch_id]
    assert list(ds.season.values) == list(sidecar.season)
    assert list(ds.epsg.values) == list(sidecar.epsg)
    assert list(pd.to_datetime(ds.sensing_time.values, utc=True)) == list(sidecar.sensing_time)
    for tile, group in rows.groupby(rows.patch_id.str.rsplit("_", n=2).str[0]):
        grid = gpd.read_parquet(demo.parent / "tiles" / tile / "grid.parquet").set_index("patch_id")
        cells = np.array([grid.loc[pid].geometry.bounds for pid in group.patch_id])
        located = ds.sel(patch=list(group.patch_id))
        found = np.column_stack([located[b].values for b in ("left", "bottom", "right", "top")])
        assert np.array_equal(found, cells), tile


def test_include_flagged_adds_the_flagged_file(demo):
    n = {name: len(pd.read_parquet(demo / name)) for name in META}
    assert reben.open_dataset(demo).sizes["patch"] == n[META[0]]
    everything = reben.open_dataset(demo, include_flagged=True)
    assert everything.sizes["patch"] == n[META[0]] + n[META[1]]
    assert list(everything.patch.values) == sorted(everything.patch.values)
    assert everything.contains_cloud_or_shadow.values.any()


def test_select_patch_is_open_patch(demo):
    ds = reben.open_dataset(demo, split="test", include_flagged=True)
    native = reben.open_dataset(demo, split="test", include_flagged=True, resolution="native")
    for pid in ds.patch.values[::17]:
        xr.testing.assert_identical(reben.select_patch(ds, pid).load(), reben.open_patch(demo, pid))
        xr.testing.assert_identical(
            reben.select_patch(native, pid).load(), reben.open_patch(demo, pid, resolution="native")
        )


def test_to_10m_of_the_native_split_is_the_10m_split(demo):
    native = reben.open_dataset(demo, split="train", bands=["B01", "B05", "B02"], resolution="native")
    assert native.B01.dims == ("patch", "y_60m", "x_60m") and native.B05.dims == ("patch", "y_20m", "x_20m")
    xr.testing.assert_identical(
        reben.to_10m(native).load(), reben.open_dataset(demo, split="train", bands=["B01", "B05", "B02"]).load()
    )


def _batch_values(ds, rows):
    return ds.isel(patch=rows).B04.values


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_split_reads_in_worker_processes(demo, method):
    """As DataLoader workers use it: the Dataset is pickled (spawn) or inherited (fork), and each
    worker opens the LMDB for itself."""
    import multiprocessing as mp

    ds = reben.open_dataset(demo, split="train")
    expected = _batch_values(ds, [4, 1])  # the parent has its environment open before the fork
    with mp.get_context(method).Pool(2) as pool:
        got = pool.starmap(_batch_values, [(ds, [4, 1]), (ds, [4, 1])])
    assert all(np.array_equal(g, expected) for g in got)


def test_importing_reben_does_not_import_xarray():
    import subprocess
    import sys

    code = (
        "import sys, reben, reben.grid; assert 'xarray' not in sys.modules; "
        "reben.open_dataset; assert 'xarray' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------ bad input: one line each


def one_line(call) -> str:
    with pytest.raises(AccessError) as e:
        call()
    assert "\n" not in str(e.value)
    return str(e.value)


def test_bad_arguments_are_one_line(demo, tmp_path):
    assert (
        one_line(lambda: reben.open_dataset(demo, split="val"))
        == "split 'val': not a split (one of train, validation, test, or None for all)"
    )
    assert one_line(lambda: reben.open_dataset(demo, resolution=20)) == "resolution 20: must be 10 or 'native'"
    assert one_line(lambda: reben.open_dataset(demo, bands=["B10"])).startswith(
        "band 'B10': not a band of a reBEN patch"
    )
    assert (
        one_line(lambda: reben.open_dataset(tmp_path))
        == f"{tmp_path}: not a dataset folder: no metadata.parquet (give results/dataset or an extracted release)"
    )
    ds = reben.open_dataset(demo, split="train")
    assert one_line(lambda: reben.select_patch(ds, "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_99_99")).startswith(
        "select_patch: no patch S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_99_99 in this dataset"
    )
