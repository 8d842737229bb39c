"""The data profile report: one offline HTML page drawn from a ``profile()`` dict.

Only the dict is needed, never the data, so a profile stored as JSON can be re-rendered
later or elsewhere. This module turns the dict into a view (rows of label and value,
Plotly figures as ``<div>`` snippets) and the template only lays it out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gapless.reports.render import figure_html, render

# Heatmaps with more columns than this drop the per-cell numbers (they become unreadable).
ANNOTATE_UP_TO = 20
# A categorical target with more classes than this colours the PCA as one series.
MAX_COLOUR_CLASSES = 20
BLUE = "#3b6ea8"
GREY = "#9aa5b1"


def profile_html(profile: dict[str, Any]) -> str:
    """The complete, self-contained HTML report for one profile."""
    import plotly.graph_objects as go  # noqa: F401 - fail here, not halfway through

    alerts_by_column: dict[str, list[dict[str, Any]]] = {}
    for alert in profile["alerts"]:
        for name in alert["columns"]:
            alerts_by_column.setdefault(name, []).append(alert)
    columns = [
        _column_view(i, name, stats, alerts_by_column.get(name, []))
        for i, (name, stats) in enumerate(profile["columns"].items())
    ]
    source = profile["source"]
    return render(
        "profile.html.j2",
        title=profile.get("dataset") or source.get("path") or f"in-memory {source['kind']}",
        profile=profile,
        overview=_overview(profile),
        alerts=profile["alerts"],
        columns=columns,
        anchors={c["name"]: c["anchor"] for c in columns},
        association=_association_view(profile.get("target_association")),
        correlations=_correlation_views(profile["correlations"]),
        pca=_pca_view(profile.get("pca"), profile.get("target")),
    )


def _overview(profile: dict[str, Any]) -> list[tuple[str, Any, str]]:
    table, sample = profile["table"], profile["sample"]
    rows: list[tuple[str, Any, str]] = [
        ("Rows", table["rows"], "number"),
        ("Columns", table["columns"], "number"),
        ("Missing cells", table["missing_cells"], "number"),
        ("Missing cells (%)", table["missing_cells_fraction"], "percent"),
        ("Duplicate rows", table["duplicate_rows"], "number"),
        ("Duplicate rows (%)", table["duplicate_rows_fraction"], "percent"),
    ]
    if table["duplicate_rows_checked"] != table["rows"]:
        rows.append(("Duplicate rows counted in", f"a sample of {table['duplicate_rows_checked']:,}"
                     " rows", "text"))
    rows += [
        ("Constant columns", ", ".join(table["constant_columns"]) or "none", "text"),
        ("Duplicate columns", "; ".join(" = ".join(g) for g in table["duplicate_columns"])
         or "none", "text"),
        ("In-memory size", _bytes(table["memory_bytes"]), "text"),
    ]
    if table.get("file_bytes") is not None:
        rows.append(("File size", _bytes(table["file_bytes"]), "text"))
    rows.append(("Column types", ", ".join(f"{k}: {v}" for k, v in table["types"].items()),
                 "text"))
    note = (f"seeded sample of {sample['rows']:,} of {sample['of_rows']:,} rows (seed "
            f"{sample['seed']})" if sample["sampled"] else f"all {sample['rows']:,} rows")
    rows.append(("Correlations, association and PCA use", note, "text"))
    if profile.get("target"):
        rows.append(("Target", profile["target"], "text"))
    return rows


def _column_view(index: int, name: str, s: dict[str, Any],
                 alerts: list[dict[str, Any]]) -> dict[str, Any]:
    rows: list[tuple[str, Any, str]] = [
        ("Storage type", s["storage"], "text"),
        ("Values", s["count"], "number"),
        ("Missing", s["missing"], "number"),
        ("Missing (%)", s["missing_fraction"], "percent"),
        ("Distinct", s["distinct"], "number"),
    ]
    if s.get("duplicate_of"):
        rows.append(("Duplicate of", s["duplicate_of"], "text"))
    if "quantiles" in s:
        rows += [(label, s[key], "number") for label, key in (
            ("Mean", "mean"), ("Std", "std"), ("Min", "min"), ("Max", "max"),
            ("Skewness", "skewness"), ("Kurtosis", "kurtosis"), ("Zeros", "zeros"),
            ("Negatives", "negatives"))]
        rows += [(key.upper(), value, "number") for key, value in s["quantiles"].items()]
        if s.get("infinite"):
            rows.append(("Infinite", s["infinite"], "number"))
    elif s["type"] == "datetime":
        rows += [("Min", s["min"], "text"), ("Max", s["max"], "text")]
    if "true_count" in s:
        rows.append(("True", s["true_count"], "number"))
    if "length" in s:
        length = s["length"]
        rows += [("Length min", length["min"], "number"), ("Length mean", length["mean"], "number"),
                 ("Length max", length["max"], "number")]
    return {"name": name, "anchor": f"col-{index}", "type": s["type"], "rows": rows,
            "alerts": alerts, "figure": _column_figure(name, s)}


def _column_figure(name: str, s: dict[str, Any]) -> str | None:
    import plotly.graph_objects as go

    if "top" in s and s["top"]:
        labels = [str(t["value"]) for t in s["top"]]
        counts = [t["count"] for t in s["top"]]
        colours = [BLUE] * len(labels)
        if s.get("other_count"):
            labels.append(f"(other {s['distinct'] - len(s['top']):,} values)")
            counts.append(s["other_count"])
            colours.append(GREY)
        if s["missing"]:
            labels.append("(missing)")
            counts.append(s["missing"])
            colours.append(GREY)
        bar = go.Bar(x=counts[::-1], y=labels[::-1], orientation="h", marker_color=colours[::-1])
        fig = go.Figure(bar, layout={"title": f"Top values of {name}", "xaxis_title": "rows"})
        return figure_html(fig, height=max(220, 24 * len(labels) + 80))
    histogram = s.get("histogram") or (s.get("length") or {}).get("histogram")
    if not histogram or not any(histogram["counts"]):
        return None
    edges, counts = histogram["edges"], histogram["counts"]
    if s["type"] == "datetime":
        starts = [dt.datetime.fromisoformat(e) for e in edges]
        widths = [(b - a).total_seconds() * 1000 for a, b in zip(starts, starts[1:], strict=False)]
        bar = go.Bar(x=edges[:-1], y=counts, width=widths, offset=0, marker_color=BLUE)
        title = f"{name} over time"
    else:
        centres = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
        widths = [b - a for a, b in zip(edges, edges[1:], strict=False)]
        bar = go.Bar(x=centres, y=counts, width=widths, marker_color=BLUE)
        text = s["type"] == "text"
        title = f"Length of {name} (characters)" if text else f"Distribution of {name}"
    fig = go.Figure(bar, layout={"title": title, "yaxis_title": "rows", "bargap": 0.02})
    return figure_html(fig, height=280)


def _correlation_views(correlations: dict[str, Any]) -> list[dict[str, Any]]:
    import plotly.graph_objects as go

    views = []
    for key, title, zmin, scale in (
        ("pearson", "Pearson correlation (numeric)", -1, "RdBu"),
        ("spearman", "Spearman correlation (numeric)", -1, "RdBu"),
        ("cramers_v", "Cramér's V, bias-corrected (categorical)", 0, "Blues"),
    ):
        names, matrix = correlations[key]["columns"], correlations[key]["matrix"]
        if len(names) < 2:
            continue
        heatmap = go.Heatmap(
            z=matrix, x=names, y=names, zmin=zmin, zmax=1, colorscale=scale,
            reversescale=scale == "RdBu", hovertemplate="%{y} / %{x}: %{z:.3f}<extra></extra>",
            texttemplate="%{z:.2f}" if len(names) <= ANNOTATE_UP_TO else None,
        )
        fig = go.Figure(heatmap, layout={"title": title, "yaxis_autorange": "reversed"})
        views.append({"key": key, "title": title,
                      "figure": figure_html(fig, height=max(360, 28 * len(names) + 140))})
    return views


def _association_view(association: dict[str, Any] | None) -> dict[str, Any] | None:
    import plotly.graph_objects as go

    if association is None:
        return None
    ranked = [a for a in association["columns"] if a["strength"] is not None]
    figure = None
    if ranked:
        bar = go.Bar(
            x=[a["strength"] for a in ranked][::-1], y=[a["column"] for a in ranked][::-1],
            orientation="h", marker_color=BLUE,
            customdata=[a["measure"] for a in ranked][::-1],
            hovertemplate="%{y}: %{x:.3f} (%{customdata})<extra></extra>",
        )
        fig = go.Figure(bar, layout={"title": f"Association with {association['target']}",
                                     "xaxis_title": "strength (0 to 1)", "xaxis_range": [0, 1]})
        figure = figure_html(fig, height=max(260, 22 * len(ranked) + 100))
    return {**association, "figure": figure}


def _pca_view(pca: dict[str, Any] | None, target: str | None) -> dict[str, Any] | None:
    import plotly.graph_objects as go

    if pca is None:
        return None
    x, y, colour = pca["points"]["pc1"], pca["points"]["pc2"], pca["points"]["target"]
    traces = []
    classes = sorted({c for c in colour or [] if isinstance(c, str)})
    if colour is None or len(classes) > MAX_COLOUR_CLASSES:
        traces.append(go.Scatter(x=x, y=y, mode="markers", marker={"size": 5, "opacity": 0.6}))
    elif classes:
        for cls in [*classes, None]:
            picked = [i for i, c in enumerate(colour) if c == cls]
            if picked:
                label = f"{target} = {cls}" if cls is not None else f"{target} missing"
                traces.append(go.Scatter(x=[x[i] for i in picked], y=[y[i] for i in picked],
                                         mode="markers", name=label,
                                         marker={"size": 5, "opacity": 0.6}))
    else:
        numeric = [c if isinstance(c, int | float) else None for c in colour]
        traces.append(go.Scatter(x=x, y=y, mode="markers", marker={
            "size": 5, "opacity": 0.7, "color": numeric, "colorscale": "Viridis",
            "showscale": True, "colorbar": {"title": target}}))
    ratio = pca["explained_variance_ratio"]
    fig = go.Figure(traces, layout={
        "title": f"PCA of {len(pca['columns'])} standardised numeric columns",
        "xaxis_title": f"PC1 ({100 * ratio[0]:.1f}% of variance)",
        "yaxis_title": f"PC2 ({100 * ratio[1]:.1f}% of variance)",
    })
    return {**pca, "figure": figure_html(fig, height=480), "shown": len(x)}


def _bytes(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} GiB"
