"""Write one synthetic demo Sentinel-1 product, VV and VH (rule synthesize_sentinel1_product)."""

from pathlib import Path

from reben.synthetic.sentinel1 import demo_s1, write_s1_product

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    write_s1_product(demo_s1(snakemake.wildcards.s1), Path(snakemake.output.vv).parent)
