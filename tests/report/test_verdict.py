"""The checks that stop a run (reben.report.stats, reben.report.verdict): a failed check the
config does not accept fails rule check_dataset, the run's last job; an accepted one is said; the
page opens with a banner and marks the classes without enough train patches."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from conftest import REPO
from small_dataset import make_dataset, run_report

from reben.config import load_schema
from reben.errors import DatasetCheckError
from reben.report.stats import CHECK_DEFAULTS, leakage_check, train_coverage_check
from reben.report.verdict import enforce_checks
from reben.run.summary import checks_summary

COVERAGE = "report.min_train_patches_per_class"


def frequencies(rows: dict[str, tuple[int, int, int]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["train", "validation", "test"])
    return frame.assign(total=frame.sum(axis=1))


def test_train_coverage_check_names_the_classes_a_model_cannot_learn():
    freq = frequencies(
        {
            "Urban fabric": (0, 0, 12),  # the example: only in test
            "Industrial or commercial units": (0, 0, 5),
            "Arable land": (40, 20, 18),
            "Pastures": (3, 1, 0),  # in validation with 3 train patches
            "Marine waters": (0, 0, 0),  # absent everywhere: nothing to learn or test
            "Mixed forest": (2, 0, 0),  # only in train: nothing to test
        }
    )
    check = train_coverage_check(freq, 4)
    assert not check["ok"] and check["setting"] == COVERAGE and not check["accepted"]
    assert check["classes"] == ["Urban fabric", "Industrial or commercial units", "Pastures"]
    assert "3 of 4 classes in validation or test have fewer than 4 train patches" in check["detail"]
    assert "Urban fabric: 0 train, 0 validation, 12 test" in check["detail"]
    assert COVERAGE in check["remedy"]
    # Accepted: passes with a minimum of 0, where the default (10) would fail on three classes.
    accepted = train_coverage_check(freq, 0)
    assert accepted["ok"] and accepted["accepted"] and accepted["classes"] == []
    assert accepted["finding"].startswith("3 classes with fewer than 10 train patches (Urban fabric: 0 train")
    # Enough train patches everywhere: passed, nothing accepted.
    plenty = train_coverage_check(frequencies({"Arable land": (40, 20, 18)}), 10)
    assert plenty["ok"] and not plenty["accepted"] and plenty["finding"] == ""


def test_leakage_check_is_accepted_only_when_the_default_would_fail():
    def overlaps(validation, test):
        return {
            f"{split}_vs_train": {
                "patches": 10,
                "overlapping": n,
                "overlapping_share": n / 10,
                "max_pair_overlap_share": 0.5 if n else 0.0,
            }
            for split, n in (("validation", validation), ("test", test))
        }

    failed = leakage_check(overlaps(0, 3), 0.1)
    assert not failed["ok"] and "splits.overlapping_tiles" in failed["remedy"]
    accepted = leakage_check(overlaps(0, 3), 0.3)
    assert accepted["ok"] and accepted["accepted"] and accepted["finding"] == "test 30 % of the patches overlap train"
    clean = leakage_check(overlaps(0, 0), 0.3)
    assert clean["ok"] and not clean["accepted"]


def test_the_check_defaults_are_the_schema_defaults():
    report = load_schema(REPO / "workflow/schemas/config.schema.yaml")["properties"]["report"]["properties"]
    for key, default in CHECK_DEFAULTS.items():
        assert report[key.split(".", 1)[1]]["default"] == default, key


def test_a_failed_check_opens_the_page_with_a_banner_and_marks_the_classes(tmp_path):
    """The small dataset: train is column x=0 (Arable land, Pastures, Coniferous forest); Urban
    fabric, Inland waters and Marine waters occur only in test."""
    data = make_dataset(tmp_path)
    report = run_report(tmp_path, data, min_train_patches_per_class=1)
    coverage = next(c for c in report["checks"] if c["setting"] == COVERAGE)
    assert (
        report["labels"]["too_few_train"] == coverage["classes"] == ["Urban fabric", "Inland waters", "Marine waters"]
    )
    assert report["summary"]["checks_failed"] == 1 and report["summary"]["checks_accepted"] == 0
    html = (tmp_path / "report" / "index.html").read_text()
    banner = html.index('id="failed-checks"')
    assert banner < html.index('id="checks"')  # before every section
    assert "1 check FAILED" in html[banner : banner + 300]
    marked = re.findall(r'<tr class="too-few-train"[^>]*><th>.*?</span>([^<]+)', html)
    assert [name.strip() for name in marked] == coverage["classes"]
    assert 'id="accepted-checks"' not in html

    with pytest.raises(DatasetCheckError) as failed:
        enforce_checks(tmp_path / "report" / "report.json", tmp_path / "report" / "checks.txt")
    message = str(failed.value)
    assert "1 check(s) of the dataset failed" in message and "Urban fabric: 0 train, 0 validation, 2 test" in message
    assert f"accept it with {COVERAGE} in the config" in message
    assert not (tmp_path / "report" / "checks.txt").exists()
    lines = checks_summary(tmp_path / "report" / "report.json", tmp_path / "report" / "checks.txt")
    assert len(lines) == 1 and lines[0].startswith("check FAILED: every class in validation or test")


def test_an_accepted_check_passes_and_is_said(tmp_path):
    data = make_dataset(tmp_path)
    report = run_report(tmp_path, data, min_train_patches_per_class=0)
    assert report["summary"]["checks_failed"] == 0 and report["summary"]["checks_accepted"] == 1
    html = (tmp_path / "report" / "index.html").read_text()
    assert 'id="failed-checks"' not in html and 'id="accepted-checks"' in html
    assert 'class="too-few-train"' not in html
    out = tmp_path / "report" / "checks.txt"
    lines = enforce_checks(tmp_path / "report" / "report.json", out)
    assert out.read_text().splitlines() == lines
    accepted = [line for line in lines if line.startswith("accepted")]
    assert accepted == [
        f"accepted ({COVERAGE}: 0): 6 classes with fewer than 10 train patches (Urban fabric: 0 train, 0 validation, "
        "2 test; Arable land: 2 train, 2 validation, 3 test; Pastures: 1 train, 2 validation, 1 test; "
        "Coniferous forest: 1 train, 1 validation, 0 test; Inland waters: 0 train, 0 validation, 1 test; "
        "Marine waters: 0 train, 0 validation, 1 test)"
    ]
    assert checks_summary(tmp_path / "report" / "report.json", out) == accepted
    assert json.loads((tmp_path / "report" / "report.json").read_text())["labels"]["too_few_train"] == []
