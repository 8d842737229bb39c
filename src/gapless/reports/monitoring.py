"""The monitoring report: one offline HTML page of an endpoint's windows over time.

Drawn from ``Window.to_dict()`` rows alone (and, optionally, a ``DriftReport.to_dict()``),
so windows stored as JSON can be rendered again. Service charts (request rate, error
rate, latency quantiles) and output charts draw one line per model version and variant;
input charts add every version and variant up per window and show only the few features
that get worst (highest missing or outside-training-range share in any window).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from gapless.reports.drift import drift_view
from gapless.reports.render import figure_html, render

# Input charts show this many features, the worst first; output charts this many classes.
TOP_FEATURES = 5
TOP_CLASSES = 8
DASHES = {"p50": "solid", "p95": "dash", "p99": "dot"}


def render_monitoring_report(windows: list[dict[str, Any]], *, endpoint: str, window: str,
                             drift: Mapping[str, Any] | None = None,
                             performance: list[dict[str, Any]] | None = None,
                             title: str | None = None, period: str | None = None) -> str:
    """The complete, self-contained HTML page for ``windows`` of ``endpoint`` (each a
    ``Window.to_dict()``, any order); ``window`` names their length (``5m``), ``period``
    the span read (``last 1d``); with ``drift``, a drift table of the period's inputs;
    with ``performance`` (``PerformanceWindow.to_dict()`` each), the realized metric per
    window beside the one estimated without labels. An empty ``windows`` gives a page
    that says there was no data in the period."""
    rows = sorted(windows, key=lambda w: (w["start"], w["version"], w["variant"]))
    charts = []
    if rows:
        series = _series(rows)
        charts = [c for c in (
            _line_chart("Requests per second", series, lambda w: w["rate_per_s"], "req/s"),
            _line_chart("Error rate (status 500)", series, lambda w: w["error_rate"],
                        "share of requests", percent=True),
            _latency_chart(series),
            _output_chart(series),
            _input_chart(rows, "missing_share", "Missing share per input"),
            _input_chart(rows, "outside_share",
                         "Share outside the training range (or unseen categories) per input"),
            _performance_chart(performance or []),
        ) if c is not None]
    return render(
        "monitoring.html.j2",
        title=title or f"{endpoint}, windows of {window}",
        endpoint=endpoint, window=window, period=period,
        summary=_summary(rows), charts=charts,
        drift=drift_view(drift) if drift is not None else None,
    )


def _summary(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    if not rows:
        return []
    requests = sum(w["requests"] for w in rows)
    errors = sum(w["errors"] for w in rows)
    end = max(w["start"] + w["seconds"] for w in rows)
    versions = sorted({f"v{w['version']} {w['variant']}" for w in rows})
    return [
        ("From (UTC)", _utc(rows[0]["start"])), ("To (UTC)", _utc(end)),
        ("Windows with requests", f"{len({w['start'] for w in rows}):,}"),
        ("Requests", f"{requests:,}"),
        ("Errors", f"{errors:,} ({errors / requests:.2%})" if requests else "0"),
        ("Versions and variants", ", ".join(versions)),
    ]


def _series(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for w in rows:
        found.setdefault(f"v{w['version']} {w['variant']}", []).append(w)
    return found


def _line_chart(title: str, series: Mapping[str, list[dict[str, Any]]],
                value: Callable[[dict[str, Any]], Any], axis: str, *,
                percent: bool = False) -> dict[str, str]:
    traces = [_trace(name, ws, value) for name, ws in series.items()]
    return _chart(title, traces, axis, percent=percent)


def _latency_chart(series: Mapping[str, list[dict[str, Any]]]) -> dict[str, str]:
    traces = [{**_trace(f"{name} {q}", ws, lambda w, q=q: w["latency_ms"][q]),
               "line": {"dash": dash}}
              for name, ws in series.items() for q, dash in DASHES.items()]
    return _chart("Latency p50, p95 and p99", traces, "milliseconds")


def _output_chart(series: Mapping[str, list[dict[str, Any]]]) -> dict[str, str] | None:
    everything = [w for ws in series.values() for w in ws]
    if any(w["outputs"]["classes"] for w in everything):
        worst: dict[str, float] = {}
        for w in everything:
            for cls, share in (w["outputs"]["classes"] or {}).items():
                worst[cls] = max(worst.get(cls, 0.0), share)
        classes = sorted(worst, key=lambda c: -worst[c])[:TOP_CLASSES]
        traces = [_trace(f"{name} class {cls}", ws,
                         lambda w, cls=cls: (w["outputs"]["classes"] or {}).get(cls, 0.0))
                  for name, ws in series.items() for cls in sorted(classes)]
        return _chart("Share of each output class", traces, "share of answers", percent=True)
    if any(w["outputs"]["mean"] is not None for w in everything):
        return _line_chart("Mean output", series, lambda w: w["outputs"]["mean"], "mean")
    return None


def _performance_chart(windows: list[dict[str, Any]]) -> dict[str, str] | None:
    """Accuracy (or MAE) per window: realized from labels, solid; estimated from the
    model's confidence, dashed; one pair per version and variant."""
    rows = sorted(windows, key=lambda w: (w["start"], w["version"], w["variant"]))
    metric = "mae" if any(w["problem"] == "regression" for w in rows) else "accuracy"
    series = _series(rows)
    traces = [{**_trace(f"{name} {label}", ws, lambda w, key=key: w[key].get(metric)),
               "line": {"dash": dash}}
              for name, ws in series.items()
              for key, label, dash in (("metrics", "realized", "solid"),
                                       ("estimated", "estimated", "dash"))
              if any(w[key].get(metric) is not None for w in ws)]
    if not traces:
        return None
    return _chart(f"Performance ({metric}): realized from labels, estimated from confidence",
                  traces, metric)


