"""The canary state machine: explicit windows and explicit times, no server, no clock."""

from __future__ import annotations

import pytest

from gapless.core.errors import ValidationError
from gapless.serving.deployments import DeploymentSpec, Guardrails, Ramp, load_spec
from gapless.serving.guardrails import (
    CanaryState,
    VariantWindow,
    apply_weight,
    decide,
    psi,
    start,
)

RAMP = Ramp(steps=[5, 25, 50, 100], interval_s=300)
GUARDS = Guardrails(max_error_rate=0.05, max_p95_ms=200, max_prediction_shift=0.2,
                    min_requests=100)
LABELS = ["churn"] * 30 + ["stay"] * 70


def window(requests: int = 200, errors: int = 2, latency: float = 80.0,
           predictions: list[object] | None = None) -> VariantWindow:
    preds = predictions if predictions is not None else LABELS * (requests // len(LABELS))
    return VariantWindow(requests=requests, errors=errors,
                         latencies_ms=[latency] * requests, predictions=preds)


HEALTHY = window()


def test_a_healthy_canary_ramps_through_every_step_then_is_promoted() -> None:
    state = start(RAMP, now=1000.0)
    assert (state.step, state.weight, state.status) == (0, 5, "ramping")
    now, seen = 1000.0, []
    for _ in range(4):
        now += 300
        decision, state = decide(state, RAMP, GUARDS, HEALTHY, HEALTHY, now)
        seen.append((decision.action, decision.weight))
        assert all(c["passed"] for c in decision.checks)
        assert {c["name"] for c in decision.checks} == {"error_rate", "p95_ms",
                                                        "prediction_shift"}
    assert seen == [("advance", 25), ("advance", 50), ("advance", 100), ("promote", 100)]
    assert state.status == "promoted" and state.weight == 100
    assert "promoting" in (state.reason or "")


def test_a_state_before_the_start_advances_to_the_first_step_unjudged() -> None:
    before = CanaryState(step=-1, weight=0.0, entered_at=0.0)
    decision, state = decide(before, RAMP, GUARDS, VariantWindow(0), VariantWindow(0), 10.0)
    assert decision.action == "advance" and decision.weight == 5
    assert (state.step, state.entered_at) == (0, 10.0)


def test_holds_until_the_interval_has_elapsed() -> None:
    state = start(RAMP, now=0.0)
    decision, after = decide(state, RAMP, GUARDS, HEALTHY, HEALTHY, now=299.0)
    assert decision.action == "hold" and decision.weight == 5
    assert after == state
    assert "next step in 1s" in decision.reason


def test_holds_while_the_canary_has_too_few_requests_even_if_broken() -> None:
    state = start(RAMP, now=0.0)
    sparse = window(requests=40, errors=40, latency=5000.0)  # awful, but too little to judge
    decision, after = decide(state, RAMP, GUARDS, HEALTHY, sparse, now=10_000.0)
    assert decision.action == "hold" and after == state
    assert "waiting for 60 more requests" in decision.reason
    assert decision.checks == [{"name": "min_requests", "value": 40, "limit": 100,
                                "passed": False, "primary": 200}]


def test_rollback_on_error_rate_names_the_guardrail_and_values() -> None:
    state = start(RAMP, now=0.0)
    decision, after = decide(state, RAMP, GUARDS, HEALTHY, window(errors=24), now=10.0)
    assert decision.action == "rollback" and decision.weight == 0
    assert after.status == "rolled_back" and after.weight == 0
    assert "error rate 0.12 > 0.05" in decision.reason
    assert after.reason == decision.reason
    failed = [c["name"] for c in decision.checks if not c["passed"]]
    assert failed == ["error_rate"]


def test_rollback_on_p95_latency() -> None:
    decision, after = decide(start(RAMP, 0.0), RAMP, GUARDS, HEALTHY, window(latency=350.0),
                             now=10.0)
    assert decision.action == "rollback" and after.status == "rolled_back"
    assert "p95 latency 350 ms > 200 ms" in decision.reason
    assert "error rate" not in decision.reason


def test_rollback_on_prediction_shift() -> None:
    shifted = window(predictions=["churn"] * 90 + ["stay"] * 10)
    decision, _ = decide(start(RAMP, 0.0), RAMP, GUARDS, HEALTHY, shifted, now=10.0)
    assert decision.action == "rollback"
    assert "prediction shift (PSI)" in decision.reason and "> 0.2" in decision.reason
    check = next(c for c in decision.checks if c["name"] == "prediction_shift")
    assert check["value"] > 1.0 and not check["passed"]


def test_rollback_names_every_broken_guardrail() -> None:
    bad = window(errors=50, latency=900.0, predictions=[1.0] * 100)
    decision, _ = decide(start(RAMP, 0.0), RAMP, GUARDS, HEALTHY, bad, now=10.0)
    for part in ("error rate 0.25 > 0.05", "p95 latency 900 ms > 200 ms", "prediction shift"):
        assert part in decision.reason


def test_unset_limits_are_not_judged() -> None:
    loose = Guardrails(max_error_rate=0.05, max_p95_ms=None, max_prediction_shift=None,
                       min_requests=100)
    slow = VariantWindow(requests=200, errors=0, latencies_ms=[10_000.0] * 200)
    decision, _ = decide(start(RAMP, 0.0), RAMP, loose, HEALTHY, slow, now=300.0)
    assert decision.action == "advance"
    assert [c["name"] for c in decision.checks] == ["error_rate"]


def test_holds_when_a_set_limit_has_no_canary_data() -> None:
    blind = VariantWindow(requests=200, errors=0, predictions=LABELS * 2)
    decision, after = decide(start(RAMP, 0.0), RAMP, GUARDS, HEALTHY, blind, now=300.0)
    assert decision.action == "hold" and after.step == 0
    assert "no latencies recorded for the canary" in decision.reason


def test_shift_is_skipped_when_the_primary_answered_nothing() -> None:
    state = CanaryState(step=3, weight=100.0, entered_at=0.0)
    decision, after = decide(state, RAMP, GUARDS, VariantWindow(0), HEALTHY, now=300.0)
    assert decision.action == "promote" and after.status == "promoted"
    check = next(c for c in decision.checks if c["name"] == "prediction_shift")
    assert check["value"] is None and check["passed"]


@pytest.mark.parametrize("status", ["promoted", "rolled_back"])
def test_terminal_states_stay(status: str) -> None:
    state = CanaryState(step=2, weight=0.0, entered_at=0.0, status=status,  # type: ignore[arg-type]
                        reason="earlier")
    bad = window(errors=200)
    for now in (1.0, 10_000.0):
        decision, after = decide(state, RAMP, GUARDS, HEALTHY, bad, now)
        assert decision.action == "hold" and after is state
        assert decision.weight == state.weight and "earlier" in decision.reason


def test_bad_ramps_and_windows_are_refused() -> None:
    with pytest.raises(ValidationError, match="ramp steps"):
        start(Ramp(steps=[50, 25]), now=0.0)
    with pytest.raises(ValidationError, match="ramp steps"):
        start(Ramp(steps=[]), now=0.0)
    with pytest.raises(ValidationError, match="errors <= requests"):
        VariantWindow(requests=3, errors=4)


def test_psi_is_zero_for_identical_and_large_for_disjoint_labels() -> None:
    assert psi(LABELS, list(reversed(LABELS))) == pytest.approx(0.0)
    assert psi(["a"] * 50 + ["b"] * 50, ["c"] * 100) > 5


def test_psi_bins_numbers_at_reference_quantiles() -> None:
    reference = [i / 100 for i in range(1000)]
    assert psi(reference, reference) == pytest.approx(0.0)
    assert psi(reference, [v + 0.05 for v in reference]) < 0.1  # a nudge barely registers
    assert psi(reference, [v + 100 for v in reference]) > 5
    assert psi([1, 2, 3, 4] * 25, [1.0, 2.0, 3.0, 4.0] * 25) == pytest.approx(0.0)


def test_psi_checks_its_inputs() -> None:
    with pytest.raises(ValidationError, match="both samples"):
        psi([], [1.0])
    with pytest.raises(ValidationError, match="bins"):
        psi([1.0], [1.0], bins=1)


CANARY_SPEC = load_spec({"strategy": "canary", "variants": [
    {"name": "stable", "model": "churn@1", "weight": 95},
    {"name": "canary", "model": "churn@2", "weight": 5},
    {"name": "mirror", "model": "churn@3", "role": "shadow"}]})


@pytest.mark.parametrize("weight", [0.0, 25.0, 33.3, 100.0])
def test_apply_weight_keeps_the_primaries_at_100(weight: float) -> None:
    spec = apply_weight(CANARY_SPEC, "canary", weight)
    assert isinstance(spec, DeploymentSpec)
    weights = {v.name: v.weight for v in spec.variants}
    assert weights["canary"] == weight
    assert weights["stable"] + weights["canary"] == pytest.approx(100.0)
    assert weights["mirror"] == 0.0  # shadows untouched
    assert CANARY_SPEC.variants[1].weight == 5  # the input is not mutated


def test_apply_weight_validates_its_arguments() -> None:
    with pytest.raises(ValidationError, match="'nope'.*primary variants"):
        apply_weight(CANARY_SPEC, "nope", 25)
    with pytest.raises(ValidationError, match="'mirror'"):
        apply_weight(CANARY_SPEC, "mirror", 25)
    with pytest.raises(ValidationError, match="0 to 100"):
        apply_weight(CANARY_SPEC, "canary", 120)
