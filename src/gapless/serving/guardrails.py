"""The canary's decisions: a pure state machine, observations in, actions out.

A canary deployment moves traffic to a new variant in steps (``Ramp.steps``, percent of
traffic) and checks it against :class:`~gapless.serving.deployments.Guardrails` on the way.
Nothing here reads a clock, a store or a server: the shell that drives a canary collects
one :class:`VariantWindow` per variant (what was observed since the last step), calls
:func:`decide` with the time it read, applies the :class:`Decision` (with
:func:`apply_weight` and the deployment store) and keeps the returned
:class:`CanaryState` for the next call. A fresh window starts at each step.

The states::

    start() ──> ramping(step 0) ──advance──> ramping(step 1) ... ramping(last step)
                   │                                                   │
                   └──────────── rollback ──> rolled_back              └─promote─> promoted

``rolled_back`` and ``promoted`` are terminal: :func:`decide` only holds there.
"""

from __future__ import annotations

import math
import numbers
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any, Literal

from gapless.core.errors import ValidationError
from gapless.serving.deployments import DeploymentSpec, Guardrails, Ramp

Status = Literal["ramping", "promoted", "rolled_back"]
Action = Literal["hold", "advance", "promote", "rollback"]

PSI_EPSILON = 1e-4  # proportion given to an empty bin, so the log stays finite


