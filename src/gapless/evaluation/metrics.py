"""Metric reports for classification, regression and clustering, and ``score_model``.

Each report is a JSON-safe dict: the scalar metrics of the problem type at the top level
(named as in :mod:`gapless.evaluation.scoring`, None where undefined) next to a few
structured parts (confusion matrix, per-class scores, curves, residuals).
:func:`scalar_metrics` picks out the scalars, e.g. to log them with a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from gapless.core.errors import ValidationError
from gapless.evaluation._common import (
    as_frame,
    check_problem,
    classes_of,
    has_proba,
    json_safe,
    label_text,
)
from gapless.evaluation.curves import (
    calibration_points,
    pr_points,
    roc_points,
    threshold_sweep,
)
from gapless.evaluation.scoring import (
    CLASSIFICATION_FUNCTIONS,
    REGRESSION_FUNCTIONS,
    SCORERS,
    labelled,
    regression_inputs,
)

RESIDUAL_POINTS = 200
HISTOGRAM_BINS = 30


def classification_metrics(y_true: Any, y_pred: Any, proba: Any = None, *,
                           labels: Sequence[Any] | None = None, positive_label: Any = None,
                           curves: bool = True) -> dict[str, Any]:
    """Metrics of predicted labels (and probabilities, when given) against the truth.

    ``labels`` orders the columns of ``proba`` (pass the model's ``classes_``); by default
    it is every label seen, sorted. Two labels make a binary report, more a multiclass one.
    Returned keys: ``problem``, ``rows``, ``labels``, ``positive_label`` (binary), every
    metric of the problem type (binary: accuracy, balanced_accuracy, precision, recall,
    f1, f1_macro, roc_auc, pr_auc, log_loss, brier; multiclass: accuracy,
    balanced_accuracy, precision/recall/f1 _macro and _weighted, roc_auc and pr_auc
    one-vs-rest macro, log_loss), ``confusion_matrix`` ``{"labels", "matrix"}`` (rows are
    the truth), ``per_class`` ``{label: {precision, recall, f1, support}}`` and, for
    binary with probabilities, ``curves`` ``{"roc", "pr", "calibration", "thresholds"}``.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    data = labelled(y_true, y_pred, proba, labels=labels, positive_label=positive_label)
    if len(data.labels) < 2:
        raise ValidationError(f"classification metrics need two or more classes, got "
                              f"{data.labels}; pass labels=model.classes_")
    problem = "binary" if len(data.labels) == 2 else "multiclass"
    report: dict[str, Any] = {"problem": problem, "rows": len(data.y_true),
                              "labels": data.labels}
    if problem == "binary":
        report["positive_label"] = data.positive
    for name, function in CLASSIFICATION_FUNCTIONS[problem].items():
        report[name] = function(data)
    matrix = confusion_matrix(data.y_true, data.y_pred, labels=data.labels)
    report["confusion_matrix"] = {"labels": data.labels, "matrix": matrix}
    precision, recall, f1, support = precision_recall_fscore_support(
        data.y_true, data.y_pred, labels=data.labels, zero_division=0)
    report["per_class"] = {
        label_text(label): {"precision": precision[i], "recall": recall[i], "f1": f1[i],
                            "support": support[i]}
        for i, label in enumerate(data.labels)
    }
    if problem == "binary" and data.proba is not None and curves:
        truth = (data.y_true == data.positive).astype(int)
        score = data.proba[:, data.positive_index]
        report["curves"] = {
            "roc": roc_points(truth, score, positive_label=1),
            "pr": pr_points(truth, score, positive_label=1),
            "calibration": calibration_points(truth, score, positive_label=1),
            "thresholds": threshold_sweep(truth, score, positive_label=1),
        }
    return json_safe(report)


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, Any]:
    """Errors of numeric predictions.

    Returned keys: ``problem``, ``rows``, ``rmse``, ``mse``, ``mae``, ``median_ae``,
    ``max_error``, ``r2``, ``explained_variance``, ``mape`` (a fraction, over the
    ``mape_rows`` rows whose target is not 0; None when all are), ``mape_rows`` and
    ``residuals`` (truth minus prediction): ``{"mean", "std", "min", "p05", "p25",
    "median", "p75", "p95", "max", "histogram": {"edges", "counts"}, "points":
    {"predicted", "residual"}}`` with at most 200 seeded sample points for a plot.
    """
    truth, predicted = regression_inputs(y_true, y_pred)
    if len(truth) == 0:
        raise ValidationError("regression metrics need at least one row")
    report: dict[str, Any] = {"problem": "regression", "rows": len(truth)}
    for name in SCORERS["regression"]:
        report[name] = REGRESSION_FUNCTIONS[name](truth, predicted)
    report["mape_rows"] = int(np.count_nonzero(truth))
    report["residuals"] = _residuals(truth - predicted, predicted)
    return json_safe(report)


