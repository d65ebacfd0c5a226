"""The verdict on the built dataset: fails when a check of the report failed and the config does
not accept it (rule check_dataset, the last job of a run)."""

from reben.report.verdict import enforce_checks

if __name__ == "__main__":
    from reben.logs import to_snakemake_log

    to_snakemake_log(snakemake.log[0])
    enforce_checks(snakemake.input.report, snakemake.output.checks)
