"""Benchmark of the whole workflow on full-size tiles, and a projection to reBEN on 16 cores.

Writes (once, cached under <out>/user/) N full-size synthetic L2A products (10980 x 10980 px)
of real reBEN MGRS tiles in Serbia (EPSG:32634, the tiles' real upper-left corners), each on
its own date, with a Sentinel-1 backscatter scene (VV, VH in dB at 10 m) one day after each,
a CLC GeoPackage (EPSG:3035) and admin-0 borders covering them. Then runs the real workflow
on them with a user config (L2A products, so no sen2cor) into one results folder, first with
the first product, then the first 2, then the first 4 (--n): per-tile jobs run once per tile,
the dataset-wide rules rerun at every N (forced with --forcerun). Each rule's Snakemake
benchmark file (wall s, max_rss, cpu_time) is saved after every run.

Printed: a per-rule table (per-tile rules: mean and max over tiles; dataset-wide rules: each
N and a least-squares slope a + b*N, also per kept patch), the disk the benchmark took, and
the projection to reBEN (115 tiles, 549,488 kept patches) on one 16-core node against 30 min:

  head      = the input check (serial, in-process at the start of the run, before any job):
              `reben check` (the same check) timed at every N, fitted a + b*N and taken at
              115 tiles
  per-tile  = sum over per-tile rules of mean wall x threads x 115 / 16: every job reserves
              its threads for its wall time, a 16-core node runs 16 / threads such jobs at
              once, packed without gaps (a lower bound from CPU time is printed beside it)
  tail      = the dataset-wide jobs on the DAG's critical path (snakemake --dag), each at
              a + b * 549,488 from its fit on kept patches, with the threads it had here;
              except the jobs whose threads follow the run's cores (the archives, the LMDB, the
              manifest: reben.run.cores), which start together when the last tile is done:
              each is rerun alone at N = max on 1 and on 2 cores of this machine (taskset,
              --set-threads), and projected at its share of the 16 cores with that scaling
              (Amdahl: serial fraction f = 2 t2 / t1 - 1), times its fit's growth to reBEN,
              and no faster than the disk reads its input (dd iflag=direct, measured in the
              same run) nor, for an archive, than one core hashes md5 over its tar; their reads
              together at the disk's rate bound them as a group. Their peak memory side by side
              is printed against 8 GiB.
  total     = head + per-tile + tail

    .venv/bin/python bench/bench_workflow.py [--n 1,2,4] [--cores 2] [--out bench/out/workflow]
                                             [--keep] [--clean-all]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

REBEN_TILES = 115
REBEN_KEPT = 549_488
NODE_CORES = 16
GOAL_H = 0.5  # 30 min
PATCH_M = 1200
TILE_M = 109_800
EPSG = 32634  # UTM 34N: the Serbian reBEN tiles below

# reBEN tiles of UTM zone 34 (Serbia) with one of their reBEN sensing times each: distinct
# tiles, distinct dates more than the 10-day S1 gap apart (each tile pairs with its own S1).
TILES = (
    ("S2B_MSIL2A_20170914T093029_N9999_R136_T34TEP_20230105T120000", "34TEP"),
    ("S2B_MSIL2A_20170825T093029_N9999_R136_T34TEQ_20230105T120000", "34TEQ"),
    ("S2B_MSIL2A_20170802T092029_N9999_R093_T34TFN_20230105T120000", "34TFN"),
    ("S2A_MSIL2A_20171208T093351_N9999_R136_T34TEN_20230105T120000", "34TEN"),
)

# Rules that run once for the whole dataset; everything else with a tile in its benchmark name
# is per tile (stage_tile_trees too: its temp() output is gone after each assembly, so Snakemake
# reruns it for every tile with the forced assemble_dataset, and the last N's files are read).
TAIL_RULES = (
    "assemble_dataset",
    "encode_lmdb",
    "archive_tree",
    "write_dist_checksums",
    "write_manifest",
    "write_provenance",
    "compute_band_statistics",
    "write_report",
    "write_dataset_card",
)
DATASET_WIDE_OUTPUTS = ("dataset", "dist", "report", "archives")  # under the results folder
TILE_NAME = re.compile(r"S2[A-D]_MSIL2A_\d{8}T\d{6}_N\d{4}_R\d{3}_T\d{2}[A-Z]{3}")

# Rough disk per tile, for the check before starting (measured: see the printed du).
INPUT_GB_PER_TILE = 2.0
RESULTS_GB_PER_TILE = 9.0


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def du_bytes(*paths: Path) -> int:
    total = 0
    for path in paths:
        if path.exists():
            out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True).stdout
            total += int(out.split()[0])
    return total


def gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB"


# ------------------------------------------------------------------ inputs


def tile_corner(mgrs_tile: str) -> tuple[float, float]:
    """Upper-left corner of a Sentinel-2 tile: its 100 km MGRS square's north-west corner,
    snapped to the 60 m grid (west down, north up), as the real MTD_TL files have it
    (e.g. T29UNU at 499980 / 5900040, T33UUP at 300000 / 5400000; northern hemisphere)."""
    import math

    import mgrs

    with warnings.catch_warnings():  # mgrs warns of the square's corner latitude
        warnings.simplefilter("ignore", RuntimeWarning)
        zone, hemisphere, easting, northing = mgrs.MGRS().MGRSToUTM(mgrs_tile + "0000000000")
    assert hemisphere == "N" and 32600 + zone == EPSG, mgrs_tile
    west, north = round(easting), round(northing) + 100_000
    return float(west // 60 * 60), float(math.ceil(north / 60) * 60)


def product_specs() -> list:
    from reben.synthetic.scenario import SyntheticProduct

    specs = []
    for i, (name, mgrs_tile) in enumerate(TILES):
        ulx, uly = tile_corner(mgrs_tile)
        specs.append(
            SyntheticProduct(
                name=name,
                epsg=EPSG,
                ulx=ulx,
                uly=uly,
                n_patches=91,
                extra_px=60,
                baseline="99.99",
                boa_add_offset=-1000,
                seed=101 + i,
                absolute_orbit=1000 + 1300 * i,
            )
        )
    return specs


def s1_name(spec, i: int) -> str:
    """An S1 product one day after the S2 sensing time, in the real naming scheme."""
    from reben.names import parse_product_name

    start = parse_product_name(spec.name).sensing_time + timedelta(days=1, hours=7)
    stop = start + timedelta(seconds=25)
    fmt = "%Y%m%dT%H%M%S"
    return (
        f"S1A_IW_GRDH_1SDV_{start.strftime(fmt)}_{stop.strftime(fmt)}_"
        f"{17000 + 400 * i:06d}_{0x1C6A2 + 977 * i:06X}_{0x5C2B + i:04X}"
    )


S1_MARGIN_PX = 300


def write_s1(spec, i: int, folder: Path) -> None:
    """VV and VH in dB at 10 m over the tile and 3 km around it, on an origin 5 m off the
    tile's pixel grid; backscatter per land-cover class (the S2 product's own land cover, so
    rivers and forests line up) with speckle; nodata -99 in a corner outside the tile."""
    import numpy as np
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    from reben.synthetic import landscape as ls
    from reben.synthetic.sentinel1 import LOOKS, SIGMA0_DB

    name = s1_name(spec, i)
    cover = ls.land_cover(np.random.default_rng(spec.seed), spec.size_px)[0]
    cover = np.pad(cover, S1_MARGIN_PX, mode="edge")
    size = cover.shape[0]
    transform = Affine(10, 0, spec.ulx - 10 * S1_MARGIN_PX + 5, 0, -10, spec.uly + 10 * S1_MARGIN_PX - 5)
    rng = np.random.default_rng(spec.seed + 1000)
    profile = dict(
        driver="GTiff",
        width=size,
        height=size,
        count=1,
        dtype="float32",
        crs=f"EPSG:{EPSG}",
        transform=transform,
        nodata=-99.0,
        compress="deflate",
        tiled=True,
        blockxsize=512,
        blockysize=512,
    )
    folder.mkdir(parents=True, exist_ok=True)
    cols = np.arange(size)[None, :]
    for pol in ("VV", "VH"):
        path = folder / f"{name}_{pol}.tif"
        tmp = path.with_name(f".{path.name}.tmp")
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.units = ("dB",)
            for r0 in range(0, size, 1024):
                block = cover[r0 : r0 + 1024]
                rows = np.arange(r0, r0 + len(block))[:, None]
                db = SIGMA0_DB[pol][block] + 10 * np.log10(rng.gamma(LOOKS, 1 / LOOKS, block.shape))
                db = db.astype(np.float32)
                db[cols + rows < S1_MARGIN_PX] = -99.0  # a nodata corner outside the tile
                dst.write(db, 1, window=Window(0, r0, size, len(block)))
        os.replace(tmp, path)


def region(specs, margin_m: float = 5000.0):
    left = min(s.ulx for s in specs) - margin_m
    top = max(s.uly for s in specs) + margin_m
    right = max(s.ulx + TILE_M for s in specs) + margin_m
    bottom = min(s.uly - TILE_M for s in specs) - margin_m
    return left, bottom, right, top


def write_clc(specs, path: Path) -> int:
    """A CLC GeoPackage over all bench tiles, about one polygon per km2 (real CLC: ~0.4)."""
    from reben.synthetic.clc import synthetic_clc
    from reben.synthetic.clc import write_clc as write

    left, bottom, right, top = region(specs)
    n = int((right - left) * (top - bottom) / 1e6)
    frame = synthetic_clc(
        (left, bottom, right, top),
        EPSG,
        n_polygons=n,
        seed=5,
        coast=False,
        n_invalid=50,
        merge=False,
        segment_m=50.0,
        bend_m=40.0,
    )
    write(frame, path)
    return len(frame)


def write_borders(specs, path: Path) -> None:
    """Serbia, and Kosovo south of a slanted line through the southern tiles (NAME field,
    EPSG:4326, layer countries), drawn in the tiles' CRS and densified before reprojecting."""
    import geopandas as gpd
    import shapely

    left, bottom, right, top = region(specs, 50_000.0)
    y0, y1 = bottom + 90_000, bottom + 70_000
    serbia = shapely.Polygon([(left, y0), (right, y1), (right, top), (left, top)])
    kosovo = shapely.Polygon([(left, bottom), (right, bottom), (right, y1), (left, y0)])
    frame = gpd.GeoDataFrame(
        {"NAME": ["Serbia", "Kosovo"], "ISO_A3": ["SRB", "XKX"]},
        geometry=list(shapely.segmentize([serbia, kosovo], 250.0)),
        crs=f"EPSG:{EPSG}",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    frame.to_crs("EPSG:4326").to_file(tmp, layer="countries", driver="GPKG")
    os.replace(tmp, path)


def make_inputs(user: Path, specs) -> None:
    """Every input the runs need that is not there yet (each written through a temporary name)."""
    from reben.synthetic.sentinel2 import write_l2a_product

    for i, spec in enumerate(specs):
        product = user / "s2" / spec.safe_name
        if not product.exists():
            say(f"inputs: writing full-size L2A product {spec.safe_name} (lossless JPEG2000, minutes) ...")
            start = time.monotonic()
            write_l2a_product(spec, product)  # through a temporary name
            say(f"inputs: {spec.safe_name} written in {time.monotonic() - start:.0f} s")
        name = s1_name(spec, i)
        if not all((user / "s1" / f"{name}_{pol}.tif").exists() for pol in ("VV", "VH")):
            say(f"inputs: writing Sentinel-1 scene {name} (VV, VH, 10 m) ...")
            start = time.monotonic()
            write_s1(spec, i, user / "s1")
            say(f"inputs: {name} written in {time.monotonic() - start:.0f} s")
    all_specs = product_specs()
    clc = user / "clc" / "clc.gpkg"
    if not clc.exists():
        say("inputs: writing the CLC GeoPackage over all bench tiles ...")
        start = time.monotonic()
        n = write_clc(all_specs, clc)
        say(f"inputs: CLC written ({n:,} polygons) in {time.monotonic() - start:.0f} s")
    borders = user / "borders" / "countries.gpkg"
    if not borders.exists():
        write_borders(all_specs, borders)
        say("inputs: borders written")


# ------------------------------------------------------------------ runs


def config_for(user: Path, results: Path, specs) -> dict:
    """A user's own minimal config (as tests/workflow/test_config_model.py's), on the first products."""
    return {
        "results": str(results),
        "sentinel2": {"input_dir": str(user / "s2"), "products": [{"name": s.name} for s in specs]},
        "clc": {"path": str(user / "clc" / "clc.gpkg"), "version": "bench-workflow-synthetic-clc-1"},
        "sentinel1": {"enabled": True, "input_dir": str(user / "s1")},
        "countries": {"borders": str(user / "borders" / "countries.gpkg"), "names": ["Serbia", "Kosovo"]},
        # Accepted: on 1 to 4 synthetic tiles, urban classes fall in validation and test only (the
        # check would fail the run at its end; the benchmark times the run, not the content).
        "report": {"min_train_patches_per_class": 0},
    }


def reben_node_threads(*extra: str) -> list[str]:
    """--set-threads for the per-tile rules whose threads follow the run (reben.run.cores.tile_threads):
    the threads they get building reBEN's 115 tiles on one 16-core node, so that every tile is
    measured as the projection counts it (here a run of 1 tile on 2 cores would give 2)."""
    from reben.run.cores import tile_threads

    class Node:
        cores = NODE_CORES

    return ["--set-threads", f"cut_s2_patches={tile_threads(2, Node, REBEN_TILES)}", *extra]


def snakemake_cmd(run_dir: Path, configfile: Path, cores: int, *extra: str, threads: tuple = ()) -> list[str]:
    snakemake = Path(sys.executable).with_name("snakemake")
    return [
        str(snakemake),
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(run_dir),
        "--configfile",
        str(configfile),
        "--cores",
        str(cores),
        "--logger-reben-detail",  # each job's rule block, with its threads (JobThreads)
        *reben_node_threads(*threads),
        *extra,
    ]


def env() -> dict:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO / "workflow"), os.environ.get("PYTHONPATH")) if p),
    }


