"""A product table written by `reben search` over a reprocessed year (2017-2018, where the
catalogue lists each acquisition under its original baseline and under N0500, some also
re-delivered) feeds a dry run of the workflow as it is, and the run processes each acquisition
once: one tile per acquisition."""

from __future__ import annotations

import csv

import pytest
import yaml
from conftest import planned_jobs, run_snakemake
from test_retrieval import cdse  # noqa: F401  (the local CDSE server fixture)
from test_search import catalogue, search  # noqa: F401  (the catalogue of baseline twins)

from reben.names import parse_product_name

# The acquisitions (platform, tile, sensing time) of the catalogue's 33UUP products in 2017-2018.
L1C_ACQUISITIONS = {("S2A", "20170613T101031"), ("S2B", "20180405T100029"), ("S2A", "20180525T100031")}
L2A_ACQUISITIONS = L1C_ACQUISITIONS | {
    ("S2B", "20170520T101029"),
    ("S2A", "20170620T100031"),
    ("S2B", "20170708T101029"),
    ("S2A", "20170718T101031"),
    ("S2A", "20170831T101021"),
    ("S2B", "20170902T100019"),
}


def own_config(tmp_path, product_table) -> str:
    """A user's config: the searched table, retrieval on, placeholders for CLC and borders."""
    inputs = tmp_path / "inputs"
    (inputs / "clc").mkdir(parents=True)
    (inputs / "clc" / "clc.gpkg").write_bytes(b"")
    (inputs / "borders").mkdir()
    (inputs / "borders" / "countries.gpkg").write_bytes(b"")
    config = {
        "results": "out",
        "sentinel2": {"product_table": str(product_table), "input_dir": str(inputs / "s2")},
        "retrieval": {"enabled": True},
        "clc": {"path": str(inputs / "clc" / "clc.gpkg")},
        "countries": {"borders": str(inputs / "borders" / "countries.gpkg"), "names": ["Austria"]},
    }
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("level, acquisitions", [("L1C", L1C_ACQUISITIONS), ("L2A", L2A_ACQUISITIONS)])
def test_a_searched_table_over_a_reprocessed_year_feeds_a_dry_run_one_tile_per_acquisition(
    catalogue,  # noqa: F811
    tmp_path,
    level,
    acquisitions,
):
    out = tmp_path / f"{level}.csv"
    argv = ["--tiles", "33UUP", "--start", "2017-01-01", "--end", "2018-12-31", "--product-type", level]
    assert search(catalogue, *argv, output=out) == 0
    with open(out, newline="") as f:
        names = [row["name"] for row in csv.DictReader(f)]
    parsed = [parse_product_name(n) for n in names]
    assert sorted((p.mission, p.sensing) for p in parsed) == sorted(acquisitions)
    assert {p.baseline for p in parsed} == {"N0500"}  # the newest of each acquisition
    workdir = tmp_path / "run"
    workdir.mkdir()
    jobs = planned_jobs(run_snakemake(workdir, "--dry-run", configfile=own_config(tmp_path, out)))
    n = len(acquisitions)
    assert jobs["retrieve_sentinel2"] == n and jobs["make_patch_grid"] == n and jobs["cut_s2_patches"] == n, jobs
    assert jobs.get("sen2cor", 0) == (n if level == "L1C" else 0), jobs
