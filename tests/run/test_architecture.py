"""The wings' import contract (pyproject.toml [tool.importlinter], run by `make lint`): it holds on
this tree, and it fails on an import that runs back up the wings and on a circle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root / "workflow")}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", str(root / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=300,
    )


@pytest.fixture
def package_copy(tmp_path) -> Path:
    shutil.copytree(REPO / "workflow" / "reben", tmp_path / "workflow" / "reben")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_the_contract():
    proc = lint_imports(REPO)
    assert proc.returncode == 0, proc.stdout
    assert "Contracts: 2 kept, 0 broken." in proc.stdout


def test_an_import_back_up_the_wings_breaks_it(package_copy):
    # a cutting stage using the dataset side: the kind of import the wings forbid
    with open(package_copy / "workflow/reben/sentinel2/patches.py", "a") as f:
        f.write("\n\ndef _late():\n    from reben.dataset.selection import select_patches  # noqa: F401\n")
    proc = lint_imports(package_copy)
    assert proc.returncode == 1
    assert "reben.sentinel2 is not allowed to import reben.dataset" in proc.stdout
    assert "reben.sentinel2.patches -> reben.dataset.selection" in proc.stdout


def test_a_module_outside_every_layer_breaks_it(package_copy):
    (package_copy / "workflow/reben/helpers.py").write_text('"""unplaced"""\n')
    proc = lint_imports(package_copy)
    assert proc.returncode == 1
    assert "reben.helpers" in proc.stdout


def test_a_circle_inside_a_wing_breaks_it(package_copy):
    with open(package_copy / "workflow/reben/catalogue/retrieval.py", "a") as f:
        f.write("\n\ndef _late():\n    from reben.catalogue.search import run  # noqa: F401\n")
    proc = lint_imports(package_copy)
    assert proc.returncode == 1
    assert "No cycles are allowed in reben.catalogue" in proc.stdout
