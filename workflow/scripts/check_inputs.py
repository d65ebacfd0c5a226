"""Check every input's metadata before any tile job (rule check_inputs)."""
from reben.check import check_inputs, write_check_report
from reben.sentinel1 import parse_s1_name

if __name__ == "__main__":
    from reben.logs import to_snakemake_log
    log = to_snakemake_log(snakemake.log[0])
    params = snakemake.params
    s1 = {name: {**files, "time": parse_s1_name(name).acquisition_time} for name, files in params.s1_products.items()}
    result = check_inputs(params.config, params.products, params.clc_path, params.borders_path, s1)
    log.info("input check:\n%s", result.report())
    write_check_report(result, snakemake.output.report)
