"""The config files read strictly (a duplicate key, a tab in the indentation, a YAML syntax error:
one line naming the file and the line) and where the results folder may be (not the file system
root, not around the checkout, not inside an input folder, no input inside it but the demo's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, demo_config

from reben.config import load_config_file, product_table, resolve_results_placeholder, results_folder_problems
from reben.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "my.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, line, key, first",
    [
        ("results: out\npatch_size_m: 1200\nsentinel2: {}\npatch_size_m: 600\n", 4, "patch_size_m", 2),
        ("sentinel1:\n  enabled: true\n  max_time_gap_days: 10\n  enabled: false\n", 4, "enabled", 2),
    ],
    ids=["top level", "nested"],
)
def test_a_duplicate_key_names_both_lines(tmp_path, text, line, key, first):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config_file(path)
    assert str(e.value) == f"{path}:{line}: duplicate key {key!r} (first at line {first}); keep one of them"


def test_equal_keys_in_different_sections_are_fine(tmp_path):
    path = write(tmp_path, "clc:\n  version: a\nlabels:\n  raster:\n    version: b\n")
    assert load_config_file(path) == {"clc": {"version": "a"}, "labels": {"raster": {"version": "b"}}}


def test_a_tab_in_the_indentation_names_its_line(tmp_path):
    path = write(tmp_path, "results: out\nsentinel2:\n  input_dir: /data\n\tl2a_baseline: N9999\n")
    with pytest.raises(ConfigError) as e:
        load_config_file(path)
    assert str(e.value) == f"{path}:4: a tab in the indentation; YAML indents with spaces only"


def test_a_tab_inside_a_quoted_value_is_no_indentation(tmp_path):
    path = write(tmp_path, 'results: "out\tdir"\n')
    assert load_config_file(path) == {"results": "out\tdir"}


def test_a_yaml_syntax_error_is_one_line_with_its_place(tmp_path):
    path = write(tmp_path, "results: out\nsentinel2:\n  products: [a, b\ncountries: {}\n")
    with pytest.raises(ConfigError) as e:
        load_config_file(path)
    message = str(e.value)
    assert message.startswith(f"{path}:4:") and "not valid YAML" in message and "\n" not in message


def test_json_is_read_as_snakemake_reads_it(tmp_path):
    assert load_config_file(write(tmp_path, '{"results": "out"}', "my.json")) == {"results": "out"}
    with pytest.raises(ConfigError, match=r"my\.json: duplicate key 'results'"):
        load_config_file(write(tmp_path, '{"results": "out", "results": "x"}', "my.json"))


def test_the_shipped_configs_are_strict_yaml():
    for path in sorted((REPO / "config").glob("*.yaml")):
        assert isinstance(load_config_file(path), dict), path


# ------------------------------------------------------------------ where the results may be


def placed(tmp_path, results: str, **changes) -> list[str]:
    """The results-folder problems of the demo's config with `results` and `changes`, seen from
    tmp_path/work (the working directory)."""
    import os

    config = demo_config()
    config["results"] = results
    for key, value in changes.items():
        section, name = key.split(".")
        config[section][name] = value
    resolve_results_placeholder(config)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        return results_folder_problems(config, product_table(config), REPO)
    finally:
        os.chdir(cwd)


def test_the_demo_results_folder_is_fine(tmp_path):
    assert placed(tmp_path, "results") == []


def test_the_file_system_root_is_refused(tmp_path):
    assert placed(tmp_path, "/") == [
        "config: results: / is the file system root; give a folder of its own, e.g. results"
    ]


def test_a_folder_holding_the_checkout_is_refused(tmp_path):
    problems = placed(tmp_path, str(REPO.parent))
    assert problems == [
        f"config: results: {REPO.parent} holds the workflow's checkout {REPO}; give a folder of its own inside it"
    ]


def test_results_inside_the_sentinel1_folder_is_refused(tmp_path):
    s1 = tmp_path / "s1"
    s1.mkdir()
    problems = placed(tmp_path, str(s1 / "results"), **{"sentinel1.input_dir": str(s1), "sentinel1.products": []})
    assert len(problems) == 1
    assert problems[0].startswith(
        f"config: results: {s1 / 'results'} is inside {s1}, the folder of sentinel1.input_dir"
    )


def test_results_in_the_folder_of_a_product_is_refused(tmp_path):
    s2 = tmp_path / "s2"
    name = demo_config()["sentinel2"]["products"][0]["name"]
    problems = placed(tmp_path, str(s2), **{"sentinel2.products": [{"name": name, "path": str(s2 / f"{name}.SAFE")}]})
    assert any(
        p.startswith(f"config: results: {s2} is inside {s2}, the folder of sentinel2.products: {name}")
        for p in problems
    )


def test_the_folder_of_a_single_input_file_may_hold_the_results(tmp_path):
    """A CLC file or a class table in the working directory, and `results: results` beside it:
    the workflow reads those files by name, never their folder."""
    clc, table = tmp_path / "work" / "clc.gpkg", tmp_path / "work" / "my_classes.csv"
    assert placed(tmp_path, "results", **{"clc.path": str(clc), "labels.class_table": str(table)}) == []


def test_an_input_inside_the_results_is_refused_but_the_demos_own(tmp_path):
    results = tmp_path / "out"
    problems = placed(tmp_path, str(results), **{"clc.path": str(results / "clc" / "my_clc.gpkg")})
    assert problems == [
        f"config: clc.path: {results / 'clc' / 'my_clc.gpkg'} is inside the results folder {results}: "
        "a rebuild may replace it; keep inputs outside the results"
    ]
    assert placed(tmp_path, str(results)) == []  # the demo's inputs, made in <results>/demo/
