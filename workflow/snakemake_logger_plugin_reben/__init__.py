"""Snakemake logger plugin `reben` (profiles/default sets `logger: [reben]`): the console a person
reads, from reben.run.console. `--logger-reben-detail` writes Snakemake's own output instead.
Found by Snakemake as an installed module named snakemake_logger_plugin_*: the package's install
(`pip install -e .`, make venv) puts workflow/ on the path."""

# No `from __future__ import annotations`: Snakemake reads the settings' field types as classes.
import sys
from dataclasses import dataclass, field

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase

from reben.run.console import SNAKEMAKE, Console


@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    detail: bool = field(
        default=False,
        metadata={
            "help": "Show Snakemake's own output: its header and every job's rule block (input, output, log, "
            "reason, resources)."
        },
    )


class LogHandler(LogHandlerBase):
    def __post_init__(self) -> None:
        from snakemake.logging import DefaultFilter, DefaultFormatter

        common = self.common_settings
        self.console = Console()
        self.detail = bool(self.settings and self.settings.detail)
        self.snakemake_filter = DefaultFilter(
            common.quiet, common.debug_dag, common.verbose, common.dryrun, common.printshellcmds
        )
        self.snakemake_format = DefaultFormatter(common.quiet, common.show_failed_logs)
        self.stream = sys.stdout if common.stdout else sys.stderr

    def emit(self, record) -> None:
        try:
            if self.detail:
                text = self.snakemake_format.format(record) if self.snakemake_filter.filter(record) else None
            else:
                text = self.console.line(
                    getattr(record, "event", None), record.__dict__, record.levelno, record.getMessage()
                )
                if text is SNAKEMAKE:
                    text = self.snakemake_format.format(record)
            if text:
                self.stream.write(text + "\n")
                self.stream.flush()
        except Exception:
            self.handleError(record)

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return True

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False
