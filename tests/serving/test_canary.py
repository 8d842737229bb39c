"""The canary controller: windows from the prediction log, decisions applied to the store."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from conftest import log_predictions, register_fitted
from gapless import Workspace
from gapless.serving.canary import CanaryController, state_of, variant_windows
from gapless.serving.deployments import Guardrails, Ramp

X = pd.DataFrame({"age": [20.0, 30, 40, 50, 60, 70]})
y = pd.Series([0, 0, 1, 1, 0, 1])


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    for _ in range(2):
        register_fitted(workspace, LogisticRegression().fit(X, y), X, y)
    workspace.deploy("churn", spec={"variants": [{"name": "primary", "model": "churn@1",
                                                  "weight": 100}],
                                    "log_fields": ["customer_id"]})
    workspace.deploy("churn", "churn@2", strategy="canary",
                     ramp=Ramp(steps=[10, 50, 100], interval_s=60),
                     guardrails=Guardrails(min_requests=20, max_error_rate=0.1,
                                           max_p95_ms=50, max_prediction_shift=0.2))
    return workspace


def traffic(ws: Workspace, variant: str, labels: list, *, status: int = 200,
            latency: float = 2.0) -> None:
    log_predictions(ws.metadata, [
        {"version": 2 if variant == "canary" else 1, "variant": variant,
         "inputs": {"age": 30.0}, "outputs": None if status != 200 else label,
         "latency_ms": latency, "status": status} for label in labels])


def test_a_healthy_canary_advances_step_by_step_and_is_promoted(ws: Workspace) -> None:
    clock = Clock()
    controller = CanaryController(ws.metadata, clock=clock)
    assert state_of(ws.deployments.get("churn")).weight == 10
    traffic(ws, "primary", [0, 1] * 40)
    traffic(ws, "canary", [0, 1] * 15)
    (tick,) = controller.tick()
    assert tick.decision.action == "hold" and "next step in" in tick.decision.reason
    assert tick.windows["canary"].requests == 30 and tick.windows["primary"].requests == 80

    clock.now += 61
    (tick,) = controller.tick()
    assert tick.decision.action == "advance" and tick.revision is not None
    current = ws.deployments.get("churn")
    assert {v.name: v.weight for v in current.spec.variants} == {"primary": 50, "canary": 50}
    # a fresh window starts at the step: nothing judged until the canary has traffic again
    (tick,) = controller.tick()
    assert tick.decision.action == "hold" and "more requests" in tick.decision.reason

    traffic(ws, "primary", [0, 1] * 20)
    traffic(ws, "canary", [1, 0] * 20)
    clock.now += 61
    controller.tick()
    clock.now += 61
    traffic(ws, "canary", [1, 0] * 20)
    (tick,) = controller.tick()
    assert tick.decision.action == "promote"
    final = ws.deployments.get("churn")
    assert final.spec.strategy == "single"
    assert [v.model for v in final.spec.variants] == ["churn@2"]
    assert final.spec.log_fields == ["customer_id"]  # the endpoint's settings survive
    reasons = [h["reason"] for h in ws.deployments.history("churn")]
    assert "advancing to 50%" in reasons[-3] and "promoting the canary" in reasons[-1]
    assert controller.tick() == []  # nothing left to drive


def test_a_failing_canary_is_rolled_back_with_the_reason_recorded(ws: Workspace) -> None:
    controller = CanaryController(ws.metadata)
    traffic(ws, "primary", [0, 1] * 30)
    traffic(ws, "canary", [0, 1] * 10)
    traffic(ws, "canary", [None] * 5, status=500)
    (tick,) = controller.tick()
    assert tick.decision.action == "rollback"
    after = ws.deployments.get("churn")
    assert [v.model for v in after.spec.variants] == ["churn@1"]
    reason = ws.deployments.history("churn")[-1]["reason"]
    assert "canary canary (churn@2)" in reason and "error rate 0.2 > 0.1" in reason


def test_latency_and_prediction_shift_guardrails_roll_back_too(ws: Workspace) -> None:
    traffic(ws, "primary", [0, 1] * 30)
    traffic(ws, "canary", [1] * 30, latency=80.0)
    (tick,) = CanaryController(ws.metadata).tick()
    assert tick.decision.action == "rollback"
    assert "p95 latency 80 ms > 50 ms" in tick.decision.reason
    assert "prediction shift (PSI)" in tick.decision.reason


def test_two_controllers_apply_each_step_once(ws: Workspace) -> None:
    clock = Clock()
    traffic(ws, "primary", [0, 1] * 30)
    traffic(ws, "canary", [0, 1] * 15)
    clock.now += 61
    first, second = (CanaryController(ws.metadata, clock=clock) for _ in range(2))
    deployment = ws.deployments.get("churn")
    applied = [first.step(deployment).revision, second.step(deployment).revision]
    assert applied[0] == deployment.revision + 1 and applied[1] is None
    assert ws.deployments.get("churn").revision == deployment.revision + 1


def test_preview_applies_nothing_and_windows_count_errors(ws: Workspace) -> None:
    traffic(ws, "canary", [1] * 3)
    traffic(ws, "canary", [None] * 2, status=500)
    before = ws.deployments.get("churn").revision
    tick = CanaryController(ws.metadata).preview("churn")
    assert tick.decision.action == "hold" and ws.deployments.get("churn").revision == before
    window = variant_windows(ws.metadata, "churn", 0.0)["canary"]
    assert (window.requests, window.errors, list(window.predictions)) == (5, 2, [1, 1, 1])


def test_at_the_last_step_the_primary_reference_is_the_whole_canary(
        workspace: Workspace) -> None:
    """At 100% the step's own primary window holds only requests that were in flight when
    the weights moved; judging the shift on them would roll back a healthy canary."""
    for _ in range(2):
        register_fitted(workspace, LogisticRegression().fit(X, y), X, y)
    workspace.deploy("churn", spec={"variants": [{"name": "primary", "model": "churn@1",
                                                  "weight": 100}],
                                    "log_fields": ["customer_id"]})
    workspace.deploy("churn", "churn@2", strategy="canary",
                     ramp=Ramp(steps=[50, 100], interval_s=60),
                     guardrails=Guardrails(min_requests=20, max_prediction_shift=0.2))
    clock = Clock()
    controller = CanaryController(workspace.metadata, clock=clock)
    traffic(workspace, "primary", [0, 1] * 20)
    traffic(workspace, "canary", [0, 1] * 15)
    clock.now += 61
    (tick,) = controller.tick()
    assert tick.decision.action == "advance" and tick.decision.weight == 100
    traffic(workspace, "primary", [1, 1])  # stragglers answered by the old weights
    traffic(workspace, "canary", [0, 1] * 15)
    clock.now += 61
    (tick,) = controller.tick()
    assert tick.decision.action == "promote", tick.decision.reason
    shift = next(c for c in tick.decision.checks if c["name"] == "prediction_shift")
    assert shift["value"] < 0.05


def test_a_canary_is_judged_about_thirty_times_per_step_not_every_tick(ws: Workspace) -> None:
    clock = Clock()
    controller = CanaryController(ws.metadata, clock=clock, period=0.5)
    assert len(controller.tick()) == 1
    assert controller.tick() == []  # interval 60 s: due again in 60 / 30 = 2 s
    clock.now += 2.1
    assert len(controller.tick()) == 1
    ws.deploy("churn", spec=ws.deployments.get("churn").spec)  # a new revision: due at once
    assert len(controller.tick()) == 1
