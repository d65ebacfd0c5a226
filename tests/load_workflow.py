"""Test helper, run as a script: load this checkout's workflow with Snakemake's own API, as
`snakemake [--configfile F ...]` would in WORKDIR, and print the resolved config and every rule's
outputs, rule file and memory per attempt, and the package modules loading it imported, as
JSON. Usage: load_workflow.py SNAKEFILE WORKDIR [CONFIGFILE ...]"""

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

        def mem_mb(rule):
            """mem_mb on attempts 1 and 2 (a number when the rule asks the same on every attempt)."""
            mem = rule.resources.get("mem_mb")
            if mem is None:
                return None
            # Snakemake wraps a rule's resources; an unevaluated one keeps its function.
            function = getattr(mem, "_evaluator", None)
            return [function(None, attempt=a) for a in (1, 2)] if function else getattr(mem, "value", mem)

        rules = {
            rule.name: {
                "outputs": [str(o) for o in rule.output],
                "snakefile": str(rule.snakefile),
                "mem_mb": mem_mb(rule),
            }
            for rule in workflow.rules
        }
        modules = sorted(name for name in sys.modules if name.startswith("reben"))
        print(json.dumps({"config": workflow.config, "rules": rules, "modules": modules}, default=str))
