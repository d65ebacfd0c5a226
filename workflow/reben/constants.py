"""Facts of the data: band lists, resolutions, patch size, SCL classes.

Every other module takes these from here; none repeats them.
"""

PATCH_SIZE_M = 1200
"""Side of one patch in metres in reBEN (1200 m x 1200 m): the default of `patch_size_m`. Every
stage takes the size of its patches from the tile's grid (`TileGrid.patch_size_m`,
`TileGrid.pixels`), never from this constant."""

S2_TILE_SIDE_M = 109_800
"""Side of a Sentinel-2 tile (an MGRS 100 km square and its 9.8 km overlap), in metres: the size
the input check counts for a product that is not on disk yet."""

S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
"""The 12 spectral bands of a reBEN Sentinel-2 patch, in file and tensor order (no B10)."""

S2_BAND_RESOLUTION = {
    "B01": 60,
    "B02": 10,
    "B03": 10,
    "B04": 10,
    "B05": 20,
    "B06": 20,
    "B07": 20,
    "B08": 10,
    "B8A": 20,
    "B09": 60,
    "B11": 20,
    "B12": 20,
}
"""Native ground sampling distance (m) of each band; L2A stores each band at this resolution."""

S2_RESOLUTIONS = (10, 20, 60)

SCL_RESOLUTION = 20
"""The scene classification layer is read at its native 20 m."""

SCL_CLOUD_OR_SHADOW = (3, 8, 9, 10)
"""SCL classes counted as cloud or shadow: cloud shadows, cloud medium/high probability, thin cirrus."""

SCL_SNOW = (11,)
"""SCL class counted as snow or ice."""

S2_NODATA = 0
"""L2A SPECIAL_VALUE NODATA; a patch with any such pixel in any band is invalid."""

QUALITY_INDICATORS = ("GENERAL_QUALITY", "GEOMETRIC_QUALITY", "RADIOMETRIC_QUALITY", "SENSOR_QUALITY")
"""Product quality checks that must be PASSED for a product to enter the dataset."""

S1_POLARISATIONS = ("VV", "VH")

SEASONS = {
    12: "Winter",
    1: "Winter",
    2: "Winter",
    3: "Spring",
    4: "Spring",
    5: "Spring",
    6: "Summer",
    7: "Summer",
    8: "Summer",
    9: "Autumn",
    10: "Autumn",
    11: "Autumn",
}
"""Meteorological season of the sensing month (northern hemisphere, as in BigEarthNet)."""

REBEN_COUNTRIES = (
    "Austria",
    "Belgium",
    "Finland",
    "Ireland",
    "Kosovo",
    "Lithuania",
    "Luxembourg",
    "Portugal",
    "Serbia",
    "Switzerland",
)
"""The 10 countries of reBEN, as Natural Earth admin-0 names them (the schema default of
`countries.names`, tested to be the same)."""

DATASET_TREES = {"s2": "BigEarthNet-S2", "s1": "BigEarthNet-S1", "reference_maps": "Reference_Maps"}
"""The dataset's patch folders by kind, as reBEN names them; each is also an archive's name."""

METADATA_FILES = ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
"""The dataset's metadata files: the kept patches without a snow or cloud/shadow flag, and those
with one (DESIGN.md schema)."""

REFERENCE_MAP_RESOLUTION = 10
"""Pixel size (m) of the reference maps: the 10 m grid of the tile's finest bands."""
