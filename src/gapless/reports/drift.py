"""The data drift report: the per-column table and the dataset's verdict, drawn from
``DriftReport.to_dict()`` alone (a report stored as JSON can be rendered again).

:func:`drift_view` shapes the dict for the table (the monitoring report shows the same
table); :func:`render_drift_report` is the stand-alone page, with one bar chart per kind
of deciding value (adjusted p-values, effect sizes) against its threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gapless.reports.render import figure_html, format_number, render

RED = "#c62828"
BLUE = "#3b6ea8"


def render_drift_report(report_dict: Mapping[str, Any], reference_name: str,
                        current_name: str) -> str:
    """The complete, self-contained HTML page for one drift report."""
    return render(
        "drift.html.j2",
        title=f"{current_name} against {reference_name}",
        reference_name=reference_name,
        current_name=current_name,
        drift=drift_view(report_dict),
        charts=_charts(report_dict),
    )


def drift_view(report: Mapping[str, Any]) -> dict[str, Any]:
    """Rows of the drift table and a one-line dataset verdict."""
    rows = []
    for c in report["columns"]:
        verdict = ("no verdict" if c["drifted"] is None
                   else "drift" if c["drifted"] else "no drift")
        rows.append({
            "column": c["column"] if c["role"] == "feature" else f"{c['column']} ({c['role']})",
            "kind": c["kind"] or "-", "test": c["test"] or "-",
            "statistic": format_number(c["statistic"]),
            "p_value": format_number(c["p_value"]),
            "threshold": format_number(c["threshold"]),
            "verdict": verdict,
            "css": {"drift": "fail", "no drift": "pass"}.get(verdict, "warn"),
            "reason": c.get("reason") or "",
            "values": f"{c['reference_values']:,} / {c['current_values']:,}",
        })
    share = report.get("drift_share")
    dataset = report["dataset_drift"]
    verdict = ("no verdict (no column could be judged)" if dataset is None
               else "drift" if dataset else "no drift")
    summary = (f"drift in {report['drifted_columns']} of {report['judged_columns']} judged "
               "columns" + (f" ({share:.0%})" if share is not None else "")
               + f"; the dataset drifts at a share of {report['share']:.0%}; p-values "
               f"corrected: {report['correction']}")
    domain = None
    if report.get("domain_auc") is not None:
        domain = (f"domain classifier ROC AUC {report['domain_auc']:.3f}: "
                  + ("the samples can be told apart" if report["domain_drift"]
                     else "no joint drift"))
    return {"rows": rows, "verdict": verdict,
            "css": {"drift": "fail", "no drift": "pass"}.get(verdict, "warn"),
            "summary": summary, "domain": domain,
            "reference_rows": report["reference_rows"], "current_rows": report["current_rows"]}


def _charts(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """Per judged column, the deciding value next to its threshold: adjusted p-values
    (drift below the threshold) and effect sizes (drift at or above it) apart."""
    judged = [c for c in report["columns"] if c["drifted"] is not None]
    charts = []
    for title, picked, key in (
        ("Adjusted p-value against threshold (drift below it)",
         [c for c in judged if c["p_value"] is not None], "p_value"),
        ("Effect size against threshold (drift at or above it)",
         [c for c in judged if c["p_value"] is None and c["statistic"] is not None],
         "statistic"),
    ):
        if not picked:
            continue
        names = [f"{c['column']} ({c['test']})" for c in picked]
        figure = {
            "data": [
                {"type": "bar", "name": "value", "x": names, "y": [c[key] for c in picked],
                 "marker": {"color": [RED if c["drifted"] else BLUE for c in picked]},
                 "hovertemplate": "%{x}: %{y:.4g}<extra></extra>"},
                {"type": "scatter", "mode": "markers", "name": "threshold", "x": names,
                 "y": [c["threshold"] for c in picked],
                 "marker": {"symbol": "line-ew-open", "size": 28, "color": "#102a43",
                            "line": {"width": 3}},
                 "hovertemplate": "threshold %{y:.4g}<extra></extra>"},
            ],
            "layout": {"title": {"text": title}, "showlegend": True,
                       "xaxis": {"automargin": True}},
        }
        charts.append({"title": title, "figure": figure_html(figure, height=340)})
    return charts
