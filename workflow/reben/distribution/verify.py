"""`reben verify DIR`: a distribution (or the dataset folder) checked against its own checksum lists.

Every file that SHA256SUMS or MD5SUMS lists (the archives, the metadata files) is read once and
hashed both ways; a file that is missing, or whose digest is not the listed one, is one line
naming the file, the list and both digests. With `tar=True`, each archive is also decompressed
and its tar's md5 compared with TAR_MD5SUMS (the release's published form; a read of the whole
uncompressed dataset, so not by default). Files of the folder that no list names are reported
too: a stray file beside a release is a question a user should see answered. The dataset folder
(results/dataset) is checked against its MANIFEST.sha256 as `sha256sum -c` does.

A run that rebuilds the dataset or the distribution marks both folders with an INCOMPLETE file
before its first job and removes it once the whole default target is built (run.smk): a
failed or killed rebuild leaves files of two builds side by side, and the marker says so, to
`reben verify` and to anyone who looks into the folder."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from reben.distribution.archives import file_digests
from reben.errors import DistributionError
from reben.io import sha256_file, write_text
from reben.logs import Progress

LISTS = {"SHA256SUMS": 0, "MD5SUMS": 1}
INCOMPLETE = "INCOMPLETE"
"""The marker of a folder whose rebuild started and has not finished (or failed)."""
# What the folder holds beside the listed files: the lists themselves and the dataset card's files.
UNLISTED_OK = {"SHA256SUMS", "MD5SUMS", "TAR_MD5SUMS", "README.md", "croissant.json", "stac", INCOMPLETE}
_CHUNK = 1 << 22


def mark_incomplete(folders, why: str) -> None:
    """Put the INCOMPLETE marker into each folder, saying why (one line, then what to do)."""
    text = (
        f"{why}\n"
        "The files of this folder may be of two different builds. Run the workflow again until it "
        "ends without error: it removes this file. `reben verify` fails while it is here.\n"
    )
    for folder in map(Path, folders):
        folder.mkdir(parents=True, exist_ok=True)
        write_text(text, folder / INCOMPLETE)


def clear_incomplete(folders) -> list[str]:
    """Remove the markers; returns the folders that had one."""
    cleared = []
    for folder in map(Path, folders):
        if (folder / INCOMPLETE).is_file():
            (folder / INCOMPLETE).unlink()
            cleared.append(str(folder))
    return cleared


def incomplete_problem(folder) -> str | None:
    """One line when the folder holds the INCOMPLETE marker."""
    marker = Path(folder) / INCOMPLETE
    if not marker.is_file():
        return None
    first = marker.read_text(errors="replace").splitlines()[:1] or ["(empty)"]
    return f"{marker}: an unfinished rebuild: {first[0]}"


@dataclass
class Verdict:
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def read_sums(path: Path) -> dict[str, str]:
    """name -> digest of a `sha256sum`/`md5sum` file; a malformed line is one error naming it."""
    sums = {}
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise DistributionError(f"{path}: cannot read ({e.strerror or e})") from None
    for number, line in enumerate(lines, 1):
        digest, sep, name = line.partition("  ")
        if not sep or not name or not digest or any(c not in "0123456789abcdef" for c in digest):
            raise DistributionError(f"{path}:{number}: not a '<digest>  <file>' line: {line!r}")
        sums[name.lstrip("*")] = digest
    return sums


def tar_md5(archive: Path) -> str:
    """md5 of the uncompressed tar inside a .tar.zst (read across every zstd frame)."""
    md5 = hashlib.md5()
    with open(archive, "rb") as f, zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True) as r:
        while chunk := r.read(_CHUNK):
            md5.update(chunk)
    return md5.hexdigest()


MANIFEST = "MANIFEST.sha256"


def verify_folder(folder, tar: bool = False) -> Verdict:
    """A distribution folder (SHA256SUMS, MD5SUMS), or the dataset folder (MANIFEST.sha256)."""
    folder = Path(folder)
    if (folder / MANIFEST).is_file() and not any((folder / name).is_file() for name in LISTS):
        return verify_dataset(folder)
    return verify_dist(folder, tar)


def verify_dataset(dataset_dir) -> Verdict:
    """Every file MANIFEST.sha256 lists against its sha256, and the INCOMPLETE marker."""
    dataset = Path(dataset_dir)
    verdict = Verdict()
    if problem := incomplete_problem(dataset):
        verdict.problems.append(problem)
    sums = read_sums(dataset / MANIFEST)
    progress = Progress("verifying files", len(sums))
    for done, (name, want) in enumerate(sorted(sums.items()), 1):
        path = dataset / name
        if not path.is_file():
            verdict.problems.append(f"{path}: missing (listed in {MANIFEST})")
        elif (got := sha256_file(path)) != want:
            verdict.problems.append(f"{path}: differs from {MANIFEST} (listed {want}, file {got})")
        verdict.checked.append(name)
        progress.update(done)
    return verdict


def verify_dist(dist_dir, tar: bool = False) -> Verdict:
    dist = Path(dist_dir)
    if not dist.is_dir():
        raise DistributionError(f"{dist}: not a folder (give the distribution folder, e.g. results/dist)")
    lists = {name: dist / name for name in LISTS}
    absent = [name for name, path in lists.items() if not path.is_file()]
    if len(absent) == len(lists):
        raise DistributionError(f"{dist}: holds neither SHA256SUMS nor MD5SUMS: not a distribution folder")
    verdict = Verdict()
    if problem := incomplete_problem(dist):
        verdict.problems.append(problem)
    verdict.problems += [f"{dist / name}: missing" for name in absent]
    expected = {name: read_sums(path) for name, path in lists.items() if path.is_file()}
    names = sorted({n for sums in expected.values() for n in sums})
    progress = Progress("verifying files", len(names))
    for done, name in enumerate(names, 1):
        path = dist / name
        if not path.is_file():
            verdict.problems.append(
                f"{path}: missing (listed in {', '.join(k for k in expected if name in expected[k])})"
            )
            continue
        digests = file_digests(path)
        for list_name, sums in expected.items():
            want = sums.get(name)
            got = digests[LISTS[list_name]]
            if want is None:
                verdict.problems.append(f"{path}: not listed in {list_name}")
            elif want != got:
                verdict.problems.append(f"{path}: differs from {list_name} (listed {want}, file {got})")
        verdict.checked.append(name)
        progress.update(done)
    if tar:
        tar_list = dist / "TAR_MD5SUMS"
        if not tar_list.is_file():
            verdict.problems.append(f"{tar_list}: missing")
        else:
            for name, want in read_sums(tar_list).items():
                archive = dist / f"{name}.zst"
                if not archive.is_file():
                    verdict.problems.append(f"{archive}: missing (its tar is listed in TAR_MD5SUMS)")
                    continue
                got = tar_md5(archive)
                if got != want:
                    verdict.problems.append(f"{archive}: its tar differs from TAR_MD5SUMS (listed {want}, tar {got})")
                verdict.checked.append(name)
    listed = set(names)
    for path in sorted(dist.iterdir()):
        if path.name not in listed and path.name not in UNLISTED_OK and not path.name.startswith("."):
            verdict.problems.append(f"{path}: in the folder but in no checksum list")
    return verdict
