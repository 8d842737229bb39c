"""ONNX export on real pipelines: same predictions as scikit-learn, clear refusals."""

from __future__ import annotations

import importlib.util
import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

from sklearn.frozen import FrozenEstimator  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import FixedThresholdClassifier  # noqa: E402

from gapless.core.errors import ValidationError  # noqa: E402
from gapless.data.sample_data import make_loans  # noqa: E402
from gapless.registry.onnx import OnnxModel, compare, to_onnx  # noqa: E402
from gapless.training.pipeline import build_pipeline  # noqa: E402
from gapless.training.specs import TaskSpec  # noqa: E402

EXCLUDE = ["applied_at", "customer_id"]
# Measured: float64 models agree to ~1e-15, float32 trees to ~4e-7 (probabilities).
EXACT, FLOAT32 = 1e-9, 1e-5
WORDS = ["Late", "payments", "SALARY", "savings,", "Überweisung", "café", "don't", "x",
         "loan-term", "2024", "ÉTÉ"]


def with_note(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    frame["note"] = [" ".join(rng.choice(WORDS, rng.integers(1, 6))) for _ in range(len(frame))]
    frame.loc[frame.index[::11], "note"] = None
    return frame


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return with_note(make_loans(800, seed=0), 0)


@pytest.fixture(scope="module")
def fresh() -> pd.DataFrame:
    """Later rows with what serving brings: unseen and missing categories, NaN numbers."""
    frame = with_note(make_loans(400, seed=1), 1)
    frame.loc[frame.index[::7], "region"] = "atlantis"
    frame.loc[frame.index[::5], "employment"] = None
    frame.loc[frame.index[::6], "income"] = np.nan
    frame.loc[frame.index[::8], "credit_score"] = np.nan
    return frame


def fit(frame: pd.DataFrame, family: str, params: dict[str, Any], *, target: str = "defaulted",
        problem: str = "binary", exclude: list[str] = EXCLUDE, **spec: Any) -> Any:
    task = TaskSpec(dataset="loans", target=target,
                    features={"exclude": [*exclude, "note"] if "transforms" not in spec
                              else exclude}, **spec)
    pipe = build_pipeline(frame, task, family, params, target=target, problem=problem, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence at small budgets
        return pipe.fit(frame.drop(columns=target), frame[target])


def check_classifier(model: Any, onnx: OnnxModel, rows: pd.DataFrame, tolerance: float) -> None:
    np.testing.assert_array_equal(onnx.predict(rows), model.predict(rows))
    np.testing.assert_allclose(onnx.predict_proba(rows), model.predict_proba(rows), rtol=0,
                               atol=tolerance)


@pytest.fixture(scope="module")
def logistic(train: pd.DataFrame) -> tuple[Any, OnnxModel]:
    pipe = fit(train, "logistic_regression", {})
    return pipe, OnnxModel(to_onnx(pipe, train, what="loans@1"))


@pytest.mark.parametrize(("family", "params", "tolerance"), [
    ("logistic_regression", {}, EXACT),
    ("naive_bayes", {}, EXACT),
    ("random_forest", {"n_estimators": 30}, FLOAT32),
    ("hist_gradient_boosting", {"max_iter": 30}, FLOAT32),
])
def test_classifiers_predict_what_scikit_learn_predicts(train: pd.DataFrame, fresh: pd.DataFrame,
                                                       family: str, params: dict[str, Any],
                                                       tolerance: float) -> None:
    pipe = fit(train, family, params)
    onnx = OnnxModel(to_onnx(pipe, train))
    assert set(onnx.input_names) >= {"income", "region", "has_guarantor"}
    assert not {"applied_at", "customer_id", "application_id"} & set(onnx.input_names)
    assert list(onnx.classes_) == [0, 1]
    check_classifier(pipe, onnx, fresh, tolerance)


def test_logistic_regression_is_exact_on_messy_rows(logistic: tuple[Any, OnnxModel],
                                                    fresh: pd.DataFrame) -> None:
    pipe, onnx = logistic
    assert "atlantis" in set(fresh["region"]) and fresh["employment"].isna().any()
    check_classifier(pipe, onnx, fresh, EXACT)
    one = fresh.iloc[[0]].assign(region=None, income=np.nan, has_guarantor=None)
    check_classifier(pipe, onnx, one, EXACT)


def test_fixed_threshold_is_applied_inside_the_graph(train: pd.DataFrame,
                                                     fresh: pd.DataFrame) -> None:
    pipe = fit(train, "random_forest", {"n_estimators": 30})
    X, y = train.drop(columns="defaulted"), train["defaulted"]
    tuned = FixedThresholdClassifier(FrozenEstimator(pipe), threshold=0.23, pos_label=1,
                                     response_method="predict_proba").fit(X, y)
    assert (tuned.predict(fresh) != pipe.predict(fresh)).any()
    onnx = OnnxModel(to_onnx(tuned, train))
    assert (onnx.threshold, onnx.pos_label) == (0.23, 1)
    check_classifier(tuned, onnx, fresh, FLOAT32)


def test_multiclass_string_labels_and_text(train: pd.DataFrame, fresh: pd.DataFrame) -> None:
    pipe = fit(train, "extra_trees", {"n_estimators": 30}, target="channel",
               problem="multiclass",
               transforms=[{"columns": ["note"], "tfidf": {"max_features": 20,
                                                          "ngram_range": [1, 2]}}])
    onnx = OnnxModel(to_onnx(pipe, train))
    assert list(onnx.classes_) == ["branch", "broker", "online"] and "note" in onnx.input_names
    check_classifier(pipe, onnx, fresh, FLOAT32)


@pytest.mark.parametrize(("family", "params"), [("ridge", {}),
                                                ("hist_gradient_boosting", {"max_iter": 30})])
def test_regressors(train: pd.DataFrame, fresh: pd.DataFrame, family: str,
                    params: dict[str, Any]) -> None:
    pipe = fit(train, family, params, target="loan_amount", problem="regression")
    onnx = OnnxModel(to_onnx(pipe, train))
    assert onnx.classes_ is None
    np.testing.assert_allclose(onnx.predict(fresh), pipe.predict(fresh), rtol=1e-5)
    with pytest.raises(ValidationError, match="regressor"):
        onnx.predict_proba(fresh)


def test_compare_reports_agreement_and_latency(logistic: tuple[Any, OnnxModel],
                                              fresh: pd.DataFrame) -> None:
    pipe, onnx = logistic
    report = compare(pipe, onnx, fresh, repeats=3)
    json.dumps(report)
    assert report["rows"] == report["batch_rows"] == len(fresh)
    assert report["max_abs_diff"] < EXACT and report["label_agreement"] == 1.0
    assert report["onnx_bytes"] == onnx.size > 0
    for runtime in ("sklearn", "onnx"):
        for timing in ("single_row", "batch"):
            value = report["latency_ms"][runtime][timing]
            assert isinstance(value, float) and value > 0


def test_datetime_column_is_refused_by_name(train: pd.DataFrame) -> None:
    pipe = fit(train, "logistic_regression", {}, exclude=["customer_id"])
    with pytest.raises(ValidationError, match=r"DatetimeParts.*applied_at.*--format bundle"):
        to_onnx(pipe, train, what="loans@2")


def test_other_models_are_refused_clearly(train: pd.DataFrame) -> None:
    numbers = train[["age", "income"]].fillna(0)
    plain = LogisticRegression().fit(numbers, train["defaulted"])
    with pytest.raises(ValidationError, match="gapless pipeline.*LogisticRegression"):
        to_onnx(plain, numbers)


@pytest.mark.skipif(importlib.util.find_spec("lightgbm") is None
                    or importlib.util.find_spec("onnxmltools") is not None,
                    reason="needs lightgbm without onnxmltools")
def test_lightgbm_without_onnxmltools_is_refused(train: pd.DataFrame) -> None:
    pipe = fit(train, "lightgbm", {"n_estimators": 5})
    with pytest.raises(ValidationError, match="LGBMClassifier.*onnxmltools"):
        to_onnx(pipe, train)


def test_bad_rows_are_validation_errors(logistic: tuple[Any, OnnxModel],
                                        fresh: pd.DataFrame) -> None:
    _, onnx = logistic
    with pytest.raises(ValidationError, match="`income`"):
        onnx.predict(fresh.drop(columns="income"))
    with pytest.raises(ValidationError, match="`age`: expected numbers, got 'old'"):
        onnx.predict(fresh.astype({"age": object}).assign(age="old"))
