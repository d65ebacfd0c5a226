"""reben: the tested functions behind the reben-workflow Snakemake rules.

Each module owns one concern (grid, Sentinel-2 metadata, patch cutting, ...); the
scripts under workflow/scripts are thin adapters that call into it.
"""

__version__ = "0.1.0"
