"""The environments of the real-reader tests (marked `reader`): one venv per requirements file,
built on first use under ~/.cache/reben-reader-venv/<hash of the requirements> (or
$REBEN_READER_VENV) and reused, every line installed with --no-deps (the file is the complete set).

A requirements file may name the Python it needs on a line `# requires-python: 3.12`: the venv is
then made with this Python if it is new enough, else with $REBEN_READER_PYTHON, a `python3.12` on
PATH or pyenv's newest 3.12 (~/.pyenv/versions/3.12.*), and the test is skipped where none is.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _version(python) -> tuple[int, int] | None:
    proc = subprocess.run(
        [str(python), "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True
    )
    return tuple(map(int, proc.stdout.split())) if proc.returncode == 0 else None


def base_python(requirements: Path) -> str:
    """The Python the venv of `requirements` is made with (its `# requires-python: X.Y` line)."""
    current = getattr(sys, "_base_executable", sys.executable)
    found = re.search(r"^# requires-python: (\d+)\.(\d+)\s*$", requirements.read_text(), re.MULTILINE)
    if not found:
        return current
    wanted = (int(found[1]), int(found[2]))
    if sys.version_info[:2] >= wanted:
        return current
    name = f"python{wanted[0]}.{wanted[1]}"
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    candidates = [os.environ.get("REBEN_READER_PYTHON"), shutil.which(name)]
    candidates += [str(p / "bin" / name) for p in sorted(pyenv.glob(f"{wanted[0]}.{wanted[1]}.*"), reverse=True)]
    for candidate in filter(None, candidates):
        version = _version(candidate) if Path(candidate).exists() else None
        if version and version >= wanted:
            return candidate
    pytest.skip(f"{requirements.name} needs Python >= {name[6:]}: none found (set REBEN_READER_PYTHON)")


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
    python_for_venv = base_python(requirements)
    try:
        subprocess.run([python_for_venv, "-m", "venv", str(tmp)], check=True, capture_output=True)
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
