"""Render a report template to one self-contained HTML file.

Plotly's JavaScript is embedded once per page (no CDN), so a report opens on a
machine with no network. Figures are passed as Plotly figure dicts or objects and
turned into ``<div>`` snippets that share that one copy of the library.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gapless.core.errors import StoreWriteError

TEMPLATES = Path(__file__).parent / "templates"


def environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = format_number
    env.filters["percent"] = lambda v: "-" if v is None else f"{100 * v:.1f}%"
    return env


def figure_html(figure: Any, *, height: int | None = None) -> str:
    """A Plotly figure as an HTML ``<div>`` that relies on the page's embedded plotly.js."""
    import plotly.graph_objects as go
    import plotly.io as pio

    fig = figure if isinstance(figure, go.Figure) else go.Figure(figure)
    if height:
        fig.update_layout(height=height)
    fig.update_layout(margin={"l": 40, "r": 10, "t": 30, "b": 40}, template="plotly_white")
    return pio.to_html(fig, full_html=False, include_plotlyjs=False,
                       config={"displaylogo": False, "responsive": True})


def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with ``plotly_js`` available for the page head."""
    return environment().get_template(template).render(plotly_js=plotly_js(), **context)


def write_html(path: str | os.PathLike[str], content: str) -> Path:
    """Write a report atomically (temporary file, then rename)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreWriteError(f"cannot write report {target}: {exc.strerror or exc}") from exc
    return target


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write a JSON report atomically; NaN and infinities become null."""
    return write_html(path, json.dumps(json_safe(data), indent=2, default=str))


def format_number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:.4g}"
    return str(value)  # autoescaping escapes it once, in the template


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None and keys as text: what JSON can hold."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