JOB_START = re.compile(r"^(?:local)?rule (\w+):$")


class JobThreads:
    """Reads Snakemake's output line by line: the threads of every job it starts
    ("rule|wildcards" -> threads, as printed in the job's block)."""

    def __init__(self):
        self.threads, self.job = {}, None

    def feed(self, text: str) -> str | None:
        """Take one stripped line; returns "rule wildcards" when a job's block ends."""
        match = JOB_START.match(text)
        if match:
            self.job = [match.group(1), ""]
        elif self.job and text.startswith("wildcards:"):
            self.job[1] = text.split(":", 1)[1].strip()
        elif self.job and text.startswith("threads:"):
            self.threads["|".join(self.job)] = int(text.split()[1])
        elif self.job and (text.startswith("resources:") or text == ""):  # the block's last line
            self.threads.setdefault("|".join(self.job), 1)
            started, self.job = f"{self.job[0]} {self.job[1]}".rstrip(), None
            return started
        return None


def run_workflow(cmd: list[str], log: Path) -> tuple[float, dict]:
    """Run Snakemake, its output to `log`, job starts and progress echoed; returns the wall
    time and the threads of every job."""
    start = time.monotonic()
    jobs = JobThreads()
    with (
        open(log, "w") as out,
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env()) as proc,
    ):
        for line in proc.stdout:
            out.write(line)
            text = line.strip()
            started = jobs.feed(text)
            if started:
                say(f"    start {started}")
            elif re.search(r"\d+ of \d+ steps", text):
                say(f"  {text}  ({time.monotonic() - start:.0f} s)")
    if proc.returncode:
        tail = "".join(log.read_text().splitlines(keepends=True)[-40:])
        raise SystemExit(f"{log}: snakemake failed (exit {proc.returncode}); its last lines:\n{tail}")
    return time.monotonic() - start, jobs.threads


