"""sen2cor: an L1C product (zip or SAFE folder) to the L2A product the tile key predicts.

`run_sen2cor` stages a private copy of the L1C product in a fresh temporary folder beside the
output (a zip is extracted, a SAFE folder mirrored with symbolic links, so the input is never
touched), restores the empty folders that CDSE drops from its zips and sen2cor needs
(GRANULE/*/AUX_DATA, DATASTRIP/*/QI_DATA, ...), runs the configured L2A_Process with
`--output_dir` in that folder (sen2cor refuses an existing output), checks that the product it
wrote has the expected tile key, and renames it into place as `<tile key>.SAFE`. sen2cor's own
product name, its settings and the repaired folders are recorded in a JSON file beside it;
its console output goes to its own log file, kept whether it succeeds or fails.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from reben.errors import RebenError, Sen2corError
from reben.io import DISK_FULL_WORDS, free_space, write_json
from reben.names import parse_product_name, tile_key
from reben.safe import check_l1c_zip

LOG = logging.getLogger("reben.sentinel2.sen2cor")

REPO = Path(__file__).resolve().parents[3]

EMPTY_FOLDERS = ("AUX_DATA", "HTML", "rep_info", "GRANULE/*/AUX_DATA", "GRANULE/*/QI_DATA", "DATASTRIP/*/QI_DATA")
"""Folders of an L1C SAFE that may be empty and are then missing from a CDSE zip; sen2cor
expects them (it writes into GRANULE/*/AUX_DATA and reads DATASTRIP/*/QI_DATA)."""


def stage_l1c(product, staging_dir, name: str | None = None) -> Path:
    """A private `<name>.SAFE` of the L1C product inside `staging_dir`: the zip extracted, or the
    SAFE folder mirrored (folders made, files symlinked), so repairs never touch the input."""
    product, staging_dir = Path(product), Path(staging_dir)
    if not product.exists():
        raise Sen2corError(f"{product.name}: L1C product not found: {product}")
    if product.is_dir():
        safe = staging_dir / (product.name if product.name.endswith(".SAFE") else product.name + ".SAFE")
        for src in sorted(product.rglob("*")):
            dst = safe / src.relative_to(product)
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.symlink_to(src.resolve())
        safe.mkdir(parents=True, exist_ok=True)
        return safe
    check_l1c_zip(product, name)
    with zipfile.ZipFile(product) as z:
        root = z.namelist()[0].split("/", 1)[0]
        z.extractall(staging_dir)
    return staging_dir / root


def repair_empty_folders(safe) -> list[str]:
    """Create the EMPTY_FOLDERS that are missing; returns them, relative to the SAFE root."""
    safe = Path(safe)
    made = []
    for pattern in EMPTY_FOLDERS:
        head, _, leaf = pattern.rpartition("/")
        parents = sorted(safe.glob(head)) if head else [safe]
        for parent in parents:
            if parent.is_dir() and not (parent / leaf).exists():
                (parent / leaf).mkdir()
                made.append(str((parent / leaf).relative_to(safe)))
    return made


def remove_staging_leftovers(l2a_dir, key: str = "*") -> list[str]:
    """Remove the staging folders `.<tile key>.sen2cor.*` in `l2a_dir` (of one tile, or of all)
    that killed sen2cor jobs left: only call it when no sen2cor job of that tile runs."""
    removed = []
    for leftover in sorted(Path(l2a_dir).glob(f".{key}.sen2cor.*")):
        LOG.info("removing %s, left by an interrupted sen2cor job", leftover)
        shutil.rmtree(leftover, ignore_errors=True)
        removed.append(str(leftover))
    return removed


def resolve_command(command: str) -> list[str]:
    """The L2A_Process command as an argument list. A relative path with a slash is looked for
    in the working directory, then in this checkout (tests/doubles/L2A_Process); a bare name on
    the PATH. Raises Sen2corError when it is not there."""
    args = shlex.split(command)
    if not args:
        raise Sen2corError("config: sen2cor.command is empty")
    exe = args[0]
    if "/" in exe:
        candidates = [Path(exe)] if Path(exe).is_absolute() else [Path.cwd() / exe, REPO / exe]
        found = next((str(c) for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)
    else:
        found = shutil.which(exe)
    if found is None:
        raise Sen2corError(
            f"sen2cor command {exe!r} not found or not executable: install sen2cor "
            f"and set config sen2cor.command to its L2A_Process"
        )
    return [found, *args[1:]]


def sen2cor_arguments(l1c_safe, output_dir, resolution: int | None, extra_args) -> list[str]:
    """L2A_Process's command line after the executable: input product, --output_dir, options."""
    args = [str(l1c_safe), "--output_dir", str(output_dir)]
    if resolution:
        args += ["--resolution", str(resolution)]
    return args + [str(a) for a in extra_args or ()]


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def run_sen2cor(
    l1c,
    out_product,
    record,
    command: str,
    version: str,
    resolution: int | None = None,
    extra_args=(),
    tool_log=None,
    l1c_name: str | None = None,
) -> dict:
    """Make `out_product` (`<tile key>.SAFE`) from the L1C product `l1c` with sen2cor.

    `version` is not passed to sen2cor: it is recorded, and (as a rule param) makes a new
    version rerun this step. Returns the record written to `record`.
    """
    l1c, out_product = Path(l1c), Path(out_product)
    key = out_product.name.removesuffix(".SAFE")
    l1c_name = (l1c_name or l1c.name).removesuffix(".zip").removesuffix(".SAFE")
    if parse_product_name(l1c_name).level != "MSIL1C":
        raise Sen2corError(f"{l1c_name}: not an L1C product; sen2cor runs on L1C products only")
    l2a_baseline = parse_product_name(key).baseline
    if tile_key(l1c_name, l2a_baseline) != key:
        raise Sen2corError(f"{l1c_name}: its tile key is {tile_key(l1c_name, l2a_baseline)}, not {key}")
    # A killed run leaves its staging folder behind (no `finally` runs on SIGKILL): the next
    # run of this tile removes it before it starts (and every run at its start and end).
    remove_staging_leftovers(out_product.parent, key)
    cmd = resolve_command(command)
    tool_log = Path(tool_log) if tool_log else out_product.with_name(key + ".L2A_Process.log")
    tool_log.parent.mkdir(parents=True, exist_ok=True)
    out_product.parent.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix=f".{key}.sen2cor.", dir=out_product.parent)).resolve()
    try:
        staged = stage_l1c(l1c, work / "input", l1c_name)
        repaired = repair_empty_folders(staged)
        if repaired:
            LOG.info(
                "%s: restored %d empty folder(s) missing from the product: %s",
                l1c_name,
                len(repaired),
                ", ".join(repaired),
            )
        output_dir = work / "output"
        output_dir.mkdir()
        full = cmd + sen2cor_arguments(staged, output_dir, resolution, extra_args)
        LOG.info("%s: running sen2cor %s: %s", l1c_name, version, shlex.join(full))
        start = time.monotonic()
        with open(tool_log, "w") as out:
            try:
                # REBEN_PYTHON lets a test double of L2A_Process find this interpreter.
                proc = subprocess.run(
                    full,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=work,
                    env={**os.environ, "REBEN_PYTHON": sys.executable},
                )
            except OSError as e:
                raise Sen2corError(
                    f"{l1c_name}: cannot start sen2cor command {cmd[0]!r} ({e.strerror}); check config sen2cor.command"
                ) from None
        seconds = time.monotonic() - start
        if proc.returncode != 0:
            _append_reports(work, tool_log)
            full = any(words in tool_log.read_text(errors="replace") for words in DISK_FULL_WORDS)
            raise Sen2corError(
                f"{l1c_name}: L2A_Process exited with status {proc.returncode} "
                f"({_last_line(tool_log)}); its output is in {tool_log}"
                + (f"; no space left on device ({free_space(work)})" if full else "")
            )
        written = sorted(p for p in output_dir.iterdir() if p.is_dir() and p.name.endswith(".SAFE"))
        if len(written) != 1:
            raise Sen2corError(
                f"{l1c_name}: L2A_Process wrote {len(written)} products instead of one "
                f"into its output folder; its output is in {tool_log}"
            )
        l2a = written[0]
        got = tile_key(l2a.name, l2a_baseline) if _is_l2a(l2a.name) else l2a.name
        if got != key:
            raise Sen2corError(
                f"{l1c_name}: sen2cor named its product {l2a.name}, whose tile key is not "
                f"{key}; set sentinel2.l2a_baseline to the baseline sen2cor writes"
            )
        if out_product.exists():
            shutil.rmtree(out_product)
        os.replace(l2a, out_product)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    result = {
        "tile_key": key,
        "l1c_product": l1c_name,
        "l2a_product": l2a.name.removesuffix(".SAFE"),
        "sen2cor": {
            "command": command,
            "version": version,
            "resolution": resolution,
            "extra_args": list(extra_args or ()),
        },
        "repaired_folders": repaired,
        "seconds": round(seconds, 1),
    }
    write_json(result, record)
    LOG.info("%s: sen2cor wrote %s as %s in %.1f s", l1c_name, l2a.name, out_product.name, seconds)
    return result


def _is_l2a(name: str) -> bool:
    try:
        parsed = parse_product_name(name)
    except RebenError:
        return False
    return parsed.level == "MSIL2A"


def _append_reports(work: Path, tool_log: Path) -> None:
    """Keep sen2cor's own report files of a failed run in its log before the work folder goes."""
    reports = sorted(p for p in work.rglob("*") if p.is_file() and "report" in p.name.lower())
    with open(tool_log, "a") as out:
        for report in reports:
            out.write(f"\n----- {report.relative_to(work)}\n")
            out.write(report.read_text(errors="replace"))
