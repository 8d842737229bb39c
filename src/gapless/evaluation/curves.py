"""ROC, precision-recall and calibration curves, and the decision-threshold sweep.

Every curve is returned as parallel lists (one entry per point, at most ``max_points``
of them, evenly thinned along the curve with both ends kept), ready to plot or to store
with a run. Thresholds follow one rule throughout: a row is predicted positive when the
probability of the positive class is ``>= threshold``.

``positive_label`` defaults to 1 when the labels are 0/1 (or booleans), else to the larger
of the two labels, as scikit-learn orders ``classes_``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gapless.core.errors import ValidationError
from gapless.evaluation._common import json_safe, label_text, positive_label_of, sort_labels

MAX_POINTS = 200
THRESHOLD_METRICS = ("f1", "precision", "recall", "accuracy", "balanced_accuracy", "youden",
                     "mcc")


def binary_truth(y_true: Any, proba: Any, positive_label: Any = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` as 0/1 (1 = positive class) and ``proba`` as floats, both checked."""
    truth = np.asarray(y_true, dtype=object)
    scores = np.asarray(proba, dtype=float)
    if scores.ndim != 1 or truth.shape != scores.shape:
        raise ValidationError(f"y_true and proba must be 1-D and the same length (proba is the "
                              f"positive-class probability); got {truth.shape} and "
                              f"{scores.shape}")
    if not np.isfinite(scores).all():
        raise ValidationError("proba has missing or infinite values; curves need a "
                              "probability in every row")
    seen = sort_labels(truth.tolist())
    if positive_label is None and set(seen) <= {0, 1}:
        positive_label = 1
    if len(seen) > 2:
        raise ValidationError(f"curves are for two classes; y_true holds {len(seen)}: "
                              f"{', '.join(map(label_text, seen[:10]))}")
    if positive_label is None and len(seen) < 2:
        raise ValidationError("y_true holds one class only; pass positive_label")
    positive = positive_label if positive_label is not None else positive_label_of(seen)
    hits = np.array([value == positive or label_text(value) == label_text(positive)
                     for value in truth.tolist()], dtype=bool)
    return hits.astype(int), scores


def _thin(count: int, max_points: int) -> np.ndarray:
    if count <= max_points:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, max_points)).astype(int))


def roc_points(y_true: Any, proba: Any, *, positive_label: Any = None,
               max_points: int = MAX_POINTS) -> dict[str, Any]:
    """``{"fpr": [...], "tpr": [...], "threshold": [...], "auc": float | None}``; empty
    lists and no AUC when ``y_true`` holds one class."""
    from sklearn.metrics import roc_auc_score, roc_curve

    truth, scores = binary_truth(y_true, proba, positive_label)
    if truth.min() == truth.max():
        return {"fpr": [], "tpr": [], "threshold": [], "auc": None}
    fpr, tpr, thresholds = roc_curve(truth, scores)
    keep = _thin(len(fpr), max_points)
    return json_safe({"fpr": fpr[keep], "tpr": tpr[keep], "threshold": thresholds[keep],
                      "auc": roc_auc_score(truth, scores)})


