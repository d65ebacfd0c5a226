# What a run does around its jobs: every missing input named at parse time (a dry run too), the
# input check's settings written, the input check repeated at the start of a real run, the SLURM
# checks (profiles/slurm) and the closing line. Included last: it reads every stage's inputs.
import time


def check_input_files_exist():
    """At parse time (a dry run too): every missing input file at once, before any job."""
    from reben.run.check import missing_input_files

    borders = config["countries"]["borders"] and borders_path()
    s1 = {name: p for name, p in S1_PRODUCTS.items() if name not in S1_GRD}
    missing = missing_input_files(PRODUCTS, CLC_PATH, borders, s1, RESULTS, config["retrieval"]["enabled"])
    if missing:
        raise WorkflowError(f"{len(missing)} input file(s) missing:\n" + "\n".join(missing))


from reben.run import slurm
from reben.run.ownership import claim_results
from reben.run.check import check_settings, recheck_at_start, write_settings

RUN_STARTED = time.time()


onstart:
    try:
        recheck_at_start({job.rule.name for job in workflow.dag.needrun_jobs()}, CHECK_SETTINGS)
        if slurm.submits_to_slurm(workflow):
            slurm.check_submission(workflow)
    except RebenError as e:
        raise WorkflowError(str(e)) from None
    # The results folder now holds this dataset's build (refused at parse time if another's).
    claim_results(RESULTS, config_identity(config, workflow.configfiles))


onsuccess:
    if slurm.submits_to_slurm(workflow):
        slurm.report_memory_kills(workflow, RUN_STARTED, logger)
    keep_input_dir()
    closing_summary_line()


onerror:
    if slurm.submits_to_slurm(workflow):
        slurm.report_memory_kills(workflow, RUN_STARTED, logger)
    keep_input_dir()
    closing_summary_line()


def closing_summary_line():
    """What the run built, in one line, after Snakemake's own (when the dataset was built); then
    each failed check of the report with the setting that accepts it (a failed check is why
    rule check_dataset failed the run), and each check the config accepted."""
    from reben.run.summary import checks_summary, closing_summary

    funnel_csv = dataset_path("funnel.csv")
    if Path(funnel_csv).exists():
        logger.info(closing_summary(funnel_csv, len(TILES), report_path("index.html")))
    for line in checks_summary(report_path("report.json"), report_path("checks.txt")):
        (logger.info if line.startswith("accepted") else logger.warning)(line)


check_input_files_exist()
if SETTINGS_CHANGED:
    logger.info(
        f"results: {RESULTS} holds {config['dataset']['name']!r}; settings changed since its last run (what they "
        f"change reruns): {', '.join(SETTINGS_CHANGED[:8])}{' and more' if len(SETTINGS_CHANGED) > 8 else ''}"
    )
write_settings(
    check_settings(
        provenance_config(config), PRODUCTS, CLC_PATH, borders_path(), S1_PRODUCTS, config["retrieval"]["enabled"]
    ),
    CHECK_SETTINGS,
)
