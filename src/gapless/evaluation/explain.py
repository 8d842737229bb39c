"""Explanations over raw columns: permutation importance, partial dependence and SHAP.

All three treat the fitted pipeline as a black box that takes the raw DataFrame, so
they speak of the columns a user knows ("Income"), not of one-hot encoded features.
Each works on a seeded sample of rows, so the same call gives the same answer.

The output explained is the model's score: the probability of the positive class
(binary), of each class (multiclass), or the prediction (regression); a classifier
without ``predict_proba`` is explained through the share of rows predicted as each class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gapless.core.errors import ValidationError
from gapless.evaluation._common import (
    as_frame,
    check_columns,
    classes_of,
    has_proba,
    is_categorical,
    json_safe,
    label_text,
    positive_label_of,
    seeded_sample,
)
from gapless.evaluation.scoring import scorer_for

MAX_CATEGORIES = 50


def infer_problem(model: Any) -> str:
    """"binary", "multiclass" or "regression", from the fitted model's ``classes_``."""
    classes = classes_of(model)
    if classes is None:
        return "regression"
    return "binary" if len(classes) == 2 else "multiclass"


def _outputs(model: Any, positive_label: Any) -> tuple[str, list[str] | None,
                                                       Callable[[pd.DataFrame], np.ndarray]]:
    """(what is explained, class names for a matrix output or None, the output function)."""
    classes = classes_of(model)
    if classes is None:
        return "prediction", None, lambda frame: np.asarray(model.predict(frame), dtype=float)
    names = [label_text(label) for label in classes]
    if has_proba(model):
        def proba(frame: pd.DataFrame) -> np.ndarray:
            return np.asarray(model.predict_proba(frame), dtype=float)
        matrix, what = proba, "probability"
    else:
        def matrix(frame: pd.DataFrame) -> np.ndarray:
            predicted = np.asarray(model.predict(frame), dtype=object)
            return np.column_stack([predicted == label for label in classes]).astype(float)
        what = "share predicted"
    if len(classes) == 2:
        column = classes.index(positive_label_of(classes, positive_label))
        return (f"{what} of class {names[column]!r}", None,
                lambda frame: matrix(frame)[:, column])
    return f"{what} of each class", names, matrix


# -- permutation importance -----------------------------------------------------------------
def permutation_importance_report(model: Any, X: pd.DataFrame, y: Any, scoring: Any = None, *,
                                  n_repeats: int = 5, seed: int = 0, max_rows: int = 2000,
                                  problem: str | None = None,
                                  positive_label: Any = None) -> dict[str, Any]:
    """How much the score drops when each raw column is shuffled (scikit-learn's
    permutation importance on a seeded sample of at most ``max_rows`` rows).

    ``scoring`` is a gapless metric name (``rmse``, ``roc_auc``...; None = the problem's
    default), a scikit-learn scorer name, or a scorer callable. Scores are "greater is
    better" (losses negated), so a positive importance means the column helps. Returns
    ``{"scoring", "baseline_score", "rows", "n_repeats", "features": [{"feature",
    "importance_mean", "importance_std"}]}``, most important first.
    """
    from sklearn.inspection import permutation_importance

    X = as_frame(X)
    truth = np.asarray(y)
    if len(truth) != len(X):
        raise ValidationError(f"y has {len(truth)} values for {len(X)} rows of X")
    scorer, name = _scorer(model, scoring, problem, positive_label)
    chosen = np.arange(len(X))
    if len(chosen) > max_rows:
        chosen = np.sort(np.random.RandomState(seed).choice(chosen, max_rows, replace=False))
    rows, targets = X.iloc[chosen], truth[chosen]
    result = permutation_importance(model, rows, targets, scoring=scorer, n_repeats=n_repeats,
                                    random_state=seed, n_jobs=1)
    features = [{"feature": column, "importance_mean": result.importances_mean[i],
                 "importance_std": result.importances_std[i]}
                for i, column in enumerate(X.columns)]
    features.sort(key=lambda entry: -entry["importance_mean"])
    return json_safe({"scoring": name, "baseline_score": scorer(model, rows, targets),
                      "rows": len(rows), "n_repeats": n_repeats, "features": features})


