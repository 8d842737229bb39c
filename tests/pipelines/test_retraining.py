"""The retraining loop on a live endpoint: a challenger trained on fresh data must beat the
champion on its holdout and on labelled feedback, then survive a canary under real
traffic, before it is promoted; a loss or a rollback promotes nothing."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator

import pytest

from gapless import Workspace
from gapless.data.sample_data import make_loans

TRAIN = {"target": "defaulted", "dataset": "loans@1",
         "features": {"exclude": ["customer_id", "application_id", "applied_at"]},
         "budget": {"trials": 1}, "cv": {"folds": 2},
         "candidates": [{"family": "logistic_regression", "params": {"max_iter": 300}}],
         "behavioural_tests": []}
NO_GATES = {"aliases": {"production": {"behavioural": False, "fairness": False,
                                       "data_validation": "off"}}}


def retrain(delta: float, guardrails: dict) -> dict:
    return {"name": "retrain-loans", "steps": [
        {"name": "ingest", "uses": "ingest", "with": {"name": "loans", "source": "fresh.csv"}},
        {"name": "train", "uses": "train", "with": {"spec": TRAIN, "executor": "local:1",
                                                   "dataset": "${steps.ingest.dataset}"}},
        {"name": "register", "uses": "register",
         "with": {"run_id": "${steps.train.run_id}", "model": "loans"}},
        {"name": "challenge", "uses": "challenge",
         "with": {"challenger": "${steps.register.version}", "endpoint": "loans",
                  "alias": "production", "delta": delta}},
        {"name": "canary", "uses": "canary",
         "with": {"endpoint": "loans", "model": "${steps.challenge.challenger}",
                  "steps": [50, 100], "interval": 1.0, "timeout": 60, "poll": 0.2,
                  "guardrails": guardrails}},
        {"name": "promote", "uses": "promote",
         "with": {"version": "${steps.canary.outcome}", "alias": "production"}},
    ]}


@pytest.fixture
def live(workspace: Workspace) -> Iterator[tuple[Workspace, threading.Event]]:
    """loans@1 serves endpoint ``loans`` (and is @production); a thread sends it rows
    and labels them, until the test ends."""
    from gapless.server.app import create_app

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with")
        from fastapi.testclient import TestClient

    rows = make_loans(1200, seed=5)
    workspace.data.add("loans", rows, time_column="applied_at")
    (workspace.root / "gates.yaml").write_text(json.dumps(NO_GATES), encoding="utf-8")
    make_loans(1200, seed=6).to_csv(workspace.root / "fresh.csv", index=False)
    champion = workspace.models.register(workspace.train(TRAIN, executor="local:1").run_id,
                                         "loans")
    workspace.models.promote(champion.ref, "production", reason="first")
    workspace.deploy("loans", champion.ref)
    records = json.loads(rows.drop(columns=["defaulted"]).to_json(orient="records",
                                                                  date_format="iso"))
    labels = rows["defaulted"].tolist()
    stop = threading.Event()

    def traffic(client: TestClient) -> None:
        i = 0
        while not stop.is_set():
            batch = slice(i % 1100, i % 1100 + 4)
            answer = client.post("/v1/endpoints/loans/predict",
                                 json={"instances": records[batch]})
            if answer.status_code == 200:
                client.post("/v1/endpoints/loans/feedback", json={"feedback": [
                    {"prediction_id": pid, "label": y}
                    for pid, y in zip(answer.json()["ids"], labels[batch], strict=True)]})
            i += 4

    with TestClient(create_app(workspace, auth=False, poll_interval=0.1,
                               canary_interval=0.2)) as client:
        sender = threading.Thread(target=traffic, args=(client,), daemon=True)
        sender.start()
        try:
            yield workspace, stop
        finally:
            stop.set()
            sender.join(timeout=30)


def status(run) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {s.step: s.status for s in run.steps}


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local:1", "dask-local:2"])
def test_a_challenger_that_wins_is_canaried_and_promoted(live, executor: str) -> None:  # type: ignore[no-untyped-def]
    if executor.startswith("dask"):
        try:
            import distributed  # noqa: F401
        except ImportError as exc:
            from conftest import service_missing

            service_missing("Dask", f"{exc.name} is not installed (pip install "
                                    "'gapless[dask]')")
    ws, _ = live
    spec = retrain(-0.2, {"min_requests": 20, "max_error_rate": 0.05,
                          "max_prediction_shift": None})
    spec["steps"][-1]["with"]["version"] = "${steps.challenge.challenger}"
    run = ws.pipelines.run(spec, executor=executor, trigger="alert:1")
    assert run.status == "succeeded", run.to_dict()
    assert run.outputs["challenge"]["checked"] == ["feedback", "holdout"]
    assert run.outputs["canary"]["outcome"] == "promoted"
    assert ws.models.get("loans@production").version == 2
    assert [v.model for v in ws.deployments.get("loans").spec.variants] == ["loans@2"]
    reasons = [h["reason"] or "" for h in ws.deployments.history("loans")]
    assert any("advancing to 100%" in r for r in reasons)
    audit = ws.models.history("loans")
    assert audit[-1].outcome == "applied" and "pipeline run" in audit[-1].reason
    canary_log = next(s.log for s in run.steps if s.step == "canary")
    assert "canary of loans@2 beside loans@1" in canary_log


@pytest.mark.slow
def test_a_losing_challenger_or_a_rolled_back_canary_promotes_nothing(live) -> None:  # type: ignore[no-untyped-def]
    ws, _ = live
    lost = ws.pipelines.run(retrain(0.5, {}), executor="local:1")
    assert status(lost) == {"ingest": "succeeded", "train": "succeeded",
                            "register": "succeeded", "challenge": "failed",
                            "canary": "skipped", "promote": "skipped"}
    challenge = next(s for s in lost.steps if s.step == "challenge")
    assert "loans@2 does not replace loans@1" in challenge.error
    assert "holdout: beat current on roc_auc" in challenge.error
    assert "feedback: beat current on roc_auc" in challenge.error
    assert ws.deployments.get("loans").spec.variants[0].model == "loans@1"
    spec = retrain(-0.5, {"min_requests": 10, "max_p95_ms": 0.001})  # no model is that fast
    spec["steps"][1]["cache"] = False  # train a fresh challenger, loans@3
    rolled = ws.pipelines.run(spec, executor="local:1")
    assert status(rolled)["canary"] == "failed" and status(rolled)["promote"] == "skipped"
    canary = next(s for s in rolled.steps if s.step == "canary")
    assert "was rolled back" in canary.error and "p95" in canary.error
    assert [v.model for v in ws.deployments.get("loans").spec.variants] == ["loans@1"]
    assert ws.models.get("loans@production").version == 1
