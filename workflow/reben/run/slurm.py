"""Running on SLURM (profiles/slurm): the memory a job asks for on each attempt, the checks made
before anything is submitted (sbatch on the PATH, the partition and account are real), and the
diagnosis of jobs SLURM killed for exceeding their memory.

Used by the handlers in workflow/rules/run.smk; plain functions over strings and paths, so
they are tested without a cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from reben.errors import SlurmError

# The values profiles/slurm/config.yaml ships with, which the user must replace.
PLACEHOLDERS = {"slurm_partition": "<partition>", "slurm_account": "<account>"}
PROFILE = "profiles/slurm/config.yaml"

# What SLURM writes to a job's output when it kills a step over its memory: the polling
# enforcement (JobAcctGatherParams=OverMemoryKill) and the cgroup OOM killer.
MEMORY_KILL = re.compile(r"exceeded (job )?memory limit|oom[-_ ]kill|OUT_OF_MEMORY", re.IGNORECASE)
# The polling enforcement also says by how much (bytes): "exceeded memory limit (used > limit)".
MEMORY_USED = re.compile(r"exceeded memory limit \((\d+) > (\d+)\)")


def mem_mb_for_attempt(first_attempt_mb: int, attempt: int) -> int:
    """Memory (MB) a job asks for on its `attempt`-th try (1-based): the rule's measured peak
    with headroom first, then that much more on each retry (2x, 3x, ...)."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    return first_attempt_mb * attempt


def check_sbatch(sbatch_path: str | None) -> None:
    """The slurm profile submits every job with sbatch: it must be on the PATH of this host."""
    if not sbatch_path:
        raise SlurmError(
            "the slurm profile submits jobs with sbatch, which is not on the PATH of this host: "
            "run Snakemake on the cluster's login node (after `module load slurm` where the "
            "cluster needs it), or run locally without --workflow-profile profiles/slurm"
        )


def parse_sinfo_partitions(sinfo_output: str) -> list[str]:
    """Partition names from `sinfo -h -o %P` (the default partition carries a '*')."""
    return sorted({name.rstrip("*") for name in sinfo_output.split() if name.rstrip("*")})


def check_job_resources(requested: Iterable[Mapping[str, object]], partitions: list[str]) -> None:
    """Every job about to be submitted names a partition that exists and no placeholder.

    `requested` holds the SLURM resources of each job (slurm_partition, slurm_account; absent or
    empty means the cluster's default); `partitions` is what sinfo lists."""
    partitions_known = set(partitions)
    listed = ", ".join(partitions) or "none"
    for resources in requested:
        for key, placeholder in PLACEHOLDERS.items():
            if str(resources.get(key) or "") == placeholder:
                hint = (
                    ("one of: " + listed)
                    if key == "slurm_partition"
                    else "one of `sacctmgr -n -s show user $USER format=account`, or delete the line"
                )
                raise SlurmError(
                    f"{key} is still the placeholder '{placeholder}' of {PROFILE}: set it there "
                    f"or with --default-resources {key}=... ({hint})"
                )
        partition = str(resources.get("slurm_partition") or "")
        if partition and partition not in partitions_known:
            raise SlurmError(
                f"SLURM partition '{partition}' does not exist on this cluster (sinfo lists: "
                f"{listed}): set slurm_partition in {PROFILE} or with "
                f"--default-resources slurm_partition=..."
            )


@dataclass(frozen=True)
class MemoryKill:
    """A job SLURM killed for exceeding its memory, found in its SLURM output."""

    rule: str
    wildcards: str
    slurm_job: str
    log: Path
    used_mb: int | None
    limit_mb: int | None

    def line(self) -> str:
        where = f" ({self.wildcards})" if self.wildcards else ""
        amount = f": {self.used_mb} MB used, {self.limit_mb} MB requested" if self.used_mb is not None else ""
        return (
            f"SLURM killed {self.rule}{where}, job {self.slurm_job}, for exceeding its memory{amount}; see {self.log}"
        )


def memory_kills(slurm_log_dir: Path, since: float = 0.0) -> list[MemoryKill]:
    """Jobs killed for their memory, from the SLURM outputs the executor plugin keeps:
    <slurm_log_dir>/rule_<rule>/<wildcard values>/<SLURM job id>.log, modified after `since`
    (a time.time() value). Sorted by rule, wildcards and job id."""
    kills = []
    for log in Path(slurm_log_dir).glob("rule_*/**/*.log"):
        if not log.is_file() or log.stat().st_mtime < since:
            continue
        text = log.read_text(errors="replace")
        if not MEMORY_KILL.search(text):
            continue
        used = MEMORY_USED.search(text)
        rel = log.relative_to(slurm_log_dir).parts
        kills.append(
            MemoryKill(
                rule=rel[0].removeprefix("rule_"),
                wildcards="/".join(rel[1:-1]),
                slurm_job=log.stem,
                log=log,
                used_mb=int(used[1]) // 2**20 if used else None,
                limit_mb=int(used[2]) // 2**20 if used else None,
            )
        )
    return sorted(kills, key=lambda k: (k.rule, k.wildcards, k.slurm_job.zfill(20)))


# ------------------------------------------------------------------ the workflow's handlers


def mem_mb_grows(first_attempt_mb: int):
    """A rule's mem_mb: the measured peak with headroom on the first attempt, that much more on
    each retry (profiles/slurm sets retries), so that a job SLURM killed for exceeding its memory
    gets through. In a rule: `resources: mem_mb=mem_mb_grows(3500)`."""

    def mem_mb(wildcards, attempt):
        return mem_mb_for_attempt(first_attempt_mb, attempt)

    return mem_mb


def submits_to_slurm(workflow) -> bool:
    """True in the Snakemake process that submits jobs with sbatch (not inside a job)."""
    plugin = workflow.executor_plugin
    return plugin is not None and plugin.name == "slurm"


def check_submission(workflow) -> None:
    """Before the first sbatch: one line instead of a hung or half-submitted run when sbatch is
    missing, a partition does not exist or a placeholder of profiles/slurm is left."""
    import shutil
    import subprocess

    check_sbatch(shutil.which("sbatch"))
    sinfo = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True)
    if sinfo.returncode != 0:
        raise SlurmError(f"sinfo cannot reach the SLURM controller: {sinfo.stderr.strip()}")
    submitted = [job.resources for job in workflow.dag.needrun_jobs() if not job.is_local]
    check_job_resources(submitted, parse_sinfo_partitions(sinfo.stdout))


def report_memory_kills(workflow, since: float, logger) -> None:
    """One line per job of this run that SLURM killed for exceeding its memory, from the SLURM
    outputs the plugin keeps for failed jobs: <slurm-logdir>/rule_<rule>/<wildcards>/<id>.log."""
    logdir = getattr(workflow.executor_settings, "logdir", None) or ".snakemake/slurm_logs"
    for kill in memory_kills(Path(logdir), since=since):
        logger.warning(kill.line())