def read_benchmarks(folder: Path) -> dict:
    """rule -> {name: {s, cpu_time, max_rss}} from Snakemake's benchmark files."""
    out = {}
    for tsv in sorted(folder.glob("*/*.tsv")):
        with open(tsv) as f:
            row = next(csv.DictReader(f, delimiter="\t"))

        def value(k):
            return float(row[k]) if row.get(k) not in (None, "", "NA", "-") else 0.0

        out.setdefault(tsv.parent.name, {})[tsv.stem] = {
            "s": value("s"),
            "cpu_time": value("cpu_time"),
            "max_rss": value("max_rss"),
        }
    return out


def funnel_total(results: Path) -> dict:
    with open(results / "dataset" / "funnel.csv") as f:
        total = next(row for row in csv.DictReader(f) if row["tile_key"] == "TOTAL")
    return {k: int(total[k]) for k in ("grid_patches", "kept", "flagged", "clean")}


def planned_jobs(cmd: list[str]) -> dict[str, int]:
    """Jobs per rule that a dry run (`cmd` with -n) plans, from its "Job stats:" table."""
    proc = subprocess.run([*cmd, "-n"], capture_output=True, text=True, env=env())
    if proc.returncode:
        raise SystemExit(f"snakemake -n failed: {(proc.stdout + proc.stderr)[-3000:]}")
    lines, jobs = (proc.stdout + proc.stderr).splitlines(), {}
    if "Job stats:" in lines:
        for line in lines[lines.index("Job stats:") + 3 :]:
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
                break
            jobs[parts[0]] = int(parts[1])
    return jobs


