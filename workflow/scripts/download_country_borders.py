"""Download Natural Earth admin-0 country borders, checked against a sha256 (rule download_country_borders)."""

from reben.dataset.countries import download_borders

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    download_borders(url=snakemake.params.url, sha256=snakemake.params.sha256, path=snakemake.output.borders)
