"""Test helper, run as a script: load this checkout's workflow with Snakemake's own API, as
`snakemake [--configfile F ...]` would in WORKDIR, and print the resolved config and every rule's
outputs and rule file as JSON. Usage: load_workflow.py SNAKEFILE WORKDIR [CONFIGFILE ...]"""

import json
import sys
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

if __name__ == "__main__":
    snakefile, workdir, *configfiles = sys.argv[1:]
    with SnakemakeApi(OutputSettings()) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[Path(c).absolute() for c in configfiles]),
            snakefile=Path(snakefile),
            workdir=Path(workdir),
        )
        workflow = workflow_api._workflow
        rules = {
            rule.name: {"outputs": [str(o) for o in rule.output], "snakefile": str(rule.snakefile)}
            for rule in workflow.rules
        }
        print(json.dumps({"config": workflow.config, "rules": rules}, default=str))