def dag_edges(cmd: list[str]) -> tuple[dict, list]:
    """The jobs of `snakemake --dag` (id -> (rule, wildcard values)) and its edges."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env())
    if proc.returncode:
        raise SystemExit(f"snakemake --dag failed: {proc.stderr[-3000:]}")
    nodes = {}
    for node, label in re.findall(r'^\s*(\d+)\[label = "([^"]*)"', proc.stdout, re.M):
        parts = label.split("\\n")
        values = [p.split(":", 1)[1].strip() for p in parts[1:] if ":" in p]
        nodes[node] = (parts[0], ",".join(values))
    edges = re.findall(r"^\s*(\d+) -> (\d+)", proc.stdout, re.M)
    return nodes, edges


# ------------------------------------------------------------------ the tail's scaling

# The dataset-wide jobs whose threads follow the run's cores (reben.run.cores.tail_threads), and
# their keys there: they start together once the last tile is done.
SCALED_TAIL = {"archive_tree": "archive", "encode_lmdb": "lmdb", "write_manifest": "manifest"}
TREE_KINDS = {"BigEarthNet-S2": "s2", "BigEarthNet-S1": "s1", "Reference_Maps": "reference_maps"}


def tail_key(rule: str, name: str) -> str:
    """reben.run.cores' key of a scaled tail job (archive:s2, lmdb, manifest)."""
    key = SCALED_TAIL[rule]
    return f"{key}:{TREE_KINDS[name]}" if key == "archive" else key


def tail_pinned(run_dir: Path, configfile: Path, results: Path, cores: int, out: Path) -> dict:
    """The scaled tail jobs rerun at `cores` threads each on `cores` CPUs of this machine
    (taskset: nothing else of the run shares them), one job at a time (--cores = their
    threads): returns each job's benchmark record, the archives' summaries and the LMDB's size."""
    cpus = ",".join(str(c) for c in range(cores))
    threads = tuple(f"{rule}={cores}" for rule in SCALED_TAIL)
    cmd = [
        "taskset",
        "-c",
        cpus,
        *snakemake_cmd(run_dir, configfile, cores, "--forcerun", *SCALED_TAIL, threads=threads),
    ]
    say(
        f"phase tail at {cores} core(s): taskset -c {cpus} snakemake --cores {cores} --forcerun {' '.join(SCALED_TAIL)}"
    )
    wall, _ = run_workflow(cmd, out / f"snakemake_tail{cores}.log")
    saved = out / f"benchmarks_tail{cores}"
    shutil.rmtree(saved, ignore_errors=True)
    shutil.copytree(results / "benchmarks", saved)
    bench = read_benchmarks(saved)
    archives = {p.stem: json.loads(p.read_text()) for p in sorted((results / "archives").glob("*.json"))}
    say(f"phase tail at {cores} core(s): {wall:.0f} s")
    return {
        "cores": cores,
        "wall_s": wall,
        "jobs": {f"{rule}|{name}": v for rule in SCALED_TAIL for name, v in bench.get(rule, {}).items()},
        "archives": archives,
        "lmdb_bytes": (results / "dataset" / "lmdb" / "data.mdb").stat().st_size,
    }


def disk_rates(folder: Path, gib: int = 4) -> dict:
    """dd on the results' disk: a write of `gib` GiB with conv=fdatasync, then its read with
    iflag=direct (from the disk, not the page cache), as bench_tail.py measures its floor."""
    path = folder / "dd.bin"
    rates = {}
    for what, cmd in (
        ("write", ["dd", "if=/dev/zero", f"of={path}", "bs=4M", f"count={gib * 256}", "conv=fdatasync", "status=none"]),
        ("read", ["dd", f"if={path}", "of=/dev/null", "bs=4M", "iflag=direct", "status=none"]),
    ):
        start = time.monotonic()
        subprocess.run(cmd, check=True)
        rates[what] = gib * 1024**3 / (time.monotonic() - start)
    path.unlink()
    return rates


def md5_rate(mib: int = 1024) -> float:
    """Bytes per second one core hashes md5 (the archive's one serial stage: the md5 of the
    uncompressed tar)."""
    import hashlib

    import numpy as np

    data = np.random.default_rng(0).integers(0, 256, mib * 1024**2, dtype=np.uint8).tobytes()
    start = time.perf_counter()
    hashlib.md5(data).digest()
    return len(data) / (time.perf_counter() - start)


