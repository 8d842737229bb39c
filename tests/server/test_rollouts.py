"""Rollouts on a live app: a canary ramped to promotion by the server itself, per-variant
metrics, and the deploy command's strategies, status and challenger promotion."""

from __future__ import annotations

import time

import pandas as pd
from fastapi.testclient import TestClient
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner

from conftest import register_fitted
from gapless import Workspace
from gapless.cli.main import app as cli
from gapless.serving.deployments import Guardrails, Ramp

runner = CliRunner()
ROWS = {"instances": [{"age": 33.0, "region": "n"}, {"age": 61.0, "region": "s"}]}


def test_the_server_ramps_a_healthy_canary_to_promotion(ws: Workspace) -> None:
    from gapless.server.app import create_app

    ws.models.register(ws.models.get("churn@1").run_id, "churn")  # churn@2
    ws.deploy("default", "churn@2", strategy="canary",
              ramp=Ramp(steps=[50, 100], interval_s=0.2), guardrails=Guardrails(min_requests=4))
    seen = set()
    with TestClient(create_app(ws, auth=False, poll_interval=0.05,
                               canary_interval=0.1)) as client:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = client.post("/v1/endpoints/default/predict", json=ROWS)
            assert answer.status_code == 200
            seen.add(answer.json()["variant"])
            if ws.deployments.get("default").spec.strategy == "single":
                break
            time.sleep(0.02)
        metrics = client.get("/metrics").text
    final = ws.deployments.get("default")
    assert final.spec.strategy == "single", "the canary was never promoted"
    assert [v.model for v in final.spec.variants] == ["churn@2"]
    assert seen == {"primary", "canary"}
    reasons = [h["reason"] for h in ws.deployments.history("default")]
    assert any("advancing to 100%" in (r or "") for r in reasons)
    assert "promoting the canary to 100%" in reasons[-1]
    for variant in ("primary", "canary"):
        assert f'route="predict",status="200",variant="{variant}"' in metrics


def test_deploy_strategies_status_and_challenger_from_the_cli(ws: Workspace) -> None:
    X = pd.DataFrame({"age": [float(a) for a in range(20, 80)],
                      "region": ["n", "s"] * 30})
    y = (X["age"] > 45).astype(int)
    register_fitted(ws, DecisionTreeClassifier(max_depth=2, random_state=0).fit(X[["age"]], y),
                    X[["age"]], y, target="churned")  # churn@2
    root = str(ws.root)
    shadow = runner.invoke(cli, ["-w", root, "deploy", "default", "--model", "churn@2",
                                 "--strategy", "champion-challenger"])
    assert shadow.exit_code == 0, shadow.output
    assert "champion-challenger: primary=churn@1 100%, challenger=churn@2 (shadow)" \
        in shadow.output
    from gapless.server.app import create_app

    with TestClient(create_app(ws, auth=False)) as client:
        ids = client.post("/v1/endpoints/default/predict", json={
            "instances": X.to_dict("records")}).json()["ids"]
        labels = [{"prediction_id": i, "label": int(v)} for i, v in zip(ids, y, strict=True)]
        assert client.post("/v1/endpoints/default/feedback",
                           json={"feedback": labels}).status_code == 200
    status = runner.invoke(cli, ["-w", root, "deploy", "default", "--status"])
    assert status.exit_code == 0, status.output
    assert "challenger (churn@2, shadow): 60 labelled rows, 0 failed, accuracy 1" in status.output
    promoted = runner.invoke(cli, ["-w", root, "deploy", "default", "--promote-challenger"])
    assert promoted.exit_code == 0, promoted.output
    assert "challenger promoted to churn@production (v2), scored on feedback-default@1" \
        in promoted.output
    ws.deploy("default", "churn@1")
    canary = runner.invoke(cli, ["-w", root, "deploy", "default", "--model", "churn@2",
                                 "--strategy", "canary", "--steps", "10,100"])
    assert canary.exit_code == 0 and "primary=churn@1 90%, canary=churn@2 10%" in canary.output
    status = runner.invoke(cli, ["-w", root, "deploy", "default", "--status"])
    assert "canary: next decision hold" in status.output
    both = runner.invoke(cli, ["-w", root, "deploy", "default", "--status", "--rollback"])
    assert both.exit_code != 0 and "give one of" in str(both.exception)


def test_a_running_server_logs_its_shadow_from_the_child_process(server: str,
                                                                 ws: Workspace) -> None:
    import httpx

    from gapless.serving.feedback import read_predictions

    ws.models.register(ws.models.get("churn@1").run_id, "churn")  # churn@2
    ws.deploy("default", "churn@2", strategy="shadow")
    time.sleep(1.2)  # the server polls the deployment revision every second
    answer = httpx.post(f"http://{server}/v1/endpoints/default/predict", json=ROWS).json()
    assert answer["variant"] == "primary" and answer["model"] == "churn@1"
    deadline, shadows = time.monotonic() + 30, []
    while time.monotonic() < deadline and len(shadows) < 2:
        time.sleep(0.3)
        shadows = [r for r in read_predictions(ws.metadata, "default")
                   if r["role"] == "shadow" and r["prediction_id"] in answer["ids"]]
    assert sorted(r["prediction_id"] for r in shadows) == sorted(answer["ids"])
    assert {(r["variant"], r["version"], r["status"]) for r in shadows} == {("shadow", 2, 200)}
    assert [r["outputs"] for r in sorted(shadows, key=lambda r: answer["ids"].index(
        r["prediction_id"]))] == answer["predictions"]
