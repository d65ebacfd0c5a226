"""What a person sees of a run (the logger plugin `reben`, workflow/snakemake_logger_plugin_reben,
set in profiles/default): the jobs to run, one line per finished job with the progress, the
workflow's own INFO and WARNING lines, errors in full, and the closing lines. Left out: Snakemake's
header, each job's rule block (input, output, log, reason, resources), `Shell command: None` and
the scheduler's chatter. `--logger-reben-detail` shows Snakemake's own output instead; the full
log in .snakemake/log/ keeps everything either way.

Console decides from a log record's Snakemake event (`record.event`, a LogEvent value) and its
fields; it knows nothing of logging handlers, so that it is tested with plain records.
"""

from __future__ import annotations

import time

SNAKEMAKE = object()
"""Console.line's answer for records Snakemake's own formatter writes (errors): shown in full."""

CHATTER = (
    "Select jobs to execute",
    "Execute ",
    "Building DAG of jobs",
    "Using shell:",
    "Provided cores:",
    "Provided resources:",
    "Rules claiming more threads",
    "Assuming unrestricted shared filesystem",
)
"""Snakemake's INFO lines about its own scheduling: left out (the progress lines say more)."""

SILENT_EVENTS = {"workflow_started", "shellcmd", "resources_info", "debug_dag", "job_started", "rulegraph"}
ERROR_EVENTS = {"job_error", "group_error", "group_info"}


def describe_job(record: dict) -> str:
    """`cut_s2_patches S2A_MSIL2A_..._T33UUP`: the rule and its wildcards' values."""
    wildcards = record.get("wildcards") or {}
    values = " ".join(str(v) for v in dict(wildcards).values())
    return f"{record.get('rule_name', '?')}{' ' + values if values else ''}"


class Console:
    """Turns Snakemake's log records into the lines a person reads (None: nothing to show)."""

    def __init__(self):
        self.jobs: dict[int, str] = {}
        self.finished: list[str] = []

    def line(self, event: str | None, record: dict, level: int, message: str):
        event = str(event) if event is not None else None
        if event in SILENT_EVENTS:
            return None
        if event in ERROR_EVENTS:
            return SNAKEMAKE
        if event == "job_info":
            self.jobs[record.get("jobid")] = describe_job(record)
            return None
        if event == "job_finished":
            self.finished.append(self.jobs.pop(record.get("job_id"), f"job {record.get('job_id')}"))
            return None
        if event == "progress":
            done, total = record["done"], record["total"]
            jobs, self.finished = ", ".join(self.finished), []
            return (
                f"{time.strftime('%H:%M:%S')} {done} of {total} steps ({100 * done / max(total, 1):.0f}%) done: {jobs}"
            )
        if event == "run_info":
            return message
        if level < 30 and message.startswith(CHATTER):
            return None
        return message or None
