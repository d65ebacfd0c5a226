"""`reben verify DIST_DIR`: a distribution checked against its own checksum lists.

Every file that SHA256SUMS or MD5SUMS lists (the archives, the metadata files) is read once and
hashed both ways; a file that is missing, or whose digest is not the listed one, is one line
naming the file, the list and both digests. With `tar=True`, each archive is also decompressed
and its tar's md5 compared with TAR_MD5SUMS (the release's published form; a read of the whole
uncompressed dataset, so not by default). Files of the folder that no list names are reported
too: a stray file beside a release is a question a user should see answered."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from reben.distribution.archives import file_digests
from reben.errors import DistributionError
from reben.logs import Progress

LISTS = {"SHA256SUMS": 0, "MD5SUMS": 1}
# What the folder holds beside the listed files: the lists themselves and the dataset card's files.
UNLISTED_OK = {"SHA256SUMS", "MD5SUMS", "TAR_MD5SUMS", "README.md", "croissant.json", "stac"}
_CHUNK = 1 << 22


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


def verify_dist(dist_dir, tar: bool = False) -> Verdict:
    dist = Path(dist_dir)
    if not dist.is_dir():
        raise DistributionError(f"{dist}: not a folder (give the distribution folder, e.g. results/dist)")
    lists = {name: dist / name for name in LISTS}
    absent = [name for name, path in lists.items() if not path.is_file()]
    if len(absent) == len(lists):
        raise DistributionError(f"{dist}: holds neither SHA256SUMS nor MD5SUMS: not a distribution folder")
    verdict = Verdict()
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
