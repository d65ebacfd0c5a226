"""`snakemake --report report.zip` on a finished run: the dataset report with its figures and
tables as report items, the funnel and the checksum lists, as users of catalogue workflows expect."""

from __future__ import annotations

import zipfile

from conftest import run_snakemake


def test_the_snakemake_report_holds_the_dataset_report_funnel_and_checksums(demo_copy):
    report = demo_copy / "report.zip"
    run_snakemake(demo_copy, "--report", str(report))
    with zipfile.ZipFile(report) as z:
        names = z.namelist()
        page = z.read("report/report.html").decode()
    files = {name.rsplit("/", 1)[-1] for name in names}
    assert {"index.html", "funnel.csv", "SHA256SUMS", "MD5SUMS", "TAR_MD5SUMS"} <= files
    figures = sorted((demo_copy / "results/report/figures").glob("*.png"))
    tables = sorted((demo_copy / "results/report/tables").glob("*.csv"))
    assert len(figures) > 4 and len(tables) > 4
    assert {f.name for f in figures} <= files and {t.name for t in tables} <= files
    # the items' bytes are the run's files
    funnel = next(
        n for n in names if n.endswith("/funnel.csv") and z_equal(report, n, demo_copy / "results/dataset/funnel.csv")
    )
    assert funnel
    for category in ("Dataset report", "Dataset", "Distribution"):
        assert category in page


def z_equal(archive, name, path) -> bool:
    with zipfile.ZipFile(archive) as z:
        return z.read(name) == path.read_bytes()