def _input_chart(rows: list[dict[str, Any]], key: str, title: str) -> dict[str, str] | None:
    """Per feature and window start, the share over every version and variant (each
    window weighted by its requests, or for the outside share by its values); only the
    TOP_FEATURES features with the worst window."""
    sums: dict[str, dict[float, list[float]]] = {}
    for w in rows:
        for f in w["inputs"]:
            if f[key] is None:
                continue
            weight = (f["values"] if key == "outside_share" else w["requests"]) or 0
            cell = sums.setdefault(f["name"], {}).setdefault(w["start"], [0.0, 0.0])
            cell[0] += f[key] * weight
            cell[1] += weight
    if not sums:
        return None
    shares = {name: {s: (v[0] / v[1] if v[1] else None) for s, v in sorted(cells.items())}
              for name, cells in sums.items()}
    worst = {name: max((v for v in by.values() if v is not None), default=0.0)
             for name, by in shares.items()}
    ranked = sorted(worst, key=lambda n: (-worst[n], n))[:TOP_FEATURES]
    traces = [{"type": "scatter", "mode": "lines+markers", "name": name,
               "x": [_utc(s) for s in shares[name]], "y": list(shares[name].values())}
              for name in ranked]
    shown = f" (the {len(ranked)} worst of {len(sums)})" if len(sums) > len(ranked) else ""
    return _chart(title + shown, traces, "share", percent=True)


def _trace(name: str, rows: list[dict[str, Any]],
           value: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    return {"type": "scatter", "mode": "lines+markers", "name": name,
            "x": [_utc(w["start"]) for w in rows], "y": [value(w) for w in rows]}


def _chart(title: str, traces: list[dict[str, Any]], axis: str, *,
           percent: bool = False) -> dict[str, str]:
    figure = {"data": traces, "layout": {
        "title": {"text": title}, "showlegend": True, "hovermode": "x unified",
        "xaxis": {"title": {"text": "window start (UTC)"}, "type": "date"},
        "yaxis": {"title": {"text": axis}, "rangemode": "tozero",
                  **({"tickformat": ".0%"} if percent else {})}}}
    return {"title": title, "figure": figure_html(figure, height=360)}


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
