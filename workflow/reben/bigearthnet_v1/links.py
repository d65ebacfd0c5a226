"""BigEarthNet v1 links of the patches (`s2v1_name`, v1 membership, v1 flags, v1 S1 partner),
from the tables that bigearthnet-common ships as package data.

The tables (bigearthnet-common 2.8.0):
- `s1_s2_name_country_season.csv.bz2`: the 590,326 v1 patch pairs, columns s1_name, s2_name,
  country, season;
- `patches_with_seasonal_snow.csv.bz2`, `patches_with_cloud_and_shadow.csv.bz2`: v1 S2 names,
  one per line, no header.

Facts of the real data this module relies on: v1 patches lie on the same 1200 m grid as ours,
with the same x and y. A v1 S2 name (`S2B_MSIL2A_20170924T93020_69_24`) carries v1's own
sensing-time string, which can differ by seconds from the L1C product name and can lose its
leading zero, and it does not carry the MGRS tile: the tile is in the name of its S1 partner
(`S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48`). So a patch is matched on (MGRS tile, sensing
day, x, y), never on a name prefix; in the real table that key is unique.

The data files are located through the installed distribution's file list
(importlib.metadata), so no module of bigearthnet-common is imported: its `base` module pulls
in typer, rich, fastcore, appdirs and pydantic, which the workflow does not need (it is
installed with `pip install --no-deps`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from reben.errors import ConfigError, V1TableError
from reben.grid import TileGrid, read_grid_json
from reben.io import write_parquet
from reben.names import parse_product_name

LOG = logging.getLogger("reben.bigearthnet_v1.links")

PACKAGE = "bigearthnet-common"
PACKAGE_VERSION = "2.8.0"
TABLE_FILES = {
    "pairs": "s1_s2_name_country_season.csv.bz2",
    "snow": "patches_with_seasonal_snow.csv.bz2",
    "cloud_or_shadow": "patches_with_cloud_and_shadow.csv.bz2",
}
"""The v1 tables by role, with the file names bigearthnet-common gives them."""

FROM_PACKAGE = "bigearthnet-common"
"""The value of `bigearthnet_v1.tables` that takes the tables from the installed package."""

_S2V1 = re.compile(r"^S2[A-D]_MSIL2A_(?P<date>\d{8})T\d{5,6}_(?P<x>\d+)_(?P<y>\d+)$")
_S1V1 = re.compile(
    r"^(?P<product>S1[A-D]_[A-Z0-9]{2}_[A-Z_]{4}_[0-9][A-Z]{3}_\d{8}T\d{6})"
    r"_(?P<tile>\d{1,2}[C-X][A-Z]{2})_(?P<x>\d+)_(?P<y>\d+)$"
)

INDEX_COLUMNS = (
    "tile",
    "date",
    "x",
    "y",
    "s2v1_name",
    "s1v1_name",
    "country",
    "season",
    "v1_seasonal_snow",
    "v1_cloud_or_shadow",
)


def package_tables() -> dict[str, Path]:
    """The v1 tables inside the installed bigearthnet-common, without importing it."""
    from importlib import metadata

    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        raise V1TableError(
            f"bigearthnet_v1.tables: {PACKAGE} is not installed (pip install --no-deps {PACKAGE}=={PACKAGE_VERSION})"
        ) from None
    files = {}
    for role, name in TABLE_FILES.items():
        path = Path(dist.locate_file(f"bigearthnet_common/{name}"))
        if not path.is_file():
            raise V1TableError(
                f"{path}: missing from the installed {PACKAGE} {dist.version} (expected version {PACKAGE_VERSION})"
            )
        files[role] = path
    return files


def table_files(tables: str | None) -> dict[str, Path] | None:
    """The v1 tables of `bigearthnet_v1.tables`: the package's, or those of a folder holding files
    of the same names; None when the setting is null (no v1 links)."""
    if not tables:
        return None
    if tables == FROM_PACKAGE:
        return package_tables()
    folder = Path(tables)
    files = {role: folder / name for role, name in TABLE_FILES.items()}
    for path in files.values():
        if not path.is_file():
            raise V1TableError(f"{path}: BigEarthNet v1 table missing (bigearthnet_v1.tables: {tables})")
    return files


def tables_identity(tables: str | None) -> str | None:
    """What reruns the v1 index: the package and its version (the tables of a folder go by
    their files, see bigearthnet_v1.smk)."""
    if tables == FROM_PACKAGE:
        from importlib import metadata

        try:
            return f"{PACKAGE} {metadata.version(PACKAGE)}"
        except metadata.PackageNotFoundError:
            return None
    return None


def _name_list(path: Path) -> pd.Series:
    try:
        names = pd.read_csv(path, header=None, dtype=str, usecols=[0])[0]
    except pd.errors.EmptyDataError:
        return pd.Series([], dtype=str)
    except Exception as e:
        raise V1TableError(f"{path}: not a readable list of v1 patch names ({e})") from None
    return names.str.strip()


def read_v1_index(files: dict[str, Path]) -> pd.DataFrame:
    """One row per v1 patch pair: MGRS tile (from the S1 name), sensing day and x, y (from the S2
    name), both names, country, season and the two v1 flags. Sorted by tile, date, y, x."""
    path = files["pairs"]
    try:
        pairs = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as e:
        raise V1TableError(f"{path}: not a readable v1 pair table ({e})") from None
    missing = [c for c in ("s1_name", "s2_name", "country", "season") if c not in pairs.columns]
    if missing:
        raise V1TableError(
            f"{path}: v1 pair table has no column {', '.join(missing)} (columns: {', '.join(pairs.columns)})"
        )
    s2 = pairs["s2_name"].str.extract(_S2V1)
    s1 = pairs["s1_name"].str.extract(_S1V1)
    bad_s2, bad_s1 = s2["date"].isna(), s1["tile"].isna()
    if bad_s2.any():
        i = int(np.flatnonzero(bad_s2)[0])
        raise V1TableError(
            f"{path}: line {i + 2}: '{pairs['s2_name'].iloc[i]}' is not a v1 S2 "
            f"patch name (S2x_MSIL2A_<date>T<time>_<x>_<y>)"
        )
    if bad_s1.any():
        i = int(np.flatnonzero(bad_s1)[0])
        raise V1TableError(
            f"{path}: line {i + 2}: v1 patch {pairs['s2_name'].iloc[i]} has no MGRS "
            f"tile: its S1 partner '{pairs['s1_name'].iloc[i]}' is not "
            f"<S1 product>_<tile>_<x>_<y>"
        )
    moved = (s1["x"] != s2["x"]) | (s1["y"] != s2["y"])
    if moved.any():
        i = int(np.flatnonzero(moved)[0])
        raise V1TableError(
            f"{path}: line {i + 2}: v1 pair {pairs['s2_name'].iloc[i]} / "
            f"{pairs['s1_name'].iloc[i]} names two different patches"
        )
    index = pd.DataFrame(
        {
            "tile": s1["tile"],
            "date": s2["date"],
            "x": s2["x"].astype("int32"),
            "y": s2["y"].astype("int32"),
            "s2v1_name": pairs["s2_name"],
            "s1v1_name": pairs["s1_name"],
            "country": pairs["country"],
            "season": pairs["season"],
        }
    )
    key = ["tile", "date", "x", "y"]
    twice = index.duplicated(key)
    if twice.any():
        row = index[twice].iloc[0]
        raise V1TableError(
            f"{path}: two v1 patches of tile {row['tile']} on {row['date']} at "
            f"x={row['x']}, y={row['y']}; cannot tell which one a patch is"
        )
    for flag, role in (("v1_seasonal_snow", "snow"), ("v1_cloud_or_shadow", "cloud_or_shadow")):
        names = set(_name_list(files[role]))
        index[flag] = index["s2v1_name"].isin(names).to_numpy()
        unknown = len(names - set(index["s2v1_name"]))
        if unknown:
            LOG.warning("%s: %d names are not v1 patches of %s; ignored", files[role], unknown, path.name)
    return index.sort_values(["tile", "date", "y", "x"], kind="stable").reset_index(drop=True)


def write_v1_index(files: dict[str, Path], out_path) -> pd.DataFrame:
    """The v1 index as Parquet (rule index_bigearthnet_v1), read by every tile's link."""
    index = read_v1_index(files)
    write_parquet(index, out_path)
    LOG.info(
        "%s: %d v1 patch pairs on %d tiles (%d with seasonal snow, %d with cloud or shadow)",
        files["pairs"],
        len(index),
        index["tile"].nunique(),
        int(index["v1_seasonal_snow"].sum()),
        int(index["v1_cloud_or_shadow"].sum()),
    )
    return index


