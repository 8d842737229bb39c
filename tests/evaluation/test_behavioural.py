"""Behavioural tests: planted violations are caught, honest models pass."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from gapless.core.errors import ValidationError
from gapless.evaluation import run_behavioural_tests, typical_row
from gapless.training.specs import Directional, Invariance, MinimumFunctionality


def test_invariance_catches_the_leak_and_passes_irrelevant_columns(planted) -> None:
    X, _, model = planted
    tests = [
        Invariance(type="invariance", name="leak must not matter", column="leak",
                   values=[0.0, 2.0], tolerance=0.05, rows=100),
        Invariance(type="invariance", column="version", values=[1.0, 2.0], rows=100),
        Invariance(type="invariance", column="region", values=["north", "south", "east"],
                   tolerance=0.1, rows=100),
    ]
    leak, version, region = run_behavioural_tests(model, X, tests, "binary", seed=1)
    json.dumps([leak, version, region], allow_nan=False)
    assert leak["name"] == "leak must not matter" and leak["type"] == "invariance"
    assert leak["passed"] is False and leak["total"] == 200 and leak["failing"] > 100
    assert leak["worst_change"] > 0.3
    assert len(leak["examples"]) == 5
    worst = leak["examples"][0]
    assert worst["change"] == pytest.approx(leak["worst_change"])
    # The example is reproducible: the row, its old and new value, and both scores.
    row = X.loc[[worst["row"]]]
    assert worst["before"] == pytest.approx(row["leak"].iloc[0])
    assert model.predict_proba(row)[0, 1] == pytest.approx(worst["score_before"])
    assert model.predict_proba(row.assign(leak=worst["after"]))[0, 1] == pytest.approx(
        worst["score_after"])
    assert "leak must not matter" in leak["message"] and "200" in leak["message"]
    # A column constant in training gets no weight: changing it does not move the score.
    assert version["name"] == "invariance version" and version["passed"] is True
    assert version["failing"] == 0 and version["total"] == 200 and version["examples"] == []
    assert version["worst_change"] < 1e-9
    # Random noise gets a little weight (a few hundredths), within a looser tolerance.
    assert region["passed"] is True and region["total"] == 300
    assert 0 < region["worst_change"] < 0.1


def test_multiclass_invariance_counts_label_flips(iris) -> None:
    X, _, model = iris
    flips, steady = run_behavioural_tests(model, X, [
        {"type": "invariance", "column": "petal length (cm)", "values": [1.0, 6.5]},
        {"type": "invariance", "column": "sepal width (cm)", "values": [3.0], "tolerance": 0.5},
    ], "multiclass")
    assert flips["passed"] is False and flips["worst_change"] == 1.0
    assert flips["examples"][0]["score_before"] != flips["examples"][0]["score_after"]
    assert steady["total"] == 150


@pytest.fixture(scope="module")
def monotone() -> tuple[pd.DataFrame, LinearRegression]:
    """y = 3*dose - 2*age + noise: the score rises with dose and falls with age."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"dose": rng.uniform(0, 10, 300), "age": rng.uniform(20, 80, 300),
                      "site": rng.choice(["a", "b"], 300)})
    y = 3 * X["dose"] - 2 * X["age"] + rng.normal(0, 1, 300)
    return X, LinearRegression().fit(X[["dose", "age"]], y)


class OnlyNumbers:
    """Wraps a model fitted on some columns; takes the whole frame (as a pipeline would)."""

    def __init__(self, model, columns) -> None:
        self.model, self.columns = model, columns

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict(X[self.columns])


def test_directional_on_a_monotone_model(monotone) -> None:
    X, fitted = monotone
    model = OnlyNumbers(fitted, ["dose", "age"])
    results = run_behavioural_tests(model, X, [
        Directional(type="directional", column="dose", delta=1, direction="increase"),
        Directional(type="directional", column="age", delta=5, direction="increase"),
        {"type": "directional", "column": "age", "delta": 5, "direction": "decrease"},
        {"type": "directional", "column": "age", "delta": 5, "direction": "increase",
         "tolerance": 20},
    ], "regression")
    json.dumps(results, allow_nan=False)
    dose, age_up, age_down, tolerant = results
    assert dose["passed"] and dose["total"] == 200 and dose["worst_change"] == pytest.approx(
        3 * fitted.coef_[0] / 3, rel=1e-6)
    assert not age_up["passed"] and age_up["failing"] == 200
    assert age_up["worst_change"] == pytest.approx(5 * fitted.coef_[1])
    example = age_up["examples"][0]
    assert example["after"] == pytest.approx(example["before"] + 5)
    assert "moved the score down" in age_up["message"]
    assert age_down["passed"] and tolerant["passed"]