# ------------------------------------------------------------------ analysis


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares y = a + b x (b = 0 with one point)."""
    n = len(xs)
    if n < 2:
        return ys[0], 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    return my - b * mx, b


@dataclass
class TailJob:
    rule: str
    name: str
    walls: list[float]  # per N
    cpus: list[float]
    rss: list[float]
    threads: int
    a_n: float = 0.0
    b_n: float = 0.0
    a_k: float = 0.0
    b_k: float = 0.0
    projected: float = 0.0


def critical_path(nodes: dict, edges: list, weight: dict) -> tuple[float, list]:
    """Longest path through the jobs of `weight` ((rule, name) -> s) in the DAG."""
    keyed = {}
    for node, (rule, values) in nodes.items():
        for key in weight:
            if key[0] == rule and (not values or values == key[1]):
                keyed[node] = key
    preds = {n: [] for n in keyed}
    for a, b in edges:
        if a in keyed and b in keyed:
            preds[b].append(a)
    best = {}

    def longest(n):
        if n not in best:
            prev = max((longest(p) for p in preds[n]), default=(0.0, []), key=lambda t: t[0])
            best[n] = (prev[0] + weight[keyed[n]], prev[1] + [keyed[n]])
        return best[n]

    return max((longest(n) for n in keyed), default=(0.0, []), key=lambda t: t[0])


def scaled_tail(tail, kept_n: int, scaling: dict) -> list[dict]:
    """The projection of the jobs whose threads follow the run's cores, on the node: each at its
    share of 16 cores (reben.run.cores.tail_shares), from its wall at 1 and 2 cores here (Amdahl:
    the serial fraction f = 2 t2 / t1 - 1 of the 2-core run), scaled to reBEN's kept patches by
    its fit over N, and no faster than the disk reads its input (dd iflag=direct) nor, for an
    archive, than one core hashes md5 over its uncompressed tar. Sets each job's `projected`."""
    from reben.run.cores import tail_shares

    one, two = scaling["tail"]["1"], scaling["tail"]["2"]
    read_rate, md5 = scaling["disk"]["read"], scaling["md5_rate"]
    keys = {f"{j.rule}|{j.name}": j for j in tail if j.rule in SCALED_TAIL}
    shares = tail_shares([tail_key(j.rule, j.name) for j in keys.values()], NODE_CORES)
    rows = []
    for label, job in keys.items():
        if label not in one["jobs"] or label not in two["jobs"]:
            print(f"  warning: {label} not measured at 1 and 2 cores; projected from its fit")
            continue
        t1, t2 = one["jobs"][label]["s"], two["jobs"][label]["s"]
        serial = min(1.0, max(0.0, 2 * t2 / t1 - 1))
        fitted_here = job.a_k + job.b_k * kept_n
        scale = (job.a_k + job.b_k * REBEN_KEPT) / fitted_here if fitted_here > 0 else REBEN_KEPT / kept_n
        n = shares[tail_key(job.rule, job.name)]
        compute = t1 * scale * (serial + (1 - serial) / n)
        if job.rule == "archive_tree":
            summary = one["archives"][job.name]
            read_bytes, tar_bytes = summary["file_bytes"], summary["tar_bytes"]
        else:  # the LMDB reads the shards, whose values it copies (its size); the manifest, tables
            read_bytes, tar_bytes = (one["lmdb_bytes"] if job.rule == "encode_lmdb" else 0), 0
        read_bytes *= REBEN_KEPT / kept_n
        tar_bytes *= REBEN_KEPT / kept_n
        disk_s, md5_s = read_bytes / read_rate, tar_bytes / md5
        job.projected = max(compute, disk_s, md5_s)
        bound = max((compute, "cores"), (disk_s, "disk read"), (md5_s, "md5"))[1]
        # Peak memory at reBEN: its fit over N on kept patches, plus what each thread beyond the
        # first added between the 1- and the 2-core run (zstd's buffers, a stream worker).
        rss_a, rss_b = fit([float(k) for k in scaling["kept"]], job.rss)
        per_thread = max(0.0, two["jobs"][label]["max_rss"] - one["jobs"][label]["max_rss"])
        rss = max(rss_a + rss_b * REBEN_KEPT, max(job.rss)) + per_thread * (n - 1)
        rows.append(
            dict(
                job=label,
                t1=t1,
                t2=t2,
                serial=serial,
                scale=scale,
                threads=n,
                compute=compute,
                read_gb=read_bytes / 1e9,
                disk_s=disk_s,
                md5_s=md5_s,
                projected=job.projected,
                bound=bound,
                rss_mib=rss,
            )
        )
    return rows


