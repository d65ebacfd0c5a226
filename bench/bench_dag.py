"""Benchmark of how long a run of reBEN's size takes before its first job (run by hand): parsing
the workflow, building its DAG, and the input check that every run makes at its start.

Dry-runs `snakemake -n --configfile config/reben.yaml` (reBEN's 125 L1C products) in a
scratch working directory where placeholders stand in for the 8 GB CLC GeoPackage (a
GeoPackage of one polygon over all of Europe, in EPSG:3035 as the real one, so that the check
makes its spatial-index query per tile) and the 55 GB BigEarthNet-S1 v1.0 archive (an empty
file), as tests/workflow/test_config_model.py does, in two states:
  to fetch     the products are not there: the DAG plans their retrieval and sen2cor (nothing
               is downloaded in a dry run)
  on disk      every product is there, as after the downloads: a tiny synthetic L1C zip of
               its real name and tile corner (1 patch; made once, cached in --products), so
               that the parse reads every product's metadata (identity, name against file and
               metadata, files inside the product)
The input check runs in-process at the start of a real run (run.smk's onstart), after the DAG,
and not in a dry run; it is timed as `reben check --configfile config/reben.yaml` in the same
folder (the same function on the same inputs; its own Python start and config read make it a
little slower than in the run). Its disk verdict (reBEN's 1 TB against this machine's disk) is
printed, not held against the time. The wall time of each command is measured, --repeat
times each; the worst dry run plus the worst check is compared with the 30 s limit.

    .venv/bin/python bench/bench_dag.py [--repeat 3] [--workdir /tmp/reben_bench_dag]
                                        [--products /tmp/reben_bench_dag_products]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT_S = 30.0


def job_stats(text: str) -> dict[str, int]:
    """Jobs per rule from a dry run's "Job stats:" table (and its total)."""
    lines = text.splitlines()
    if "Job stats:" not in lines:
        return {}
    jobs = {}
    for line in lines[lines.index("Job stats:") + 3 :]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


def tiny_l1c_products(folder: Path) -> None:
    """A 120 x 120 px synthetic L1C zip for every reBEN product, at its tile's real corner."""
    import csv
    import math

    import mgrs

    sys.path.insert(0, str(REPO / "workflow"))
    from reben.names import parse_product_name
    from reben.synthetic.l1c import write_l1c_zip
    from reben.synthetic.scenario import SyntheticProduct

    with open(REPO / "resources" / "bigearthnet_v1_l1c_products.csv") as f:
        names = [row["name"] for row in csv.DictReader(f)]
    folder.mkdir(parents=True, exist_ok=True)
    made = 0
    for i, name in enumerate(names):
        path = folder / f"{name}.zip"
        if path.exists():
            continue
        tile = parse_product_name(name).tile.removeprefix("T")
        with warnings.catch_warnings():  # mgrs warns of the square's corner latitude
            warnings.simplefilter("ignore", RuntimeWarning)
            zone, hemisphere, easting, northing = mgrs.MGRS().MGRSToUTM(tile + "0000000000")
        ulx, uly = round(easting) // 60 * 60, math.ceil((round(northing) + 100_000) / 60) * 60
        baseline = name.split("_")[3][1:]
        write_l1c_zip(
            SyntheticProduct(
                name=name,
                epsg=32600 + zone,
                ulx=float(ulx),
                uly=float(uly),
                n_patches=1,
                baseline=f"{baseline[:2]}.{baseline[2:]}",
                boa_add_offset=None,
                seed=i,
            ),
            path,
        )
        made += 1
    if made:
        print(f"{made} tiny L1C placeholder products written to {folder}")


def europe_clc(path: Path) -> None:
    """A GeoPackage like the EEA's (layer U2018_CLC2018_V2020_20u1, field Code_18, EPSG:3035) with
    one polygon over all of Europe: every reBEN tile has one polygon under it."""
    import geopandas as gpd
    import shapely

    frame = gpd.GeoDataFrame(
        {"Code_18": ["211"]}, geometry=[shapely.box(900_000, 900_000, 7_400_000, 5_500_000)], crs="EPSG:3035"
    )
    frame.to_file(path, layer="U2018_CLC2018_V2020_20u1", engine="pyogrio")


