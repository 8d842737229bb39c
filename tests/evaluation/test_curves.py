"""Curves and the threshold sweep against scikit-learn and brute force."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from gapless.core.errors import ValidationError
from gapless.evaluation import (
    best_threshold,
    calibration_points,
    labels_at_threshold,
    pr_points,
    roc_points,
    threshold_sweep,
)


@pytest.fixture(scope="module")
def scored(credit, credit_model):
    X, y = credit
    return y.to_numpy(), credit_model.predict_proba(X)[:, 1]


def test_roc_and_pr_are_thinned_and_keep_their_ends(scored) -> None:
    y, p = scored
    roc = roc_points(y, p)
    json.dumps(roc, allow_nan=False)
    assert len(roc["fpr"]) == len(roc["tpr"]) == len(roc["threshold"]) == 200
    fpr, tpr, _ = skm.roc_curve(y == "good", p)
    assert (roc["fpr"][0], roc["tpr"][-1]) == (fpr[0], tpr[-1]) == (0.0, 1.0)
    assert roc["threshold"][0] is None  # scikit-learn's +inf first threshold
    assert roc["auc"] == pytest.approx(skm.roc_auc_score(y == "good", p))
    assert np.all(np.diff(roc["fpr"]) >= 0)
    pr = pr_points(y, p, max_points=50)
    assert len(pr["precision"]) == 50 and pr["threshold"][-1] is None
    assert pr["average_precision"] == pytest.approx(skm.average_precision_score(y == "good", p))
    assert pr["prevalence"] == pytest.approx(np.mean(y == "good"))


def test_small_curves_are_not_thinned() -> None:
    roc = roc_points([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert roc["auc"] == pytest.approx(0.75) and len(roc["fpr"]) == len(
        skm.roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])[0])
    assert roc_points([1, 1], [0.2, 0.3], positive_label=1)["auc"] is None


def test_calibration_by_hand() -> None:
    y = [0, 0, 1, 1, 1, 0]
    p = [0.05, 0.15, 0.12, 0.85, 0.95, 1.0]
    calibration = calibration_points(y, p, bins=2)
    # bins [0, 0.5): p .05 .15 .12 -> mean .10667, 1 of 3 positive; [0.5, 1]: .85 .95 1.0
    assert calibration["count"] == [3, 3]
    assert calibration["mean_predicted"] == pytest.approx([0.32 / 3, 2.8 / 3])
    assert calibration["fraction_positive"] == pytest.approx([1 / 3, 2 / 3])
    ece = 0.5 * abs(1 / 3 - 0.32 / 3) + 0.5 * abs(2 / 3 - 2.8 / 3)
    assert calibration["expected_calibration_error"] == pytest.approx(ece)
    assert calibration["brier"] == pytest.approx(skm.brier_score_loss(y, p))


@pytest.mark.parametrize("metric", ["f1", "accuracy", "balanced_accuracy", "mcc"])
def test_best_threshold_matches_brute_force(scored, metric) -> None:
    y, p = scored
    y, p = y[:200], np.round(p[:200], 3)
    functions = {"f1": skm.f1_score, "accuracy": skm.accuracy_score,
                 "balanced_accuracy": skm.balanced_accuracy_score,
                 "mcc": skm.matthews_corrcoef}
    truth = (y == "good").astype(int)
    brute = {t: functions[metric](truth, (p >= t).astype(int)) for t in np.unique(p)}
    best = max(brute.values())
    threshold, score = best_threshold(y, p, metric)
    assert score == pytest.approx(best)
    assert brute[threshold] == pytest.approx(best)
    assert threshold == max(t for t, v in brute.items() if v == pytest.approx(best))


def test_threshold_sweep_matches_sklearn_at_every_point(scored) -> None:
    y, p = scored
    sweep = threshold_sweep(y, p)
    json.dumps(sweep, allow_nan=False)
    assert len(sweep["threshold"]) == 200
    assert sweep["threshold"] == sorted(sweep["threshold"], reverse=True)
    truth = y == "good"
    for i in (0, 57, 199):
        chosen = p >= sweep["threshold"][i]
        assert sweep["precision"][i] == pytest.approx(skm.precision_score(truth, chosen))
        assert sweep["recall"][i] == pytest.approx(skm.recall_score(truth, chosen))
        assert sweep["predicted_positive_rate"][i] == pytest.approx(chosen.mean())


def test_labels_at_threshold_and_errors() -> None:
    labels = labels_at_threshold([0.2, 0.7, 0.5], 0.5, classes=["bad", "good"])
    assert labels.tolist() == ["bad", "good", "good"]
    labels = labels_at_threshold([0.2, 0.7], 0.5, classes=["bad", "good"], positive_label="bad")
    assert labels.tolist() == ["good", "bad"]
    with pytest.raises(ValidationError, match="threshold metric 'gain'"):
        best_threshold([0, 1], [0.2, 0.8], "gain")
    with pytest.raises(ValidationError, match="two classes"):
        roc_points(["a", "b", "c"], [0.1, 0.2, 0.3])
    with pytest.raises(ValidationError, match="same length"):
        roc_points([0, 1], [0.1])
