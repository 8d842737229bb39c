"""Evaluation: metrics, curves, slices, fairness, explanations, what-if, behavioural tests.

Pure functions over a fitted scikit-learn-compatible model (taking a DataFrame of raw
columns) and pandas data. Every report is JSON-safe (plain dicts, lists, numbers; NaN as
None), so it can be stored with a run and rendered into a model card.
"""

from gapless.evaluation.behavioural import run_behavioural_tests, typical_row
from gapless.evaluation.curves import (
    best_threshold,
    calibration_points,
    labels_at_threshold,
    pr_points,
    roc_points,
    threshold_sweep,
)
from gapless.evaluation.explain import (
    infer_problem,
    partial_dependence_report,
    permutation_importance_report,
    shap_report,
)
from gapless.evaluation.fairness import fairness_from_config, fairness_report, fairness_reports
from gapless.evaluation.metrics import (
    classification_metrics,
    clustering_metrics,
    regression_metrics,
    scalar_metrics,
    score_model,
)
from gapless.evaluation.scoring import Scorer, metric_names, scorer_for
from gapless.evaluation.slices import slice_metrics
from gapless.evaluation.whatif import what_if

__all__ = [
    "Scorer",
    "best_threshold",
    "calibration_points",
    "classification_metrics",
    "clustering_metrics",
    "fairness_from_config",
    "fairness_report",
    "fairness_reports",
    "infer_problem",
    "labels_at_threshold",
    "metric_names",
    "partial_dependence_report",
    "permutation_importance_report",
    "pr_points",
    "regression_metrics",
    "roc_points",
    "run_behavioural_tests",
    "scalar_metrics",
    "score_model",
    "scorer_for",
    "shap_report",
    "slice_metrics",
    "threshold_sweep",
    "typical_row",
    "what_if",
]
