"""Fairness metrics by hand on a tiny table, and on credit_data's groups."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from gapless.core.errors import ValidationError
from gapless.evaluation import fairness_from_config, fairness_report, fairness_reports

# A: selection .5, TPR .5, FPR .5 | B: selection .75, TPR 1, FPR .5 | C: .5, TPR 1, FPR 0
TINY = pd.DataFrame({
    "group": ["A"] * 4 + ["B"] * 4 + ["C"] * 2,
    "truth": [1, 1, 0, 0, 1, 1, 0, 0, 1, 0],
    "pred": [1, 0, 1, 0, 1, 1, 1, 0, 1, 0],
})


def test_tiny_table_by_hand() -> None:
    report = fairness_report(TINY["truth"], TINY["pred"], TINY["group"], min_group_rows=1,
                             thresholds={"demographic_parity_difference": 0.3,
                                         "equalized_odds_difference": 0.4,
                                         "disparate_impact_ratio": 0.6})
    json.dumps(report, allow_nan=False)
    groups = {g["group"]: g for g in report["groups"]}
    assert groups["A"] == {"group": "A", "count": 4, "selection_rate": 0.5, "tpr": 0.5,
                           "fpr": 0.5, "positives": 2, "negatives": 2, "included": True}
    assert (groups["B"]["selection_rate"], groups["B"]["tpr"], groups["B"]["fpr"]) == (
        0.75, 1.0, 0.5)
    assert (groups["C"]["selection_rate"], groups["C"]["tpr"], groups["C"]["fpr"]) == (
        0.5, 1.0, 0.0)
    metrics = report["metrics"]
    assert metrics["demographic_parity_difference"] == pytest.approx(0.25)
    assert metrics["tpr_difference"] == pytest.approx(0.5)
    assert metrics["fpr_difference"] == pytest.approx(0.5)
    assert metrics["equalized_odds_difference"] == pytest.approx(0.5)
    assert metrics["disparate_impact_ratio"] == pytest.approx(2 / 3)
    verdicts = {c["metric"]: (c["passed"], c["rule"]) for c in report["checks"]}
    assert verdicts == {"demographic_parity_difference": (True, "<="),
                        "equalized_odds_difference": (False, "<="),
                        "disparate_impact_ratio": (True, ">=")}
    assert report["passed"] is False and report["attribute"] == "group"


def test_default_positive_label(credit, credit_model) -> None:
    X, y = credit
    predicted = credit_model.predict(X)
    default = fairness_report(y, predicted, X["Home"])
    assert default["positive_label"] == "good"  # the larger of "bad" and "good"
    assert default == fairness_report(y, predicted, X["Home"], positive_label="good")
    assert fairness_report(TINY["truth"], TINY["pred"], TINY["group"])["positive_label"] == 1


def test_small_groups_are_listed_but_not_measured() -> None:
    report = fairness_report(TINY["truth"], TINY["pred"], TINY["group"], min_group_rows=3)
    assert [g["included"] for g in report["groups"]] == [True, True, False]
    assert report["metrics"]["fpr_difference"] == 0.0  # C (FPR 0) is left out
    alone = fairness_report(TINY["truth"], TINY["pred"], TINY["group"], min_group_rows=4)
    assert alone["metrics"]["demographic_parity_difference"] == pytest.approx(0.25)
    nothing = fairness_report(TINY["truth"], TINY["pred"], TINY["group"], min_group_rows=5)
    assert nothing["metrics"]["demographic_parity_difference"] is None
    assert nothing["passed"] is None and all(c["passed"] is None for c in nothing["checks"])


def test_credit_groups_match_direct_computation(credit, credit_model) -> None:
    X, y = credit
    predicted = pd.Series(credit_model.predict(X), index=X.index)
    report = fairness_report(y, predicted, X["Marital"], positive_label="good")
    json.dumps(report, allow_nan=False)
    rates = (predicted == "good").groupby(X["Marital"].fillna("(missing)")).mean()
    counts = X["Marital"].fillna("(missing)").value_counts()
    groups = {g["group"]: g for g in report["groups"]}
    assert set(groups) == set(rates.index)
    for name, rate in rates.items():
        assert groups[name]["selection_rate"] == pytest.approx(rate)
        assert groups[name]["included"] == (counts[name] >= 20)
    married = (X["Marital"] == "married") & (y == "good")
    assert groups["married"]["tpr"] == pytest.approx((predicted[married] == "good").mean())
    included = rates[[g for g in rates.index if groups[g]["included"]]]
    assert report["metrics"]["demographic_parity_difference"] == pytest.approx(
        included.max() - included.min())
    assert report["metrics"]["disparate_impact_ratio"] == pytest.approx(
        included.min() / included.max())


def test_several_attributes_one_report_each(credit, credit_model) -> None:
    from gapless.training.specs import Fairness

    X, y = credit
    predicted = credit_model.predict(X)
    both = fairness_reports(y, predicted, X[["Marital", "Home"]], positive_label="good")
    assert [r["attribute"] for r in both["reports"]] == ["Marital", "Home"]
    assert both["passed"] == all(r["passed"] for r in both["reports"])
    spec = Fairness(sensitive=["Home", "Job"], thresholds={"disparate_impact_ratio": 0.5})
    from_spec = fairness_from_config(y, predicted, X, spec, positive_label="good")
    from_dict = fairness_from_config(y, predicted, X, {"sensitive": ["Home", "Job"],
                                                       "thresholds": {
                                                           "disparate_impact_ratio": 0.5}},
                                     positive_label="good")
    assert from_spec == from_dict
    assert [c["metric"] for c in from_spec["reports"][0]["checks"]] == ["disparate_impact_ratio"]
    json.dumps(from_spec, allow_nan=False)


def test_refusals(credit) -> None:
    X, y = credit
    with pytest.raises(ValidationError, match="`Gender` is not in the data"):
        fairness_from_config(y, y, X, {"sensitive": ["Gender"]})
    with pytest.raises(ValidationError, match="'parity' is not known"):
        fairness_report(y, y, X["Home"], thresholds={"parity": 0.1}, positive_label="good")
    with pytest.raises(ValidationError, match="positive label 1 occurs in neither"):
        fairness_report(y, y, X["Home"], positive_label=1)
    with pytest.raises(ValidationError, match="among 3 labels"):
        fairness_report(["a", "b", "c"], ["a", "b", "c"], pd.Series(["x", "x", "y"]))
    with pytest.raises(ValidationError, match="one value per row"):
        fairness_report(y, y, X["Home"][:10], positive_label="good")


def test_a_many_valued_number_is_binned(credit, credit_model) -> None:
    X, y = credit
    report = fairness_report(y, credit_model.predict(X), X["Age"], positive_label="good")
    assert len(report["groups"]) == 4 and sum(g["count"] for g in report["groups"]) == len(X)
    assert all(" to " in g["group"] for g in report["groups"])
    young = X["Age"] <= X["Age"].quantile(0.25)
    youngest = next(g for g in report["groups"] if g["count"] == young.sum())
    assert youngest["selection_rate"] == pytest.approx(
        (credit_model.predict(X)[young] == "good").mean())
