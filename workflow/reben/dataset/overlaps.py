"""Patches of different tiles whose footprints overlap: how much, and what to do about it.

Patches of one tile never overlap (they tile the grid), but two Sentinel-2 products whose
tiles overlap on the ground give patches that share ground with up to four patches of the
other tile. When such patches land in different splits, a test or validation patch shows the
model ground it was trained on. This module finds those pairs (positive overlap area, as
opposed to footprints that only touch along an edge or at a corner) and offers the two ways of
splitting that avoid them (config `splits.overlapping_tiles`):

- `same_split`: patches joined by overlaps (the connected groups of the overlap graph) all take
  one split, the first of train, validation, test that any of them has, so tile overlaps go to
  train as in reBEN's tile-ring split;
- `drop_later`: a patch that overlaps a kept patch of an earlier tile (by sensing time, then
  tile key) in another split is dropped, with drop reason `overlap`.

reBEN needs neither: its 1200 m grids on full 109,800 m tiles put every tile overlap in the
train ring, and products of the same tile on different dates share their grid, so their
patches coincide and get the same split.

Areas are measured in the UTM zone of the patch asked about (every other footprint projected
into it), so patches in neighbouring zones are measured correctly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reben.dataset.splits import SPLITS

MIN_OVERLAP_M2 = 1.0
"""Overlaps below this area (m²) count as touching: footprints stored in EPSG:4326 and
projected back into UTM leave slivers of a fraction of a square metre along shared edges."""

OVERLAP_MODES = ("none", "same_split", "drop_later")
OVERLAP_DROP_REASON = "overlap"


def intersecting_pairs(patches) -> pd.DataFrame:
    """Every ordered pair of patches whose footprints intersect (touching included), with the
    area they share in the first patch's UTM zone.

    `patches` is a GeoDataFrame (any CRS) with patch_id, tile_key and epsg. Returns columns
    `i`, `j` (positions in `patches`), `area_m2` (0 for patches of one tile, which never
    overlap) and `patch_area_m2` (area of patch i). Each pair appears twice, once each way.
    """
    import shapely
    from shapely import STRtree

    tiles = patches["tile_key"].to_numpy(dtype=object)
    frames = []
    for epsg, group in patches.groupby("epsg", sort=True):
        geoms = patches.geometry.to_crs(epsg=int(epsg)).to_numpy()
        positions = patches.index.get_indexer(group.index)
        tree = STRtree(geoms)
        q, t = tree.query(geoms[positions], predicate="intersects")
        i, j = positions[q], t
        keep = i != j
        i, j = i[keep], j[keep]
        area = np.zeros(len(i))
        other_tile = tiles[i] != tiles[j]
        if other_tile.any():
            area[other_tile] = shapely.area(shapely.intersection(geoms[i[other_tile]], geoms[j[other_tile]]))
        frames.append(pd.DataFrame({"i": i, "j": j, "area_m2": area, "patch_area_m2": shapely.area(geoms[i])}))
    if not frames:
        return pd.DataFrame({"i": [], "j": [], "area_m2": [], "patch_area_m2": []})
    return pd.concat(frames, ignore_index=True)


def overlapping_pairs(patches) -> pd.DataFrame:
    """The pairs of intersecting_pairs that overlap with positive area (MIN_OVERLAP_M2 or more)."""
    pairs = intersecting_pairs(patches)
    return pairs[pairs["area_m2"] >= MIN_OVERLAP_M2].reset_index(drop=True)


def overlapped_area(patches, pairs: pd.DataFrame) -> np.ndarray:
    """Per patch i of `pairs`, the area (m²) of its footprint covered by its partners j
    together (partners of two other tiles may overlap each other: their union counts once)."""
    import shapely

    out = {}
    for i, group in pairs.groupby("i", sort=True):
        epsg = int(patches["epsg"].iloc[i])
        geoms = patches.geometry.iloc[[i, *group["j"]]].to_crs(epsg=epsg).to_numpy()
        out[i] = (
            group["area_m2"].iloc[0]
            if len(group) == 1
            else shapely.area(shapely.intersection(geoms[0], shapely.union_all(geoms[1:])))
        )
    return pd.Series(out, dtype="float64")


def split_overlaps(patches) -> tuple[dict, pd.DataFrame]:
    """Leakage between splits: for validation against train, test against train and test
    against validation, how many patches of the first split overlap a patch of the second
    (positive area), how many only touch one, the largest share of a patch that one patch of
    the other split overlaps, the largest share its overlapping patches cover together, and the
    overlapped area in total. Also returns the overlapping pairs across splits, one row each
    way (patch_id, split, other_patch_id, other_split, overlap_m2).

    `patches` is a GeoDataFrame (any CRS) with patch_id, tile_key, epsg and split.
    """
    patches = patches.reset_index(drop=True)
    pairs = intersecting_pairs(patches)
    split = patches["split"].to_numpy(dtype=object)
    pairs = pairs.assign(split_i=split[pairs["i"]], split_j=split[pairs["j"]])
    summary = {}
    for first, second in (("validation", "train"), ("test", "train"), ("test", "validation")):
        part = pairs[(pairs["split_i"] == first) & (pairs["split_j"] == second)]
        overlap = part[part["area_m2"] >= MIN_OVERLAP_M2]
        covered = overlapped_area(patches, overlap)
        patch_area = part.drop_duplicates("i").set_index("i")["patch_area_m2"]
        shares = (covered / patch_area.reindex(covered.index)).to_numpy()
        n = int((split == first).sum())
        summary[f"{first}_vs_{second}"] = {
            "patches": n,
            "overlapping": int(len(covered)),
            "overlapping_share": len(covered) / n if n else 0.0,
            "touching_only": int(len(set(part["i"]) - set(covered.index))),
            "max_pair_overlap_share": float((overlap["area_m2"] / overlap["patch_area_m2"]).max())
            if len(overlap)
            else 0.0,
            "max_covered_share": float(shares.max()) if shares.size else 0.0,
            "overlap_area_km2": float(covered.sum() / 1e6),
        }
    cross = pairs[(pairs["split_i"] != pairs["split_j"]) & (pairs["area_m2"] >= MIN_OVERLAP_M2)]
    ids = patches["patch_id"].to_numpy(dtype=object)
    table = pd.DataFrame(
        {
            "patch_id": ids[cross["i"]],
            "split": cross["split_i"].to_numpy(),
            "other_patch_id": ids[cross["j"]],
            "other_split": cross["split_j"].to_numpy(),
            "overlap_m2": cross["area_m2"].to_numpy(),
        }
    )
    return summary, table.sort_values(["patch_id", "other_patch_id"], ignore_index=True)


def resolve_overlaps(patches, mode: str):
    """Apply `splits.overlapping_tiles` to the kept patches of `patches` (GeoDataFrame with
    patch_id, tile_key, epsg, sensing_time, split, drop_reason); returns a copy with split or
    drop_reason changed, and the number of patches changed."""
    if mode not in OVERLAP_MODES:
        raise ValueError(f"splits.overlapping_tiles: {mode!r} is not one of {', '.join(OVERLAP_MODES)}")
    out = patches.copy()
    if mode == "none":
        return out, 0
    kept_index = out.index[out["drop_reason"].fillna("").eq("")]
    kept = out.loc[kept_index].reset_index(drop=True)
    pairs = overlapping_pairs(kept)
    if pairs.empty:
        return out, 0
    rank = {s: r for r, s in enumerate(SPLITS)}
    split = kept["split"].map(rank).to_numpy()
    if mode == "same_split":
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        n = len(kept)
        graph = coo_matrix((np.ones(len(pairs)), (pairs["i"], pairs["j"])), shape=(n, n))
        _, component = connected_components(graph, directed=False)
        first = pd.Series(split).groupby(component).transform("min").to_numpy()
        changed = first != split
        out.loc[kept_index[changed], "split"] = [SPLITS[r] for r in first[changed]]
        return out, int(changed.sum())
    # drop_later: tiles in order of sensing time, then key; a patch goes when it overlaps a
    # still kept patch of an earlier tile in another split.
    order = (
        kept[["sensing_time", "tile_key"]]
        .drop_duplicates("tile_key")
        .sort_values(["sensing_time", "tile_key"])["tile_key"]
        .tolist()
    )
    tile_rank = kept["tile_key"].map({t: r for r, t in enumerate(order)}).to_numpy()
    pairs = pairs[(tile_rank[pairs["j"]] < tile_rank[pairs["i"]]) & (split[pairs["i"]] != split[pairs["j"]])]
    dropped = np.zeros(len(kept), dtype=bool)
    for r in range(len(order)):
        part = pairs[tile_rank[pairs["i"]] == r]
        hit = part.loc[~dropped[part["j"].to_numpy()], "i"].unique()
        dropped[hit] = True
    out.loc[kept_index[dropped], "drop_reason"] = OVERLAP_DROP_REASON
    return out, int(dropped.sum())
