"""The optional GRD path, run against a test double of SNAP's gpt (tests/doubles/gpt_double.py)."""

import sys
from pathlib import Path

import pytest

from reben.errors import Sentinel1Error
from reben.sentinel1.grd import grd_to_backscatter
from reben.sentinel1.products import S1Source

REPO = Path(__file__).resolve().parents[2]
GPT = f"{sys.executable} {REPO / 'tests' / 'doubles' / 'gpt_double.py'}"
GRAPH = REPO / "resources" / "sentinel1" / "grd_to_backscatter.xml"
NAME = "S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017042_01C6A2_5C2B"


def run(tmp_path, **kw):
    grd = tmp_path / f"{NAME}.zip"
    grd.write_bytes(b"PK")
    out = {pol: tmp_path / f"{NAME}_{pol}_linear.tif" for pol in ("VV", "VH")}
    args = dict(
        grd=grd,
        graph=GRAPH,
        out_vv=out["VV"],
        out_vh=out["VH"],
        gpt=GPT,
        dem="SRTM 1Sec HGT",
        external_dem=None,
        crs="AUTO:42001",
        threads=1,
        cache="1G",
    )
    args.update(kw)
    grd_to_backscatter(**args)
    return out


def test_gpt_graph_and_outputs_feed_the_pairing(tmp_path):
    out = run(tmp_path)
    with S1Source(NAME, out["VV"], out["VH"]) as s:  # unit read from the _linear name
        assert s.units == {"VV": "linear", "VH": "linear"}
        valid = s.read_valid((0, 150), (0, 160))
        assert not valid[:, :10].any() and valid[:, 10:].all()  # SNAP's 0 is no-data
    assert not list(tmp_path.glob(".*tmp*"))


def test_gpt_failure_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("GPT_DOUBLE_FAIL", "1")
    with pytest.raises(Sentinel1Error, match="gpt failed with exit code 1: Error: .*Cannot read product") as e:
        run(tmp_path)
    assert "\n" not in str(e.value)
    assert not list(tmp_path.glob("*.tif")) and not list(tmp_path.glob(".*tmp*"))


def test_gpt_not_found(tmp_path):
    with pytest.raises(Sentinel1Error, match="gpt command not found: /nonexistent/gpt"):
        run(tmp_path, gpt="/nonexistent/gpt")