def link_grid(grid: TileGrid, index: pd.DataFrame) -> pd.DataFrame:
    """Per grid patch (grid order): patch_id, s2v1_name and s1v1_name ("" without a v1
    counterpart), and the v1 flags. The counterpart is the v1 patch of the same MGRS tile, the
    same sensing day (of the tile key) and the same x and y."""
    name = parse_product_name(grid.tile_key)
    day = name.sensing_time.strftime("%Y%m%d")
    mine = index[(index["tile"] == name.mgrs).to_numpy() & (index["date"] == day).to_numpy()]
    x, y = grid.indices()
    # Row-major grid position of each v1 patch; positions outside the grid are not ours.
    inside = ((mine["x"] < grid.n_cols) & (mine["y"] < grid.n_rows)).to_numpy()
    mine = mine[inside]
    at = mine["y"].to_numpy(dtype=np.int64) * grid.n_cols + mine["x"].to_numpy(dtype=np.int64)
    n = len(x)
    s2v1 = np.full(n, "", dtype=object)
    s1v1 = np.full(n, "", dtype=object)
    snow = np.zeros(n, dtype=bool)
    cloud = np.zeros(n, dtype=bool)
    s2v1[at] = mine["s2v1_name"].to_numpy(dtype=object)
    s1v1[at] = mine["s1v1_name"].to_numpy(dtype=object)
    snow[at] = mine["v1_seasonal_snow"].to_numpy(dtype=bool)
    cloud[at] = mine["v1_cloud_or_shadow"].to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            "patch_id": grid.patch_ids(),
            "s2v1_name": s2v1,
            "s1v1_name": s1v1,
            "v1_seasonal_snow": snow,
            "v1_cloud_or_shadow": cloud,
        }
    )


