"""Evaluating the refit winner on the test split: everything the model card shows.

The test split is scored here and only here, once, after the search chose; the
baseline is scored on the same rows so the card can put the two side by side.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gapless.training.plan import FinalModel, TrainingPlan
    from gapless.training.search import TrialOutcome

SHAP_ROWS = 100
PDP_FEATURES = 3


def evaluate_final(plan: TrainingPlan, model: Any, baseline_model: Any, X: Any, y: Any,
                   X_test: Any, y_test: Any, best: TrialOutcome,
                   baseline: TrialOutcome) -> FinalModel:
    from gapless.evaluation import (
        fairness_from_config,
        partial_dependence_report,
        permutation_importance_report,
        run_behavioural_tests,
        score_model,
        shap_report,
        slice_metrics,
    )
    from gapless.training.plan import FinalModel

    problem, spec = plan.problem, plan.spec
    # One positive class everywhere (scikit-learn's convention: the last of classes_).
    positive = list(model.classes_)[-1] if problem == "binary" else None
    threshold = None
    if problem == "binary" and spec.imbalance.tune_threshold:
        model, threshold = _tuned(plan, model, best, X, y, positive)
    test_metrics = score_model(model, X_test, y_test, problem, positive_label=positive)
    curves = test_metrics.pop("curves", None)
    baseline_metrics = (score_model(baseline_model, X_test, y_test, problem,
                                    positive_label=positive)
                        if baseline_model is not None else {})
    baseline_metrics.pop("curves", None)
    evaluation: dict[str, Any] = {
        "dataset": plan.version.ref, "dataset_digest": plan.version.digest,
        "target": plan.target, "problem": problem, "metric": plan.metric,
        "direction": plan.scorer.direction,
        "spec": spec.model_dump(mode="json"),
        "best": {"family": best.family, "params": best.params},
        "cv_score": plan.display(best.value),
        "cv_fold_scores": [plan.display(s) for s in best.fold_scores],
        "baseline": {"family": "baseline", "params": baseline.params,
                     "cv_score": plan.display(baseline.value) if baseline.fold_scores else None,
                     "test_metrics": baseline_metrics},
        "test_metrics": test_metrics,
        "threshold": threshold,
        "positive_label": positive,
        "curves": curves,
        "rows": {"train": len(X), "test": len(X_test)},
        "limitations": spec.limitations,
    }
    if problem != "clustering":
        evaluation["slices"] = slice_metrics(model, X_test, y_test, problem,
                                             columns=spec.slices, metric=plan.metric,
                                             positive_label=positive)
        importance = permutation_importance_report(
            model, X_test, y_test, plan.scorer.name, seed=spec.seed, problem=problem,
            positive_label=positive)
        evaluation["importance"] = importance
        top = [item["feature"] for item in importance.get("features", [])[:PDP_FEATURES]]
        evaluation["partial_dependence"] = (
            partial_dependence_report(model, X_test, top, seed=spec.seed,
                                      positive_label=positive) if top else None)
        evaluation["shap"] = shap_report(model, X_test, max_rows=SHAP_ROWS, seed=spec.seed,
                                         positive_label=positive)
        evaluation["behavioural"] = run_behavioural_tests(
            model, X_test, spec.behavioural_tests, problem, seed=spec.seed,
            positive_label=positive)
    if spec.fairness is not None:
        evaluation["fairness"] = fairness_from_config(y_test, model.predict(X_test), X_test,
                                                      spec.fairness, positive_label=positive)
    tests = evaluation.get("behavioural") or []
    evaluation["behavioural_passed"] = all(t["passed"] for t in tests) if tests else None
    fairness = evaluation.get("fairness")
    evaluation["fairness_passed"] = None if fairness is None else fairness.get("passed")
    return FinalModel(model, test_metrics, baseline_metrics, evaluation)


def _tuned(plan: TrainingPlan, model: Any, best: TrialOutcome, X: Any, y: Any,
           positive: Any) -> tuple[Any, float]:
    """Pick the decision threshold maximising F1 on out-of-fold probabilities of the
    training split (never the test split), and fix it into the saved model."""
    import numpy as np
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import FixedThresholdClassifier

    from gapless.evaluation import best_threshold
    from gapless.training.pipeline import build_pipeline, fit_params

    column = list(model.classes_).index(positive)
    oof = np.zeros(len(X))
    for train, valid in plan.folds:
        fold_model = build_pipeline(plan.train.iloc[train], plan.spec, best.family,
                                    best.params, target=plan.target, problem=plan.problem,
                                    seed=plan.spec.seed)
        fold_model.fit(X.iloc[train], y.iloc[train],
                       **fit_params(best.family, y.iloc[train], plan.spec, problem=plan.problem))
        oof[valid] = fold_model.predict_proba(X.iloc[valid])[:, column]
    threshold, _ = best_threshold(y, oof, "f1", positive_label=positive)
    tuned = FixedThresholdClassifier(FrozenEstimator(model), threshold=threshold,
                                     pos_label=positive, response_method="predict_proba")
    return tuned.fit(X, y), float(threshold)


def mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None
