"""Write one synthetic demo L1C product, zipped as CDSE delivers it (rule synthesize_l1c_product)."""

from reben.synthetic.l1c import demo_l1c_product, write_l1c_zip

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    write_l1c_zip(demo_l1c_product(snakemake.params.name), snakemake.output.product)
