# reben-workflow: builds the refined BigEarthNet (reBEN) dataset, or one like it, from raw
# Copernicus inputs. This file is the table of contents; each stage has its own rule file.
from snakemake.utils import min_version

min_version("9.0")


# The embedded demo is the config only when none is given: with --configfile, the demo's values
# are never used, and every key the file leaves out takes its schema default (config/README.md).
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config/demo.yaml"


# `snakemake --report report.zip`: the dataset report, its figures, the funnel and the checksums.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/tiles.smk"
include: "workflow/rules/l1c.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/patches.smk"
include: "workflow/rules/labels.smk"
include: "workflow/rules/sentinel1.smk"
include: "workflow/rules/bigearthnet_v1.smk"
include: "workflow/rules/splits.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/distribution.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/run.smk"


rule all:
    default_target: True
    input:
        final_targets,