def report(ns, runs, final_bench, threads, disk, nodes, edges, out: Path, scaling: dict | None = None) -> None:
    per_tile = {}
    for rule, files in final_bench.items():
        tiles = {name: v for name, v in files.items() if TILE_NAME.fullmatch(name)}
        if tiles:
            per_tile[rule] = tiles

    def threads_of(rule, name=""):
        """Threads the rule's jobs ran with (of the job whose wildcard value is `name`, if any)."""
        found = [
            t
            for key, t in threads.items()
            if key.split("|")[0] == rule and (not key.split("|")[1] or name in key.split("|")[1])
        ]
        return max(found, default=1)

    kept_per_tile = runs[-1]["funnel"]["kept"] / ns[-1]
    grid_per_tile = runs[-1]["funnel"]["grid_patches"] / ns[-1]
    print()
    print(
        f"Whole workflow on {ns[-1]} full-size tiles (10980 x 10980 px), --cores {runs[0]['cores']}, "
        f"{os.cpu_count()} cores on this machine"
    )
    print(f"load before: {runs[0]['uptime_before']}")
    print(f"load after:  {runs[-1]['uptime_after']}")
    for run in runs:
        f = run["funnel"]
        print(
            f"  N={run['n']}: snakemake wall {run['wall_s']:.0f} s; {f['grid_patches']:,} grid patches, "
            f"{f['kept']:,} kept ({f['flagged']:,} flagged, {f['clean']:,} clean)"
        )
    print(
        f"kept per tile: {kept_per_tile:,.0f} of {grid_per_tile:,.0f} grid patches "
        f"(reBEN: {REBEN_KEPT / REBEN_TILES:,.0f} of 8,281)"
    )

    print("\nPer-tile rules (each tile measured once; mean and max over tiles)")
    header = (
        f"{'rule':<26}{'thr':>4}{'tiles':>6}{'wall mean':>10}{'wall max':>9}"
        f"{'CPU mean':>9}{'CPU max':>8}{'MiB mean':>9}{'MiB max':>8}"
    )
    print(header)
    per_tile_rows = []
    for rule, tiles in sorted(per_tile.items(), key=lambda kv: -sum(v["s"] for v in kv[1].values())):
        walls = [v["s"] for v in tiles.values()]
        cpus = [v["cpu_time"] for v in tiles.values()]
        rss = [v["max_rss"] for v in tiles.values()]
        thr = threads_of(rule)
        row = dict(
            rule=rule,
            threads=thr,
            tiles=len(walls),
            wall_mean=sum(walls) / len(walls),
            wall_max=max(walls),
            cpu_mean=sum(cpus) / len(cpus),
            cpu_max=max(cpus),
            rss_mean=sum(rss) / len(rss),
            rss_max=max(rss),
        )
        per_tile_rows.append(row)
        print(
            f"{rule:<26}{thr:>4}{len(walls):>6}{row['wall_mean']:>10.1f}{row['wall_max']:>9.1f}"
            f"{row['cpu_mean']:>9.1f}{row['cpu_max']:>8.1f}{row['rss_mean']:>9.0f}{row['rss_max']:>8.0f}"
        )
    tile_wall = sum(r["wall_mean"] for r in per_tile_rows)
    tile_core_s = sum(r["wall_mean"] * r["threads"] for r in per_tile_rows)
    tile_cpu = sum(r["cpu_mean"] for r in per_tile_rows)
    print(
        f"{'sum per tile':<36}{tile_wall:>10.1f}{'':>9}{tile_cpu:>9.1f}"
        f"   core-s reserved (wall x thr): {tile_core_s:.1f}"
    )

    kept = [run["funnel"]["kept"] for run in runs]
    tail = []
    for rule in TAIL_RULES:
        names = sorted({name for run in runs for name in run["bench"].get(rule, {})})
        for name in names:
            got = [run["bench"].get(rule, {}).get(name) for run in runs]
            if any(g is None for g in got):
                print(
                    f"  warning: {rule}/{name} not measured at every N "
                    f"({[run['n'] for run, g in zip(runs, got) if g is None]})"
                )
                continue
            job = TailJob(
                rule,
                name,
                [g["s"] for g in got],
                [g["cpu_time"] for g in got],
                [g["max_rss"] for g in got],
                threads_of(rule, name),
            )
            job.a_n, job.b_n = fit(ns, job.walls)
            job.a_k, job.b_k = fit(kept, job.walls)
            job.projected = max(job.a_k + job.b_k * REBEN_KEPT, max(job.walls))
            tail.append(job)

    print("\nDataset-wide rules (rerun at every N): wall s at each N, fit wall = a + b*N, per kept patch, peak")
    cols = "".join(f"{f'N={n}':>8}" for n in ns)
    print(
        f"{'job':<38}{'thr':>4}{cols}{'a (s)':>8}{'b s/tile':>9}{'ms/kept':>8}"
        f"{'CPU@max':>8}{'MiB@max':>8}{'reBEN s':>9}"
    )
    for job in tail:
        label = job.rule if job.name in ("dataset", "report", "band_statistics", "dist") else f"{job.rule}/{job.name}"
        walls = "".join(f"{w:>8.1f}" for w in job.walls)
        print(
            f"{label:<38}{job.threads:>4}{walls}{job.a_n:>8.1f}{job.b_n:>9.2f}{1000 * job.b_k:>8.3f}"
            f"{job.cpus[-1]:>8.1f}{job.rss[-1]:>8.0f}{job.projected:>9.0f}"
        )
    sums = [sum(j.walls[i] for j in tail) for i in range(len(ns))]
    print(f"{'sum (serial)':<42}" + "".join(f"{s:>8.1f}" for s in sums))

    scaled = scaled_tail(tail, kept[-1], scaling) if scaling else []
    if scaled:
        print(
            f"\nThe tail on the node: jobs whose threads follow the run's cores, rerun alone at 1 and 2 cores "
            f"here (taskset) at N = {ns[-1]}; disk here (dd, 4 GiB): read {scaling['disk']['read'] / 1e9:.2f} GB/s "
            f"(iflag=direct), write {scaling['disk']['write'] / 1e9:.2f} GB/s (conv=fdatasync); md5 "
            f"{scaling['md5_rate'] / 1e9:.2f} GB/s on one core"
        )
        print(
            f"{'job':<32}{'1 core':>8}{'2 cores':>8}{'serial':>7}{'x reBEN':>8}{'thr@16':>7}{'cores s':>8}"
            f"{'read GB':>8}{'disk s':>7}{'md5 s':>7}{'reBEN s':>8}{'MiB':>7}  bound"
        )
        for r in scaled:
            print(
                f"{r['job']:<32}{r['t1']:>8.1f}{r['t2']:>8.1f}{r['serial']:>7.2f}{r['scale']:>8.1f}{r['threads']:>7}"
                f"{r['compute']:>8.0f}{r['read_gb']:>8.1f}{r['disk_s']:>7.0f}{r['md5_s']:>7.0f}{r['projected']:>8.0f}"
                f"{r['rss_mib']:>7.0f}  "
                f"{r['bound']}"
            )
        memory = sum(r["rss_mib"] for r in scaled) / 1024
        print(
            f"  memory: the jobs side by side at their peaks (fit over N at 549,488 kept patches, plus the "
            f"per-thread growth from 1 to 2 cores) {memory:.1f} GiB -> {'PASS' if memory < 8 else 'FAIL'} against 8 GiB"
        )
        together = sum(r["read_gb"] for r in scaled) * 1e9 / scaling["disk"]["read"]
        longest = max(r["projected"] for r in scaled)
        print(
            f"  they start together and share one disk: {sum(r['read_gb'] for r in scaled):.0f} GB read at "
            f"{scaling['disk']['read'] / 1e9:.2f} GB/s = {together:.0f} s "
            f"({'binds' if together > longest else 'does not bind'}: the longest job alone is {longest:.0f} s)"
        )
        if together > longest:
            for job in tail:
                if job.rule in SCALED_TAIL:
                    job.projected = max(job.projected, together)

    # The input check runs in-process at the start of every run (no job, no benchmark file):
    # `reben check`, the same check, was timed at every N.
    head_a, head_b = fit(ns, [run["check_s"] for run in runs])
    head_projected = max(head_a + head_b * REBEN_TILES, 0.0)

    path_s, path = critical_path(nodes, edges, {(j.rule, j.name): j.projected for j in tail})
    # The same path from CPU time / threads: the wall each job would take without waiting for
    # the disk or for the other jobs that shared the cores here (a lower bound).
    cpu_projected = {}
    for job in tail:
        a, b = fit(kept, [c / job.threads for c in job.cpus])
        cpu_projected[(job.rule, job.name)] = max(a + b * REBEN_KEPT, 0.0)
    for r in scaled:  # those on the node's cores: their CPU time on 1 core here, over their share
        rule, name = r["job"].split("|")
        cpu_projected[(rule, name)] = scaling["tail"]["1"]["jobs"][r["job"]]["cpu_time"] * r["scale"] / r["threads"]
    cpu_path_s, cpu_path = critical_path(nodes, edges, cpu_projected)
    off_path = [j for j in tail if (j.rule, j.name) not in path]

    per_tile_s = REBEN_TILES * tile_core_s / NODE_CORES
    per_tile_cpu_s = REBEN_TILES * tile_cpu / NODE_CORES
    total = head_projected + per_tile_s + path_s
    print("\nProjection to reBEN on one 16-core node (sen2cor excluded)")
    print("  model: every per-tile job reserves its threads for its wall time; a 16-core node runs")
    print("  16/threads jobs of a rule at once (16 jobs of 1 thread, 8 of 2), packed without")
    print("  gaps, at the wall measured here (no slowdown from 16 jobs sharing memory bandwidth and")
    print("  disk); the tiles here are full size, so per-tile cost is not rescaled. The dataset-wide")
    print("  jobs run after the last tile; those on the DAG's critical path add up, the others run")
    print("  beside them; each at its fit on kept patches, a + b*549,488, with the threads it had here,")
    print("  except the archives, the LMDB and the manifest, whose threads follow the run's cores: each at its")
    print("  share of the 16 cores, with the scaling measured from 1 to 2 cores here (Amdahl), capped by the")
    print("  disk's read rate and, for an archive, by md5 on one core (table above).")
    print(
        f"  head      the input check: `reben check` at N = {ns}: "
        + ", ".join(f"{run['check_s']:.1f}" for run in runs)
        + f" s; fit {head_a:.1f} + {head_b:.2f} x {REBEN_TILES} tiles = {head_projected:.0f} s"
    )
    terms = " + ".join(f"{r['wall_mean']:.1f}x{r['threads']}" for r in per_tile_rows)
    print(f"  per-tile  ({terms}) = {tile_core_s:.1f} core-s/tile")
    print(
        f"            x {REBEN_TILES} tiles / {NODE_CORES} cores = {per_tile_s:.0f} s "
        f"(from CPU time instead: {tile_cpu:.1f} x {REBEN_TILES} / {NODE_CORES} = {per_tile_cpu_s:.0f} s)"
    )
    print(
        f"  kept patches: here {kept_per_tile:,.0f}/tile, reBEN {REBEN_KEPT / REBEN_TILES:,.0f}/tile "
        f"(scale {REBEN_KEPT / REBEN_TILES / kept_per_tile:.2f}); tail at K = {REBEN_KEPT:,} kept patches"
    )
    for rule, name in path:
        job = next(j for j in tail if (j.rule, j.name) == (rule, name))
        print(
            f"  tail      {rule}/{name}: {job.a_k:.1f} + {1000 * job.b_k:.4f} ms x {REBEN_KEPT:,} "
            f"= {job.projected:.0f} s"
        )
    print(
        f"  tail      critical path = {path_s:.0f} s; beside it: "
        + (", ".join(f"{j.rule}/{j.name} {j.projected:.0f} s" for j in off_path) or "nothing")
    )
    print(
        f"  total     {head_projected:.0f} + {per_tile_s:.0f} + {path_s:.0f} = {total:.0f} s = {total / 60:.1f} min "
        f"-> {'PASS' if total / 3600 < GOAL_H else 'FAIL'} against the {GOAL_H * 60:.0f} min goal"
    )
    cpu_total = head_projected + per_tile_cpu_s + cpu_path_s
    print(
        f"  lower bound from CPU time (no I/O wait, no core sharing): per-tile {per_tile_cpu_s:.0f} s + tail "
        f"{cpu_path_s:.0f} s (CPU/threads on the path {' -> '.join(r for r, _ in cpu_path)}) + head "
        f"{head_projected:.0f} s = {cpu_total:.0f} s = {cpu_total / 3600:.2f} h"
    )
    mem = max((NODE_CORES // r["threads"]) * r["rss_max"] for r in per_tile_rows)
    print(
        f"  memory: at most {mem / 1024:.1f} GiB for 16 cores of one per-tile rule at its peak (16/threads x max MiB)"
    )

    print(
        f"\nDisk: inputs {gb(disk['inputs'])} ({ns[-1]} tiles), results {gb(disk['results'])} after N={ns[-1]}, "
        f"total {gb(disk['inputs'] + disk['results'])}; per tile: inputs {gb(disk['inputs'] / ns[-1])}, "
        f"results {gb(disk['results'] / ns[-1])}"
    )
    summary = dict(
        scaling=scaling,
        ns=ns,
        runs=runs,
        per_tile=per_tile_rows,
        tail=[vars(j) for j in tail],
        disk=disk,
        projection=dict(
            head_s=head_projected,
            per_tile_s=per_tile_s,
            per_tile_cpu_s=per_tile_cpu_s,
            tail_s=path_s,
            critical_path=path,
            total_s=total,
            tail_cpu_s=cpu_path_s,
            total_cpu_s=cpu_total,
        ),
        threads=threads,
        dag=dict(nodes=nodes, edges=edges),
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(f"(all numbers: {out / 'summary.json'})")


def report_again(out: Path, cores: int) -> None:
    """The report of the last run, from summary.json, the saved Snakemake logs (threads) and
    the DAG (from summary.json, else `snakemake --dag` again on the cached inputs)."""
    import yaml

    summary = json.loads((out / "summary.json").read_text())
    ns, runs = summary["ns"], summary["runs"]
    threads = summary.get("threads")
    if threads is None:
        jobs = JobThreads()
        for n in ns:
            for line in (out / f"snakemake_n{n}.log").read_text().splitlines():
                jobs.feed(line.strip())
        threads = jobs.threads
    if "dag" in summary:
        nodes, edges = summary["dag"]["nodes"], [tuple(e) for e in summary["dag"]["edges"]]
    else:
        run_dir = out / "run_report"
        run_dir.mkdir(exist_ok=True)
        configfile = run_dir / f"bench_n{ns[-1]}.yaml"
        configfile.write_text(yaml.safe_dump(config_for(out / "user", out / "results", product_specs()[: ns[-1]])))
        nodes, edges = dag_edges(snakemake_cmd(run_dir, configfile, cores, "--dag"))
        shutil.rmtree(run_dir, ignore_errors=True)
    report(ns, runs, runs[-1]["bench"], threads, summary["disk"], nodes, edges, out, summary.get("scaling"))


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", default="1,2,4", help="tile counts, increasing, each run into the same results")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "workflow")
    parser.add_argument("--keep", action="store_true", help="keep the results folder")
    parser.add_argument("--clean-all", action="store_true", help="also delete the cached inputs at the end")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="print the tables and projection again from <out>/summary.json and the saved logs",
    )
    args = parser.parse_args()
    if args.report_only:
        report_again(args.out.resolve(), args.cores)
        return
    ns = [int(n) for n in args.n.split(",")]
    if ns != sorted(set(ns)) or ns[0] < 1 or ns[-1] > len(TILES):
        parser.error(f"--n: increasing tile counts from 1 to {len(TILES)}")
    out = args.out.resolve()
    user, results, run_dir = out / "user", out / "results", out / "run"
    started = time.monotonic()
    say(f"bench_workflow: N = {ns}, --cores {args.cores}, out {out}")
    say(f"uptime: {uptime()}")

    specs = product_specs()[: ns[-1]]
    out.mkdir(parents=True, exist_ok=True)
    missing = sum(1 for s in specs if not (user / "s2" / s.safe_name).exists())
    need = (missing * INPUT_GB_PER_TILE + ns[-1] * RESULTS_GB_PER_TILE) * 1e9
    free = shutil.disk_usage(out).free + du_bytes(results)  # an earlier run's results go first
    if free < need:
        raise SystemExit(
            f"{out}: {gb(free)} free, the benchmark needs about {gb(need)} "
            f"({missing} products to write at ~{INPUT_GB_PER_TILE:.0f} GB, results ~{RESULTS_GB_PER_TILE:.0f} GB "
            f"per tile at N={ns[-1]}); free some space or pass a smaller --n"
        )
    say(f"disk: {gb(free)} free (with an earlier run's results, deleted first), about {gb(need)} needed")

    phase = time.monotonic()
    make_inputs(user, specs)
    say(f"phase inputs: {time.monotonic() - phase:.0f} s")

    if results.exists() or run_dir.exists():
        phase = time.monotonic()
        say(f"removing the results of an earlier run ({results}) ...")
        shutil.rmtree(results, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)
        say(f"phase clean: {time.monotonic() - phase:.0f} s")
    run_dir.mkdir(parents=True)
    phase = time.monotonic()
    configfile = run_dir / f"bench_n{ns[-1]}.yaml"
    import yaml

    configfile.write_text(yaml.safe_dump(config_for(user, results, specs)))
    nodes, edges = dag_edges(snakemake_cmd(run_dir, configfile, args.cores, "--dag"))
    say(f"phase DAG: {len(nodes)} jobs for N={ns[-1]} in {time.monotonic() - phase:.0f} s")

    runs, threads = [], {}
    for i, n in enumerate(ns):
        configfile = run_dir / f"bench_n{n}.yaml"
        configfile.write_text(yaml.safe_dump(config_for(user, results, specs[:n])))
        extra = ["--forcerun", *TAIL_RULES] if i else []
        if i:  # would Snakemake rerun the dataset-wide jobs by itself? (forced anyway)
            planned = planned_jobs(snakemake_cmd(run_dir, configfile, args.cores))
            tail_jobs = {rule: n for rule, n in planned.items() if rule in TAIL_RULES}
            absent = [rule for rule in TAIL_RULES if rule not in tail_jobs]
            say(
                f"check N={n}: without --forcerun Snakemake plans {sum(tail_jobs.values())} dataset-wide jobs"
                + (f"; it would not rerun {', '.join(absent)}" if absent else " (all of them)")
            )
            # Snakemake deletes a job's outputs before it reruns it; deleting the dataset-wide ones
            # first frees their disk for the input check at the run's start (it compares the
            # free space with the whole run's estimate, outputs already there or not).
            for folder in DATASET_WIDE_OUTPUTS:
                shutil.rmtree(results / folder, ignore_errors=True)
        say(
            f"phase run N={n}: snakemake --cores {args.cores}{' --forcerun <dataset-wide rules>' if i else ''} "
            f"(log {out / f'snakemake_n{n}.log'})"
        )
        before = uptime()
        wall, job_threads = run_workflow(
            snakemake_cmd(run_dir, configfile, args.cores, *extra), out / f"snakemake_n{n}.log"
        )
        threads.update(job_threads)
        saved = out / f"benchmarks_n{n}"
        shutil.rmtree(saved, ignore_errors=True)
        shutil.copytree(results / "benchmarks", saved)
        after = uptime()
        check_start = time.monotonic()
        # Its exit status is not looked at: with the results already there, its disk check (the
        # whole run's estimate against the free space) can fail although nothing more is written.
        subprocess.run(
            [sys.executable, "-m", "reben", "check", "--configfile", str(configfile)],
            cwd=run_dir,
            env=env(),
            capture_output=True,
        )
        runs.append(
            dict(
                n=n,
                cores=args.cores,
                wall_s=wall,
                uptime_before=before,
                uptime_after=after,
                check_s=time.monotonic() - check_start,
                results_bytes=du_bytes(results),
                funnel=funnel_total(results),
                bench=read_benchmarks(saved),
            )
        )
        say(
            f"phase run N={n}: {wall:.0f} s, {runs[-1]['funnel']['kept']:,} kept patches, "
            f"results {gb(runs[-1]['results_bytes'])}, {gb(shutil.disk_usage(out).free)} free"
        )

    disk = {"inputs": du_bytes(user), "results": du_bytes(results, run_dir)}
    scaling = {"tail": {}}
    for cores in (1, 2):
        for folder in ("dist", "archives", "dataset/lmdb"):  # their disk, before the run's disk check
            shutil.rmtree(results / folder, ignore_errors=True)
        scaling["tail"][str(cores)] = tail_pinned(run_dir, configfile, results, cores, out)
    scaling["kept"] = [run["funnel"]["kept"] for run in runs]
    scaling["disk"] = disk_rates(out)
    scaling["md5_rate"] = md5_rate()
    say(
        f"disk: read {scaling['disk']['read'] / 1e9:.2f} GB/s, write {scaling['disk']['write'] / 1e9:.2f} GB/s; "
        f"md5 {scaling['md5_rate'] / 1e9:.2f} GB/s"
    )
    report(ns, runs, runs[-1]["bench"], threads, disk, nodes, edges, out, scaling)

    if not args.keep:
        say("removing the results (--keep keeps them) ...")
        shutil.rmtree(results, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)
        say(f"results deleted (--keep keeps them); benchmark files kept in {out}/benchmarks_n*")
    if args.clean_all:
        shutil.rmtree(user, ignore_errors=True)
        say("cached inputs deleted (--clean-all)")
    say(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
