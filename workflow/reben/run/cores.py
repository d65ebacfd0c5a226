"""The cores a run was given and how its jobs share them.

Per-tile jobs share them tile by tile (`tile_threads`). The dataset-wide tail (the three archives,
the LMDB and the manifest) is ready all at once, when the last tile is done, and nothing else is
left to run beside it: `tail_threads` gives each of those jobs its share of every core the run
has, so that they run side by side on the whole node instead of on the few threads a job used to
ask for while the other cores wait.
"""

from __future__ import annotations

from typing import Mapping

# Cores a dataset-wide job asks for on a cluster (the slurm profile: every job its own
# allocation) when the run has no --cores and the config sets no `distribution.cores`: one node.
CLUSTER_NODE_CORES = 16

# What each dataset-wide job does with a core, relative to the others, after the core-seconds
# each took on one core in bench/bench_workflow.py (4 full tiles: S2 archive 67 s, S1 archive
# 33 s, reference maps 2 s, LMDB 40 s, manifest 1 s): the S2 archive moves the most bytes (12
# files a patch), the S1 archive about 2/3 of them in float32, the reference maps are small
# DEFLATE files. The LMDB copies every value with one writer and the manifest merges tables:
# neither runs faster on more than `TAIL_MOST` threads (the LMDB: 1.5x from 1 to 2 cores), so
# their weights are what they can use, not what they cost.
TAIL_WEIGHTS = {
    "archive:s2": 8,
    "archive:s1": 4,
    "archive:reference_maps": 1,
    "lmdb": 2,
    "manifest": 1,
}
TAIL_MOST = {"lmdb": 4, "manifest": 2}


def run_cores(workflow, configured: int | None = None) -> int | None:
    """The cores the run was given: `configured` when set, else --cores (`all`: the machine's,
    or within a SLURM allocation Snakemake was started in, the ones given to it), else None (a
    cluster executor without --cores: every job its own allocation)."""
    if configured:
        return int(configured)
    try:
        cores = workflow.cores
    except Exception:  # noqa: BLE001 - Snakemake's WorkflowError when --cores is not set
        return None
    return cores if isinstance(cores, int) and cores >= 1 else None


def tile_threads(most: int, workflow, tiles: int) -> int:
    """Threads of a per-tile job that can use up to `most`: the cores of the run (--cores) over
    its tiles, at least 1. Decoding a tile's JPEG2000 bands in 2 threads makes cut_s2_patches only
    1.13x faster for twice the cores (106 s on 1 thread, 93.5 s and 136 CPU s on 2, one full
    tile): a run of many tiles gets through more of them with one thread per job, a run of one
    tile on a laptop keeps the speed-up. Without --cores (a cluster: every job its own
    allocation) a job gets 1."""
    cores = run_cores(workflow)
    if cores is None:
        return 1
    return max(1, min(most, cores // max(tiles, 1)))


def tail_shares(jobs, cores: int) -> dict[str, int]:
    """Threads of each dataset-wide job in `jobs` (keys of TAIL_WEIGHTS) on `cores` cores: one
    each, then the other cores one by one to the job with the fewest threads for its weight
    (largest weight first on a tie) that can still use one (TAIL_MOST). With at least as many
    cores as jobs the shares add up to `cores`: the jobs start together and take the node. With
    fewer (a laptop), each gets its weight's share of `cores`, at least 1: Snakemake starts the
    ones that fit and the next as cores come free."""
    jobs = list(jobs)
    unknown = sorted(set(jobs) - set(TAIL_WEIGHTS))
    if unknown:
        raise ValueError(f"no share for {unknown}: one of {sorted(TAIL_WEIGHTS)}")
    total = sum(TAIL_WEIGHTS[j] for j in jobs)
    if cores < len(jobs):
        return {j: max(1, cores * TAIL_WEIGHTS[j] // total) for j in jobs}
    shares = dict.fromkeys(jobs, 1)
    order = sorted(jobs, key=lambda j: (-TAIL_WEIGHTS[j], j))
    for _ in range(max(0, int(cores) - len(jobs))):
        room = [j for j in order if shares[j] < TAIL_MOST.get(j, cores)]
        if not room:
            break
        shares[min(room, key=lambda j: shares[j] / TAIL_WEIGHTS[j])] += 1  # min() keeps the first of a tie
    return shares


def tail_threads(job: str, jobs, workflow, configured: int | None = None) -> int:
    """Threads of the dataset-wide job `job` among `jobs` (the ones this run has): its share
    (`tail_shares`) of the run's cores (`run_cores`; on a cluster without --cores and without
    `configured`, CLUSTER_NODE_CORES)."""
    cores = run_cores(workflow, configured) or CLUSTER_NODE_CORES
    return tail_shares(jobs, cores)[job]


def tail_jobs(trees: Mapping[str, str]) -> list[str]:
    """The dataset-wide jobs of a run with these dataset trees (kind -> folder name)."""
    return [f"archive:{kind}" for kind in trees] + ["lmdb", "manifest"]
