"""The environments of the real-reader tests (marked `reader`): one venv per requirements file,
built on first use under ~/.cache/reben-reader-venv/<hash of the requirements> (or
$REBEN_READER_VENV) and reused, every line installed with --no-deps (the file is the complete set)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def reader_python(requirements: Path) -> Path:
    """The python of the environment of `requirements`, built once and reused."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    base = Path(os.environ.get("REBEN_READER_VENV") or Path.home() / ".cache" / "reben-reader-venv")
    venv = base / digest
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return python
    tmp = base / f"{digest}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    base_python = getattr(sys, "_base_executable", sys.executable)
    try:
        subprocess.run([base_python, "-m", "venv", str(tmp)], check=True, capture_output=True)
        pip = subprocess.run(
            [str(tmp / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "-r", str(requirements)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if pip.returncode != 0:
            pytest.fail(f"cannot build the reader environment from {requirements}:\n{pip.stderr[-3000:]}")
        shutil.rmtree(venv, ignore_errors=True)
        # Moved whole: bin/python finds its packages from where it is (only console-script
        # shebangs keep the old path, and none is used).
        os.replace(tmp, venv)
        (venv / ".complete").write_text(requirements.read_text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return python
