"""A land-cover raster as the label source, end to end: the demo's CLC rasterised at 10 m on
the demo tiles' 10 m lattice (EPSG:32633) replaces the CLC vector in a copy of the finished
demo run. Only the reference maps and what depends on them rerun, and the reference maps come
out byte-identical to the vector path's; the sidecar carries the 43-class labels."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import demo_config, run_snakemake

pytestmark = pytest.mark.integration


def rasterise_demo_clc(workdir: Path, path: Path) -> Path:
    import geopandas as gpd
    import rasterio
    import shapely
    from affine import Affine
    from rasterio.features import rasterize

    frame = gpd.read_file(workdir / "results/demo/clc/clc2018_demo.gpkg").to_crs(32633)
    geometries = frame.geometry.to_numpy()
    invalid = ~shapely.is_valid(geometries)
    geometries[invalid] = shapely.make_valid(geometries[invalid], method="structure", keep_collapsed=False)
    grids = [json.loads(p.read_text())["grid"] for p in (workdir / "results/tiles").glob("*/geocoding.json")]
    left = min(g["ulx"] for g in grids) - 1000
    top = max(g["uly"] for g in grids) + 1000
    right = max(g["ulx"] + g["width_m"] for g in grids) + 1000
    bottom = min(g["uly"] - g["height_m"] for g in grids) - 1000
    shape = (int((top - bottom) // 10), int((right - left) // 10))
    transform = Affine(10, 0, left, 0, -10, top)
    array = rasterize(
        zip(geometries, frame["Code_18"].astype(int).tolist()),
        out_shape=shape,
        transform=transform,
        fill=0,
        dtype="uint16",
    )
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=shape[1],
        height=shape[0],
        count=1,
        dtype="uint16",
        crs="EPSG:32633",
        transform=transform,
        nodata=0,
        compress="deflate",
        tiled=True,
    ) as dst:
        dst.write(array, 1)
    return path


def test_a_raster_label_source_runs_end_to_end(demo_copy):
    raster = rasterise_demo_clc(demo_copy, demo_copy / "landcover_10m.tif")
    config = demo_config()
    config["clc"] = {"path": None}
    config["labels"] = {"raster": {"path": str(raster), "version": "test-raster-1"}}
    configfile = demo_copy / "raster.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    before = {p: p.read_bytes() for p in (demo_copy / "results/dataset/Reference_Maps").rglob("*.tif")}
    sidecar_before = pd.read_parquet(demo_copy / "results/dataset/patches.parquet")

    dry = run_snakemake(
        demo_copy, "results/dataset/patches.parquet", "--dry-run", "--quiet", "rules", configfile=configfile
    )
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", dry.stdout + dry.stderr, flags=re.M))
    assert jobs.get("rasterize_reference_maps") == "3"
    assert not {"cut_s2_patches", "inspect_tile", "cut_s1_patches", "make_patch_grid"} & set(jobs)

    run_snakemake(demo_copy, "results/dataset/patches.parquet", configfile=configfile)
    after = {p: p.read_bytes() for p in (demo_copy / "results/dataset/Reference_Maps").rglob("*.tif")}
    assert before and after.keys() == before.keys()
    assert all(after[p] == before[p] for p in before)
    sidecar = pd.read_parquet(demo_copy / "results/dataset/patches.parquet")
    assert sidecar["labels"].map(list).equals(sidecar_before["labels"].map(list))
    assert sidecar["labels_43"].map(list).equals(sidecar_before["labels_43"].map(list))
    kept = sidecar[sidecar["drop_reason"] == ""]
    assert len(kept) and kept["labels_43"].map(len).gt(0).all()
    # The 43-class labels of a kept patch refine its 19-class labels: never fewer classes.
    assert (kept["labels_43"].map(len) >= kept["labels"].map(len)).all()
    assert np.isin(
        kept["labels_43"].explode().unique(),
        pd.read_csv(Path(__file__).resolve().parents[2] / "resources/clc_classes_43.csv")["name"],
    ).all()


def test_a_class_table_with_duplicate_codes_stops_the_parse_with_one_line(tmp_path):
    table = tmp_path / "classes.csv"
    table.write_text("code,class\n10,Tree cover\n20,Shrubland\n10,Grassland\n")
    config = demo_config()
    config["labels"] = {"class_table": str(table)}
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    proc = run_snakemake(tmp_path, "--dry-run", configfile=configfile, check=False)
    assert proc.returncode != 0
    assert f"class table {table}: duplicate codes 10" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_both_label_sources_set_stops_the_parse_with_one_line(tmp_path):
    config = demo_config()
    config["labels"] = {"raster": {"path": str(tmp_path / "landcover.tif")}}
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    proc = run_snakemake(tmp_path, "--dry-run", configfile=configfile, check=False)
    assert proc.returncode != 0
    assert (
        "config: labels.raster.path and clc.path are both set: the label source is one of them; set the other to null"
    ) in proc.stdout + proc.stderr
