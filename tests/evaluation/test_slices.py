"""Slice metrics: per-slice numbers match a direct computation; a planted bad slice is flagged."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from gapless.core.errors import ValidationError
from gapless.evaluation import slice_metrics


@pytest.fixture(scope="module")
def corrupted(credit):
    """credit_data whose renters have shuffled targets: the model cannot rank them."""
    X, y = credit
    y = y.copy()
    renters = (X["Home"] == "rent").to_numpy()
    y[renters] = np.random.default_rng(3).permutation(y[renters].to_numpy())
    return X, y


def find(report: dict, column: str, value: str) -> dict:
    return next(s for s in report["slices"] if s["column"] == column and s["value"] == value)


def test_slices_match_direct_computation_and_flag_the_planted_one(corrupted, credit_model):
    X, y = corrupted
    report = slice_metrics(credit_model, X, y, "binary", columns=["Home", "Income", "Job"])
    json.dumps(report, allow_nan=False)
    assert report["metric"] == "roc_auc" and report["direction"] == "maximize"
    proba = credit_model.predict_proba(X)[:, 1]
    assert report["overall"]["roc_auc"] == pytest.approx(skm.roc_auc_score(y == "good", proba))
    rent = find(report, "Home", "rent")
    mask = (X["Home"] == "rent").to_numpy()
    assert rent["rows"] == mask.sum() and rent["kind"] == "category"
    assert rent["metrics"]["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y[mask] == "good", proba[mask]))
    assert rent["metrics"]["accuracy"] == pytest.approx(
        skm.accuracy_score(y[mask], credit_model.predict(X)[mask]))
    assert rent["flagged"] and report["flagged"][0]["value"] == "rent"
    gaps = [entry["gap"] for entry in report["flagged"]]
    assert gaps == sorted(gaps, reverse=True)
    owner = find(report, "Home", "owner")
    assert not owner["flagged"]
    assert find(report, "Home", "(missing)")["metrics"] is None  # 6 rows < min_rows


def test_numeric_bins_cover_every_row(credit, credit_model) -> None:
    X, y = credit
    report = slice_metrics(credit_model, X, y, "binary", columns=["Income", "Debt"], bins=4,
                           metric="accuracy")
    for column in ("Income", "Debt"):
        parts = [s for s in report["slices"] if s["column"] == column]
        assert sum(s["rows"] for s in parts) == len(X)
    income = [s for s in report["slices"] if s["column"] == "Income" and s["kind"] == "bin"]
    assert len(income) == 4
    low, high = income[1]["range"]
    inside = ((X["Income"] > low) & (X["Income"] <= high)).to_numpy()
    assert income[1]["rows"] == inside.sum()
    assert income[1]["metrics"]["accuracy"] == pytest.approx(
        skm.accuracy_score(y[inside], credit_model.predict(X)[inside]))
    # Most applicants have no debt: zero is a slice of its own, the rest are binned.
    debt = [s for s in report["slices"] if s["column"] == "Debt"]
    assert debt[0]["kind"] == "value" and debt[0]["value"] == "0"
    assert debt[0]["rows"] == (X["Debt"] == 0).sum()


def test_regression_slices_and_top_values(diabetes) -> None:
    X, y, model = diabetes
    report = slice_metrics(model, X, y, "regression", columns=["sex", "bmi"], min_rows=5)
    assert report["metric"] == "rmse" and report["direction"] == "minimize"
    sexes = [s for s in report["slices"] if s["column"] == "sex"]
    assert [s["kind"] for s in sexes] == ["value", "value"]
    for entry in sexes:
        mask = (X["sex"].map(str) == entry["value"]).to_numpy()
        assert entry["rows"] == mask.sum()
        predicted = model.predict(X)[mask]
        assert entry["metrics"]["rmse"] == pytest.approx(
            skm.root_mean_squared_error(y[mask], predicted))


def test_top_values_group_the_rest(credit, credit_model) -> None:
    X, y = credit
    report = slice_metrics(credit_model, X, y, "binary", columns=["Home"], top=2)
    values = [s["value"] for s in report["slices"]]
    assert values == ["owner", "rent", "(other)", "(missing)"]
    assert sum(s["rows"] for s in report["slices"]) == len(X)


def test_refusals(credit, credit_model) -> None:
    X, y = credit
    with pytest.raises(ValidationError, match="`Colour` is not in the data"):
        slice_metrics(credit_model, X, y, "binary", columns=["Colour"])
    with pytest.raises(ValidationError, match="problem 'clustering'"):
        slice_metrics(credit_model, X, y, "clustering")
    with pytest.raises(ValidationError, match="one target per row"):
        slice_metrics(credit_model, X, y[:5], "binary")
