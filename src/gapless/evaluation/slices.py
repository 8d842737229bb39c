"""Metrics per slice of the data, to find the groups a model serves worst.

A slice is the rows sharing one value of a categorical column (the ``top`` most frequent
values each, the rest together as "other", missing values as "(missing)"), or one
quantile bin of a numeric column (numeric columns with at most ``bins`` distinct values
are sliced by value). The model predicts once; each slice's metrics come from those
predictions. A slice is flagged when its main metric is worse than the overall value by
more than ``worse_by``, relative to the overall value (0.1 = 10% worse).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gapless.core.errors import ValidationError
from gapless.evaluation._common import (
    MISSING,
    as_frame,
    check_columns,
    check_problem,
    classes_of,
    has_proba,
    is_categorical,
    json_safe,
    label_text,
)
from gapless.evaluation.scoring import Scorer, scorer_for

OTHER = "(other)"
EXTRA_METRICS = {"binary": ("accuracy", "f1"), "multiclass": ("accuracy", "f1_macro"),
                 "regression": ("mae", "rmse", "r2")}


def slice_metrics(model: Any, X: pd.DataFrame, y: Any, problem: str, *,
                  columns: Sequence[str] | None = None, bins: int = 4, min_rows: int = 20,
                  top: int = 10, metric: str | None = None, positive_label: Any = None,
                  worse_by: float = 0.1) -> dict[str, Any]:
    """Metrics of ``model`` on each slice of ``X`` (every column unless ``columns``).

    ``metric`` is the main metric (default: the problem's, see ``scorer_for``). Returns
    ``{"problem", "metric", "direction", "worse_by", "min_rows", "overall": {"rows",
    <metric>: value, ...}, "slices": [...], "flagged": [...]}``; each slice is
    ``{"column", "kind" (category|other|missing|value|bin), "value" (text), "range" ([low,
    high], bins only), "rows", "metrics" ({name: value}, None under ``min_rows`` rows),
    "gap" (how much worse than overall, relative; None if not computed), "flagged"}``;
    ``flagged`` lists the flagged slices, worst first.
    """
    check_problem(problem, ("binary", "multiclass", "regression"))
    X = as_frame(X)
    if y is None or len(y) != len(X):
        raise ValidationError(f"slice metrics need one target per row of X ({len(X)} rows)")
    if bins < 2 or min_rows < 1 or top < 1:
        raise ValidationError(f"slice_metrics: bins must be >= 2, min_rows and top >= 1; got "
                              f"bins={bins}, min_rows={min_rows}, top={top}")
    columns = list(X.columns if columns is None else columns)
    check_columns(X, columns, "slice_metrics")
    main = scorer_for(metric, problem)
    names = [main.name] + [name for name in EXTRA_METRICS[problem] if name != main.name]
    truth = np.asarray(y, dtype=object if problem != "regression" else float)
    predicted = np.asarray(model.predict(X))
    proba = np.asarray(model.predict_proba(X)) if problem != "regression" and has_proba(
        model) else None
    labels = classes_of(model)

    def measure(mask: np.ndarray) -> dict[str, float | None]:
        chosen = proba[mask] if proba is not None else None
        return {name: scorer_for(name, problem).compute(
            truth[mask], predicted[mask], chosen, labels=labels, positive_label=positive_label)
            for name in names}

    overall = measure(np.ones(len(X), dtype=bool))
    slices = []
    for column in columns:
        for kind, value, span, mask in _slices(X[column], bins=bins, top=top):
            rows = int(mask.sum())
            scores = measure(mask) if rows >= min_rows else None
            gap = _gap(main, overall[main.name], scores[main.name]) if scores else None
            entry = {"column": column, "kind": kind, "value": value, "rows": rows,
                     "metrics": scores, "gap": gap,
                     "flagged": gap is not None and gap > worse_by}
            if span is not None:
                entry["range"] = span
            slices.append(entry)
    flagged = sorted((s for s in slices if s["flagged"]), key=lambda s: -s["gap"])
    return json_safe({
        "problem": problem, "metric": main.name, "direction": main.direction,
        "worse_by": worse_by, "min_rows": min_rows,
        "overall": {"rows": len(X), **overall}, "slices": slices,
        "flagged": [{"column": s["column"], "value": s["value"], "rows": s["rows"],
                     main.name: s["metrics"][main.name], "gap": s["gap"]} for s in flagged],
    })


def _gap(main: Scorer, overall: float | None, value: float | None) -> float | None:
    """How much worse ``value`` is than ``overall``: relative, or absolute when overall is 0."""
    if overall is None or value is None:
        return None
    worse = overall - value if main.greater_is_better else value - overall
    return worse / abs(overall) if overall != 0 else worse


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    if len(values) == 0:
        return np.array([])
    return np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))


def _slices(series: pd.Series, *, bins: int, top: int
            ) -> Iterator[tuple[str, str, list[float] | None, np.ndarray]]:
    """(kind, value text, [low, high] or None, row mask) of each slice of one column."""
    missing = series.isna().to_numpy()
    present = series[~missing]
    if not is_categorical(series) and present.nunique() > bins:
        values = series.to_numpy(dtype=float, na_value=np.nan)
        binned = ~missing
        edges = _edges(values[binned], bins)
        if len(edges) <= 2:
            # One value holds most rows (zero debt, say): it is a slice of its own and
            # the other values are binned.
            mode = float(present.mode().iloc[0])
            yield "value", label_text(mode), None, values == mode
            binned = binned & (values != mode)
            edges = _edges(values[binned], bins)
        which = np.full(len(values), -1)
        which[binned] = pd.cut(values[binned], edges, include_lowest=True, labels=False)
        for i in range(len(edges) - 1):
            low, high = float(edges[i]), float(edges[i + 1])
            text = f"{'[' if i == 0 else '('}{low:.4g}, {high:.4g}]"
            yield "bin", text, [low, high], which == i
        if missing.any():
            yield "missing", MISSING, None, missing
        return
    counts = present.value_counts()
    kept = list(counts.index[:top])
    kind = "category" if is_categorical(series) else "value"
    for value in kept:
        yield kind, label_text(value), None, (series == value).to_numpy() & ~missing
    rest = ~missing & ~series.isin(kept).to_numpy()
    if rest.any():
        yield "other", OTHER, None, rest
    if missing.any():
        yield "missing", MISSING, None, missing
