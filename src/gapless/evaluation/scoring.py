"""Metric names: what each means, how it is computed, and which scikit-learn scorer matches.

One table per problem type is the single source of truth for every metric gapless
reports. The same entry computes the metric in a report (:meth:`Scorer.compute`), gives
the scorer a search or cross-validation optimises (:meth:`Scorer.make_scorer`), and says
whether bigger is better. scikit-learn scorers are "greater is better", so losses appear
there negated (``neg_log_loss``); ``sign`` turns such a scorer's value back into ours.

Binary metrics that depend on which class is positive (precision, recall, F1, PR AUC,
Brier) resolve the positive label from the fitted model's ``classes_`` at scoring time,
so they work with string labels such as ``"good"``/``"bad"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from gapless.core.errors import ValidationError
from gapless.evaluation._common import (
    check_problem,
    is_missing,
    label_text,
    positive_label_of,
    sort_labels,
)

Direction = Literal["maximize", "minimize"]

DEFAULTS = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse",
            "clustering": "silhouette"}


@dataclass(frozen=True)
class Labelled:
    """Classification inputs in one shape: labels, the probability matrix in ``labels``
    order (or None), and the positive label (binary only)."""

    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    labels: list[Any]
    positive: Any = None

    @property
    def positive_index(self) -> int:
        return self.labels.index(self.positive)


def labelled(y_true: Any, y_pred: Any, proba: Any = None, *, labels: Sequence[Any] | None = None,
             positive_label: Any = None) -> Labelled:
    """Check and align classification inputs; ``proba`` may be a matrix with one column per
    label or, for two labels, the probability of the positive class alone."""
    truth, predicted = _label_array(y_true), _label_array(y_pred)
    if truth.shape != predicted.shape or truth.ndim != 1:
        raise ValidationError(f"y_true and y_pred must be 1-D and the same length; got "
                              f"{truth.shape} and {predicted.shape}")
    missing = sum(is_missing(value) for value in truth.tolist())
    if missing:
        raise ValidationError(f"y_true has {missing} missing labels; drop those rows before "
                              "scoring")
    if labels is None:
        labels = sort_labels(truth.tolist() + predicted.tolist())
    labels = list(labels)
    unknown = sort_labels(set(truth.tolist()) - set(labels))
    if unknown:
        raise ValidationError(f"y_true holds {', '.join(map(label_text, unknown[:5]))}, which "
                              f"is not among the labels {', '.join(map(label_text, labels))}")
    positive = positive_label_of(labels, positive_label) if len(labels) == 2 else None
    matrix = None
    if proba is not None:
        matrix = np.asarray(proba, dtype=float)
        if matrix.ndim == 1 and len(labels) == 2:
            column = labels.index(positive)
            matrix = np.column_stack([1 - matrix, matrix] if column == 1 else [matrix, 1 - matrix])
        if matrix.shape != (len(truth), len(labels)):
            raise ValidationError(f"proba has shape {matrix.shape}; expected one row per "
                                  f"prediction and one column per label ({len(truth)}, "
                                  f"{len(labels)}), in the order of `labels`")
    return Labelled(truth, predicted, matrix, labels, positive)


def _label_array(values: Any) -> np.ndarray:
    """Labels as an array scikit-learn can type: object arrays of numbers become numeric."""
    array = np.asarray(values)
    if array.dtype == object and array.ndim == 1:
        array = pd.Series(array).infer_objects().to_numpy()
    return array


def _binary_truth(data: Labelled) -> np.ndarray:
    return (data.y_true == data.positive).astype(int)


def _present(data: Labelled) -> list[Any]:
    present = set(data.y_true.tolist())
    return [label for label in data.labels if label in present]


# -- classification ----------------------------------------------------------------------
def _accuracy(data: Labelled) -> float:
    return float(np.mean(data.y_true == data.y_pred))


def _balanced_accuracy(data: Labelled) -> float:
    recalls = [np.mean(data.y_pred[data.y_true == label] == label) for label in _present(data)]
    return float(np.mean(recalls))


def _prf(which: str, average: str) -> Callable[[Labelled], float]:
    def compute(data: Labelled) -> float:
        from sklearn.metrics import precision_recall_fscore_support

        options: dict[str, Any] = {"labels": data.labels, "average": average}
        if average == "binary":
            options["pos_label"] = data.positive
        scores = precision_recall_fscore_support(data.y_true, data.y_pred, zero_division=0,
                                                 **options)
        return float(scores[("precision", "recall", "f1").index(which)])

    return compute


def _one_vs_rest(metric: str) -> Callable[[Labelled], float | None]:
    """ROC AUC or average precision: of the positive class (binary), else the mean over
    each class present in ``y_true`` against the rest (macro one-vs-rest)."""

    def compute(data: Labelled) -> float | None:
        from sklearn.metrics import average_precision_score, roc_auc_score

        function = roc_auc_score if metric == "roc_auc" else average_precision_score
        if data.proba is None:
            return None
        targets = [data.positive] if len(data.labels) == 2 else data.labels
        values = []
        for label in targets:
            truth = (data.y_true == label).astype(int)
            if 0 < truth.sum() < len(truth):
                values.append(function(truth, data.proba[:, data.labels.index(label)]))
        return float(np.mean(values)) if values else None

    return compute


def _log_loss(data: Labelled) -> float | None:
    from sklearn.metrics import log_loss

    if data.proba is None:
        return None
    clipped = np.clip(data.proba, 1e-15, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    return float(log_loss(data.y_true, clipped, labels=data.labels))


def _brier(data: Labelled) -> float | None:
    if data.proba is None:
        return None
    return float(np.mean((data.proba[:, data.positive_index] - _binary_truth(data)) ** 2))


# -- regression ----------------------------------------------------------------------------
def regression_inputs(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(y_true, dtype=float)
    predicted = np.asarray(y_pred, dtype=float)
    if truth.shape != predicted.shape or truth.ndim != 1:
        raise ValidationError(f"y_true and y_pred must be 1-D and the same length; got "
                              f"{truth.shape} and {predicted.shape}")
    for name, values in (("y_true", truth), ("y_pred", predicted)):
        bad = int((~np.isfinite(values)).sum())
        if bad:
            raise ValidationError(f"{name} has {bad} missing or infinite values; regression "
                                  "metrics need a finite number in every row")
    return truth, predicted


def mape(y_true: Any, y_pred: Any) -> float | None:
    """Mean absolute percentage error as a fraction, over the rows whose target is not 0
    (those have no percentage error); None when every target is 0."""
    truth, predicted = regression_inputs(y_true, y_pred)
    keep = truth != 0
    if not keep.any():
        return None
    return float(np.mean(np.abs((truth[keep] - predicted[keep]) / truth[keep])))


def _r2(truth: np.ndarray, predicted: np.ndarray) -> float | None:
    spread = float(np.sum((truth - truth.mean()) ** 2))
    if len(truth) < 2 or spread == 0:
        return None
    return 1.0 - float(np.sum((truth - predicted) ** 2)) / spread


def _explained_variance(truth: np.ndarray, predicted: np.ndarray) -> float | None:
    spread = float(np.var(truth))
    if len(truth) < 2 or spread == 0:
        return None
    return 1.0 - float(np.var(truth - predicted)) / spread


REGRESSION_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray], float | None]] = {
    "rmse": lambda t, p: float(np.sqrt(np.mean((t - p) ** 2))),
    "mse": lambda t, p: float(np.mean((t - p) ** 2)),
    "mae": lambda t, p: float(np.mean(np.abs(t - p))),
    "median_ae": lambda t, p: float(np.median(np.abs(t - p))),
    "max_error": lambda t, p: float(np.max(np.abs(t - p))),
    "r2": _r2,
    "explained_variance": _explained_variance,
    "mape": mape,
}


# -- the table --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scorer:
    """One metric of one problem type. ``sklearn_name`` is the matching scikit-learn scorer
    string (None for clustering metrics, which need no target); a scikit-learn score times
    ``sign`` is the metric's own value."""

    name: str
    problem: str
    sklearn_name: str | None
    direction: Direction
    sign: int = 1
    positive_sensitive: bool = False
    needs_proba: bool = False

    @property
    def greater_is_better(self) -> bool:
        return self.direction == "maximize"

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` of this metric is strictly better than ``b``."""
        return a > b if self.greater_is_better else a < b

    def compute(self, y_true: Any, y_pred: Any, proba: Any = None, *,
                labels: Sequence[Any] | None = None, positive_label: Any = None) -> float | None:
        """The metric from targets and predictions; None where it is undefined (an AUC
        over one class, a probability metric without probabilities)."""
        if self.problem == "clustering":
            raise ValidationError(f"metric {self.name!r} needs the features, not a target; "
                                  "use clustering_metrics(X, labels)")
        if self.problem == "regression":
            return REGRESSION_FUNCTIONS[self.name](*regression_inputs(y_true, y_pred))
        data = labelled(y_true, y_pred, proba, labels=labels, positive_label=positive_label)
        return CLASSIFICATION_FUNCTIONS[self.problem][self.name](data)

    def make_scorer(self, positive_label: Any = None) -> Any:
        """A scikit-learn scorer ``(estimator, X, y) -> float`` for this metric."""
        if self.sklearn_name is None:
            raise ValidationError(f"{self.problem} metric {self.name!r} has no scikit-learn "
                                  "scorer; pick another metric to search or cross-validate on")
        if self.positive_sensitive:
            return PositiveLabelScorer(self.name, positive_label)
        from sklearn.metrics import get_scorer

        for name in (self.sklearn_name, LEGACY_SKLEARN_NAMES.get(self.sklearn_name, "")):
            try:
                return get_scorer(name)
            except (ValueError, TypeError):  # older scikit-learn spells a few differently
                continue
        raise ValidationError(f"this scikit-learn has no scorer {self.sklearn_name!r} for "
                              f"metric {self.name!r}; upgrade scikit-learn or pick another")


class PositiveLabelScorer:
    """A binary scorer whose positive label is taken from the estimator when it scores
    (scikit-learn's own assume the label 1). Module-level, so it pickles to workers."""

    def __init__(self, metric: str, positive_label: Any = None) -> None:
        self.metric = metric
        self.positive_label = positive_label

    def __call__(self, estimator: Any, X: Any, y: Any) -> float:
        from sklearn import metrics

        positive = positive_label_of(list(estimator.classes_), self.positive_label)
        function, options = {
            "precision": (metrics.precision_score, {"zero_division": 0}),
            "recall": (metrics.recall_score, {"zero_division": 0}),
            "f1": (metrics.f1_score, {"zero_division": 0}),
            "pr_auc": (metrics.average_precision_score,
                       {"response_method": ("predict_proba", "decision_function")}),
            "brier": (metrics.brier_score_loss,
                      {"response_method": "predict_proba", "greater_is_better": False}),
        }[self.metric]
        scorer = metrics.make_scorer(function, pos_label=positive, **options)
        return float(scorer(estimator, X, y))

    def __repr__(self) -> str:
        return f"PositiveLabelScorer({self.metric!r}, positive_label={self.positive_label!r})"


def _table() -> dict[str, dict[str, Scorer]]:
    rows: list[tuple[str, str, str | None, Direction, int, bool, bool]] = [
        # problem, name, scikit-learn scorer, direction, sign, positive-sensitive, proba
        ("binary", "accuracy", "accuracy", "maximize", 1, False, False),
        ("binary", "balanced_accuracy", "balanced_accuracy", "maximize", 1, False, False),
        ("binary", "precision", "precision", "maximize", 1, True, False),
        ("binary", "recall", "recall", "maximize", 1, True, False),
        ("binary", "f1", "f1", "maximize", 1, True, False),
        ("binary", "f1_macro", "f1_macro", "maximize", 1, False, False),
        ("binary", "roc_auc", "roc_auc", "maximize", 1, False, True),
        ("binary", "pr_auc", "average_precision", "maximize", 1, True, True),
        ("binary", "log_loss", "neg_log_loss", "minimize", -1, False, True),
        ("binary", "brier", "neg_brier_score", "minimize", -1, True, True),
        ("multiclass", "accuracy", "accuracy", "maximize", 1, False, False),
        ("multiclass", "balanced_accuracy", "balanced_accuracy", "maximize", 1, False, False),
        ("multiclass", "precision_macro", "precision_macro", "maximize", 1, False, False),
        ("multiclass", "recall_macro", "recall_macro", "maximize", 1, False, False),
        ("multiclass", "f1_macro", "f1_macro", "maximize", 1, False, False),
        ("multiclass", "precision_weighted", "precision_weighted", "maximize", 1, False, False),
        ("multiclass", "recall_weighted", "recall_weighted", "maximize", 1, False, False),
        ("multiclass", "f1_weighted", "f1_weighted", "maximize", 1, False, False),
        ("multiclass", "roc_auc", "roc_auc_ovr", "maximize", 1, False, True),
        ("multiclass", "pr_auc", None, "maximize", 1, False, True),
        ("multiclass", "log_loss", "neg_log_loss", "minimize", -1, False, True),
        ("regression", "rmse", "neg_root_mean_squared_error", "minimize", -1, False, False),
        ("regression", "mse", "neg_mean_squared_error", "minimize", -1, False, False),
        ("regression", "mae", "neg_mean_absolute_error", "minimize", -1, False, False),
        ("regression", "median_ae", "neg_median_absolute_error", "minimize", -1, False, False),
        ("regression", "max_error", "neg_max_error", "minimize", -1, False, False),
        ("regression", "r2", "r2", "maximize", 1, False, False),
        ("regression", "explained_variance", "explained_variance", "maximize", 1, False, False),
        ("regression", "mape", "neg_mean_absolute_percentage_error", "minimize", -1, False,
         False),
        ("clustering", "silhouette", None, "maximize", 1, False, False),
        ("clustering", "calinski_harabasz", None, "maximize", 1, False, False),
        ("clustering", "davies_bouldin", None, "minimize", 1, False, False),
    ]
    table: dict[str, dict[str, Scorer]] = {problem: {} for problem in DEFAULTS}
    for problem, name, sklearn_name, direction, sign, sensitive, proba in rows:
        table[problem][name] = Scorer(name, problem, sklearn_name, direction, sign, sensitive,
                                      proba)
    return table


SCORERS = _table()

CLASSIFICATION_FUNCTIONS: dict[str, dict[str, Callable[[Labelled], float | None]]] = {
    "binary": {
        "accuracy": _accuracy, "balanced_accuracy": _balanced_accuracy,
        "precision": _prf("precision", "binary"), "recall": _prf("recall", "binary"),
        "f1": _prf("f1", "binary"), "f1_macro": _prf("f1", "macro"),
        "roc_auc": _one_vs_rest("roc_auc"), "pr_auc": _one_vs_rest("pr_auc"),
        "log_loss": _log_loss, "brier": _brier,
    },
    "multiclass": {
        "accuracy": _accuracy, "balanced_accuracy": _balanced_accuracy,
        **{f"{which}_{average}": _prf(which, average) for which in ("precision", "recall", "f1")
           for average in ("macro", "weighted")},
        "roc_auc": _one_vs_rest("roc_auc"), "pr_auc": _one_vs_rest("pr_auc"),
        "log_loss": _log_loss,
    },
}

LEGACY_SKLEARN_NAMES = {"neg_max_error": "max_error"}

# Other spellings people use (scikit-learn's scorer names among them) -> our name.
ALIASES = {
    "auc": "roc_auc", "roc_auc_ovr": "roc_auc", "average_precision": "pr_auc", "auprc": "pr_auc",
    "neg_log_loss": "log_loss", "logloss": "log_loss", "cross_entropy": "log_loss",
    "neg_brier_score": "brier", "brier_score": "brier", "f1_score": "f1", "acc": "accuracy",
    "neg_root_mean_squared_error": "rmse", "root_mean_squared_error": "rmse",
    "neg_mean_squared_error": "mse", "mean_squared_error": "mse",
    "neg_mean_absolute_error": "mae", "mean_absolute_error": "mae",
    "neg_median_absolute_error": "median_ae", "median_absolute_error": "median_ae",
    "neg_mean_absolute_percentage_error": "mape", "mean_absolute_percentage_error": "mape",
    "neg_max_error": "max_error", "r2_score": "r2", "silhouette_score": "silhouette",
}
# In multiclass problems a bare "f1" (etc.) means the unweighted mean over classes.
MULTICLASS_ALIASES = {"f1": "f1_macro", "precision": "precision_macro",
                      "recall": "recall_macro"}


def scorer_for(metric_name: str | None, problem: str) -> Scorer:
    """The :class:`Scorer` for ``metric_name`` in ``problem`` (its default metric when the
    name is None: binary roc_auc, multiclass f1_macro, regression rmse, clustering
    silhouette). Unknown names raise :class:`ValidationError` listing the known ones."""
    check_problem(problem)
    known = SCORERS[problem]
    if metric_name is None:
        return known[DEFAULTS[problem]]
    key = str(metric_name).strip().lower()
    if problem == "multiclass":
        key = MULTICLASS_ALIASES.get(key, key)
    key = ALIASES.get(key, key)
    if key not in known:
        raise ValidationError(f"metric {metric_name!r} is not known for {problem} problems; "
                              f"known metrics: {', '.join(known)}")
    return known[key]


def metric_names(problem: str) -> list[str]:
    """Every metric name of ``problem``, in report order."""
    return list(SCORERS[check_problem(problem)])
