"""A workspace with one registered classifier (with a signature) deployed as ``default``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from gapless import Workspace
from gapless.core.schema import infer_signature
from gapless.registry.packaging import pack
from gapless.serving.deployments import DeploymentStore, single

X = pd.DataFrame({"age": [20.0, 30, 40, 50, 60, 70], "region": ["n", "s", "n", "s", "n", "s"]})
y = pd.Series([0, 0, 1, 1, 0, 1])


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    prep = ColumnTransformer([("num", StandardScaler(), ["age"]),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"])])
    model = Pipeline([("prep", prep), ("m", LogisticRegression())]).fit(X, y)
    with workspace.start_run("serving", "fit", parent=None) as run, \
            tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.skops"
        path.write_bytes(pack(model, None).data)
        run.log_artifact(path, artifact_path="model")
        run.log_dict(infer_signature(X, y, problem="binary").to_dict(), "signature.json")
    workspace.models.register(run.id, "churn")
    DeploymentStore(workspace.metadata).put("default", single("churn@1"))
    return workspace