@dataclass(frozen=True)
class VariantWindow:
    """What was observed for one variant since the last step of the ramp."""

    requests: int
    errors: int = 0
    latencies_ms: Sequence[float] = ()
    predictions: Sequence[Any] = ()  # labels or numbers, one per answered request

    def __post_init__(self) -> None:
        if self.requests < 0 or not 0 <= self.errors <= self.requests:
            raise ValidationError(f"variant window: expected 0 <= errors <= requests, got "
                                  f"{self.errors} errors of {self.requests} requests")

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def p95_ms(self) -> float | None:
        """The 95th percentile latency (nearest rank), or None with no latencies."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return float(ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)])


@dataclass(frozen=True)
class CanaryState:
    """Where a canary stands: ``step`` indexes ``ramp.steps`` (-1: not started yet)."""

    step: int
    weight: float
    entered_at: float
    status: Status = "ramping"
    reason: str | None = None


@dataclass(frozen=True)
class Decision:
    """What to do now: set the canary to ``weight`` percent of traffic, and why.

    ``checks`` holds one dict per guardrail judged: ``name``, ``value`` (the canary's),
    ``limit``, ``passed``, and ``primary`` (the primary's value where one exists)."""

    action: Action
    weight: float
    reason: str
    checks: list[dict[str, Any]] = field(default_factory=list)


def start(ramp: Ramp, now: float) -> CanaryState:
    """The first step of the ramp, entered at ``now``; the steps are checked here."""
    _check_ramp(ramp)
    return CanaryState(step=0, weight=ramp.steps[0], entered_at=now)


def decide(state: CanaryState, ramp: Ramp, guardrails: Guardrails, primary: VariantWindow,
           canary: VariantWindow, now: float) -> tuple[Decision, CanaryState]:
    """The next action of a canary, and the state after it.

    - A ``promoted`` or ``rolled_back`` state is terminal: hold, same state.
    - Step -1 (not started): advance to the first step without judging anything.
    - Fewer than ``min_requests`` canary requests in the window: hold, nothing is judged.
    - Any guardrail broken: rollback to weight 0; the reason names every broken one.
      The error rate limit is absolute (the canary's own rate against
      ``max_error_rate``), not relative to the primary, whose rate is reported in the
      checks for context; p95 is judged only when ``max_p95_ms`` is set, and the
      prediction shift (:func:`psi` of the primary's predictions against the canary's)
      only when ``max_prediction_shift`` is set and the primary answered anything (at
      100 % the primary gets no traffic; pass the last primary window as reference).
    - A limit that is set but has nothing to judge on the canary's side (no latencies,
      no predictions): hold, so a canary is never advanced blind.
    - All pass and ``interval_s`` has elapsed since the step was entered: advance to the
      next step, or promote (weight 100) from the last one; otherwise hold.
    """
    if state.status != "ramping":
        return Decision("hold", state.weight, f"canary already {state.status.replace('_', ' ')}"
                        f": {state.reason}"), state
    _check_ramp(ramp)
    if state.step < 0:
        return _advance(state, ramp, now, "starting the ramp", [])

    missing = guardrails.min_requests - canary.requests
    if missing > 0:
        check = {"name": "min_requests", "value": canary.requests,
                 "limit": guardrails.min_requests, "passed": False, "primary": primary.requests}
        return Decision("hold", state.weight, f"waiting for {missing} more requests "
                        f"({canary.requests} of {guardrails.min_requests}) before judging "
                        "the canary", [check]), state

    checks, blind = _checks(guardrails, primary, canary)
    broken = [c for c in checks if not c["passed"]]
    if broken:
        reason = "canary broke its guardrails: " + "; ".join(_describe(c) for c in broken)
        after = replace(state, weight=0.0, entered_at=now, status="rolled_back", reason=reason)
        return Decision("rollback", 0.0, reason, checks), after
    if blind:
        return Decision("hold", state.weight, "cannot judge the canary: " + "; ".join(blind),
                        checks), state
    waited = now - state.entered_at
    if waited < ramp.interval_s:
        return Decision("hold", state.weight, f"guardrails pass at {state.weight:g}%; next "
                        f"step in {ramp.interval_s - waited:g}s", checks), state
    return _advance(state, ramp, now, f"guardrails passed for {waited:g}s at "
                    f"{state.weight:g}%", checks)


def psi(reference: Sequence[Any], current: Sequence[Any], *, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference``.

    ``PSI = sum_i (c_i - r_i) * ln(c_i / r_i)`` over bins ``i``, where ``r_i`` and ``c_i``
    are the shares of reference and current values in bin ``i`` and an empty bin counts
    as a share of ``PSI_EPSILON`` (1e-4). Numbers (bools excluded) are binned at up to
    ``bins`` quantiles of the reference, the outer bins open-ended; anything else is
    categorical, one bin per label seen on either side. 0 means the same distribution;
    the usual reading is < 0.1 stable, 0.1-0.25 shifted, > 0.25 a different population.
    """
    if bins < 2:
        raise ValidationError(f"psi: bins must be at least 2, got {bins}")
    if not reference or not current:
        raise ValidationError(f"psi: both samples need values, got {len(reference)} "
                              f"reference and {len(current)} current")
    if _numeric(reference) and _numeric(current):
        ordered = sorted(float(v) for v in reference)
        n = len(ordered)
        edges = sorted({ordered[(k * n) // bins] for k in range(1, bins)})
        ref_counts = Counter(bisect_right(edges, float(v)) for v in reference)
        cur_counts = Counter(bisect_right(edges, float(v)) for v in current)
        keys: list[Any] = list(range(len(edges) + 1))
    else:
        ref_counts, cur_counts = Counter(reference), Counter(current)
        keys = list(ref_counts.keys() | cur_counts.keys())
    total = 0.0
    for key in keys:
        r = max(ref_counts[key] / len(reference), PSI_EPSILON)
        c = max(cur_counts[key] / len(current), PSI_EPSILON)
        total += (c - r) * math.log(c / r)
    return total


def apply_weight(spec: DeploymentSpec, canary_variant: str, weight: float) -> DeploymentSpec:
    """``spec`` with ``canary_variant`` at ``weight`` percent and the other primary at the
    rest, so the primaries still add up to 100. The spec must have exactly two primaries."""
    primaries = [v.name for v in spec.variants if v.role == "primary"]
    if canary_variant not in primaries:
        raise ValidationError(f"canary variant {canary_variant!r}: expected one of the "
                              f"primary variants {primaries}; name one of them")
    if len(primaries) != 2:
        raise ValidationError(f"a canary splits traffic between exactly two primary "
                              f"variants, got {len(primaries)}: {primaries}")
    if not 0 <= weight <= 100:
        raise ValidationError(f"canary weight: expected 0 to 100 percent, got {weight:g}")
    variants = [v.model_copy(update={"weight": weight if v.name == canary_variant
                                     else 100.0 - weight}) if v.role == "primary" else v
                for v in spec.variants]
    return DeploymentSpec.model_validate({**spec.model_dump(), "variants":
                                          [v.model_dump() for v in variants]})


# -- helpers ---------------------------------------------------------------------------
def _check_ramp(ramp: Ramp) -> None:
    steps = ramp.steps
    if not steps or any(not 0 < s <= 100 for s in steps) or any(
            a >= b for a, b in pairwise(steps)):
        raise ValidationError(f"ramp steps: expected increasing percents in (0, 100], got "
                              f"{steps}; for example [5, 25, 50, 100]")


def _advance(state: CanaryState, ramp: Ramp, now: float, why: str,
             checks: list[dict[str, Any]]) -> tuple[Decision, CanaryState]:
    nxt = state.step + 1
    if nxt >= len(ramp.steps):
        reason = f"{why}; promoting the canary to 100%"
        after = replace(state, weight=100.0, entered_at=now, status="promoted", reason=reason)
        return Decision("promote", 100.0, reason, checks), after
    weight = ramp.steps[nxt]
    reason = f"{why}; advancing to {weight:g}%"
    return Decision("advance", weight, reason, checks), replace(
        state, step=nxt, weight=weight, entered_at=now, reason=reason)


def _checks(guardrails: Guardrails, primary: VariantWindow,
            canary: VariantWindow) -> tuple[list[dict[str, Any]], list[str]]:
    """Every guardrail judged, and what could not be judged for lack of canary data."""
    checks = [{"name": "error_rate", "value": canary.error_rate,
               "limit": guardrails.max_error_rate,
               "passed": canary.error_rate <= guardrails.max_error_rate,
               "primary": primary.error_rate}]
    blind: list[str] = []
    if guardrails.max_p95_ms is not None:
        p95 = canary.p95_ms
        if p95 is None:
            blind.append("no latencies recorded for the canary")
        else:
            checks.append({"name": "p95_ms", "value": p95, "limit": guardrails.max_p95_ms,
                           "passed": p95 <= guardrails.max_p95_ms, "primary": primary.p95_ms})
    if guardrails.max_prediction_shift is not None:
        if not canary.predictions:
            blind.append("no predictions recorded for the canary")
        else:  # with no primary predictions to compare with, the check is skipped
            shift = (psi(primary.predictions, canary.predictions)
                     if primary.predictions else None)
            checks.append({"name": "prediction_shift", "value": shift,
                           "limit": guardrails.max_prediction_shift,
                           "passed": shift is None or shift <= guardrails.max_prediction_shift,
                           "primary": None})
    return checks, blind


def _describe(check: dict[str, Any]) -> str:
    unit = " ms" if check["name"] == "p95_ms" else ""
    label = {"error_rate": "error rate", "p95_ms": "p95 latency",
             "prediction_shift": "prediction shift (PSI)"}[check["name"]]
    return f"{label} {check['value']:.4g}{unit} > {check['limit']:g}{unit}"


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)
