"""Raw Sentinel-1 GRD products to analysis-ready backscatter with ESA SNAP's gpt (optional).

The graph in resources/sentinel1/grd_to_backscatter.xml applies the precise orbit, removes
thermal noise, calibrates to sigma0, terrain-corrects to 10 m with a DEM, and writes VV and VH
as two GeoTIFFs in linear power. SNAP is not a Python dependency: the config names the gpt
command (sentinel1.grd.gpt), and this module only runs it and checks what it wrote.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

from reben.errors import Sentinel1Error
from reben.io import staged_file
from reben.sentinel1.products import parse_s1_name

LOG = logging.getLogger("reben.sentinel1.grd")


def gpt_command(
    gpt: str, graph, grd, out_vv, out_vh, dem: str, external_dem: str | None, crs: str, threads: int, cache: str
) -> list[str]:
    """The gpt command line for one product (gpt may be a path or a command with arguments)."""
    return [
        *shlex.split(gpt),
        str(graph),
        f"-Pinput={grd}",
        f"-PoutVV={out_vv}",
        f"-PoutVH={out_vh}",
        f"-PdemName={'External DEM' if external_dem else dem}",
        f"-PexternalDEMFile={external_dem or ''}",
        f"-Pcrs={crs}",
        "-q",
        str(threads),
        "-c",
        cache,
    ]


def grd_to_backscatter(
    grd,
    graph,
    out_vv,
    out_vh,
    gpt: str,
    dem: str,
    external_dem: str | None,
    crs: str,
    threads: int = 1,
    cache: str = "4G",
) -> None:
    """Run gpt on one GRD product; VV and VH appear under their final names only when both are
    complete and georeferenced."""
    import rasterio

    name = parse_s1_name(Path(grd).name).name
    start = time.monotonic()
    outs = {"VV": Path(out_vv), "VH": Path(out_vh)}
    with ExitStack() as staged:
        # both files are renamed into place at the end of the block, none if anything fails
        tmps = {pol: staged.enter_context(staged_file(p, keep_suffix=True)) for pol, p in outs.items()}
        cmd = gpt_command(gpt, graph, grd, tmps["VV"], tmps["VH"], dem, external_dem, crs, threads, cache)
        LOG.info("%s: %s", name, shlex.join(cmd))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except FileNotFoundError:
            raise Sentinel1Error(name, f"gpt command not found: {cmd[0]} (sentinel1.grd.gpt)") from None
        for line in (proc.stdout + proc.stderr).splitlines():
            LOG.info("gpt: %s", line)
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise Sentinel1Error(name, f"gpt failed with exit code {proc.returncode}: {last[0]}", str(grd))
        for pol, tmp in tmps.items():
            if not tmp.exists():
                raise Sentinel1Error(name, f"gpt wrote no {pol} file ({tmp.name})", str(grd))
            with rasterio.open(tmp) as src:
                if src.crs is None:
                    raise Sentinel1Error(name, f"gpt wrote a {pol} file without CRS", str(tmp))
    LOG.info("%s: VV and VH backscatter written in %.0f s", name, time.monotonic() - start)