def write_tile_link(grid_json, index_path, out_path) -> pd.DataFrame:
    """bigearthnet_v1.parquet of one tile (rule link_bigearthnet_v1); logs the matches."""
    import pyarrow.parquet as pq

    grid = read_grid_json(grid_json)
    name = parse_product_name(grid.tile_key)
    day = name.sensing_time.strftime("%Y%m%d")
    index = pq.read_table(index_path, filters=[("tile", "=", name.mgrs), ("date", "=", day)]).to_pandas()
    link = link_grid(grid, index)
    matched = int((link["s2v1_name"] != "").sum())
    write_parquet(link, out_path)
    if not matched:
        LOG.warning(
            "%s: no BigEarthNet v1 patch of tile %s sensed on %s; no patch of this tile has a v1 counterpart",
            grid.tile_key,
            name.mgrs,
            day,
        )
    LOG.info(
        "%s: %d of %d patches have a v1 counterpart (%d of the v1 table's %d patches of tile %s on %s)",
        grid.tile_key,
        matched,
        len(link),
        matched,
        len(index),
        name.mgrs,
        day,
    )
    return link


def read_tile_link(path, patch_ids, tile: str) -> pd.DataFrame:
    """A tile's bigearthnet_v1.parquet, checked to list `patch_ids` in grid order."""
    link = pd.read_parquet(path)
    if not np.array_equal(link["patch_id"].to_numpy(dtype=object), np.asarray(patch_ids, dtype=object)):
        raise V1TableError(f"{path}: does not list the patches of {tile} in grid order; rebuild it")
    return link


def check_v1_config(config: dict) -> None:
    """Settings that need the v1 tables, or that contradict each other, in one line each."""

    v1, s1 = config["bigearthnet_v1"], config["sentinel1"]
    needs = [
        key
        for key, on in (
            ("bigearthnet_v1.require_match", v1["require_match"]),
            ("bigearthnet_v1.flags", v1["flags"]),
            ("sentinel1.source: bigearthnet_v1", s1["source"] == "bigearthnet_v1"),
        )
        if on
    ]
    if needs and not v1["tables"]:
        raise ConfigError(
            f"config: {needs[0]}: needs the BigEarthNet v1 tables; set "
            f"bigearthnet_v1.tables ({FROM_PACKAGE!r} for the installed package)"
        )
    if v1["flags"] and (config["flags"]["cloud_or_shadow_list"] or config["flags"]["snow_list"]):
        raise ConfigError(
            "config: bigearthnet_v1.flags: takes both flags from the v1 lists; "
            "leave flags.cloud_or_shadow_list and flags.snow_list unset"
        )
    if s1["source"] == "bigearthnet_v1" and not s1["enabled"]:
        raise ConfigError("config: sentinel1.source: bigearthnet_v1 needs sentinel1.enabled: true")
