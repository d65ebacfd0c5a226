# reben-workflow: builds the refined BigEarthNet (reBEN) dataset, or one like it, from raw
# Copernicus inputs. This file is the table of contents; each stage has its own rule file.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/tiles.smk"
include: "workflow/rules/patches.smk"


rule all:
    default_target: True
    input:
        final_targets,
