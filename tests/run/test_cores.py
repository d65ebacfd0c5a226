"""How a run's jobs share its cores: per-tile jobs tile by tile, the dataset-wide tail all of them."""

from __future__ import annotations

import pytest
from snakemake.exceptions import WorkflowError

from reben.constants import DATASET_TREES
from reben.run.cores import CLUSTER_NODE_CORES, TAIL_MOST, tail_jobs, tail_shares, tail_threads, tile_threads


class Run:
    """What the rules see of Snakemake's workflow: its cores, or the error without --cores."""

    def __init__(self, cores):
        self._cores = cores

    @property
    def cores(self):
        if self._cores is None:
            raise WorkflowError("Workflow requires a total number of cores to be defined")
        return self._cores


ALL = tail_jobs(DATASET_TREES)
WITHOUT_S1 = tail_jobs({k: v for k, v in DATASET_TREES.items() if k != "s1"})


def test_a_per_tile_job_gets_the_cores_a_run_leaves_each_tile():
    assert tile_threads(2, Run(2), 1) == 2  # one tile on a laptop: both cores
    assert tile_threads(2, Run(2), 3) == 1  # the demo's three tiles on two cores
    assert tile_threads(2, Run(16), 115) == 1  # reBEN on one 16-core node: 16 tiles at once
    assert tile_threads(2, Run(64), 4) == 2  # never more than the job can use
    assert tile_threads(2, Run(None), 4) == 1  # no --cores (a cluster): one per job


def test_the_tail_jobs_are_the_archives_the_lmdb_and_the_manifest():
    assert ALL == ["archive:s2", "archive:s1", "archive:reference_maps", "lmdb", "manifest"]
    assert WITHOUT_S1 == ["archive:s2", "archive:reference_maps", "lmdb", "manifest"]


@pytest.mark.parametrize("jobs", [ALL, WITHOUT_S1], ids=["with S1", "without S1"])
@pytest.mark.parametrize("cores", range(1, 97))
def test_the_tail_takes_every_core_and_no_more(jobs, cores):
    shares = tail_shares(jobs, cores)
    assert set(shares) == set(jobs) and all(n >= 1 for n in shares.values())
    assert all(shares[j] <= TAIL_MOST.get(j, cores) for j in jobs)
    if cores >= len(jobs):
        # Side by side on the whole node: every core used, unless every job is at its most.
        assert sum(shares.values()) == cores or all(shares[j] == TAIL_MOST.get(j, cores) for j in jobs)
    # The S2 archive (the most bytes) never gets fewer threads than another job.
    assert shares["archive:s2"] == max(shares.values())


def test_a_16_core_node_splits_as_the_jobs_weigh():
    assert tail_shares(ALL, 16) == {
        "archive:s2": 8,
        "archive:s1": 4,
        "archive:reference_maps": 1,
        "lmdb": 2,
        "manifest": 1,
    }
    # Without Sentinel-1 its cores go to the others.
    assert tail_shares(WITHOUT_S1, 16) == {"archive:s2": 9, "archive:reference_maps": 2, "lmdb": 3, "manifest": 2}
    # A laptop: fewer cores than jobs; the S2 archive still gets its share, the rest one each.
    assert tail_shares(ALL, 4) == {
        "archive:s2": 2,
        "archive:s1": 1,
        "archive:reference_maps": 1,
        "lmdb": 1,
        "manifest": 1,
    }


def test_a_tail_job_takes_its_share_of_the_run_of_the_config_or_of_a_cluster_node():
    assert tail_threads("archive:s2", ALL, Run(16)) == 8  # --cores 16
    assert tail_threads("archive:s2", ALL, Run(2)) == 1
    assert tail_threads("archive:s2", ALL, Run(2), configured=32) == 16  # distribution.cores wins
    # The slurm profile without --cores: each job its own allocation, a node's worth between them.
    assert tail_threads("archive:s2", ALL, Run(None)) == tail_shares(ALL, CLUSTER_NODE_CORES)["archive:s2"] == 8


def test_an_unknown_tail_job_is_refused():
    with pytest.raises(ValueError, match="no share for"):
        tail_shares(["archive:s3"], 8)