def input_check(work: Path, env: dict, repeat: int, state: str) -> list[float]:
    """`reben check` of config/reben.yaml in `work`: the input check a run makes at its start."""
    cmd = [sys.executable, "-m", "reben", "check", "--configfile", str(REPO / "config" / "reben.yaml")]
    walls = []
    for i in range(repeat):
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work)
        walls.append(time.monotonic() - start)
        if not proc.stdout.startswith("tile "):
            raise SystemExit(
                f"reben check failed ({state}, exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}"
            )
        print(f"  {state}, check {i + 1}: {walls[-1]:.1f} s, exit {proc.returncode}", flush=True)
    lines = proc.stdout.splitlines()
    verdict = [line for line in lines if line.startswith(("disk:", "inputs:"))]
    verdict += lines[next((n for n, line in enumerate(lines) if line.endswith("problem(s):")), len(lines)) :][:4]
    for line in verdict:
        print(f"    {line}")
    return walls


def dry_run(cmd: list[str], env: dict, repeat: int, state: str) -> tuple[list[float], dict]:
    walls, jobs = [], {}
    for i in range(repeat):
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        walls.append(time.monotonic() - start)
        if proc.returncode:
            raise SystemExit(
                f"snakemake -n failed ({state}, exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}"
            )
        jobs = job_stats(proc.stdout + proc.stderr)
        print(f"  {state}, run {i + 1}: {walls[-1]:.1f} s, {jobs.get('total', 0):,} jobs", flush=True)
    return walls, jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cores", type=int, default=16)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/reben_bench_dag"))
    parser.add_argument(
        "--products",
        type=Path,
        default=Path("/tmp/reben_bench_dag_products"),
        help="where the tiny placeholder products are cached",
    )
    args = parser.parse_args()

    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    clc = work / "resources" / "clc" / "U2018_CLC2018_V2020_20u1.gpkg"
    clc.parent.mkdir(parents=True)
    europe_clc(clc)
    (work / "resources" / "BigEarthNet-S1-v1.0.tar.gz").write_bytes(b"")

    snakemake = Path(sys.executable).with_name("snakemake")
    cmd = [
        str(snakemake),
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(REPO / "config" / "reben.yaml"),
        "--cores",
        str(args.cores),
        "-n",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO / "workflow"), os.environ.get("PYTHONPATH")) if p),
    }
    print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print("running: " + " ".join(cmd))
    results = {
        "to fetch": (*dry_run(cmd, env, args.repeat, "to fetch"), input_check(work, env, args.repeat, "to fetch"))
    }
    tiny_l1c_products(args.products)
    shutil.copytree(args.products, work / "resources" / "sentinel2")
    results["on disk"] = (*dry_run(cmd, env, args.repeat, "on disk"), input_check(work, env, args.repeat, "on disk"))
    print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    ok = True
    for state, (walls, jobs, checks) in results.items():
        print(f"\n{state}: jobs per rule: " + ", ".join(f"{r} {n}" for r, n in jobs.items() if r != "total"))
        worst = max(walls) + max(checks)
        ok &= worst < LIMIT_S
        print(
            f"parse + DAG of config/reben.yaml, products {state} ({jobs.get('make_patch_grid', 0)} products, "
            f"{jobs.get('total', 0):,} jobs): best {min(walls):.1f} s, worst {max(walls):.1f} s of {len(walls)}; "
            f"input check: best {min(checks):.1f} s, worst {max(checks):.1f} s; before the first job at worst "
            f"{worst:.1f} s -> {'PASS' if worst < LIMIT_S else 'FAIL'} (limit {LIMIT_S:.0f} s)"
        )
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
