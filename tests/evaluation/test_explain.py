"""Explanations on raw columns: a planted leak must come out on top, numbers by hand."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from gapless.core.errors import ValidationError
from gapless.evaluation import (
    partial_dependence_report,
    permutation_importance_report,
    shap_report,
)


def test_permutation_importance_ranks_the_leak_first(planted) -> None:
    X, y, model = planted
    report = permutation_importance_report(model, X, y, "roc_auc", n_repeats=2, max_rows=800)
    json.dumps(report, allow_nan=False)
    assert report["scoring"] == "roc_auc" and report["rows"] == 800
    ranked = [entry["feature"] for entry in report["features"]]
    assert ranked[0] == "leak" and set(ranked) == set(X.columns)
    importance = {e["feature"]: e["importance_mean"] for e in report["features"]}
    assert importance["leak"] > 0.05 > abs(importance["region"])


def test_permutation_importance_takes_names_and_callables(diabetes) -> None:
    from sklearn.metrics import get_scorer

    X, y, model = diabetes
    ours = permutation_importance_report(model, X, y, "rmse", n_repeats=2)
    theirs = permutation_importance_report(model, X, y, "neg_root_mean_squared_error",
                                           n_repeats=2)
    given = permutation_importance_report(model, X, y, get_scorer("neg_root_mean_squared_error"),
                                          n_repeats=2)
    assert ours["features"] == theirs["features"] == given["features"]
    assert ours["baseline_score"] < 0  # scikit-learn's sign: negated RMSE
    with pytest.raises(ValidationError, match="'rmsle' is not known"):
        permutation_importance_report(model, X, y, "rmsle")


def test_partial_dependence_by_hand(planted) -> None:
    X, _, model = planted
    rows = X.iloc[:300]
    report = partial_dependence_report(model, rows, ["leak", "Job", "Income"], grid=10,
                                       max_rows=500)
    json.dumps(report, allow_nan=False)
    assert report["output"] == "probability of class 'good'" and report["rows"] == 300
    leak, job, income = report["features"]
    assert leak["kind"] == "numeric" and len(leak["values"]) == 10
    value = leak["values"][3]
    by_hand = model.predict_proba(rows.assign(leak=value))[:, 1].mean()
    assert leak["average"][3] == pytest.approx(by_hand)
    # The leak rises with "bad", so the probability of "good" falls along its grid.
    assert np.all(np.diff(leak["average"]) < 0)
    assert job["kind"] == "categorical"
    assert set(job["values"]) == set(rows["Job"].dropna())
    i = job["values"].index("partime")
    assert job["average"][i] == pytest.approx(
        model.predict_proba(rows.assign(Job="partime"))[:, 1].mean())
    assert income["values"] == sorted(income["values"])


def test_partial_dependence_multiclass_and_regression(iris, diabetes) -> None:
    X, _, model = iris
    report = partial_dependence_report(model, X, "petal length (cm)", grid=5)
    average = report["features"][0]["average"]
    assert set(average) == {"setosa", "versicolor", "virginica"}
    totals = np.sum([average[name] for name in average], axis=0)
    assert np.allclose(totals, 1.0)
    X, _, model = diabetes
    bmi = partial_dependence_report(model, X, "bmi")["features"][0]
    assert np.all(np.diff(bmi["average"]) > 0)  # a linear model with a positive bmi weight
    with pytest.raises(ValidationError, match="`height` is not in the data"):
        partial_dependence_report(model, X, ["height"])


def test_shap_ranks_the_leak_first(planted) -> None:
    pytest.importorskip("shap")
    X, _, model = planted
    report = shap_report(model, X, max_rows=30, background_rows=15)
    json.dumps(report, allow_nan=False)
    assert report["available"] is True and report["rows"] == 30
    assert report["background_rows"] == 15
    ranked = [entry["feature"] for entry in report["features"]]
    assert ranked[0] == "leak" and set(ranked) == set(X.columns)
    magnitude = {e["feature"]: e["mean_abs_shap"] for e in report["features"]}
    assert magnitude["leak"] > 10 * magnitude["region"]
    assert 0 < report["base_value"] < 1


def test_shap_is_exact_for_a_linear_model(diabetes) -> None:
    """For f(x) = w.x + b with independent masking, SHAP_j(x) = w_j (x_j - mean_j)."""
    pytest.importorskip("shap")
    X, _, model = diabetes
    rows = X.iloc[:40]  # max_rows and background_rows >= 40: every row, in both roles
    report = shap_report(model, rows, max_rows=40, background_rows=40)
    origin = model.predict(rows.iloc[[0]])[0]
    for entry in report["features"]:
        column = entry["feature"]
        weight = model.predict(rows.iloc[[0]].assign(**{column: rows[column].iloc[0] + 1}))[0]
        weight -= origin
        expected = np.mean(np.abs(weight * (rows[column] - rows[column].mean())))
        assert entry["mean_abs_shap"] == pytest.approx(expected, rel=1e-6, abs=1e-9), column
    assert report["base_value"] == pytest.approx(model.predict(rows).mean())


def test_shap_multiclass_has_one_value_per_class(iris) -> None:
    pytest.importorskip("shap")
    X, _, model = iris
    report = shap_report(model, X, max_rows=20, background_rows=10)
    json.dumps(report, allow_nan=False)
    assert report["features"][0]["feature"].startswith("petal")
    assert set(report["features"][0]["by_class"]) == {"setosa", "versicolor", "virginica"}
    assert sum(report["base_value"].values()) == pytest.approx(1.0)


def test_shap_not_installed(planted, monkeypatch: pytest.MonkeyPatch) -> None:
    X, _, model = planted
    monkeypatch.setitem(sys.modules, "shap", None)  # "import shap" now raises ImportError
    report = shap_report(model, X)
    assert report == {"available": False, "reason": report["reason"]}
    assert "not installed" in report["reason"]


def test_shap_unsupported_model(planted) -> None:
    pytest.importorskip("shap")
    X, _, _ = planted
    report = shap_report(object(), X)
    assert report["available"] is False and "no predict" in report["reason"]