def _scorer(model: Any, scoring: Any, problem: str | None, positive_label: Any
            ) -> tuple[Callable[..., float], str]:
    if callable(scoring):
        return scoring, getattr(scoring, "__name__", repr(scoring))
    problem = problem or infer_problem(model)
    try:
        found = scorer_for(scoring, problem)
        return found.make_scorer(positive_label), found.sklearn_name or found.name
    except ValidationError as ours:
        from sklearn.metrics import get_scorer

        try:
            return get_scorer(scoring), str(scoring)
        except (ValueError, TypeError):
            raise ours from None


# -- partial dependence -------------------------------------------------------------------
def grid_values(series: pd.Series, grid: int) -> tuple[str, list[Any], bool]:
    """(kind, values, truncated): the categories of a column by frequency, or a numeric
    grid over its 5th-95th percentiles (every value when it has at most ``grid``)."""
    present = series.dropna()
    if is_categorical(series):
        counts = present.value_counts()
        return "categorical", list(counts.index[:MAX_CATEGORIES]), len(counts) > MAX_CATEGORIES
    distinct = np.sort(present.unique())
    if len(distinct) <= grid:
        return "numeric", distinct.tolist(), False
    values = np.quantile(present.to_numpy(dtype=float), np.linspace(0.05, 0.95, grid))
    if pd.api.types.is_integer_dtype(series):
        values = np.round(values).astype(int)
    return "numeric", np.unique(values).tolist(), False


def partial_dependence_report(model: Any, X: pd.DataFrame, features: str | Sequence[str], *,
                              grid: int = 20, max_rows: int = 500, seed: int = 0,
                              positive_label: Any = None) -> dict[str, Any]:
    """The average model output as each feature is set to each grid value in every row of
    a seeded sample (the classic partial dependence, computed on raw columns).

    Returns ``{"output", "rows", "features": [{"feature", "kind" (numeric|categorical),
    "values": [...], "average": [...] (multiclass: {class: [...]}), "truncated"}]}``
    where ``average[i]`` is the mean output with the feature set to ``values[i]``.
    """
    X = as_frame(X)
    features = [features] if isinstance(features, str) else list(features)
    check_columns(X, features, "partial_dependence_report")
    if grid < 2:
        raise ValidationError(f"partial dependence needs grid >= 2, got {grid}")
    output, classes, function = _outputs(model, positive_label)
    rows = seeded_sample(X, max_rows, seed)
    reports = []
    for feature in features:
        kind, values, truncated = grid_values(X[feature], grid)
        if not values:
            reports.append({"feature": feature, "kind": kind, "values": [], "average": [],
                            "truncated": False})
            continue
        stacked = pd.concat([rows.assign(**{feature: [value] * len(rows)}) for value in values],
                            ignore_index=True)
        scores = function(stacked)
        averages = scores.reshape(len(values), len(rows), *scores.shape[1:]).mean(axis=1)
        average: Any = averages if classes is None else {
            name: averages[:, i] for i, name in enumerate(classes)}
        reports.append({"feature": feature, "kind": kind, "values": values,
                        "average": average, "truncated": truncated})
    return json_safe({"output": output, "rows": len(rows), "features": reports})


