"""The engine routes, predicts, logs primaries and shadows, and picks up new deployments."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from conftest import register_fitted
from gapless import NotFoundError, Workspace
from gapless.serving.deployments import DeploymentStore, single
from gapless.serving.engine import Engine
from gapless.serving.feedback import read_predictions
from gapless.serving.prediction_log import PredictionLog
from gapless.serving.predictor import Predictor

X = pd.DataFrame({"age": [20.0, 30, 40, 50, 60, 70], "visits": [1.0, 5, 2, 8, 3, 9]})
y = pd.Series([0, 0, 1, 1, 0, 1])


def register(ws: Workspace, model) -> str:  # type: ignore[no-untyped-def]
    return register_fitted(ws, model.fit(X, y), X, y, signature=False)


@pytest.fixture
def engine(workspace: Workspace):  # type: ignore[no-untyped-def]
    linear = register(workspace, Pipeline([("s", StandardScaler()),
                                           ("m", LogisticRegression())]))
    tree = register(workspace, DecisionTreeClassifier(max_depth=1, random_state=0))
    store = DeploymentStore(workspace.metadata)
    store.put("churn", single(linear))
    log = PredictionLog(workspace.metadata, flush_interval=0.05)
    engine = Engine(store, Predictor(workspace.models), log=log, poll_interval=0.0)
    yield engine, store, linear, tree, workspace
    engine.close()


def test_predicts_logs_and_swaps_to_a_new_revision(engine) -> None:  # type: ignore[no-untyped-def]
    engine, store, linear, tree, ws = engine
    answer = engine.predict("churn", X)
    assert answer.model.ref == linear and len(answer.ids) == 6 == len(set(answer.ids))
    assert answer.probabilities.shape == (6, 2)
    store.put("churn", {"strategy": "shadow", "variants": [
        {"name": "live", "model": tree, "weight": 100},
        {"name": "next", "model": linear, "role": "shadow"}]})
    swapped = engine.predict("churn", X.head(2))
    assert swapped.model.ref == tree and swapped.variant == "live"
    engine.close()
    rows = read_predictions(ws.metadata, "churn")
    roles = sorted((r["variant"], r["role"]) for r in rows if r["prediction_id"] in swapped.ids)
    assert roles == [("live", "primary")] * 2 + [("next", "shadow")] * 2
    assert len(rows) == 6 + 4
    first = {r["prediction_id"]: r["inputs"] for r in rows if r["prediction_id"] in answer.ids}
    assert [first[i] for i in answer.ids] == X.to_dict("records")  # converted off the path
    logged = {r["prediction_id"]: r["probabilities"] for r in rows if r["role"] == "primary"}
    assert [logged[i] for i in answer.ids] == [  # for confidence-based estimates
        [[0, pytest.approx(p0)], [1, pytest.approx(p1)]] for p0, p1 in answer.probabilities]
    shadowed = [r for r in rows if r["role"] == "shadow"]
    assert {r["probabilities"] is None for r in shadowed} == {True}
    with pytest.raises(NotFoundError, match="gapless deploy other"):
        engine.predict("other", X)
