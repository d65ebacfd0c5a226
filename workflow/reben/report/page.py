"""The report's page: index.html rendered from the Jinja template (resources/report/index.html.j2)
with report.json's numbers, each in a cell tagged with its report.json path (data-key), and the
figures embedded as data URIs.
"""

from __future__ import annotations

import base64
from pathlib import Path

from reben.dataset.assembly import DATASET_DROP_REASONS as DROP_REASONS
from reben.dataset.splits import SPLITS


def lookup(report: dict, key: str):
    """The value at a `/`-separated path of report.json (the page's data-key)."""
    value = report
    for part in key.split("/"):
        value = value[part]
    return value


def format_number(value, decimals: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{decimals}f}"


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def render_html(report: dict, figures: dict, template_path) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined
    from markupsafe import Markup, escape

    def cell(key: str, decimals: int = 0, tag: str = "td") -> Markup:
        value = lookup(report, key)
        return Markup(
            f'<{tag} class="num" data-key="{escape(key)}" data-decimals="{decimals}">'
            f"{escape(format_number(value, decimals))}</{tag}>"
        )

    template_path = Path(template_path)
    env = Environment(
        loader=FileSystemLoader(template_path.parent),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template(template_path.name)
    return template.render(
        report=report,
        cell=cell,
        img={k: data_uri(v) for k, v in figures.items()},
        splits=list(SPLITS),
        drop_reasons=list(DROP_REASONS),
    )
