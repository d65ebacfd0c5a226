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
