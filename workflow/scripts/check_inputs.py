"""Check every input's metadata before any tile job (rule check_inputs)."""

from reben.run.check import run_check_settings

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    run_check_settings(snakemake.params.settings, snakemake.output.report)
