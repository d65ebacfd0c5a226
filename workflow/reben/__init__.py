"""reben: the tested functions behind the reben-workflow Snakemake rules.

Each module owns one concern (grid, Sentinel-2 metadata, patch cutting, ...); the
scripts under workflow/scripts are thin adapters that call into it.

`reben.open_patch`, `reben.open_dataset`, `reben.select_patch` and `reben.to_10m` open a built
dataset with xarray (reben.access); they are imported on first use, so that `import reben` (every
rule script does) does not import xarray.
"""

__version__ = "0.1.0"

_ACCESS = ("open_dataset", "open_patch", "select_patch", "to_10m")


def __getattr__(name: str):
    if name in _ACCESS:
        import reben.access

        return getattr(reben.access, name)
    raise AttributeError(f"module 'reben' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_ACCESS])
