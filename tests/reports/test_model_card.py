"""The model card: one offline HTML page drawn from a training run's evaluation dict."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from gapless.data.sample_data import make_loans
from gapless.evaluation import (
    calibration_points,
    classification_metrics,
    clustering_metrics,
    fairness_from_config,
    partial_dependence_report,
    permutation_importance_report,
    pr_points,
    regression_metrics,
    roc_points,
    run_behavioural_tests,
    score_model,
    slice_metrics,
)
from gapless.reports.model_card import model_card_html, write_model_card

NUMERIC = ["age", "income", "loan_amount", "term_months", "debt", "credit_score",
           "interest_rate"]
CATEGORICAL = ["region", "employment", "housing"]
HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
REQUIRED = ("dataset", "problem", "metric", "best", "cv_score", "test_metrics", "baseline",
            "spec", "rows")
# Section title -> the key of the evaluation that draws it (None: always drawn).
BINARY_SECTIONS = {
    "Summary": None,
    "Test metrics against the baseline": None,
    "Cross-validation fold scores": "cv_fold_scores",
    "ROC, precision-recall and calibration curves": "curves",
    "Confusion matrix": None,
    "Slices": "slices",
    "Fairness": "fairness",
    "Permutation importance": "importance",
    "Partial dependence": "partial_dependence",
    "SHAP values": "shap",
    "Behavioural tests": "behavioural",
    "Best parameters": None,
    "Task spec": None,
    "Limitations": None,
}
OPTIONAL = ("dataset_digest", "target", "direction", "cv_fold_scores", "threshold",
            "limitations", "slices", "importance", "partial_dependence", "shap", "behavioural",
            "curves", "fairness", "behavioural_passed", "fairness_passed")


def titles(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", t).strip() for t in re.findall(r"<h2>(.*?)</h2>", html, re.S)]


def has_section(html: str, title: str) -> bool:
    return any(t == title or t.startswith(f"{title} ") for t in titles(html))


def figures(html: str) -> int:
    return len(re.findall(r'class="plotly-graph-div"', html))


def script_sources(html: str) -> list[str]:
    return re.findall(r"<script[^>]*\bsrc\s*=", html, flags=re.IGNORECASE)


@pytest.fixture(scope="module")
def binary() -> dict[str, Any]:
    """An evaluation dict shaped as the trainer stores it, from a small model on loans."""
    loans = make_loans(600)
    X, y = loans[NUMERIC + CATEGORICAL], loans["defaulted"]
    X_train, X_test, y_train, y_test = X.iloc[:400], X.iloc[400:], y.iloc[:400], y.iloc[400:]
    model = make_pipeline(
        ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]),
        LogisticRegression(C=1.0, max_iter=500),
    ).fit(X_train, y_train)
    baseline = DummyClassifier(strategy="prior").fit(X_train, y_train)
    proba = model.predict_proba(X_test)[:, 1]
    importance = permutation_importance_report(model, X_test, y_test, "roc_auc", n_repeats=1,
                                               max_rows=100, problem="binary")
    tests = [
        {"type": "directional", "column": "credit_score", "delta": 50, "direction": "decrease"},
        {"type": "invariance", "name": "region must not matter", "column": "region",
         "values": ["north", "south"], "tolerance": 0.0, "rows": 20},
    ]
    behavioural = run_behavioural_tests(model, X_test, tests, "binary")
    fairness = fairness_from_config(y_test, model.predict(X_test), X_test,
                                    {"sensitive": ["region"]})
    spec = {"dataset": "loans@1", "target": "defaulted", "seed": 0,
            "fairness": {"sensitive": ["region"]}, "behavioural_tests": tests,
            "limitations": "Synthetic data."}
    return {
        "dataset": "loans@1", "dataset_digest": "ab" * 32, "target": "defaulted",
        "problem": "binary", "metric": "roc_auc", "direction": "maximize", "spec": spec,
        "best": {"family": "logistic_regression", "params": {"C": 1.0}},
        "cv_score": 0.81, "cv_fold_scores": [0.8, 0.83, 0.79, 0.82, 0.81],
        "baseline": {"family": "baseline", "params": {"strategy": "prior", "rule": None},
                     "cv_score": 0.5,
                     "test_metrics": score_model(baseline, X_test, y_test, "binary")},
        "test_metrics": score_model(model, X_test, y_test, "binary"),
        "threshold": 0.5, "rows": {"train": 400, "test": 200},
        "limitations": "Synthetic data.",
        "slices": slice_metrics(model, X_test, y_test, "binary", columns=["region", "age"],
                                worse_by=0.02),
        "importance": importance,
        "partial_dependence": partial_dependence_report(
            model, X_test, ["credit_score", "region"], grid=5, max_rows=50),
        # shap_report's shape (tested in tests/evaluation); importing shap takes seconds
        "shap": {"available": True, "method": "kernel", "output": "probability of class '1'",
                 "rows": 100, "background_rows": 25, "base_value": 0.1,
                 "features": [{"feature": f["feature"], "mean_abs_shap": abs(f["importance_mean"])}
                              for f in importance["features"]]},
        "behavioural": behavioural,
        "curves": {"roc": roc_points(y_test, proba), "pr": pr_points(y_test, proba),
                   "calibration": calibration_points(y_test, proba)},
        "fairness": fairness,
        "behavioural_passed": all(t["passed"] for t in behavioural),
        "fairness_passed": fairness["passed"],
    }


def regression() -> dict[str, Any]:
    rng = np.random.RandomState(0)
    truth = rng.normal(100, 20, 300)
    predicted = truth + rng.normal(0, 5, 300)
    return {
        "dataset": "houses@2", "problem": "regression", "metric": "rmse",
        "direction": "minimize", "target": "price", "spec": {"limitations": None},
        "best": {"family": "ridge", "params": {"alpha": 0.1}}, "cv_score": 5.2,
        "cv_fold_scores": [5.0, 5.4], "rows": {"train": 1200, "test": 300},
        "test_metrics": regression_metrics(truth, predicted),
        "baseline": {"family": "baseline", "params": {"strategy": "mean"}, "cv_score": 20.1,
                     "test_metrics": regression_metrics(truth, np.full(300, truth.mean()))},
    }


def clustering() -> dict[str, Any]:
    rng = np.random.RandomState(0)
    points = np.vstack([rng.normal(0, 1, (50, 2)), rng.normal(6, 1, (50, 2))])
    labels = np.array([0] * 50 + [1] * 50)
    return {
        "dataset": "customers@1", "problem": "clustering", "metric": "silhouette",
        "spec": {}, "best": {"family": "kmeans", "params": {"n_clusters": 2}},
        "cv_score": None, "rows": {"train": 100, "test": 0},
        "test_metrics": clustering_metrics(points, labels),
        "baseline": {"family": "baseline", "params": {}, "cv_score": None, "test_metrics": {}},
        "behavioural_passed": True, "fairness_passed": None,
    }


def multiclass() -> dict[str, Any]:
    rng = np.random.RandomState(1)
    labels = ["a", "b", "c"]
    truth = rng.choice(labels, 90)
    proba = rng.dirichlet([1, 1, 1], 90)
    predicted = np.array(labels)[proba.argmax(axis=1)]
    metrics = classification_metrics(truth, predicted, proba, labels=labels)
    return {
        "dataset": "iris@1", "problem": "multiclass", "metric": "f1_macro",
        "spec": {}, "best": {"family": "random_forest", "params": {}}, "cv_score": 0.4,
        "rows": {"train": 300, "test": 90}, "test_metrics": metrics,
        "baseline": {"family": "baseline", "params": {}, "cv_score": 0.2,
                     "test_metrics": metrics},
        "partial_dependence": {"output": "probability", "rows": 90, "features": [
            {"feature": "width", "kind": "numeric", "values": [1, 2, 3],
             "average": {c: [0.1 * i, 0.2, 0.5 - 0.1 * i] for i, c in enumerate(labels)},
             "truncated": False}]},
        "shap": {"available": True, "method": "kernel", "output": "probability", "rows": 10,
                 "background_rows": 5, "base_value": {c: 1 / 3 for c in labels},
                 "features": [{"feature": "width", "mean_abs_shap": 0.1,
                               "by_class": {c: 0.1 for c in labels}}]},
    }


@pytest.fixture(scope="module")
def binary_html(binary: dict[str, Any]) -> str:
    return model_card_html(binary)


def test_binary_card_draws_every_section(binary: dict[str, Any], binary_html: str) -> None:
    html = binary_html
    assert html.startswith("<!DOCTYPE html>") and "Plotly.newPlot" in html
    for title in BINARY_SECTIONS:
        assert has_section(html, title), title
    for title in ("Residual summary", "Clusters"):
        assert not has_section(html, title)
    # fold scores 1, curves 3, confusion 1, fairness 1, importance 1, dependence 2, SHAP 1
    assert figures(html) == 10
    assert not script_sources(html)  # opens offline: plotly.js is embedded, not linked
    assert "logistic_regression" in html and "ab" * 32 in html
    summary = html.split('id="summary"')[1].split("</section>")[0]
    model, base = binary["test_metrics"]["roc_auc"], binary["baseline"]["test_metrics"]["roc_auc"]
    assert f"+{model - base:.4g}" in summary and "better than" in summary
    passed = sum(t["passed"] for t in binary["behavioural"])
    assert f'Behavioural tests</td><td class="fail">{passed} of 2 passed' in summary
    fairness = {True: 'class="pass">all checks passed', False: 'class="fail">a check failed',
                None: 'class="warn">could not be measured'}[binary["fairness_passed"]]
    assert f"Fairness</td><td {fairness}" in summary


def test_metrics_sit_next_to_the_baseline(binary: dict[str, Any], binary_html: str) -> None:
    table = binary_html.split('id="metrics"')[1].split("</section>")[0]
    names = re.findall(r"<tr class=\"(?:main)?\"><td>(\w+)</td>", table)
    assert names[:10] == ["accuracy", "balanced_accuracy", "precision", "recall", "f1",
                          "f1_macro", "roc_auc", "pr_auc", "log_loss", "brier"]
    assert '<tr class="main"><td>roc_auc</td>' in table
    # log loss is a loss: lower than the baseline's is better, so green
    row = table.split("<td>log_loss</td>")[1].split("</tr>")[0]
    assert binary["test_metrics"]["log_loss"] < binary["baseline"]["test_metrics"]["log_loss"]
    assert 'class="num pass">-' in row


def test_flagged_slices_failing_tests_and_fairness_checks_stand_out(
        binary: dict[str, Any], binary_html: str) -> None:
    html = binary_html
    slices = html.split('id="slices"')[1].split("</section>")[0]
    flagged = sum(s["flagged"] for s in binary["slices"]["slices"])
    assert flagged >= 1
    assert slices.count('<tr class="flagged">') == flagged
    assert f"{flagged} flagged" in slices
    tests = html.split('id="behavioural"')[1].split("</section>")[0]
    failed = sum(not t["passed"] for t in binary["behavioural"])
    assert failed >= 1  # invariance with no tolerance at all
    assert tests.count('<td class="fail">fail</td>') == failed
    assert tests.count('<td class="pass">pass</td>') == 2 - failed
    assert 'class="examples"' in tests and "score_before" in tests  # the worst failures
    fairness = html.split('id="fairness"')[1].split("</section>")[0]
    assert "<code>region</code>" in fairness
    for check in binary["fairness"]["reports"][0]["checks"]:
        assert f"<td>{check['metric']}</td>" in fairness


def test_only_the_required_keys_render(binary: dict[str, Any], tmp_path: Path) -> None:
    minimal = {key: binary[key] for key in REQUIRED}
    minimal["test_metrics"] = {k: v for k, v in binary["test_metrics"].items() if k != "curves"}
    html = write_model_card(minimal, tmp_path / "card.html")[0].read_text(encoding="utf-8")
    for title, key in BINARY_SECTIONS.items():
        assert has_section(html, title) == (key is None), title
    assert "none declared" in html and "not checked" in html
    assert "Synthetic data." in html  # the limitations text comes from the spec too
    assert "Decision threshold" not in html and "Dataset digest" not in html


def test_optional_sections_may_be_none(binary: dict[str, Any]) -> None:
    html = model_card_html({**binary, **dict.fromkeys(OPTIONAL)})
    assert html.rstrip().endswith("</html>")
    assert figures(html) == 4  # the confusion matrix, and the curves kept in test_metrics
    assert "not checked" in html and "none declared" in html


def test_hostile_strings_are_escaped(binary: dict[str, Any]) -> None:
    evaluation = copy.deepcopy(binary)
    evaluation["limitations"] = f"Do not use for {HOSTILE} decisions."
    evaluation["dataset"] = f"{HOSTILE}@1"
    evaluation["best"]["params"] = {"C": HOSTILE}
    evaluation["spec"]["name"] = HOSTILE
    evaluation["slices"]["slices"][0]["value"] = HOSTILE
    evaluation["behavioural"][0]["message"] = HOSTILE
    evaluation["fairness"]["reports"][0]["groups"][0]["group"] = HOSTILE
    evaluation["shap"] = {"available": False, "reason": HOSTILE}
    html = model_card_html(evaluation)
    assert HOSTILE not in html
    assert f"Do not use for {ESCAPED} decisions." in html
    assert html.count(ESCAPED) >= 7
    assert not script_sources(html)
    shap = html.split('id="shap"')[1].split("</section>")[0]
    assert f"Not available: {ESCAPED}" in shap and figures(shap) == 0


def test_regression_card() -> None:
    evaluation = regression()
    html = model_card_html(evaluation)
    assert has_section(html, "Residual summary")
    for title in ("Confusion matrix", "ROC, precision-recall and calibration curves",
                  "Clusters", "Slices"):
        assert not has_section(html, title), title
    table = html.split('id="metrics"')[1].split("</section>")[0]
    assert '<tr class="main"><td>rmse</td>' in table
    row = table.split("<td>rmse</td>")[1].split("</tr>")[0]
    assert 'class="num pass">-' in row  # a lower RMSE than the baseline's is better
    assert "<td>mape</td>" in table and "<td>r2</td>" in table
    residuals = html.split('id="residuals"')[1].split("</section>")[0]
    assert "<td>median</td>" in residuals and figures(residuals) == 2
    assert "The spec declares no limitations" in html


def test_clustering_card_without_a_baseline() -> None:
    html = model_card_html(clustering())
    assert has_section(html, "Clusters") and not has_section(html, "Confusion matrix")
    assert "no baseline score" in html and "none declared" in html
    table = html.split('id="metrics"')[1].split("</section>")[0]
    for name in ("silhouette", "calinski_harabasz", "davies_bouldin", "clusters"):
        assert f"<td>{name}</td>" in table, name


def test_multiclass_card_draws_one_line_per_class() -> None:
    html = model_card_html(multiclass())
    assert has_section(html, "Confusion matrix") and has_section(html, "Partial dependence")
    assert not has_section(html, "ROC, precision-recall and calibration curves")
    per_class = html.split("<h3>Per class</h3>")[1].split("</table>")[0]
    assert all(f"<td>{c}</td>" in per_class for c in "abc")
    assert "a: 0.3333" in html  # the SHAP base value of each class
    dependence = html.split('id="partial-dependence"')[1].split("</section>")[0]
    assert dependence.count('"name":"a"') == 1 and dependence.count('"name":"c"') == 1


def test_card_renders_the_same_from_stored_json(binary: dict[str, Any], binary_html: str,
                                                tmp_path: Path) -> None:
    def without_ids(html: str) -> str:  # each figure's div gets a fresh random id
        return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "id", html)

    html_path, json_path = write_model_card(binary, tmp_path / "card.html",
                                             tmp_path / "card.json")
    stored = json.loads(json_path.read_text(encoding="utf-8"))
    assert stored == json.loads(json.dumps(binary))
    assert without_ids(html_path.read_text(encoding="utf-8")) == without_ids(binary_html)
