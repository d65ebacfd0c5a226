"""The Sentinel-1 stage in the real workflow, on the demo's synthetic acquisitions."""

import numpy as np
import pandas as pd
import pytest
import rasterio

from reben.shards import decode, iter_shard

pytestmark = pytest.mark.integration

UUP = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
UVP = "S2B_MSIL2A_20171221T100409_N0206_R122_T33UVP"
FAILED = "S2A_MSIL2A_20180525T100031_N9999_R122_T33UUP"


def tile(run, key):
    return run / "results" / "tiles" / key


def test_demo_pairing(demo_run):
    uup = pd.read_parquet(tile(demo_run, UUP) / "s1_pairing.parquet")
    counts = uup["s1_product"].value_counts().to_dict()
    # The same-day product where it has data, the day-before one (other CRS, linear) elsewhere,
    # none in the south-west corner where both lack data.
    assert set(counts) == {"S1A_IW_GRDH_1SDV_20170613T165043", "S1B_IW_GRDH_1SDV_20170612T165809"}
    assert min(counts.values()) > 20 and 0 < uup["s1_product"].isna().sum() < 30
    assert uup.loc[uup["s1_product"].isna(), "patch_id"].str.endswith("_00_11").any()
    same_day = uup["s1_product"] == "S1A_IW_GRDH_1SDV_20170613T165043"
    np.testing.assert_allclose(uup.loc[same_day, "s1_time_gap_days"], (6 * 3600 + 40 * 60 + 12) / 86400)
    uvp = pd.read_parquet(tile(demo_run, UVP) / "s1_pairing.parquet")
    assert (uvp["s1_product"].dropna() == "S1A_IW_GRDH_1SDV_20171219T165039").all()
    assert uvp["s1_product"].isna().sum() >= 24  # its eastern columns
    failed = pd.read_parquet(tile(demo_run, FAILED) / "s1_pairing.parquet")
    assert failed["s1_product"].isna().all() and (failed["s1_name"] == "").all()
    log = (demo_run / "results" / "logs" / "pair_sentinel1" / f"{FAILED}.log").read_text()
    assert "no Sentinel-1 product within 10 days overlaps the tile" in log


def test_demo_s1_patches(demo_run):
    for key in (UUP, UVP):
        pairing = pd.read_parquet(tile(demo_run, key) / "s1_pairing.parquet")
        # Every paired patch, valid on the S2 side or not (S1 is not downstream of sen2cor).
        expected = set(pairing.loc[pairing["s1_product"].notna(), "s1_name"])
        assert expected
        shard = dict(iter_shard(tile(demo_run, key) / "s1_shard.parquet"))
        assert set(shard) == expected
        for name in sorted(expected)[:: max(1, len(expected) // 10)]:
            product = name.rsplit("_", 3)[0]
            tensors = decode(shard[name])
            for pol in ("VV", "VH"):
                with rasterio.open(tile(demo_run, key) / "s1" / product / name / f"{name}_{pol}.tif") as f:
                    data = f.read(1)
                    assert (f.dtypes[0], f.shape, f.nodata, f.res) == ("float32", (120, 120), None, (10, 10))
                np.testing.assert_array_equal(data, tensors[pol])
                assert np.isfinite(data).all() and -40 < np.median(data) < 5
            # VV brighter than VH over land
            assert np.median(tensors["VV"]) > np.median(tensors["VH"])
    # The tile without S1: an empty folder (but for Snakemake's own timestamp file).
    assert not [p for p in (tile(demo_run, FAILED) / "s1").iterdir() if not p.name.startswith(".")]


def test_second_run_does_nothing(demo_copy):
    from conftest import run_snakemake

    proc = run_snakemake(demo_copy, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr
