"""The model card: one offline HTML page per trained model, drawn from its evaluation dict.

The input is the JSON-safe dict the trainer stores with every training run (see
:mod:`gapless.training.evaluate`), so a card can be rendered again later from the stored
JSON alone. Only ``dataset``, ``problem``, ``metric``, ``best``, ``cv_score``,
``test_metrics``, ``baseline``, ``spec`` and ``rows`` are required; every other section
is drawn when present and left out when missing or None. This module turns the dict into
a view (rows of text and numbers, Plotly figures as ``<div>`` snippets) and the template
only lays it out; every string from the dict is escaped by the template.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gapless.reports.render import figure_html, format_number, render, write_html, write_json

BLUE = "#3b6ea8"
GREY = "#9aa5b1"
RED = "#c62828"
# Bar charts of importances show at most this many columns, most important first.
MAX_BARS = 30
# Legends of small line charts go under the plot, so the plot keeps its width.
LEGEND_BELOW = {"orientation": "h", "y": -0.25}
# Keys of a metrics report that are scalars but not metrics.
NOT_METRICS = {"problem", "positive_label"}


def model_card_html(evaluation: Mapping[str, Any]) -> str:
    """The complete, self-contained HTML model card for one training run's evaluation."""
    import plotly.graph_objects as go  # noqa: F401 - fail here, not halfway through

    ev = evaluation
    problem = ev["problem"]
    test = ev.get("test_metrics") or {}
    baseline = ev.get("baseline") or {}
    best = ev.get("best") or {}
    return render(
        "model_card.html.j2",
        title=f"{best.get('family') or 'model'} on {ev.get('dataset') or 'data'}",
        ev=ev,
        overview=_overview(ev),
        verdicts=_verdicts(ev),
        metrics=_metric_rows(problem, ev.get("metric"), ev.get("direction"), test,
                             baseline.get("test_metrics") or {}),
        baseline_name=_baseline_name(baseline),
        cv=_cv_view(ev),
        curves=_curve_views(ev) if problem == "binary" else [],
        confusion=_confusion_view(test),
        per_class=test.get("per_class") or {},
        residuals=_residual_view(test.get("residuals")) if problem == "regression" else None,
        clusters=_cluster_view(test) if problem == "clustering" else None,
        slices=_slice_view(ev.get("slices")),
        fairness=_fairness_views(ev.get("fairness")),
        importance=_importance_view(ev.get("importance")),
        dependence=_dependence_view(ev.get("partial_dependence")),
        shap=_shap_view(ev.get("shap")),
        behavioural=_behavioural_view(ev.get("behavioural")),
        params=_pretty(best.get("params") or {}),
        spec=_pretty(ev.get("spec") or {}),
        limitations=ev.get("limitations") or (ev.get("spec") or {}).get("limitations"),
    )


def write_model_card(evaluation: Mapping[str, Any], html_path: str | os.PathLike[str],
                     json_path: str | os.PathLike[str] | None = None) -> list[Path]:
    """Write the card and, when asked, the evaluation JSON next to it (each atomically)."""
    written = [write_html(html_path, model_card_html(evaluation))]
    if json_path is not None:
        written.append(write_json(json_path, evaluation))
    return written


