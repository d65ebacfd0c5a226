"""Cloud/shadow and seasonal-snow flags of the patches.

Two sources, chosen per flag:
- the SCL fractions that cut_s2_patches records (s2_patches.parquet): a patch is flagged when
  its fraction is above the configured threshold. With the default threshold 0, any cloud,
  shadow or snow pixel flags the patch, as reBEN does;
- a list of flagged patch ids given as a file (one id per line, or a CSV/Parquet table with a
  `patch_id` column), which is how reBEN carried BigEarthNet v1's flags over. Ids in a list
  that are not patches of the dataset are counted and reported as a warning, not an error.

A flag never drops a patch: a flagged patch that is otherwise kept goes to
metadata_for_patches_with_snow_cloud_or_shadow.parquet instead of metadata.parquet.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from reben.errors import FlagListError

LOG = logging.getLogger("reben.dataset.flags")

FLAGS = {"contains_cloud_or_shadow": "cloud_or_shadow_fraction", "contains_seasonal_snow": "snow_fraction"}
"""Flag column -> the SCL fraction column of s2_patches.parquet it is computed from."""


def read_flag_list(path) -> set[str]:
    """The patch ids of a flag list: a text file with one id per line ('#' comments and blank
    lines ignored), or a .csv/.parquet table with a `patch_id` column."""
    path = Path(path)
    if not path.is_file():
        raise FlagListError(f"{path}: flag list does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".parquet"):
            table = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path, dtype=str)
            if "patch_id" not in table.columns:
                raise FlagListError(
                    f"{path}: flag list has no 'patch_id' column (columns: {', '.join(map(str, table.columns))})"
                )
            ids = table["patch_id"].dropna().astype(str).str.strip()
            return set(ids[ids != ""])
        lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
        return {line for line in lines if line}
    except FlagListError:
        raise
    except Exception as e:
        raise FlagListError(f"{path}: flag list could not be read ({e})") from None


def compute_flags(
    s2_patches: pd.DataFrame, thresholds: dict[str, float], lists: dict[str, set[str] | None] | None = None
) -> pd.DataFrame:
    """patch_id and the two flag columns, in the order of `s2_patches`.

    `thresholds` maps each flag column to the fraction above which it is set; `lists` maps a
    flag column to the set of flagged ids that replaces the threshold for that flag.
    """
    lists = lists or {}
    out = pd.DataFrame({"patch_id": s2_patches["patch_id"].to_numpy()})
    for flag, fraction in FLAGS.items():
        ids = lists.get(flag)
        if ids is not None:
            out[flag] = out["patch_id"].isin(ids).to_numpy()
        else:
            # Compared in float32, the type the fractions are stored in, so that a fraction
            # equal to the threshold (0.1 stored as float32) is not above it.
            out[flag] = np.asarray(s2_patches[fraction], dtype="float32") > np.float32(thresholds[flag])
    return out


def unknown_ids(ids: set[str], known) -> int:
    """How many ids of a flag list are not among the `known` patch ids."""
    return len(ids - set(known))
