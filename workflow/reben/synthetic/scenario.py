"""The demo scenario: which synthetic Sentinel-2 products exist, where and when.

The demo products are windows of real MGRS tiles, on the tiles' real 1200 m grids: T33UUP
(upper-left corner (300000, 5400000), EPSG:32633) and its eastern neighbour T33UVP (upper-left
corner (400000, 5400000)). The T33UUP window is taken at the tile's eastern edge (columns 79
to 90) and the T33UVP window at its western edge, so that the two products overlap on
9.2 km of ground, as neighbouring tiles do. A window is written as a product of its own: its
MTD_TL geocoding gives the window's corner and size, so patch indices count from the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reben.constants import PATCH_SIZE_M


@dataclass(frozen=True)
class SyntheticProduct:
    """One synthetic Sentinel-2 L2A product."""

    name: str  # full product name, with processing time (no .SAFE)
    epsg: int
    ulx: float  # upper-left corner of the product (window) at 10 m
    uly: float
    n_patches: int  # patches per side; the product is n_patches * 120 px square
    baseline: str  # PROCESSING_BASELINE as written in the metadata, e.g. "99.99"
    boa_add_offset: int | None  # BOA_ADD_OFFSET (-1000 from baseline 04.00 / sen2cor 2.10 on)
    seed: int
    absolute_orbit: int = 10290
    cloud_fraction: float = 0.08  # share of the area under cloud (SCL 8/9), shadows beside it
    snow_fraction: float = 0.0  # share of the area under snow (SCL 11)
    quality: dict = field(default_factory=dict)  # quality checks that are not PASSED
    extra_px: int = 0  # pixels beyond the last complete patch (real tiles: 60)

    @property
    def size_px(self) -> int:
        return self.n_patches * (PATCH_SIZE_M // 10) + self.extra_px

    @property
    def safe_name(self) -> str:
        return self.name + ".SAFE"


DEMO_PRODUCTS = (
    SyntheticProduct(
        name="S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20230105T120000",
        epsg=32633,
        ulx=300000 + 79 * PATCH_SIZE_M,
        uly=5400000,
        n_patches=12,
        baseline="99.99",
        boa_add_offset=-1000,
        seed=1,
        cloud_fraction=0.08,
    ),
    SyntheticProduct(
        name="S2B_MSIL2A_20171221T100409_N0206_R122_T33UVP_20171221T120510",
        epsg=32633,
        ulx=400000,
        uly=5400000,
        n_patches=12,
        baseline="02.06",
        boa_add_offset=None,
        seed=2,
        absolute_orbit=4156,
        cloud_fraction=0.05,
        snow_fraction=0.12,
        extra_px=60,
    ),
    SyntheticProduct(
        name="S2A_MSIL2A_20180525T100031_N9999_R122_T33UUP_20230105T130000",
        epsg=32633,
        ulx=300000 + 83 * PATCH_SIZE_M,
        uly=5400000 - 4 * PATCH_SIZE_M,
        n_patches=4,
        baseline="99.99",
        boa_add_offset=-1000,
        seed=3,
        absolute_orbit=15157,
        quality={"SENSOR_QUALITY": "FAILED"},
    ),
)
"""Two products that pass, in the same UTM zone and overlapping, on different dates and
baselines (with and without BOA_ADD_OFFSET), and a small one that fails its SENSOR quality check."""


def full_size_product(seed: int = 7) -> SyntheticProduct:
    """A full 10980 x 10980 px product of T33UUP (91 x 91 patches), for the benchmarks."""
    return SyntheticProduct(
        name="S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20230105T120000",
        epsg=32633,
        ulx=300000,
        uly=5400000,
        n_patches=91,
        extra_px=60,
        baseline="99.99",
        boa_add_offset=-1000,
        seed=seed,
    )


def demo_product(name: str) -> SyntheticProduct:
    """The demo product of that name (with or without .SAFE)."""
    name = name.removesuffix(".SAFE")
    for product in DEMO_PRODUCTS:
        if product.name == name:
            return product
    raise KeyError(f"{name} is not a demo product")
