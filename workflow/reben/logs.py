"""Logging for rule scripts: one log file per job, timestamps, and a progress helper."""

from __future__ import annotations

import logging
import sys
import time

from reben.errors import RebenError
from reben.io import disk_full_message, is_disk_full

LOG = logging.getLogger("reben")


def to_snakemake_log(path: str | None, level: int = logging.INFO) -> logging.Logger:
    """Send the package's log records to the job's log file (and stderr), and log uncaught
    errors as one line, so that a failed job's log ends with what went wrong: the package's
    own errors, and a full disk wherever it struck (the file, or the job's output, and the free
    space)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if path:
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers, force=True)

    def excepthook(kind, value, tb):

        if isinstance(value, RebenError):
            LOG.error("%s", value)  # the one line is the whole story: no traceback
        elif is_disk_full(value):
            LOG.error("%s", disk_full_message(getattr(value, "filename", None) or _job_output()))
        else:
            LOG.error("unexpected error: %s", value, exc_info=(kind, value, tb))

    sys.excepthook = excepthook
    return LOG


def _job_output() -> str:
    """The first output of the Snakemake job this script runs (its `snakemake` object), else '.'."""
    job = getattr(sys.modules.get("__main__"), "snakemake", None)
    outputs = list(getattr(job, "output", None) or [])
    return str(outputs[0]) if outputs else "."


class Progress:
    """Logs `done/total` for a long loop at most every `every` seconds, with a rate (`done` and
    the rate alone where the total is not known beforehand: None)."""

    def __init__(self, what: str, total: int | None, every: float = 10.0, logger: logging.Logger = LOG):
        self.what, self.total, self.every, self.log = what, total, every, logger
        self.start = self.last = time.monotonic()

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.every or done == self.total:
            rate = done / max(now - self.start, 1e-9)
            if self.total is None:
                self.log.info("%s: %d (%.0f/s)", self.what, done, rate)
            else:
                self.log.info("%s: %d/%d (%.0f/s)", self.what, done, self.total, rate)
            self.last = now

    def elapsed(self) -> float:
        return time.monotonic() - self.start