# -- SHAP ------------------------------------------------------------------------------------
class _Codec:
    """Raw mixed-type columns <-> the float matrix SHAP perturbs: categories become
    their index (missing stays NaN) and are turned back into values for the model."""

    def __init__(self, X: pd.DataFrame) -> None:
        self.columns = list(X.columns)
        self.dtypes = X.dtypes
        self.categories = {column: pd.Index(X[column].dropna().unique())
                           for column in self.columns if is_categorical(X[column])}

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        matrix = np.empty((len(X), len(self.columns)))
        for i, column in enumerate(self.columns):
            if column in self.categories:
                codes = self.categories[column].get_indexer(X[column]).astype(float)
                matrix[:, i] = np.where(codes < 0, np.nan, codes)
            else:
                matrix[:, i] = X[column].to_numpy(dtype=float, na_value=np.nan)
        return matrix

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        data = {}
        for i, column in enumerate(self.columns):
            values = matrix[:, i]
            if column in self.categories:
                known = ~np.isnan(values)
                decoded = np.full(len(values), np.nan, dtype=object)
                decoded[known] = self.categories[column].to_numpy()[values[known].astype(int)]
                data[column] = decoded
            elif pd.api.types.is_integer_dtype(self.dtypes[column]) and not np.isnan(
                    values).any():
                data[column] = values.astype(self.dtypes[column])
            else:
                data[column] = values
        return pd.DataFrame(data)


def shap_report(model: Any, X: pd.DataFrame, *, max_rows: int = 200, background_rows: int = 25,
                seed: int = 0, positive_label: Any = None) -> dict[str, Any]:
    """Mean absolute SHAP value per raw column, by shap's model-agnostic Kernel SHAP over
    the model's output on a seeded sample of ``max_rows`` rows, against a background of
    ``background_rows`` rows. Categorical columns are masked as whole values, so each raw
    column gets one value however many one-hot features it becomes.

    Returns ``{"available": True, "method": "kernel", "output", "rows", "background_rows",
    "base_value" (multiclass: {class: value}), "features": [{"feature", "mean_abs_shap",
    "by_class" (multiclass only)}]}``, most important first; or ``{"available": False,
    "reason"}`` when shap is not installed or cannot explain this model.
    """
    try:
        import shap
    except ImportError:
        return {"available": False,
                "reason": "shap is not installed; install it with pip install 'gapless[explain]'"}
    X = as_frame(X)
    if not hasattr(model, "predict"):
        return {"available": False, "reason": f"{type(model).__name__} has no predict method"}
    output, classes, function = _outputs(model, positive_label)
    codec = _Codec(X)
    background = codec.encode(seeded_sample(X, background_rows, seed))
    rows = codec.encode(seeded_sample(X, max_rows, seed + 1))
    # Kernel SHAP samples coalitions from NumPy's global generator: seed it, then put it back.
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        explainer = shap.KernelExplainer(lambda matrix: function(codec.decode(matrix)),
                                         background)
        values = explainer.shap_values(rows, nsamples=2 * len(codec.columns) + 64,
                                       l1_reg=False, silent=True)
    except Exception as exc:  # noqa: BLE001 - any shap failure means "no SHAP for this model"
        return {"available": False,
                "reason": f"shap could not explain {type(model).__name__}: "
                          f"{type(exc).__name__}: {exc}"}
    finally:
        np.random.set_state(state)
    if isinstance(values, list):  # older shap: one array per output
        values = np.stack(values, axis=-1)
    magnitude = np.abs(np.asarray(values)).mean(axis=0)
    base = np.asarray(explainer.expected_value, dtype=float)
    features = []
    for i, column in enumerate(codec.columns):
        entry: dict[str, Any] = {"feature": column}
        if classes is None:
            entry["mean_abs_shap"] = magnitude[i]
        else:
            entry["mean_abs_shap"] = magnitude[i].mean()
            entry["by_class"] = dict(zip(classes, magnitude[i], strict=True))
        features.append(entry)
    features.sort(key=lambda entry: -entry["mean_abs_shap"])
    return json_safe({
        "available": True, "method": "kernel", "output": output, "rows": len(rows),
        "background_rows": len(background),
        "base_value": float(base.reshape(-1)[0]) if classes is None else dict(
            zip(classes, base.reshape(-1), strict=True)),
        "features": features,
    })
