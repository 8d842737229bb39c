"""The ONNX runtime: rows drawn from a signature, conversions checked before they serve,
refusals that say to deploy with runtime python, and a server answering from ONNX."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from conftest import register_fitted
from gapless import Workspace
from gapless.core.errors import ValidationError
from gapless.core.records import ModelVersion
from gapless.core.schema import ColumnSchema, OutputSchema, Signature, infer_signature
from gapless.serving.deployments import DeploymentSpec, DeploymentStore, Variant
from gapless.serving.runtimes import TOLERANCE, holdout_rows, sample_rows, to_onnx_runtime
from gapless.serving.validation import frame_from_records

REGIONS = ["east", "north", "south", "west"]
PLANS = ["basic", "plus", "pro"]


def customers(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.uniform(18, 90, rows).round(1),
                         "visits": rng.integers(0, 20, rows),
                         "region": rng.choice(REGIONS, rows),
                         "plan": rng.choice(PLANS, rows)})


def churned(X: pd.DataFrame, seed: int) -> pd.Series:
    noise = np.random.default_rng(seed).normal(0, 2, len(X))
    score = X["age"] / 10 + X["visits"] + 3 * (X["region"] == "north") + noise
    return (score > 12).astype(int).rename("churned")


X_TRAIN = customers(300, seed=0)
Y_TRAIN = churned(X_TRAIN, seed=0)


def pipeline(model: Any, categories: list[str] | None = None) -> Pipeline:
    prep = ColumnTransformer([
        ("num", StandardScaler(), ["age", "visits"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), categories or ["region", "plan"])])
    return Pipeline([("prep", prep), ("model", model)])


def version(name: str = "churn") -> ModelVersion:
    """A registry record: ``to_onnx_runtime`` only names the version in its messages."""
    return ModelVersion(id=1, model=name, version=3, run_id=None, digest="0" * 64,
                        model_digest="0" * 64, size=1, format="skops", encrypted=False,
                        signature=None, lineage={}, metrics={}, evaluation=None, tags={},
                        description=None, source="run", trusted_by=None, created_by="test",
                        created_at=0.0)


@pytest.fixture
def onnx() -> None:
    pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")


# -- rows drawn from a signature ------------------------------------------------------------
MIXED = Signature((
    ColumnSchema("income", "float", nullable=True, minimum=1000.0, maximum=5000.0),
    ColumnSchema("children", "integer", nullable=True, minimum=0.0, maximum=4.0),
    ColumnSchema("visits", "integer", nullable=False, minimum=-3.0, maximum=30.0),
    ColumnSchema("vip", "boolean", nullable=True, categories=(False, True)),
    ColumnSchema("active", "boolean", nullable=False, categories=(False, True)),
    ColumnSchema("region", "string", nullable=True, categories=tuple(REGIONS)),
    ColumnSchema("plan", "string", nullable=False, categories=tuple(PLANS)),
    ColumnSchema("note", "string", nullable=True),
), OutputSchema("binary", "integer", (0, 1)))


def test_sample_rows_cover_every_category_and_stay_in_range() -> None:
    rows = sample_rows(MIXED, 64, seed=3)
    assert list(rows.columns) == MIXED.names and len(rows) == 64
    assert set(rows["region"].dropna()) == set(REGIONS)
    assert set(rows["plan"]) == set(PLANS)
    assert set(rows["vip"].dropna()) == {False, True} and set(rows["active"]) == {False, True}
    for column in ("income", "children", "visits"):
        schema = MIXED.column(column)
        values = rows[column].dropna()
        assert values.between(schema.minimum, schema.maximum).all(), column
        assert values.nunique() > 3, f"{column} should spread over its range"
    assert (rows["children"].dropna() % 1 == 0).all()


def test_sample_rows_miss_values_only_in_nullable_columns() -> None:
    rows = sample_rows(MIXED, seed=0)
    missing = rows.isna().any()
    for column in MIXED.inputs:
        assert missing[column.name] == column.nullable, column.name
    share = rows[[c.name for c in MIXED.inputs if c.nullable]].isna().mean()
    assert share.between(0.02, 0.25).all(), share  # about one in ten, not all or none


def test_sample_rows_have_the_dtypes_of_a_validated_request() -> None:
    rows = sample_rows(MIXED, seed=0)
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    validated = frame_from_records(records, MIXED)
    assert rows.dtypes.to_dict() == validated.dtypes.to_dict()
    assert rows.dtypes.astype(str).to_dict() == {
        "income": "float64", "children": "float64", "visits": "int64", "vip": "object",
        "active": "bool", "region": "object", "plan": "object", "note": "object"}


def test_sample_rows_from_an_inferred_signature_match_a_request_of_training_rows() -> None:
    signature = infer_signature(X_TRAIN, Y_TRAIN, problem="binary")
    request = frame_from_records(X_TRAIN.head(5).to_dict("records"), signature)
    assert sample_rows(signature).dtypes.to_dict() == request.dtypes.to_dict()


# -- conversions that predict what the model does ----------------------------------------------
@pytest.mark.parametrize(("model", "tolerance"), [
    (LogisticRegression(), 1e-9),
    (RandomForestClassifier(n_estimators=20, random_state=0), TOLERANCE),
])
def test_a_converted_pipeline_predicts_what_scikit_learn_does(onnx: None, model: Any,
                                                              tolerance: float) -> None:
    fitted = pipeline(model).fit(X_TRAIN, Y_TRAIN)
    signature = infer_signature(X_TRAIN, Y_TRAIN, problem="binary")
    held_out = customers(200, seed=1)
    held_out.loc[::9, "region"] = "atlantis"  # unseen: the encoder ignores it in both
    converted = to_onnx_runtime(fitted, version(), signature, holdout=held_out)
    assert list(converted.classes_) == [0, 1]
    np.testing.assert_array_equal(converted.predict(held_out), fitted.predict(held_out))
    np.testing.assert_allclose(converted.predict_proba(held_out), fitted.predict_proba(held_out),
                               rtol=0, atol=tolerance)
    assert len(set(fitted.predict(held_out))) == 2


def test_a_tree_regressor_on_a_large_target_is_accepted(onnx: None) -> None:
    """Amounts in the tens of thousands: float32 trees differ by about 1e-7 relative, the
    precision the module docstring says is expected and allowed."""
    y = (X_TRAIN["age"] * 300 + X_TRAIN["visits"] * 1000 + 10_000.0).rename("amount")
    fitted = pipeline(GradientBoostingRegressor(n_estimators=30, random_state=0)).fit(X_TRAIN, y)
    signature = infer_signature(X_TRAIN, y, problem="regression")
    converted = to_onnx_runtime(fitted, version("amount"), signature)
    held_out = customers(100, seed=2)
    np.testing.assert_allclose(converted.predict(held_out), fitted.predict(held_out), rtol=1e-6)


# -- refusals ----------------------------------------------------------------------------------
def test_a_model_without_a_signature_is_refused(onnx: None) -> None:
    fitted = pipeline(LogisticRegression()).fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(ValidationError, match="churn@3 has no signature.*runtime python"):
        to_onnx_runtime(fitted, version(), None)


def test_a_datetime_column_is_refused(onnx: None) -> None:
    X = X_TRAIN.assign(joined=pd.date_range("2024-01-01", periods=len(X_TRAIN), freq="D"))
    fitted = pipeline(LogisticRegression()).fit(X, Y_TRAIN)  # the transformer drops `joined`
    signature = infer_signature(X, Y_TRAIN, problem="binary")
    with pytest.raises(ValidationError, match="`joined` is a datetime.*runtime python"):
        to_onnx_runtime(fitted, version(), signature)


def knn_with_ties() -> tuple[Pipeline, Signature]:
    """Neighbours on one small-integer column: most distances tie, and scikit-learn and
    onnxruntime's TopK break the ties differently, so the conversion honestly disagrees."""
    X = X_TRAIN[["visits"]]
    fitted = Pipeline([("prep", ColumnTransformer([("num", "passthrough", ["visits"])])),
                       ("model", KNeighborsClassifier(n_neighbors=4))]).fit(X, Y_TRAIN)
    return fitted, infer_signature(X, Y_TRAIN, problem="binary")


