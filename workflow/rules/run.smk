# What a run does around its jobs: what can be refused when the workflow is parsed (a dry run
# too), the input check at the start of every run that has a job to do, the marker of an
# unfinished rebuild, the SLURM checks (profiles/slurm) and the closing line. Included last: it
# reads every stage's inputs.
#
# The input check runs in-process, outside the DAG: as a job it could hide the jobs that a
# config or input change needs (Snakemake does not look past an ancient() input of a job that
# reruns), and a run could end after it on the previous build's dataset.
import time

from reben.distribution.verify import clear_incomplete, mark_incomplete
from reben.errors import InputCheckError
from reben.run import slurm
from reben.run.check import check_inputs, parse_time_problems, write_check_report
from reben.run.ownership import claim_results

CHECK_REPORT = f"{RESULTS}/check/inputs.txt"
# The rules that fetch or make inputs: a run of these alone (the downloads, say) is not stopped by
# a problem of the check (which reads the inputs of the other rules); it still gets the report.
MAKES_INPUTS = {
    "retrieve_sentinel2",
    "retrieve_sentinel1",
    "grd_to_backscatter",
    "download_country_borders",
    "fetch_bigearthnet_v1_s1",
    "extract_bigearthnet_v1_s1",
}
# The folders a rebuild may leave with files of two builds: marked INCOMPLETE until it is done.
BUILD_FOLDERS = (f"{RESULTS}/dataset", f"{RESULTS}/dist")
RUN = {"started": time.time()}


def refuse_bad_inputs_at_parse():
    """At parse time (a dry run too), every problem at once: missing input files, a missing
    Sentinel-1 folder, a product whose name disagrees with its file or metadata, or that holds a
    file outside itself."""
    borders = config["countries"]["borders"] and borders_path()
    s1 = {name: p for name, p in S1_PRODUCTS.items() if name not in S1_GRD}
    problems = parse_time_problems(PRODUCTS, CLC_PATH, borders, S1, s1, RESULTS, config["retrieval"]["enabled"])
    if problems:
        raise WorkflowError(f"{len(problems)} input problem(s):\n" + "\n".join(problems))


def reads_inputs(jobs):
    """Whether a job of these does more than fetch or make inputs."""
    return any(job.rule.name not in MAKES_INPUTS and not job.rule.name.startswith("synthesize_") for job in jobs)


def input_check(stop=True):
    """The input check (reben.run.check): its report rewritten, a line and every warning on the
    console, and every problem at once, which stops the run before its first job (`stop`), or is
    a warning."""
    result = check_inputs(
        config,
        PRODUCTS,
        CLC_PATH,
        borders_path(),
        S1_PRODUCTS,
        config["retrieval"]["enabled"],
        demo_product_sides(),
    )
    logger.info(result.summary(CHECK_REPORT))
    for line in result.warnings:
        logger.warning(f"input check: {line}")
    try:
        write_check_report(result, CHECK_REPORT)
    except InputCheckError as e:
        if stop:
            raise
        logger.warning(f"input check: {e}")
    return result


def writes_into(jobs, folders):
    folders = [Path(f).resolve() for f in folders]
    return any(Path(out).resolve().is_relative_to(f) for job in jobs for out in job.output for f in folders)


def built_default_target():
    """Whether this run built the whole default target (no --until, --omit-from or other targets)."""
    dag = workflow.dag_settings
    return not dag.until and not dag.omit_from and any(job.rule.name == "all" for job in workflow.dag.targetjobs)


onstart:
    try:
        for leftover in remove_sen2cor_leftovers():
            logger.info(f"removed {leftover}, left by a killed sen2cor job")
        RUN["check"] = input_check(stop=reads_inputs(workflow.dag.needrun_jobs()))
        if writes_into(workflow.dag.needrun_jobs(), BUILD_FOLDERS):
            mark_incomplete(
                BUILD_FOLDERS,
                f"A rebuild of {RESULTS} started at {time.strftime('%Y-%m-%d %H:%M:%S')} and has not finished.",
            )
        if slurm.submits_to_slurm(workflow):
            slurm.check_submission(workflow)
    except RebenError as e:
        raise WorkflowError(str(e)) from None
    # The results folder now holds this dataset's build (refused at parse time if another's).
    claim_results(RESULTS, config_identity(config, workflow.configfiles))


onsuccess:
    if slurm.submits_to_slurm(workflow):
        slurm.report_memory_kills(workflow, RUN["started"], logger)
    keep_input_dir()
    remove_sen2cor_leftovers()
    if RUN.get("check") and RUN["check"].to_make:
        recheck_made_inputs()
    if built_default_target():
        clear_incomplete(BUILD_FOLDERS)
    closing_summary_line()


onerror:
    if slurm.submits_to_slurm(workflow):
        slurm.report_memory_kills(workflow, RUN["started"], logger)
    keep_input_dir()
    remove_sen2cor_leftovers()
    closing_summary_line()
    marked = [folder for folder in BUILD_FOLDERS if Path(folder, "INCOMPLETE").is_file()]
    if marked:
        logger.error(f"{' and '.join(marked)} hold files of two builds until a run ends without error (INCOMPLETE)")


def recheck_made_inputs():
    """The inputs the run made or fetched (the demo's, downloads), checked now that they exist:
    the report describes every input after the run that made them."""
    try:
        input_check(stop=False)
    except RebenError as e:  # an input that cannot be read at all
        logger.error(str(e))


def closing_summary_line():
    """What the dataset holds, against this run's config, in one line after Snakemake's own
    (when the dataset is one of this run's targets); then each failed check of the report with the
    setting that accepts it (a failed check is why rule check_dataset failed the run), and each
    check the config accepted."""
    from reben.run.summary import checks_summary, closing_summary

    funnel_csv = dataset_path("funnel.csv")
    if any(job.rule.name == "assemble_dataset" for job in workflow.dag.jobs) and Path(funnel_csv).exists():
        logger.info(closing_summary(funnel_csv, TILES, report_path("index.html")))
    for line in checks_summary(report_path("report.json"), report_path("checks.txt")):
        (logger.info if line.startswith("accepted") else logger.warning)(line)


refuse_bad_inputs_at_parse()
if SETTINGS_CHANGED:
    logger.info(
        f"results: {RESULTS} holds {config['dataset']['name']!r}; settings changed since its last run (what they "
        f"change reruns): {', '.join(SETTINGS_CHANGED[:8])}{' and more' if len(SETTINGS_CHANGED) > 8 else ''}"
    )
