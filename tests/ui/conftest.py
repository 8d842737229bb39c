"""A workspace with two versions of a classifier deployed on ``churn`` as a canary (v1
primary, trained on dataset ``train@1``; v2 canary, with no dataset in its lineage) and a
few minutes of logged traffic whose ``age`` drifted upwards, and an API key to read it."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from conftest import log_predictions, register_fitted
from gapless import Workspace
from gapless.serving.deployments import DeploymentSpec, Variant

rng = np.random.default_rng(0)
TRAIN = pd.DataFrame({"age": rng.uniform(20, 60, 200).round(1),
                      "region": rng.choice(["n", "s"], 200), "churned": rng.integers(0, 2, 200)})
X, y = TRAIN[["age", "region"]], TRAIN["churned"]


def traffic(count: int, *, now: float | None = None) -> list[dict]:
    """``count`` predictions spread over the current 5-minute window up to ``now`` (so a
    5m, 1h or 1d window holds them all): every fourth on the canary (v2), every tenth
    failed (status 500), ages far above the training range."""
    now = time.time() if now is None else now
    start = math.floor(now / 300) * 300
    return [{"created_at": start + (now - start) * i / count,
             "inputs": {"age": 70.0 + i % 7, "region": "n"}, "outputs": i % 2,
             "latency_ms": 2.0 + i % 5, "status": 500 if i % 10 == 0 else 200,
             "version": 2 if i % 4 == 0 else 1, "variant": "canary" if i % 4 == 0 else "primary"}
            for i in range(count)]


def register_trained_on(ws: Workspace, model, dataset: str) -> str:  # type: ignore[no-untyped-def]
    """Register ``model`` from a run that names ``dataset`` as its training data."""
    from gapless.core.schema import infer_signature
    from gapless.registry.packaging import pack

    with ws.start_run("serving", "fit", parent=None) as run, \
            tempfile.TemporaryDirectory() as tmp:
        run.log_param("dataset", dataset)
        path = Path(tmp) / "model.skops"
        path.write_bytes(pack(model, None).data)
        run.log_artifact(path, artifact_path="model")
        run.log_dict(infer_signature(X, y, problem="binary").to_dict(), "signature.json")
    return ws.models.register(run.id, "churn").ref


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    model = DummyClassifier().fit(X, y)
    dataset = workspace.data.add("train", TRAIN).version.ref
    register_trained_on(workspace, model, dataset)
    register_fitted(workspace, model, X, y)
    workspace.deploy("churn", "churn@1", reason="first")
    workspace.deploy("churn", spec=DeploymentSpec(strategy="canary", variants=[
        Variant(name="primary", model="churn@1", weight=75.0),
        Variant(name="canary", model="churn@2", weight=25.0)]), reason="try v2")
    log_predictions(workspace.metadata, traffic(80), endpoint="churn")
    return workspace


@pytest.fixture
def read_key(ws: Workspace) -> str:
    return ws.keys.create("dashboard", ["read"])[1]
