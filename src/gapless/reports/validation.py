"""The data validation report: every expectation with its verdict, counts and failing rows.

Drawn from ``ValidationResult.to_dict()`` alone, so a result stored as JSON can be
rendered again later. This module shapes the dict into a view (rows, a Plotly bar
chart as a ``<div>``); the template only lays it out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gapless.reports.render import figure_html, render, write_html, write_json

# Sample tables show the row number and at most this many columns (the checked one first).
SAMPLE_COLUMNS = 12
RED = "#c62828"
GREEN = "#0b7a3e"


def validation_html(result: Any) -> str:
    """The complete, self-contained HTML page for a ValidationResult (or its ``to_dict()``)."""
    data = result if isinstance(result, Mapping) else result.to_dict()
    rows = [_row(i, e) for i, e in enumerate(data["expectations"])]
    return render(
        "validation.html.j2",
        title=data.get("dataset") or "data",
        result=data,
        rows=rows,
        failed=[r for r in rows if r["status"] != "pass"],
        chart=_chart(rows),
    )


def write_validation_report(result: Any, html_path: str | os.PathLike[str],
                            json_path: str | os.PathLike[str] | None = None) -> list[Path]:
    """Write the HTML page and, when asked, the JSON next to it (each written atomically)."""
    data = result if isinstance(result, Mapping) else result.to_dict()
    written = [write_html(html_path, validation_html(data))]
    if json_path is not None:
        written.append(write_json(json_path, data))
    return written


def _row(index: int, outcome: Mapping[str, Any]) -> dict[str, Any]:
    sample = outcome.get("sample") or []
    columns = list(sample[0]["values"])[:SAMPLE_COLUMNS] if sample else []
    hidden = len(sample[0]["values"]) - len(columns) if sample else 0
    params = outcome.get("parameters") or {}
    return {
        **outcome,
        "anchor": f"expectation-{index}",
        "css": {"pass": "pass", "fail": "fail"}.get(outcome["status"], "warn"),
        "target": outcome["column"] if outcome["column"] is not None else "(table)",
        "params": ", ".join(f"{k}={_short(v)}" for k, v in params.items() if v is not None),
        "sample_columns": columns,
        "hidden_columns": hidden,
    }


def _chart(rows: list[dict[str, Any]]) -> str | None:
    """Failing rows per expectation that singled out rows; None when none did."""
    bars = [r for r in rows if r["failing_rows"]]
    if not bars:
        return None
    bars.sort(key=lambda r: r["failing_rows"])
    figure = {
        "data": [{
            "type": "bar", "orientation": "h",
            "x": [r["failing_rows"] for r in bars], "y": [r["id"] for r in bars],
            "marker": {"color": RED},
            "hovertemplate": "%{y}: %{x:,} failing rows<extra></extra>",
        }],
        "layout": {"xaxis": {"title": {"text": "failing rows"}},
                   "yaxis": {"automargin": True}},
    }
    return figure_html(figure, height=120 + 28 * len(bars))


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."
