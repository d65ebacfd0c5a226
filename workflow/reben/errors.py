"""The package's own error types: one line a user can act on, naming the input at fault."""


class RebenError(Exception):
    """Base class: a problem with the inputs or the configuration, stated in one line."""


class ProductError(RebenError):
    """A Sentinel-2 product is missing a file, or a file is unreadable or inconsistent."""

    def __init__(self, product: str, problem: str, path: str | None = None):
        self.product = product
        self.path = path
        self.problem = problem
        where = f"{path}: " if path else ""
        super().__init__(f"{product}: {where}{problem}")


class GridError(RebenError):
    """The tile geocoding does not allow a patch grid (size, resolution, alignment)."""


class ConfigError(RebenError):
    """A configuration value is invalid in a way the JSON schema cannot express."""


class OutputError(RebenError):
    """An output file cannot be written (a full disk, a refused write); names the file."""


class AccessError(RebenError):
    """A dataset folder cannot be opened as asked: not a dataset, an unknown patch or split, a
    band the dataset does not hold, a patch file or LMDB entry that is missing or of another shape."""


class AssemblyError(RebenError):
    """The per-tile outputs cannot be put together into the dataset."""


class BandStatisticsError(RebenError):
    """A patch of the split has no row in its tile's band statistics table, or a table is unreadable."""


class BordersError(RebenError):
    """The country borders file cannot give the configured countries."""


class ClassTableError(RebenError):
    """A class table cannot be used: missing file or column, a bad or duplicate code."""


class ClcError(RebenError):
    """The CLC input cannot be used: missing file, layer, CRS or code field, or a bad code."""


class DatasetCheckError(RebenError):
    """A check of the built dataset failed and the config does not accept it; names the check and
    the setting that would."""


class DistributionError(RebenError):
    """An output of the distribution stage cannot be built from its inputs, or cannot be written."""


class ExportError(RebenError):
    """The dataset cannot be exported in the BigEarthNet v1 layout."""


class FlagListError(RebenError):
    """A list of flagged patch ids cannot be read."""


class InputCheckError(RebenError):
    """One or more inputs cannot be used; the message lists every problem, one per line."""


class LabelRasterError(RebenError):
    """The label raster cannot be used: missing, unreadable, no CRS, not integer codes."""


class ReportError(RebenError):
    """An input of the report lacks what the report needs."""


class RetrievalError(RebenError):
    """A product cannot be found, fetched or verified in the Copernicus Data Space."""


class SearchError(RebenError):
    """A search request that cannot be made as given (one line naming the argument)."""


class SelectionError(RebenError):
    """The per-tile tables of a tile do not describe the same patches."""


class Sen2corError(RebenError):
    """sen2cor cannot run on a product, fails, or writes something else than expected."""


class Sentinel1Error(RebenError):
    """A Sentinel-1 product is unreadable, incomplete or inconsistent."""

    def __init__(self, product: str, problem: str, path: str | None = None):
        where = f"{path}: " if path else ""
        super().__init__(f"{product}: {where}{problem}")


class SlurmError(RebenError):
    """The SLURM profile cannot submit: no sbatch, an unknown partition, a placeholder left."""


class V1ArchiveError(RebenError):
    """The BigEarthNet-S1 v1.0 archive (or its extracted folder) is missing, truncated or
    incomplete."""


class V1TableError(RebenError):
    """The BigEarthNet v1 tables are missing or do not read as bigearthnet-common's."""