def test_a_conversion_that_disagrees_is_refused(onnx: None) -> None:
    fitted, signature = knn_with_ties()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValidationError, match=r"(?s)churn@3: the ONNX conversion does not "
                           r"predict what the model does on rows drawn from the signature"
                           r".*runtime python"):
            to_onnx_runtime(fitted, version(), signature)


def test_holdout_rows_are_none_without_a_training_spec(workspace: Workspace) -> None:
    ref = register_fitted(workspace, pipeline(LogisticRegression()).fit(X_TRAIN, Y_TRAIN),
                          X_TRAIN, Y_TRAIN)
    assert holdout_rows(workspace.models, workspace.models.get(ref)) is None


# -- end to end: a server answering from the ONNX conversion -----------------------------------
def test_the_server_answers_from_onnx_what_the_python_runtime_answers(onnx: None,
                                                                      workspace: Workspace
                                                                      ) -> None:
    fitted = pipeline(LogisticRegression()).fit(X_TRAIN, Y_TRAIN)
    ref = register_fitted(workspace, fitted, X_TRAIN, Y_TRAIN)
    store = DeploymentStore(workspace.metadata)
    for endpoint, runtime in (("default", "onnx"), ("python", "python")):
        store.put(endpoint, DeploymentSpec(variants=[
            Variant(name="primary", model=ref, weight=100, runtime=runtime)]))
    rows = customers(40, seed=4)
    body = {"columns": list(rows.columns), "data": rows.values.tolist()}
    from gapless.server.app import create_app

    with TestClient(create_app(workspace, auth=False, poll_interval=0.0,
                               canary_interval=0)) as client:
        assert client.get("/health/ready").status_code == 200
        mlflow = client.post("/invocations", json={"dataframe_split": body})
        assert mlflow.status_code == 200, mlflow.text
        assert mlflow.json()["predictions"] == fitted.predict(rows).tolist()
        answers = {endpoint: client.post(f"/v1/endpoints/{endpoint}/predict", json=body).json()
                   for endpoint in ("default", "python")}
        assert answers["default"]["predictions"] == answers["python"]["predictions"]
        onnx_p = [[p["0"], p["1"]] for p in answers["default"]["probabilities"]]
        python_p = [[p["0"], p["1"]] for p in answers["python"]["probabilities"]]
        np.testing.assert_allclose(onnx_p, python_p, rtol=0, atol=1e-9)
        np.testing.assert_allclose(onnx_p, fitted.predict_proba(rows), rtol=0, atol=1e-9)

        # the onnx runtime is really in the path: a conversion that disagrees never serves
        knn, _ = knn_with_ties()
        bad = register_fitted(workspace, knn, X_TRAIN[["visits"]], Y_TRAIN, name="ties")
        store.put("ties", DeploymentSpec(variants=[
            Variant(name="primary", model=bad, weight=100, runtime="onnx")]))
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and "runtime python" in ready.json()["reason"]