def _residuals(residual: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    quantiles = np.quantile(residual, [0.05, 0.25, 0.5, 0.75, 0.95])
    counts, edges = np.histogram(residual, bins=min(HISTOGRAM_BINS, max(1, len(residual))))
    shown = np.arange(len(residual))
    if len(shown) > RESIDUAL_POINTS:
        shown = np.sort(np.random.RandomState(0).choice(shown, RESIDUAL_POINTS, replace=False))
    return {
        "mean": residual.mean(), "std": residual.std(ddof=1) if len(residual) > 1 else None,
        "min": residual.min(), "p05": quantiles[0], "p25": quantiles[1],
        "median": quantiles[2], "p75": quantiles[3], "p95": quantiles[4],
        "max": residual.max(), "histogram": {"edges": edges, "counts": counts},
        "points": {"predicted": predicted[shown], "residual": residual[shown]},
    }


def clustering_metrics(X_numeric: Any, labels: Any, *, sample_size: int = 2000,
                       seed: int = 0) -> dict[str, Any]:
    """Internal quality of a clustering of numeric features (after preprocessing).

    Label -1 marks noise (as DBSCAN does); noise rows are left out of the scores.
    Returned keys: ``problem``, ``rows``, ``clusters``, ``noise_rows``, ``cluster_sizes``
    ``{label: rows}``, ``silhouette`` (on a seeded sample of ``silhouette_rows`` rows),
    ``silhouette_rows``, ``calinski_harabasz`` and ``davies_bouldin``; the scores are None
    with fewer than two clusters (or as many clusters as rows).
    """
    from scipy import sparse
    from sklearn.metrics import (
        calinski_harabasz_score,
        davies_bouldin_score,
        silhouette_score,
    )

    features = X_numeric.toarray() if sparse.issparse(X_numeric) else np.asarray(
        X_numeric, dtype=float)
    assigned = np.asarray(labels)
    if features.ndim != 2 or len(features) != len(assigned):
        raise ValidationError(f"X_numeric must be 2-D with one row per label; got shape "
                              f"{features.shape} for {len(assigned)} labels")
    if not np.isfinite(features).all():
        raise ValidationError("X_numeric has missing or infinite values; impute them (as the "
                              "model's preprocessing does) before scoring the clustering")
    noise = assigned == -1 if np.issubdtype(assigned.dtype, np.number) else np.zeros(
        len(assigned), dtype=bool)
    kept_features, kept = features[~noise], assigned[~noise]
    names, sizes = np.unique(kept, return_counts=True)
    report: dict[str, Any] = {
        "problem": "clustering", "rows": len(assigned), "clusters": len(names),
        "noise_rows": int(noise.sum()),
        "cluster_sizes": {label_text(n): int(s) for n, s in zip(names, sizes, strict=True)},
        "silhouette": None, "silhouette_rows": 0, "calinski_harabasz": None,
        "davies_bouldin": None,
    }
    if 2 <= len(names) < len(kept):
        rows = min(sample_size, len(kept))
        report["silhouette"] = silhouette_score(
            kept_features, kept, sample_size=rows if rows < len(kept) else None,
            random_state=seed)
        report["silhouette_rows"] = rows
        report["calinski_harabasz"] = calinski_harabasz_score(kept_features, kept)
        report["davies_bouldin"] = davies_bouldin_score(kept_features, kept)
    return json_safe(report)


def score_model(model: Any, X: pd.DataFrame, y: Any, problem: str, *,
                positive_label: Any = None) -> dict[str, Any]:
    """Predict ``X`` with a fitted model and return the report of ``problem`` (see
    :func:`classification_metrics`, :func:`regression_metrics`,
    :func:`clustering_metrics`); ``y`` is ignored for clustering."""
    check_problem(problem)
    X = as_frame(X)
    if problem == "clustering":
        if not hasattr(model, "predict"):
            raise ValidationError(f"{type(model).__name__} cannot assign new rows to clusters "
                                  "(it has no predict); score it on its training labels with "
                                  "clustering_metrics")
        return clustering_metrics(cluster_features(model, X), model.predict(X))
    if y is None or len(y) != len(X):
        got = "no target" if y is None else f"{len(y)} targets"
        raise ValidationError(f"{problem} scoring needs one target per row of X "
                              f"({len(X)} rows); got {got}")
    predictions = model.predict(X)
    if problem == "regression":
        return regression_metrics(y, predictions)
    proba = model.predict_proba(X) if has_proba(model) else None
    report = classification_metrics(y, predictions, proba, labels=classes_of(model),
                                    positive_label=positive_label)
    if report["problem"] != problem:
        raise ValidationError(f"the model has {len(report['labels'])} classes, so it is "
                              f"{report['problem']}, not {problem}; declare the problem "
                              f"type to match")
    return report


def cluster_features(model: Any, X: pd.DataFrame) -> Any:
    """The features a clustering pipeline clusters on: ``X`` through every step but the
    last; for a bare estimator, the numeric columns with missing values as the median."""
    steps = getattr(model, "steps", None)
    if steps and len(steps) > 1:
        return model[:-1].transform(X)
    numeric = X.select_dtypes("number")
    return numeric.fillna(numeric.median()).to_numpy(dtype=float)


def scalar_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The named metrics of a report that have a value, e.g. to log with a run."""
    names = SCORERS[check_problem(report.get("problem", ""))]
    return {name: float(report[name]) for name in names if report.get(name) is not None}
