"""Write one synthetic demo L2A product (rule synthesize_sentinel2_product)."""

from reben.synthetic.scenario import demo_product
from reben.synthetic.sentinel2 import write_l2a_product

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    write_l2a_product(demo_product(snakemake.wildcards.product), snakemake.output.product)
