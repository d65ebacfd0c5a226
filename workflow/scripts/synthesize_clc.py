"""Write the demo's synthetic CORINE Land Cover GeoPackage (rule synthesize_clc)."""

from reben.synthetic.clc import write_demo_clc

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    write_demo_clc(snakemake.output.clc)
