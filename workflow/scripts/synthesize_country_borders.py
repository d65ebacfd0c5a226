"""Write the demo's synthetic country borders (rule synthesize_country_borders)."""

from reben.synthetic.borders import write_demo_borders

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    write_demo_borders(snakemake.output.borders)
