"""SAFE products as delivered in a zip: the checks every downloaded or configured zip passes
before anything reads it (the catalogue's retrieval after a download, sen2cor before it extracts an
L1C product). Below every wing: the catalogue is upstream of the stages that read products."""

from __future__ import annotations

import zipfile
from pathlib import Path

from reben.errors import Sen2corError


def check_l1c_zip(path, name: str | None = None, metadata: str = "MTD_MSIL1C.xml", kind: str = "an L1C") -> None:
    """The zip opens, every member passes its CRC check, and it holds one `<name>.SAFE/` with
    `metadata` at its top (MTD_MSIL1C.xml; for other products as CDSE delivers them,
    MTD_MSIL2A.xml or Sentinel-1's manifest.safe). Raises Sen2corError naming the zip and the
    first problem."""
    path = Path(path)
    label = name or path.name
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise Sen2corError(f"{label}: {path} is not a readable zip ({e}); delete it and fetch it again") from None
    if bad is not None:
        raise Sen2corError(
            f"{label}: {path} is a corrupt zip (member {bad} fails its CRC check); delete it and fetch it again"
        )
    roots = {n.split("/", 1)[0] for n in names}
    if len(roots) != 1 or not roots.pop().endswith(".SAFE"):
        raise Sen2corError(f"{label}: {path} does not hold exactly one <product>.SAFE folder")
    if not any(n.count("/") == 1 and n.upper().endswith("/" + metadata.upper()) for n in names):
        raise Sen2corError(f"{label}: {path} holds no {metadata}: not {kind} product")
