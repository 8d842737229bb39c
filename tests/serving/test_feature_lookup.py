"""Features fetched at serving time: a model trained on a feature-view training set is
called with entity keys; the server reads the features from the online store (SQLite and
a real Redis), follows the deployment's policy for missing, stale and unreachable values,
and logs the values it used."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from conftest import redis_prefixed_url, register_fitted
from gapless import ValidationError, Workspace
from gapless.server.app import create_app

T0 = pd.Timestamp("2026-11-01")
CUSTOMERS = [f"c{i}" for i in range(8)]
ACTIVITY = {"name": "activity", "entities": ["customer_id"], "timestamp": "event_time",
            "source": {"dataset": "events"},
            "features": [{"name": "last_amount", "column": "amount"},
                         {"name": "tx_count_7d", "aggregate": {
                             "function": "count", "column": "amount", "window": "7d"}}]}
PROFILE = {"name": "profile", "entities": ["customer_id"], "source": {"dataset": "profiles"},
           "features": [{"name": "segment"}]}
FETCHED = ["last_amount", "tx_count_7d", "segment"]
UNTIL = (T0 + pd.Timedelta("20D")).timestamp()


def add_sources(ws: Workspace) -> None:
    rng = np.random.default_rng(3)
    ws.data.add("events", pd.DataFrame({
        "customer_id": rng.choice(CUSTOMERS[:6], 120),  # c6 and c7 never buy
        "event_time": T0 + pd.to_timedelta(rng.uniform(0, 20, 120), unit="D"),
        "amount": rng.gamma(2.0, 20.0, 120).round(2)}))
    ws.data.add("profiles", pd.DataFrame({"customer_id": CUSTOMERS,
                                          "segment": ["retail", "business"] * 4}))
    ws.features.apply([ACTIVITY, PROFILE])


def training_rows() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({
        "customer_id": rng.choice(CUSTOMERS, 200),
        "event_timestamp": T0 + pd.to_timedelta(rng.uniform(1, 20, 200), unit="D"),
        "age": rng.uniform(20, 70, 200).round(0), "churned": rng.integers(0, 2, 200)})


def fit_and_register(ws: Workspace, name: str = "churn") -> tuple[str, Pipeline]:
    frame, ref = ws.features.training_set(training_rows(), ["activity", "profile"],
                                          save_as="churn-train")
    X, y = frame[["age", *FETCHED]], frame["churned"]
    prep = ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), ["age", "last_amount", "tx_count_7d"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["segment"])])
    model = Pipeline([("prep", prep), ("m", LogisticRegression(max_iter=500))]).fit(X, y)
    return register_fitted(ws, model, X, y, name=name, dataset=ref), model


@pytest.fixture(params=["sqlite", "redis"])
def served(workspace: Workspace, request: pytest.FixtureRequest) -> Iterator[
        tuple[Workspace, Pipeline]]:
    """A model trained on two views, both materialized, deployed on ``churn``."""
    ws, urls = workspace, None
    if request.param == "redis":
        urls = redis_prefixed_url()
        ws = Workspace(workspace.root, online_uri=next(urls))
    add_sources(ws)
    ref, model = fit_and_register(ws)
    for view in ("activity", "profile"):
        ws.features.materialize(view, until=UNTIL)
    ws.deploy("churn", ref)
    yield ws, model
    ws.close()
    if urls is not None:
        next(urls, None)  # deletes the test's keys


def predict(client: TestClient, rows: list[dict[str, Any]]) -> Any:
    return client.post("/v1/endpoints/churn/predict", json={"instances": rows})


def logged_inputs(ws: Workspace) -> list[dict[str, Any]]:
    import json

    import sqlalchemy as sa

    from gapless.stores.tables import predictions

    with ws.metadata.read() as conn:
        rows = conn.execute(sa.select(predictions.c.inputs_json).order_by(
            predictions.c.created_at)).scalars().all()
    return [json.loads(row) for row in rows]


def offline_at(ws: Workspace, customers: list[str], until: float = UNTIL) -> pd.DataFrame:
    return ws.features.training_set(pd.DataFrame({
        "customer_id": customers,
        "event_timestamp": [pd.Timestamp(until, unit="s")] * len(customers)}),
        ["activity", "profile"])


def test_a_request_of_entity_keys_gets_the_features_training_saw(served: Any) -> None:
    ws, model = served
    customers = ["c0", "c3", "c5"]
    rows = [{"customer_id": c, "age": 40.0 + i} for i, c in enumerate(customers)]
    with TestClient(create_app(ws, auth=False)) as client:
        answer = predict(client, rows)
    assert answer.status_code == 200, answer.text
    offline = offline_at(ws, customers).assign(age=[40.0, 41.0, 42.0])
    expected = model.predict_proba(offline[["age", *FETCHED]])[:, 1]
    got = [p["1"] for p in answer.json()["probabilities"]]
    assert np.allclose(got, expected)
    logged = logged_inputs(ws)
    assert [r["customer_id"] for r in logged] == customers  # the key, for skew joins
    assert [r["segment"] for r in logged] == offline["segment"].tolist()
    assert [r["tx_count_7d"] for r in logged] == offline["tx_count_7d"].tolist()


def test_the_logged_features_show_no_skew_against_the_offline_join(served: Any) -> None:
    ws, _ = served
    with TestClient(create_app(ws, auth=False)) as client:
        assert predict(client, [{"customer_id": c, "age": 30.0}
                                for c in CUSTOMERS[:6]]).status_code == 200
    report = ws.monitor.skew("churn", offline_at(ws, CUSTOMERS[:6]), key="customer_id")
    assert report.matched_rows == 6
    assert {f.name: (f.compared, f.mismatches) for f in report.features} == {
        name: (6, 0) for name in FETCHED}


def test_a_request_must_carry_the_keys_not_the_features(served: Any) -> None:
    ws, _ = served
    with TestClient(create_app(ws, auth=False)) as client:
        answer = predict(client, [{"age": 30.0}])
        assert answer.status_code == 422 and "customer_id" in answer.json()["message"]
        metadata = client.get("/v2/models/churn").json()
    assert [i["name"] for i in metadata["inputs"]] == ["customer_id", "age"]


@pytest.mark.parametrize("policy, status, logged", [
    ({}, 200, {"last_amount": None, "tx_count_7d": None, "segment": None}),
    ({"on_missing": "default", "defaults": {"last_amount": 0.0, "tx_count_7d": 0,
                                            "segment": "retail"}},
     200, {"last_amount": 0.0, "tx_count_7d": 0, "segment": "retail"}),
    ({"on_missing": "reject"}, 422, None),
])
def test_an_unknown_key_follows_the_declared_policy(served: Any, policy: dict[str, Any],
                                                    status: int, logged: Any) -> None:
    ws, _ = served
    ws.deploy("churn", spec={**ws.deployments.get("churn").spec.model_dump(),
                             "features": policy})
    with TestClient(create_app(ws, auth=False)) as client:
        answer = predict(client, [{"customer_id": "c0", "age": 30.0},
                                  {"customer_id": "nobody", "age": 30.0}])
        metrics = client.get("/metrics").text
    assert answer.status_code == status, answer.text
    if logged is None:
        body = answer.json()
        assert body["row"] == 1 and body["field"] == "customer_id"
        assert "customer_id='nobody'" in body["message"] and "activity@1" in body["message"]
        return
    row = logged_inputs(ws)[1]
    assert {name: row[name] for name in FETCHED} == logged
    assert ('gapless_feature_fallbacks_total{endpoint="churn",reason="missing",'
            'view="activity@1"} 1.0') in metrics


def test_values_materialized_too_long_ago_are_stale(workspace: Workspace) -> None:
    add_sources(workspace)
    ref, _ = fit_and_register(workspace)
    for view in ("activity", "profile"):
        workspace.features.materialize(view, until=time.time() - 7200)
    row = [{"customer_id": "c1", "age": 30.0}]
    answers = {}
    for policy in ({"max_age": "3h", "on_missing": "reject"},
                   {"max_age": "1h", "on_missing": "reject"}, {"max_age": "1h"}):
        workspace.deploy("churn", spec={"variants": [{"name": "primary", "model": ref,
                                                      "weight": 100}], "features": policy})
        with TestClient(create_app(workspace, auth=False)) as client:
            answers[str(policy)] = predict(client, row)
            metrics = client.get("/metrics").text
    fresh, stale, imputed = answers.values()
    assert fresh.status_code == 200 and imputed.status_code == 200, imputed.text
    assert stale.status_code == 422
    assert "materialized 2.0 h ago, over the deployment's max_age 1h" in \
        stale.json()["message"]
    assert 'reason="stale",view="activity@1"} 1.0' in metrics
    assert logged_inputs(workspace)[-1]["last_amount"] is None


@pytest.mark.parametrize("policy, status", [({}, 200), ({"on_missing": "reject"}, 503)])
def test_a_redis_that_is_down_falls_back_to_the_policy_within_the_timeout(
        workspace: Workspace, policy: dict[str, Any], status: int) -> None:
    add_sources(workspace)
    ref, _ = fit_and_register(workspace)
    down = Workspace(workspace.root, online_uri="redis://127.0.0.1:9/0")  # nothing listens
    down.deploy("churn", spec={"variants": [{"name": "primary", "model": ref,
                                             "weight": 100}], "features": policy})
    with TestClient(create_app(down, auth=False)) as client:
        started = time.monotonic()
        answer = predict(client, [{"customer_id": "c1", "age": 30.0}])
        elapsed = time.monotonic() - started
    down.close()
    assert answer.status_code == status, answer.text
    assert elapsed < 5.0
    if status == 503:
        assert "redis://127.0.0.1:9/0" in answer.json()["message"]
        assert "activity@1" in answer.json()["message"]


def test_a_policy_its_models_cannot_follow_is_refused(workspace: Workspace) -> None:
    add_sources(workspace)
    ref, _ = fit_and_register(workspace)
    spec = {"variants": [{"name": "primary", "model": ref, "weight": 100}]}
    with pytest.raises(ValidationError, match=r"no value for \['segment', 'tx_count_7d'\]"):
        workspace.deploy("churn", spec={**spec, "features": {
            "on_missing": "default", "defaults": {"last_amount": 0}}})
    with pytest.raises(ValidationError, match=r"names \['tx_count_30d'\], which no variant"):
        workspace.deploy("churn", spec={**spec, "features": {
            "defaults": {"tx_count_30d": 0}}})
    with TestClient(create_app(workspace, auth=False)) as client:
        answer = client.put("/v1/endpoints/churn/deployment", json={
            **spec, "features": {"on_missing": "default"}})
    assert answer.status_code == 422 and "features.defaults" in answer.json()["message"]


def test_a_shadow_trained_on_the_same_views_is_logged_with_the_features(
        workspace: Workspace) -> None:
    add_sources(workspace)
    first, _ = fit_and_register(workspace)
    second, _ = fit_and_register(workspace)
    for view in ("activity", "profile"):
        workspace.features.materialize(view, until=UNTIL)
    workspace.deploy("churn", first)
    workspace.deploy("churn", second, strategy="shadow")
    with TestClient(create_app(workspace, auth=False, shadow_process=False)) as client:
        assert predict(client, [{"customer_id": "c2", "age": 50.0}]).status_code == 200
    deadline = time.monotonic() + 10
    while len(logged_inputs(workspace)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    both = logged_inputs(workspace)
    assert len(both) == 2 and both[0] == both[1]
    assert both[0]["segment"] == offline_at(workspace, ["c2"])["segment"].iloc[0]


def test_a_model_not_trained_on_feature_views_has_no_plan(workspace: Workspace) -> None:
    X = pd.DataFrame({"age": [20.0, 30, 40, 50]})
    ref = register_fitted(workspace, LogisticRegression().fit(X, [0, 0, 1, 1]), X,
                          pd.Series([0, 0, 1, 1]))
    assert workspace.feature_plan(workspace.models.get(ref)) is None


def test_batch_scoring_asks_for_the_features_joined_as_of_each_row(
        workspace: Workspace, tmp_path: Any) -> None:
    from gapless.serving.batch import predict_batch

    add_sources(workspace)
    ref, model = fit_and_register(workspace)
    rows = training_rows().drop(columns="churned").head(20)
    workspace.data.add("applications", rows)
    with pytest.raises(ValidationError, match=r"trained on feature views.*training-set "
                       r"applications@1 -f activity@1 -f profile@1 --timestamp"):
        predict_batch(workspace, model=ref, input="applications@1",
                      output=str(tmp_path / "out.parquet"))
    joined, ready = workspace.features.training_set(
        "applications@1", ["activity@1", "profile@1"], save_as="applications-joined")
    done = predict_batch(workspace, model=ref, input=ready, output=str(tmp_path / "out.parquet"))
    scored = pd.read_parquet(done.output)
    assert np.allclose(scored["proba_1"], model.predict_proba(joined[["age", *FETCHED]])[:, 1])


def test_a_store_that_never_answers_is_asked_once_then_skipped_for_a_while(
        workspace: Workspace) -> None:
    """A socket that accepts and says nothing: the first request waits out the timeout and
    falls back; the next ones fall back at once, without connecting again."""
    import socket

    add_sources(workspace)
    ref, _ = fit_and_register(workspace)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        hung = Workspace(workspace.root, online_uri=f"redis://127.0.0.1:{port}/0")
        hung.deploy("churn", ref)
        with TestClient(create_app(hung, auth=False)) as client:
            answers = [predict(client, [{"customer_id": "c1", "age": 30.0}])
                       for _ in range(3)]
            metrics = client.get("/metrics").text
        hung.close()
        silent.settimeout(0.2)
        connections = []
        try:
            while True:
                connections.append(silent.accept()[0])
        except TimeoutError:
            pass
        for connection in connections:
            connection.close()
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len(connections) == 1
    assert 'reason="unavailable",view="activity@1"} 3.0' in metrics


class GatedStore:
    """The real online store, counting reads; the first read waits for ``gate``."""

    def __init__(self, store: Any) -> None:
        import threading

        self.store, self.reads, self.gate = store, 0, threading.Event()

    def read(self, *args: Any) -> Any:
        self.reads += 1
        if self.reads == 1:
            self.gate.wait(10)
        return self.store.read(*args)


def test_concurrent_fills_share_one_read_and_a_bad_key_fails_only_its_request(
        served: Any) -> None:
    import asyncio

    from gapless.serving.feature_lookup import FeatureFetcher, FeaturePolicy

    ws, _ = served
    plan = ws.feature_plan(ws.models.get("churn@1"))
    store = GatedStore(ws.features.online_store)
    fetcher = FeatureFetcher(lambda: store)
    frames = [pd.DataFrame({"customer_id": [c], "age": [30.0]}) for c in CUSTOMERS]
    bad = pd.DataFrame({"customer_id": ["bad\x1fkey"], "age": [30.0]})

    async def run() -> list[Any]:
        first = asyncio.ensure_future(fetcher.fill_async(frames[0], plan, FeaturePolicy()))
        while store.reads == 0:
            await asyncio.sleep(0.001)
        rest = [asyncio.ensure_future(fetcher.fill_async(f, plan, FeaturePolicy()))
                for f in [*frames[1:], bad]]
        await asyncio.sleep(0.05)  # all of them waiting behind the gated read
        store.gate.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    try:
        results = asyncio.run(run())
    finally:
        fetcher.close()
    *good, failed = results
    assert isinstance(failed, ValidationError) and "separator" in str(failed)
    # The gated read and the other view's for the first request; then one read per view
    # for the 7 good requests waiting behind it (the bad key never reaches the store).
    assert store.reads == 2 + 2
    for frame, filled in zip(frames, good, strict=True):
        assert filled.frame.equals(fetcher.fill(frame, plan, FeaturePolicy()).frame)
