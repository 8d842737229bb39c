"""Metric names map to scikit-learn scorers whose values agree with our reports."""

from __future__ import annotations

import pickle

import pytest

from gapless.core.errors import ValidationError
from gapless.evaluation import metric_names, score_model, scorer_for


def test_defaults_per_problem() -> None:
    defaults = {problem: scorer_for(None, problem) for problem in
                ("binary", "multiclass", "regression", "clustering")}
    assert {p: s.name for p, s in defaults.items()} == {
        "binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse",
        "clustering": "silhouette"}
    assert defaults["regression"].direction == "minimize"
    assert defaults["regression"].sklearn_name == "neg_root_mean_squared_error"
    assert defaults["binary"].greater_is_better
    assert defaults["regression"].better(1.0, 2.0) and not defaults["binary"].better(0.5, 0.6)


def test_aliases_and_sklearn_names_resolve() -> None:
    assert scorer_for("AUC", "binary").name == "roc_auc"
    assert scorer_for("neg_root_mean_squared_error", "regression").name == "rmse"
    assert scorer_for("average_precision", "binary").name == "pr_auc"
    assert scorer_for("f1", "multiclass").name == "f1_macro"
    assert scorer_for("roc_auc", "multiclass").sklearn_name == "roc_auc_ovr"
    assert scorer_for("davies_bouldin", "clustering").direction == "minimize"


def test_unknown_metric_lists_the_known_ones() -> None:
    with pytest.raises(ValidationError) as caught:
        scorer_for("rmsle", "regression")
    message = str(caught.value)
    assert "'rmsle'" in message and "rmse" in message and "mae" in message and "r2" in message
    with pytest.raises(ValidationError, match="problem 'ranking'"):
        scorer_for("rmse", "ranking")


@pytest.fixture(scope="module")
def binary_report(credit, credit_model) -> dict:
    X, y = credit
    return score_model(credit_model, X, y, "binary")


@pytest.fixture(scope="module")
def regression_report(diabetes) -> dict:
    X, y, model = diabetes
    return score_model(model, X, y, "regression")


@pytest.mark.parametrize("name", ["accuracy", "balanced_accuracy", "precision", "recall", "f1",
                                  "f1_macro", "roc_auc", "pr_auc", "log_loss", "brier"])
def test_binary_scorers_agree_with_the_report_on_string_labels(credit, credit_model,
                                                               binary_report, name) -> None:
    X, y = credit
    report = binary_report
    scorer = scorer_for(name, "binary")
    value = scorer.make_scorer()(credit_model, X, y) * scorer.sign
    assert value == pytest.approx(report[name], rel=1e-6)


def test_positive_label_reaches_the_scorer(credit, credit_model) -> None:
    X, y = credit
    report = score_model(credit_model, X, y, "binary", positive_label="bad")
    scorer = scorer_for("f1", "binary").make_scorer(positive_label="bad")
    assert scorer(credit_model, X, y) == pytest.approx(report["f1"])
    assert pickle.loads(pickle.dumps(scorer))(credit_model, X, y) == pytest.approx(report["f1"])


@pytest.mark.parametrize("name", ["rmse", "mse", "mae", "median_ae", "max_error", "r2",
                                  "explained_variance", "mape"])
def test_regression_scorers_agree_with_the_report(diabetes, regression_report, name) -> None:
    X, y, model = diabetes
    report = regression_report
    scorer = scorer_for(name, "regression")
    assert scorer.make_scorer()(model, X, y) * scorer.sign == pytest.approx(report[name])


def test_multiclass_scorers_and_compute(iris) -> None:
    X, y, model = iris
    report = score_model(model, X, y, "multiclass")
    for name in ("f1_macro", "roc_auc", "log_loss", "accuracy"):
        scorer = scorer_for(name, "multiclass")
        assert scorer.make_scorer()(model, X, y) * scorer.sign == pytest.approx(report[name])
        assert scorer.compute(y, model.predict(X), model.predict_proba(X),
                              labels=list(model.classes_)) == pytest.approx(report[name])
    with pytest.raises(ValidationError, match="no scikit-learn scorer"):
        scorer_for("pr_auc", "multiclass").make_scorer()
    assert metric_names("multiclass")[0] == "accuracy"