def pr_points(y_true: Any, proba: Any, *, positive_label: Any = None,
              max_points: int = MAX_POINTS) -> dict[str, Any]:
    """``{"recall": [...], "precision": [...], "threshold": [...], "average_precision":
    float | None, "prevalence": float}``; the last point (recall 0) has no threshold."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    truth, scores = binary_truth(y_true, proba, positive_label)
    if truth.max() == 0:
        return {"recall": [], "precision": [], "threshold": [], "average_precision": None,
                "prevalence": 0.0}
    precision, recall, thresholds = precision_recall_curve(truth, scores)
    thresholds = np.append(thresholds, np.nan)
    keep = _thin(len(precision), max_points)
    return json_safe({"recall": recall[keep], "precision": precision[keep],
                      "threshold": thresholds[keep],
                      "average_precision": average_precision_score(truth, scores),
                      "prevalence": truth.mean()})


def calibration_points(y_true: Any, proba: Any, *, positive_label: Any = None,
                       bins: int = 10) -> dict[str, Any]:
    """The reliability diagram over ``bins`` equal-width probability bins (empty bins are
    left out): ``{"mean_predicted": [...], "fraction_positive": [...], "count": [...],
    "expected_calibration_error": float, "brier": float}``."""
    truth, scores = binary_truth(y_true, proba, positive_label)
    which = np.clip((scores * bins).astype(int), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    used = count > 0
    mean_predicted = np.bincount(which, weights=scores, minlength=bins)[used] / count[used]
    fraction = np.bincount(which, weights=truth, minlength=bins)[used] / count[used]
    ece = float(np.sum(count[used] / len(truth) * np.abs(fraction - mean_predicted)))
    return json_safe({"mean_predicted": mean_predicted, "fraction_positive": fraction,
                      "count": count[used], "expected_calibration_error": ece,
                      "brier": np.mean((scores - truth) ** 2)})


def _sweep(truth: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Confusion counts and metrics at every distinct score used as the threshold,
    highest threshold first (as scikit-learn's ``_binary_clf_curve`` counts them)."""
    order = np.argsort(-scores, kind="mergesort")
    ordered, hits = scores[order], truth[order]
    last = np.r_[np.flatnonzero(np.diff(ordered)), len(ordered) - 1]
    tp = np.cumsum(hits)[last].astype(float)
    fp = (last + 1) - tp
    positives, negatives = float(truth.sum()), float(len(truth) - truth.sum())
    fn, tn = positives - tp, negatives - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr = tp / positives if positives else np.full_like(tp, np.nan)
        tnr = tn / negatives if negatives else np.full_like(tp, np.nan)
        denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        mcc = np.where(denominator > 0, (tp * tn - fp * fn) / np.where(denominator > 0,
                                                                       denominator, 1), 0.0)
        return {
            "threshold": ordered[last], "precision": tp / (tp + fp), "recall": tpr,
            "f1": 2 * tp / (2 * tp + fp + fn), "accuracy": (tp + tn) / len(truth),
            "balanced_accuracy": (tpr + tnr) / 2, "youden": tpr + tnr - 1, "mcc": mcc,
            "predicted_positive_rate": (tp + fp) / len(truth),
        }


def threshold_sweep(y_true: Any, proba: Any, *, positive_label: Any = None,
                    max_points: int = MAX_POINTS) -> dict[str, list[float | None]]:
    """Each threshold metric (and the predicted-positive rate) at up to ``max_points``
    thresholds, highest first: ``{"threshold": [...], "f1": [...], ...}``."""
    truth, scores = binary_truth(y_true, proba, positive_label)
    sweep = _sweep(truth, scores)
    keep = _thin(len(sweep["threshold"]), max_points)
    return json_safe({name: values[keep] for name, values in sweep.items()})


def best_threshold(y_true: Any, proba: Any, metric: str = "f1", *,
                   positive_label: Any = None) -> tuple[float, float]:
    """The threshold on the positive-class probability that maximises ``metric`` over
    every distinct probability (ties go to the highest threshold), and its score."""
    if metric not in THRESHOLD_METRICS:
        raise ValidationError(f"threshold metric {metric!r} is not known; use one of "
                              f"{', '.join(THRESHOLD_METRICS)}")
    truth, scores = binary_truth(y_true, proba, positive_label)
    sweep = _sweep(truth, scores)
    values = np.nan_to_num(sweep[metric], nan=-np.inf)
    best = int(np.argmax(values))
    if not np.isfinite(values[best]):
        raise ValidationError(f"{metric} is undefined at every threshold (y_true holds one "
                              "class); a threshold cannot be tuned on this data")
    return float(sweep["threshold"][best]), float(sweep[metric][best])


def labels_at_threshold(proba: Any, threshold: float, *, classes: Sequence[Any],
                        positive_label: Any = None) -> np.ndarray:
    """Class labels from positive-class probabilities: positive where ``proba >=
    threshold``, else the other of the two ``classes``."""
    if len(classes) != 2:
        raise ValidationError(f"a decision threshold needs two classes, got {len(classes)}")
    positive = positive_label_of(list(classes), positive_label)
    negative = classes[1] if classes[0] == positive else classes[0]
    chosen = np.asarray(proba, dtype=float) >= threshold
    return np.where(chosen, np.array(positive, dtype=object), np.array(negative, dtype=object))
