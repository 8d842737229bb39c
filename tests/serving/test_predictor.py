"""The predictor loads each model file once and relabels it for other versions of it."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from conftest import register_fitted
from gapless import NotFoundError, Workspace
from gapless.serving.predictor import Predictor


@pytest.fixture
def registered(workspace: Workspace) -> tuple[Workspace, pd.DataFrame]:
    X = pd.DataFrame({"age": [20.0, 30, 40, 50, 60, 70], "visits": [1.0, 5, 2, 8, 3, 9]})
    y = pd.Series([0, 0, 1, 1, 0, 1])
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    first = register_fitted(workspace, model, X, y)
    workspace.models.register(workspace.models.get(first).run_id, "churn")  # same file: v2
    return workspace, X


def test_one_file_is_loaded_once_and_predicts_with_probabilities(registered) -> None:
    ws, X = registered
    predictor = Predictor(ws.models)
    first, second = predictor.load("churn@1"), predictor.load("churn@2")
    assert first.model is second.model and len(predictor.loaded) == 1
    assert (first.ref, second.ref) == ("churn@1", "churn@2")
    predictions, probabilities = first.predict(X)
    assert list(predictions) == list(first.model.predict(X))
    assert probabilities.shape == (6, 2) and first.classes == (0, 1)
    assert first.signature is not None and first.signature.names == ["age", "visits"]
    predictor.keep_only([])
    assert predictor.loaded == []
    with pytest.raises(NotFoundError):
        predictor.load("churn@7")
