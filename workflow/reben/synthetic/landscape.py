"""Spatially structured synthetic land cover and reflectance: fields, forests, water, towns.

A land-cover class map at 10 m is built from irregular field parcels, low-frequency noise
(forest stands, lakes), a meandering river and a town; each band's digital numbers come from
per-class reflectance spectra with per-parcel and per-pixel variation.
"""

from __future__ import annotations

import numpy as np

from reben.constants import S2_BANDS

WATER, FOREST, CROP, BARE, GRASS, URBAN = range(6)
CLASSES = ("water", "forest", "crop", "bare", "grass", "urban")

# Surface reflectance x 10000 per class, in S2_BANDS order (typical values of each cover).
SPECTRA = np.array(
    [
        [400, 450, 500, 350, 300, 250, 230, 200, 180, 150, 100, 80],  # water
        [250, 300, 500, 300, 800, 2200, 2700, 3000, 3100, 2800, 1500, 700],  # forest
        [300, 400, 700, 500, 1200, 2800, 3300, 3600, 3700, 3300, 2000, 1000],  # crop
        [900, 1100, 1400, 1700, 1900, 2100, 2300, 2400, 2500, 2400, 3000, 2500],  # bare soil
        [300, 450, 800, 600, 1300, 2400, 2800, 3000, 3100, 2900, 2200, 1200],  # grassland
        [1200, 1300, 1400, 1500, 1600, 1700, 1800, 1900, 1950, 1900, 2200, 2000],  # urban
    ],
    dtype=np.float32,
)
CLOUD = np.array([6500, 6800, 7000, 7100, 7100, 7200, 7200, 7300, 7300, 6000, 5000, 4000], np.float32)
SNOW = np.array([8500, 9000, 8800, 8600, 8400, 8200, 8000, 7800, 7600, 5000, 600, 400], np.float32)
assert SPECTRA.shape[1] == CLOUD.size == SNOW.size == len(S2_BANDS)


def smooth_noise(rng: np.random.Generator, size: int, cell: int) -> np.ndarray:
    """Low-frequency noise in [0, 1): a coarse random grid upsampled bilinearly to size x size."""
    n = size // cell + 2
    coarse = rng.random((n, n), dtype=np.float32)
    pos = np.arange(size, dtype=np.float32) / cell
    i = pos.astype(int)
    f = pos - i
    rows = coarse[i] * (1 - f)[:, None] + coarse[i + 1] * f[:, None]
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]


def parcels(rng: np.random.Generator, size: int, low: int = 25, high: int = 90) -> np.ndarray:
    """Parcel ids of an irregular field pattern: rows and columns cut at random widths,
    each row band cut again at its own offsets so that parcels do not line up."""
    cuts_y = np.cumsum(rng.integers(low, high, size))
    band = np.searchsorted(cuts_y, np.arange(size), side="right")
    ids = np.empty((size, size), dtype=np.int32)
    for b in range(band.max() + 1):
        cuts_x = np.cumsum(rng.integers(low, high, size)) - rng.integers(0, low)
        cols = np.searchsorted(cuts_x, np.arange(size), side="right")
        ids[band == b] = cols + b * size
    return ids


def land_cover(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A class map (uint8, CLASSES) and parcel ids for a size x size 10 m scene."""
    ids = parcels(rng, size)
    n_parcels = int(ids.max()) + 1
    parcel_class = rng.choice([CROP, BARE, GRASS, CROP], size=n_parcels).astype(np.uint8)
    cover = parcel_class[ids]
    cover[smooth_noise(rng, size, 300) > 0.68] = FOREST
    cover[smooth_noise(rng, size, 500) > 0.86] = WATER
    # A meandering river across the scene.
    yy = np.arange(size, dtype=np.float32)
    centre = size * (0.3 + 0.4 * rng.random()) + size * 0.08 * np.sin(yy / (size / 5) + rng.random() * 6)
    xx = np.arange(size, dtype=np.float32)[None, :]
    cover[np.abs(xx - centre[:, None]) < 6 + 3 * np.sin(yy / 37)[:, None]] = WATER
    # A town around a random centre.
    cy, cx = rng.integers(size // 5, 4 * size // 5, 2)
    town = np.hypot(*np.ogrid[-cy : size - cy, -cx : size - cx]) < size * 0.06
    cover[town & (cover != WATER)] = URBAN
    return cover, ids


def block_mode_sample(array: np.ndarray, factor: int) -> np.ndarray:
    """Downsample by taking the centre pixel of each factor x factor block."""
    return array[factor // 2 :: factor, factor // 2 :: factor]


def block_mean(array: np.ndarray, factor: int) -> np.ndarray:
    h, w = array.shape[0] // factor, array.shape[1] // factor
    return array[: h * factor, : w * factor].reshape(h, factor, w, factor).mean(axis=(1, 3))
