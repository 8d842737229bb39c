"""Metric reports against scikit-learn's own functions, on real models and data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.cluster import KMeans

from gapless.core.errors import ValidationError
from gapless.evaluation import (
    classification_metrics,
    clustering_metrics,
    regression_metrics,
    scalar_metrics,
    score_model,
)


def dumps(report: object) -> str:
    return json.dumps(report, allow_nan=False)


def test_binary_report_matches_sklearn(credit, credit_model) -> None:
    X, y = credit
    report = score_model(credit_model, X, y, "binary")
    dumps(report)
    predicted = credit_model.predict(X)
    p_good = credit_model.predict_proba(X)[:, 1]
    truth = (y == "good").astype(int)
    assert report["labels"] == ["bad", "good"] and report["positive_label"] == "good"
    assert report["rows"] == len(X)
    expected = {
        "accuracy": skm.accuracy_score(y, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(y, predicted),
        "precision": skm.precision_score(y, predicted, pos_label="good"),
        "recall": skm.recall_score(y, predicted, pos_label="good"),
        "f1": skm.f1_score(y, predicted, pos_label="good"),
        "f1_macro": skm.f1_score(y, predicted, average="macro"),
        "roc_auc": skm.roc_auc_score(truth, p_good),
        "pr_auc": skm.average_precision_score(truth, p_good),
        "log_loss": skm.log_loss(y, credit_model.predict_proba(X)),
        "brier": skm.brier_score_loss(truth, p_good),
    }
    for name, value in expected.items():
        assert report[name] == pytest.approx(value, rel=1e-9), name
    assert scalar_metrics(report) == pytest.approx(expected)
    matrix = skm.confusion_matrix(y, predicted, labels=["bad", "good"])
    assert report["confusion_matrix"] == {"labels": ["bad", "good"], "matrix": matrix.tolist()}
    assert report["per_class"]["bad"]["recall"] == pytest.approx(
        skm.recall_score(y, predicted, pos_label="bad"))
    assert report["per_class"]["good"]["support"] == int(truth.sum())
    curves = report["curves"]
    assert set(curves) == {"roc", "pr", "calibration", "thresholds"}
    assert curves["roc"]["auc"] == pytest.approx(expected["roc_auc"])
    assert all(len(curves[name]["threshold"]) <= 200 for name in ("roc", "pr", "thresholds"))


def test_positive_label_can_be_the_other_class(credit, credit_model) -> None:
    X, y = credit
    report = score_model(credit_model, X, y, "binary", positive_label="bad")
    predicted = credit_model.predict(X)
    assert report["positive_label"] == "bad"
    assert report["recall"] == pytest.approx(skm.recall_score(y, predicted, pos_label="bad"))
    assert report["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y == "bad", credit_model.predict_proba(X)[:, 0]))


def test_multiclass_report_matches_sklearn(iris) -> None:
    X, y, model = iris
    report = score_model(model, X, y, "multiclass")
    dumps(report)
    predicted, proba = model.predict(X), model.predict_proba(X)
    assert report["problem"] == "multiclass" and "curves" not in report
    assert report["f1_macro"] == pytest.approx(skm.f1_score(y, predicted, average="macro"))
    assert report["recall_weighted"] == pytest.approx(
        skm.recall_score(y, predicted, average="weighted"))
    assert report["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=model.classes_))
    clipped = np.clip(proba, 1e-15, 1)
    assert report["log_loss"] == pytest.approx(
        skm.log_loss(y, clipped / clipped.sum(1, keepdims=True), labels=model.classes_))
    assert report["confusion_matrix"]["matrix"] == skm.confusion_matrix(
        y, predicted, labels=model.classes_).tolist()


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_labels_only_and_a_class_missing_from_the_truth() -> None:
    y_true = ["a", "a", "b", "b", "a"]
    y_pred = ["a", "b", "b", "c", "a"]
    report = classification_metrics(y_true, y_pred, labels=["a", "b", "c"])
    assert report["roc_auc"] is None and report["log_loss"] is None
    assert report["accuracy"] == pytest.approx(0.6)
    assert report["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(y_true, y_pred), abs=1e-12)
    dumps(report)


def test_regression_report_matches_sklearn(diabetes) -> None:
    X, y, model = diabetes
    report = score_model(model, X, y, "regression")
    dumps(report)
    predicted = model.predict(X)
    assert report["mae"] == pytest.approx(skm.mean_absolute_error(y, predicted))
    assert report["rmse"] == pytest.approx(skm.root_mean_squared_error(y, predicted))
    assert report["r2"] == pytest.approx(skm.r2_score(y, predicted))
    assert report["median_ae"] == pytest.approx(skm.median_absolute_error(y, predicted))
    assert report["max_error"] == pytest.approx(skm.max_error(y, predicted))
    assert report["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, predicted))
    residuals = report["residuals"]
    assert residuals["mean"] == pytest.approx(np.mean(y - predicted))
    assert residuals["median"] == pytest.approx(np.median(y - predicted))
    assert sum(residuals["histogram"]["counts"]) == len(y)
    assert len(residuals["points"]["residual"]) == 200


def test_mape_leaves_out_zero_targets() -> None:
    report = regression_metrics([0.0, 2.0, 4.0], [1.0, 1.0, 5.0])
    assert report["mape"] == pytest.approx((0.5 + 0.25) / 2)
    assert report["mape_rows"] == 2
    assert regression_metrics([0.0, 0.0], [1.0, 0.0])["mape"] is None
    with pytest.raises(ValidationError, match="y_pred has 1 missing"):
        regression_metrics([1.0, 2.0], [1.0, np.nan])


def test_clustering_report_matches_sklearn(iris) -> None:
    X, _, _ = iris
    labels = KMeans(n_clusters=3, n_init=3, random_state=0).fit_predict(X)
    report = clustering_metrics(X.to_numpy(), labels)
    dumps(report)
    assert report["clusters"] == 3 and sum(report["cluster_sizes"].values()) == len(X)
    assert report["silhouette"] == pytest.approx(skm.silhouette_score(X, labels))
    assert report["calinski_harabasz"] == pytest.approx(skm.calinski_harabasz_score(X, labels))
    assert report["davies_bouldin"] == pytest.approx(skm.davies_bouldin_score(X, labels))
    noisy = labels.copy()
    noisy[:10] = -1
    report = clustering_metrics(X.to_numpy(), noisy, sample_size=50)
    assert report["noise_rows"] == 10 and report["silhouette_rows"] == 50
    single = clustering_metrics(X.to_numpy(), np.zeros(len(X), dtype=int))
    assert single["silhouette"] is None and single["clusters"] == 1


def test_score_model_for_a_clustering_pipeline(iris) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _, _ = iris
    model = make_pipeline(StandardScaler(), KMeans(n_clusters=3, n_init=3, random_state=0))
    model.fit(X)
    report = score_model(model, X, None, "clustering")
    scaled = StandardScaler().fit_transform(X)
    assert report["silhouette"] == pytest.approx(skm.silhouette_score(scaled, model.predict(X)))


def test_bad_input_is_refused_with_a_clear_message(credit, credit_model, iris) -> None:
    X, y = credit
    with pytest.raises(ValidationError, match="problem 'ranking'"):
        score_model(credit_model, X, y, "ranking")
    with pytest.raises(ValidationError, match="binary, not multiclass"):
        score_model(credit_model, X, y, "multiclass")
    with pytest.raises(ValidationError, match="one target per row"):
        score_model(credit_model, X, y[:10], "binary")
    with pytest.raises(ValidationError, match="not among the labels"):
        classification_metrics(["a", "z"], ["a", "a"], labels=["a", "b"])
    with pytest.raises(ValidationError, match="missing labels"):
        classification_metrics(pd.Series(["a", None]), ["a", "b"])
    with pytest.raises(ValidationError, match="shape"):
        classification_metrics(["a", "b"], ["a", "b"], np.ones((2, 3)))