# -- summary ----------------------------------------------------------------------------------
def _overview(ev: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """(label, text, shown as code) of each fact the run records."""
    rows = ev.get("rows") or {}
    spec = ev.get("spec") or {}
    items = [
        ("Model family", (ev.get("best") or {}).get("family")),
        ("Dataset version", ev.get("dataset")),
        ("Dataset digest", ev.get("dataset_digest")),
        ("Problem", ev.get("problem")),
        ("Target", ev.get("target")),
        ("Metric", f"{ev.get('metric')} ({ev['direction']})" if ev.get("direction")
         else ev.get("metric")),
        ("Training rows", _text(rows.get("train"))),
        ("Test rows", _text(rows.get("test"))),
        ("Cross-validated score", _text(ev.get("cv_score"))),
        ("Decision threshold", _text(ev.get("threshold")) if ev.get("threshold") is not None
         else None),
        ("Seed", _text(spec.get("seed")) if spec.get("seed") is not None else None),
    ]
    code = {"Model family", "Dataset version", "Dataset digest", "Target"}
    return [(label, str(value), label in code) for label, value in items if value is not None]


def _verdicts(ev: Mapping[str, Any]) -> list[dict[str, str]]:
    metric = ev.get("metric")
    test = ev.get("test_metrics") or {}
    base = (ev.get("baseline") or {}).get("test_metrics") or {}
    model_value, base_value = _number(test.get(metric)), _number(base.get(metric))
    if model_value is None:
        text, css = f"{metric}: no value on the test split", "warn"
    elif base_value is None:
        text, css = f"{metric} {_text(model_value)} on the test split; no baseline score", "warn"
    else:
        css = _compare(ev.get("problem"), metric, ev.get("direction"), model_value, base_value)
        word = {"pass": "better than", "fail": "worse than"}.get(css, "level with")
        text = (f"{metric} {_text(model_value)} on the test split, {word} the baseline's "
                f"{_text(base_value)} ({_signed(model_value - base_value)})")
    verdicts = [{"label": "Test metric vs baseline", "text": text, "css": css or "warn"}]
    tests = ev.get("behavioural") or []
    if tests:
        passed = sum(1 for t in tests if t.get("passed"))
        verdicts.append({"label": "Behavioural tests",
                         "text": f"{passed} of {len(tests)} passed",
                         "css": "pass" if passed == len(tests) else "fail"})
    else:
        verdicts.append({"label": "Behavioural tests", "text": "none declared", "css": ""})
    fair = ev.get("fairness_passed")
    if ev.get("fairness") is None and fair is None:
        verdicts.append({"label": "Fairness", "text": "not checked", "css": ""})
    else:
        verdicts.append({"label": "Fairness",
                         "text": {True: "all checks passed", False: "a check failed"}.get(
                             fair, "could not be measured"),
                         "css": {True: "pass", False: "fail"}.get(fair, "warn")})
    return verdicts


def _baseline_name(baseline: Mapping[str, Any]) -> str:
    params = {k: v for k, v in (baseline.get("params") or {}).items() if v is not None}
    detail = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"{baseline.get('family') or 'baseline'}" + (f" ({detail})" if detail else "")


# -- metrics ----------------------------------------------------------------------------------
def _metric_rows(problem: str, main: str | None, direction: str | None,
                 test: Mapping[str, Any], base: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every scalar metric, the model's next to the baseline's: known metrics in report
    order, then any other numbers the report holds (row counts, cluster counts)."""
    known = list(_scorers(problem))
    others = [k for k in [*test, *base] if k not in known and k not in NOT_METRICS
              and _number(test.get(k, base.get(k))) is not None]
    rows = []
    for name in dict.fromkeys([*known, *others]):
        if name not in test and name not in base:
            continue
        model, baseline = _number(test.get(name)), _number(base.get(name))
        both = model is not None and baseline is not None
        rows.append({"name": name, "model": _text(test.get(name)),
                     "baseline": _text(base.get(name)),
                     "difference": _signed(model - baseline) if both else "-",
                     "css": _compare(problem, name, direction if name == main else None, model,
                                     baseline),
                     "main": name == main})
    return rows


def _cv_view(ev: Mapping[str, Any]) -> dict[str, Any] | None:
    import plotly.graph_objects as go

    folds = [_number(s) for s in ev.get("cv_fold_scores") or []]
    if not folds:
        return None
    known = [s for s in folds if s is not None]
    mean = sum(known) / len(known) if known else None
    std = (math.sqrt(sum((s - mean) ** 2 for s in known) / (len(known) - 1))
           if mean is not None and len(known) > 1 else None)
    names = [f"fold {i + 1}" for i in range(len(folds))]
    fig = go.Figure(go.Bar(x=names, y=folds, marker_color=BLUE, name="model"),
                    layout={"title": f"{ev.get('metric')} per fold", "showlegend": False})
    base = _number((ev.get("baseline") or {}).get("cv_score"))
    if base is not None:
        fig.add_hline(y=base, line_dash="dash", line_color=RED,
                      annotation_text=f"baseline {_text(base)}")
    return {"folds": [(n, _text(s)) for n, s in zip(names, folds, strict=True)],
            "mean": _text(mean), "std": _text(std), "figure": figure_html(fig, height=300)}


# -- charts of the test split -----------------------------------------------------------------
def _curve_views(ev: Mapping[str, Any]) -> list[str]:
    import plotly.graph_objects as go

    curves = ev.get("curves") or (ev.get("test_metrics") or {}).get("curves") or {}
    point = _operating_point(ev.get("test_metrics") or {})
    diagonal = go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                          line={"dash": "dash", "color": GREY})
    views = []
    roc = curves.get("roc") or {}
    if roc.get("fpr"):
        fig = go.Figure([go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines", name="ROC",
                                    line={"color": BLUE}), diagonal],
                        layout={"title": f"ROC curve (AUC {_text(roc.get('auc'))})",
                                "legend": LEGEND_BELOW, "xaxis_title": "false positive rate",
                                "yaxis_title": "true positive rate"})
        if point and point["fpr"] is not None and point["tpr"] is not None:
            fig.add_trace(_marker(point["fpr"], point["tpr"]))
        views.append(figure_html(fig, height=360))
    pr = curves.get("pr") or {}
    if pr.get("recall"):
        fig = go.Figure(go.Scatter(x=pr["recall"], y=pr["precision"], mode="lines", name="PR",
                                   line={"color": BLUE}),
                        layout={"title": f"Precision-recall (AP "
                                         f"{_text(pr.get('average_precision'))})",
                                "legend": LEGEND_BELOW, "xaxis_title": "recall",
                                "yaxis_title": "precision"})
        if pr.get("prevalence") is not None:
            fig.add_hline(y=pr["prevalence"], line_dash="dash", line_color=GREY,
                          annotation_text="prevalence")
        if point and point["tpr"] is not None and point["precision"] is not None:
            fig.add_trace(_marker(point["tpr"], point["precision"]))
        views.append(figure_html(fig, height=360))
    cal = curves.get("calibration") or {}
    if cal.get("mean_predicted"):
        fig = go.Figure([go.Scatter(x=cal["mean_predicted"], y=cal["fraction_positive"],
                                    mode="lines+markers", name="model", line={"color": BLUE},
                                    customdata=cal.get("count"),
                                    hovertemplate="predicted %{x:.3f}, observed %{y:.3f} "
                                                  "(%{customdata} rows)<extra></extra>"),
                         diagonal],
                        layout={"title": f"Calibration (ECE "
                                         f"{_text(cal.get('expected_calibration_error'))})",
                                "legend": LEGEND_BELOW,
                                "xaxis_title": "mean predicted probability",
                                "yaxis_title": "fraction positive"})
        views.append(figure_html(fig, height=360))
    return views


def _operating_point(test: Mapping[str, Any]) -> dict[str, float | None] | None:
    """Where the model's own decisions on the test split sit on the ROC and PR curves."""
    confusion = test.get("confusion_matrix") or {}
    labels, matrix = confusion.get("labels") or [], confusion.get("matrix") or []
    if len(labels) != 2 or test.get("positive_label") not in labels:
        return None
    p = labels.index(test["positive_label"])
    n = 1 - p
    tp, fn, fp, tn = matrix[p][p], matrix[p][n], matrix[n][p], matrix[n][n]
    return {"tpr": tp / (tp + fn) if tp + fn else None, "fpr": fp / (fp + tn) if fp + tn else None,
            "precision": tp / (tp + fp) if tp + fp else None}


def _marker(x: float, y: float) -> Any:
    import plotly.graph_objects as go

    return go.Scatter(x=[x], y=[y], mode="markers", name="decisions on the test split",
                      marker={"size": 11, "color": RED, "symbol": "x"})


def _confusion_view(test: Mapping[str, Any]) -> str | None:
    import plotly.graph_objects as go

    confusion = test.get("confusion_matrix") or {}
    if not confusion.get("matrix"):
        return None
    names = [str(label) for label in confusion.get("labels") or range(len(confusion["matrix"]))]
    heatmap = go.Heatmap(z=confusion["matrix"], x=names, y=names, colorscale="Blues",
                         texttemplate="%{z}" if len(names) <= 20 else None,
                         hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>")
    fig = go.Figure(heatmap, layout={
        "title": "Confusion matrix (test split)", "xaxis_title": "predicted",
        "yaxis_title": "true", "xaxis_type": "category", "yaxis_type": "category",
        "yaxis_autorange": "reversed"})
    return figure_html(fig, height=max(320, 40 * len(names) + 160))


def _residual_view(residuals: Mapping[str, Any] | None) -> dict[str, Any] | None:
    import plotly.graph_objects as go

    if not residuals:
        return None
    keys = ("mean", "std", "min", "p05", "p25", "median", "p75", "p95", "max")
    figures = []
    histogram = residuals.get("histogram") or {}
    edges, counts = histogram.get("edges") or [], histogram.get("counts") or []
    if counts and len(edges) == len(counts) + 1:
        centres = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
        figures.append(figure_html(go.Figure(
            go.Bar(x=centres, y=counts, marker_color=BLUE),
            layout={"title": "Residuals (truth minus prediction)", "xaxis_title": "residual",
                    "yaxis_title": "rows", "bargap": 0.02}), height=320))
    points = residuals.get("points") or {}
    if points.get("predicted"):
        fig = go.Figure(go.Scatter(x=points["predicted"], y=points["residual"], mode="markers",
                                   marker={"size": 5, "opacity": 0.6, "color": BLUE}),
                        layout={"title": "Residual against prediction (sample)",
                                "xaxis_title": "prediction", "yaxis_title": "residual"})
        fig.add_hline(y=0, line_dash="dash", line_color=GREY)
        figures.append(figure_html(fig, height=320))
    return {"rows": [(k, _text(residuals.get(k))) for k in keys if k in residuals],
            "figures": figures}


def _cluster_view(test: Mapping[str, Any]) -> dict[str, Any] | None:
    import plotly.graph_objects as go

    sizes = test.get("cluster_sizes") or {}
    if not sizes:
        return None
    fig = go.Figure(go.Bar(x=[str(k) for k in sizes], y=list(sizes.values()),
                           marker_color=BLUE),
                    layout={"title": "Rows per cluster", "xaxis_type": "category",
                            "yaxis_title": "rows"})
    return {"sizes": [(str(k), _text(v)) for k, v in sizes.items()],
            "noise_rows": test.get("noise_rows"), "figure": figure_html(fig, height=300)}


# -- slices, fairness -------------------------------------------------------------------------
def _slice_view(slices: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not slices or not slices.get("slices"):
        return None
    names = [k for k in (slices.get("overall") or {}) if k != "rows"]
    rows = [{"column": s.get("column"), "kind": s.get("kind"), "value": s.get("value"),
             "rows": _text(s.get("rows")), "gap": _percent(s.get("gap")),
             "metrics": [_text((s.get("metrics") or {}).get(n)) if s.get("metrics") else "-"
                         for n in names],
             "flagged": bool(s.get("flagged"))} for s in slices["slices"]]
    return {"metric": slices.get("metric"), "min_rows": slices.get("min_rows"),
            "overall_rows": (slices.get("overall") or {}).get("rows"), "names": names,
            "rows": rows,
            "overall": [_text((slices.get("overall") or {}).get(n)) for n in names],
            "flagged_count": sum(r["flagged"] for r in rows),
            "worse_by": _number(slices.get("worse_by"))}


def _fairness_views(fairness: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    import plotly.graph_objects as go

    if not fairness:
        return []
    reports = fairness.get("reports") or ([fairness] if "groups" in fairness else [])
    views = []
    for report in reports:
        groups = report.get("groups") or []
        fig = go.Figure([go.Bar(x=[str(g.get("group")) for g in groups],
                                y=[g.get(key) for g in groups], name=label)
                         for key, label in (("selection_rate", "selection rate"),
                                            ("tpr", "true positive rate"),
                                            ("fpr", "false positive rate"))],
                        layout={"title": f"Rates per group of {report.get('attribute')}",
                                "barmode": "group", "legend": LEGEND_BELOW,
                                "xaxis_type": "category", "yaxis_range": [0, 1]})
        views.append({
            "attribute": report.get("attribute"), "positive_label": report.get("positive_label"),
            "min_group_rows": report.get("min_group_rows"), "passed": report.get("passed"),
            "groups": [{"group": g.get("group"), "included": bool(g.get("included", True)),
                        **{k: _text(g.get(k)) for k in ("count", "selection_rate", "tpr", "fpr")}}
                       for g in groups],
            "metrics": [(k, _text(v)) for k, v in (report.get("metrics") or {}).items()],
            "checks": [_check_view(c) for c in report.get("checks") or []],
            "figure": figure_html(fig, height=320) if groups else None,
        })
    return views


def _check_view(check: Mapping[str, Any]) -> dict[str, Any]:
    passed = check.get("passed")
    return {"metric": check.get("metric"), "rule": check.get("rule") or "",
            "value": _text(check.get("value")), "threshold": _text(check.get("threshold")),
            "css": {True: "pass", False: "fail"}.get(passed, "warn"),
            "verdict": {True: "passed", False: "failed"}.get(passed, "not measured")}


# -- explanations -----------------------------------------------------------------------------
def _importance_view(importance: Mapping[str, Any] | None) -> dict[str, Any] | None:
    import plotly.graph_objects as go

    features = (importance or {}).get("features") or []
    if not features:
        return None
    shown = features[:MAX_BARS][::-1]
    bar = go.Bar(x=[f.get("importance_mean") for f in shown],
                 y=[str(f.get("feature")) for f in shown], orientation="h", marker_color=BLUE,
                 error_x={"type": "data", "array": [f.get("importance_std") or 0 for f in shown]})
    fig = go.Figure(bar, layout={"title": "Permutation importance",
                                 "xaxis_title": f"drop in {importance.get('scoring')}",
                                 "yaxis_type": "category"})
    return {**importance, "hidden": len(features) - len(shown),
            "figure": figure_html(fig, height=max(260, 22 * len(shown) + 110))}


def _dependence_view(dependence: Mapping[str, Any] | None) -> dict[str, Any] | None:
    import plotly.graph_objects as go

    features = [f for f in (dependence or {}).get("features") or [] if f.get("values")]
    if not features:
        return None
    figures = []
    for f in features:
        average = f.get("average")
        series = average.items() if isinstance(average, Mapping) else [(None, average)]
        categorical = f.get("kind") == "categorical"
        traces = [go.Bar(x=[str(v) for v in f["values"]], y=ys, name=str(label or ""))
                  if categorical else
                  go.Scatter(x=f["values"], y=ys, mode="lines+markers", name=str(label or ""))
                  for label, ys in series]
        fig = go.Figure(traces, layout={
            "title": f"Partial dependence on {f.get('feature')}", "xaxis_title": f.get("feature"),
            "yaxis_title": dependence.get("output"), "showlegend": isinstance(average, Mapping),
            "legend": LEGEND_BELOW,
            "xaxis_type": "category" if categorical else None})
        figures.append(figure_html(fig, height=320))
    return {**dependence, "figures": figures}


def _shap_view(shap: Mapping[str, Any] | None) -> dict[str, Any] | None:
    import plotly.graph_objects as go

    if not shap:
        return None
    if not shap.get("available"):
        return {"available": False, "reason": shap.get("reason") or "not computed"}
    features = (shap.get("features") or [])[:MAX_BARS][::-1]
    names = [str(f.get("feature")) for f in features]
    classes = list((features[0].get("by_class") or {}) if features else {})
    traces = ([go.Bar(x=[f["by_class"].get(c) for f in features], y=names, orientation="h",
                      name=str(c)) for c in classes] if classes else
              [go.Bar(x=[f.get("mean_abs_shap") for f in features], y=names, orientation="h",
                      marker_color=BLUE)])
    fig = go.Figure(traces, layout={"title": "Mean |SHAP value| per column",
                                    "xaxis_title": f"effect on {shap.get('output')}",
                                    "yaxis_type": "category", "barmode": "group"})
    base = shap.get("base_value")
    return {**shap, "base": ", ".join(f"{k}: {_text(v)}" for k, v in base.items())
            if isinstance(base, Mapping) else _text(base),
            "figure": figure_html(fig, height=max(260, 22 * len(names) * max(1, len(classes))
                                                  + 110)) if features else None}


def _behavioural_view(tests: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    views = []
    for t in tests or []:
        examples = t.get("examples") or []
        columns = list(dict.fromkeys(k for e in examples for k in e))
        views.append({"name": t.get("name"), "type": t.get("type"), "column": t.get("column"),
                      "passed": bool(t.get("passed")), "message": t.get("message") or "",
                      "css": "pass" if t.get("passed") else "fail",
                      "failing": _text(t.get("failing")), "total": _text(t.get("total")),
                      "worst_change": _text(t.get("worst_change")),
                      "tolerance": _text(t.get("tolerance")), "example_columns": columns,
                      "example_rows": [[_text(e.get(c)) for c in columns] for e in examples]})
    return views


# -- helpers ----------------------------------------------------------------------------------
def _scorers(problem: str) -> dict[str, Any]:
    from gapless.evaluation.scoring import SCORERS

    return SCORERS.get(problem, {})


def _compare(problem: str | None, name: str | None, direction: str | None, model: float | None,
             baseline: float | None) -> str:
    """"pass" when the model beats the baseline on ``name``, "fail" when it is worse, "" when
    level or when the metric's direction is unknown."""
    scorer = _scorers(problem or "").get(name)
    greater = scorer.greater_is_better if scorer else (
        {"maximize": True, "minimize": False}.get(direction or ""))
    if greater is None or model is None or baseline is None or model == baseline:
        return ""
    return "pass" if (model > baseline) == greater else "fail"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _text(value: Any) -> str:
    """Any value as plain text for a table cell (the template escapes it)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return format_number(value) if math.isfinite(value) else "-"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def _signed(value: float) -> str:
    return ("+" if value > 0 else "") + format_number(value)


def _percent(value: Any) -> str:
    number = _number(value)
    return "-" if number is None else f"{100 * number:+.1f}%"


def _pretty(value: Any) -> str:
    """Nested params or a spec as YAML (JSON where YAML cannot represent a value)."""
    import yaml

    try:
        return yaml.safe_dump(value, sort_keys=False, allow_unicode=True,
                              default_flow_style=False).rstrip()
    except yaml.YAMLError:
        return json.dumps(value, indent=2, default=str, ensure_ascii=False)
