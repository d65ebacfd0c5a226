"""Patch grid of one tile from its MTD_TL.xml geocoding (rule make_patch_grid)."""

from reben.sentinel2.tiles import make_patch_grid

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    make_patch_grid(
        product=snakemake.input.product,
        key=snakemake.wildcards.tile,
        patch_size_m=snakemake.params.patch_size_m,
        grid_path=snakemake.output.grid,
        geocoding_path=snakemake.output.geocoding,
    )