def test_directional_on_a_real_classifier(planted) -> None:
    X, _, model = planted
    raising_leak, = run_behavioural_tests(model, X, [
        {"type": "directional", "column": "leak", "delta": 1.0, "direction": "decrease",
         "rows": 50}], "binary")
    assert raising_leak["passed"] and raising_leak["total"] == 50


def test_minimum_functionality(iris, diabetes) -> None:
    X, _, model = iris
    test = MinimumFunctionality(
        type="minimum", name="textbook flowers",
        rows=[{"petal length (cm)": 1.4, "petal width (cm)": 0.2},
              {"petal length (cm)": 6.0, "petal width (cm)": 2.2},
              {"petal length (cm)": 1.4, "petal width (cm)": 0.2}],
        expected=["setosa", "virginica", "virginica"])
    result, = run_behavioural_tests(model, X, [test], "multiclass")
    json.dumps(result, allow_nan=False)
    assert result["passed"] is False and (result["failing"], result["total"]) == (1, 3)
    assert result["examples"] == [{
        "case": 2, "row": {"petal length (cm)": 1.4, "petal width (cm)": 0.2},
        "expected": "virginica", "predicted": "setosa", "error": None}]
    X, y, model = diabetes
    typical = typical_row(X)
    assert typical["bmi"] == pytest.approx(X["bmi"].median())
    at_typical = float(model.predict(pd.DataFrame([typical]))[0])
    close, far = run_behavioural_tests(model, X, [
        {"type": "minimum", "name": "typical", "rows": [{}], "expected": [at_typical + 1],
         "tolerance": 2},
        {"type": "minimum", "name": "too strict", "rows": [{}], "expected": [at_typical + 1]},
    ], "regression")
    assert close["passed"] and close["worst_change"] == pytest.approx(1.0)
    assert not far["passed"]


def test_typical_row_uses_mode_for_text(credit) -> None:
    X, _ = credit
    typical = typical_row(X)
    assert typical["Home"] == X["Home"].mode().iloc[0]
    assert typical["Age"] == int(X["Age"].median()) and isinstance(typical["Age"], int)


def test_config_naming_an_unknown_column_is_refused(planted, iris) -> None:
    X, _, model = planted
    with pytest.raises(ValidationError) as caught:
        run_behavioural_tests(model, X, [
            {"type": "invariance", "name": "gender blind", "column": "Gender", "values": [1]}],
            "binary")
    assert "`gender blind`" in str(caught.value) and "`Gender`" in str(caught.value)
    with pytest.raises(ValidationError, match="`cases`.*`Colour`"):
        run_behavioural_tests(model, X, [
            {"type": "minimum", "name": "cases", "rows": [{"Colour": 1}], "expected": ["good"]}],
            "binary")
    with pytest.raises(ValidationError, match="not numeric"):
        run_behavioural_tests(model, X, [
            {"type": "directional", "column": "Home", "delta": 1, "direction": "increase"}],
            "binary")
    with pytest.raises(ValidationError, match="type 'monotone'"):
        run_behavioural_tests(model, X, [{"type": "monotone"}], "binary")
    X, _, model = iris
    with pytest.raises(ValidationError, match="no score to move"):
        run_behavioural_tests(model, X, [{"type": "directional", "column": "petal width (cm)",
                                          "delta": 1, "direction": "increase"}], "multiclass")


def test_logistic_directional_is_exact_on_synthetic_data() -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=400)})
    y = (X["x"] + rng.normal(0, 0.5, 400) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    up, = run_behavioural_tests(model, X, [
        {"type": "directional", "column": "x", "delta": 0.5, "direction": "increase"}], "binary")
    assert up["passed"] and up["worst_change"] >= 0


def test_values_the_model_cannot_take_are_reported_with_the_test_name(diabetes) -> None:
    X, _, model = diabetes
    with pytest.raises(ValidationError, match="`bmi as text`.*could not predict"):
        run_behavioural_tests(model, X, [{"type": "invariance", "name": "bmi as text",
                                          "column": "bmi", "values": ["heavy"]}], "regression")
