"""The nearest configured country of each patch of one tile (rule assign_countries)."""

from reben.dataset.countries import write_countries

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    write_countries(
        geocoding=snakemake.input.geocoding,
        borders_path=snakemake.input.borders,
        name_field=snakemake.params.name_field,
        names=snakemake.params.names,
        layer=snakemake.params.layer,
        tie_break=snakemake.params.tie_break,
        priority=snakemake.params.priority,
        countries_path=snakemake.output.countries,
    )
