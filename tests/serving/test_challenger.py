"""Champion-challenger: scored in shadow, compared on feedback, promoted through gates."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.tree import DecisionTreeClassifier

from conftest import register_fitted
from gapless import PromotionRefusedError, ValidationError, Workspace
from gapless.serving.challenger import compare_on_feedback, promote_challenger
from gapless.serving.engine import Engine
from gapless.serving.feedback import record_feedback
from gapless.serving.prediction_log import PredictionLog
from gapless.serving.predictor import Predictor

X = pd.DataFrame({"age": [float(a) for a in range(20, 80)]})
y = (X["age"] > 45).astype(int)


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    dummy = DummyClassifier(strategy="constant", constant=1).fit(X, y)
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    register_fitted(workspace, dummy, X, y, target="churned")  # churn@1: always 1
    register_fitted(workspace, tree, X, y, target="churned")   # churn@2: right
    return workspace


def serve_with_feedback(ws: Workspace, champion: str, challenger: str) -> None:
    ws.deploy("churn", champion)
    ws.deploy("churn", challenger, strategy="champion-challenger")
    engine = Engine(ws.deployments, Predictor(ws.models, micro_batch=False),
                    log=PredictionLog(ws.metadata, flush_interval=0.01), poll_interval=0.0)
    answer = engine.predict("churn", X)
    engine.close()  # drains the shadows and the log
    labels = [{"prediction_id": i, "label": int(v)} for i, v in zip(answer.ids, y, strict=True)]
    record_feedback(ws.metadata, "churn", labels)


def test_a_better_challenger_is_promoted_and_deployed(ws: Workspace) -> None:
    serve_with_feedback(ws, "churn@1", "churn@2")
    report = compare_on_feedback(ws, "churn")
    assert [(r["variant"], r["role"], r["rows"]) for r in report] == [
        ("primary", "primary", 60), ("challenger", "shadow", 60)]
    assert report[0]["accuracy"] == pytest.approx(float(y.mean()))
    assert report[1]["accuracy"] == 1.0
    done = promote_challenger(ws, "churn", alias="production")
    assert done["promotion"]["to_version"] == 2 and done["dataset"] == "feedback-churn@1"
    (beat,) = [g for g in done["promotion"]["gates"] if g["gate"].startswith("beat current")]
    assert beat["passed"] and "vs churn@1's" in beat["detail"] and "same 60 rows" in beat["detail"]
    assert ws.models.get("churn@production").version == 2
    current = ws.deployments.get("churn")
    assert current.spec.strategy == "single"
    assert [v.model for v in current.spec.variants] == ["churn@2"]
    assert "challenger promoted" in ws.deployments.history("churn")[-1]["reason"]


def test_a_worse_challenger_is_refused_and_nothing_moves(ws: Workspace) -> None:
    ws.models.promote("churn@2", "production", reason="the tree is live")
    serve_with_feedback(ws, "churn@2", "churn@1")
    before = ws.deployments.get("churn")
    with pytest.raises(PromotionRefusedError) as refused:
        promote_challenger(ws, "churn", alias="production")
    (beat,) = [g for g in refused.value.gates if g["gate"].startswith("beat current")]
    assert not beat["passed"] and "vs churn@2's 1 on the same 60 rows" in beat["detail"]
    assert ws.models.get("churn@production").version == 2
    assert ws.deployments.get("churn").revision == before.revision
    assert ws.models.history("churn", "production")[-1].outcome == "refused"


def test_promoting_needs_a_champion_challenger_with_feedback(ws: Workspace) -> None:
    ws.deploy("churn", "churn@1")
    with pytest.raises(ValidationError, match="deploy a champion-challenger first"):
        promote_challenger(ws, "churn")
    ws.deploy("churn", "churn@2", strategy="champion-challenger")
    with pytest.raises(ValidationError, match="no labelled predictions yet"):
        promote_challenger(ws, "churn")
