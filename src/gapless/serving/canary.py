"""Driving canaries and reading per-variant windows: the shell around :mod:`guardrails`.

:meth:`CanaryController.tick` looks at every endpoint whose deployment is a canary with a
ramp, collects one :class:`~gapless.serving.guardrails.VariantWindow` per variant from
the prediction log (every worker's and replica's predictions since the deployment last
changed), asks :func:`~gapless.serving.guardrails.decide`, and applies the decision to
the deployment store with ``expected_revision``: when several server processes tick at
once, exactly one applies each step and the others see a ConflictError and let it be.
An advance re-weights the two primaries; a promotion or a rollback replaces the canary
with a single deployment of the variant that won, with the reason (every guardrail's
value and limit) in the deployment history, so ``gapless deploy ENDPOINT --rollback``
and the audit see it like any other change.

The state needs no table of its own: the step is where the canary's weight stands on
the ramp, and the step was entered when the deployment last changed (``updated_at``).
Windows use the prediction log, so a canary is judged on sampled rows when logging is
sampled, and a tick sees predictions once the log has flushed them (about a second).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from gapless.core.errors import ConflictError, ValidationError
from gapless.serving.deployments import Deployment, DeploymentSpec, DeploymentStore, Variant
from gapless.serving.guardrails import CanaryState, Decision, VariantWindow, apply_weight, decide
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import predictions

log = logging.getLogger(__name__)

WINDOW_LIMIT = 50_000  # newest logged rows per tick; enough for any guardrail


@dataclass(frozen=True)
class Tick:
    """What one tick did for one endpoint: the decision, and the revision it applied (None
    when it held, or when another process applied the same step first)."""

    endpoint: str
    decision: Decision
    revision: int | None
    windows: dict[str, VariantWindow] = field(default_factory=dict)


def canary_variants(spec: DeploymentSpec) -> tuple[Variant, Variant]:
    """``(primary, canary)`` of a canary spec: the canary is the variant named in
    ``spec.canary``, by default the second primary listed."""
    primaries = [v for v in spec.variants if v.role == "primary"]
    if len(primaries) != 2:
        raise ValidationError(f"a canary splits traffic between exactly two primary variants, "
                              f"got {[v.name for v in primaries]}")
    name = spec.canary or primaries[1].name
    if name not in {v.name for v in primaries}:
        raise ValidationError(f"canary {name!r} is not one of the primary variants "
                              f"{[v.name for v in primaries]}")
    canary = next(v for v in primaries if v.name == name)
    return next(v for v in primaries if v.name != name), canary


def state_of(deployment: Deployment) -> CanaryState:
    """Where a ramping canary stands: the highest ramp step at or below its weight (-1
    below the first step), entered when the deployment last changed."""
    spec = deployment.spec
    if spec.ramp is None:
        raise ValidationError(f"endpoint {deployment.endpoint!r} has no ramp to drive")
    weight = canary_variants(spec)[1].weight
    step = max((i for i, s in enumerate(spec.ramp.steps) if s <= weight), default=-1)
    return CanaryState(step=step, weight=weight, entered_at=deployment.updated_at)


def variant_windows(store: MetadataStore, endpoint: str, since: float,
                    until: float | None = None) -> dict[str, VariantWindow]:
    """Per variant, what the primaries answered since ``since``: requests, errors (status
    500: the model failed on valid rows), latencies and predictions (newest
    :data:`WINDOW_LIMIT` rows at most)."""
    p = predictions
    stmt = (sa.select(p.c.variant, p.c.status, p.c.latency_ms, p.c.outputs_json)
            .where(p.c.endpoint == endpoint, p.c.role == "primary", p.c.created_at >= since)
            .order_by(p.c.created_at.desc()).limit(WINDOW_LIMIT))
    if until is not None:
        stmt = stmt.where(p.c.created_at < until)
    with store.read() as conn:
        rows = conn.execute(stmt).all()
    grouped: dict[str, dict[str, list[Any]]] = {}
    for variant, status, latency, outputs in rows:
        bucket = grouped.setdefault(variant, {"status": [], "latency": [], "output": []})
        bucket["status"].append(status)
        bucket["latency"].append(latency)
        if status == 200:
            bucket["output"].append(_label(json.loads(outputs)))
    return {variant: VariantWindow(requests=len(b["status"]),
                                   errors=sum(1 for s in b["status"] if s >= 500),
                                   latencies_ms=b["latency"],
                                   predictions=[o for o in b["output"] if o is not None])
            for variant, b in grouped.items()}


class CanaryController:
    """Moves every ramping canary one decision forward per :meth:`tick`."""

    def __init__(self, store: MetadataStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.deployments = DeploymentStore(store)
        self.clock = clock

    def tick(self) -> list[Tick]:
        """Judge and move every canary with a ramp; one Tick per canary endpoint."""
        ticks = []
        for endpoint in self.deployments.revisions():
            deployment = self.deployments.get(endpoint)
            if deployment.spec.strategy == "canary" and deployment.spec.ramp is not None:
                ticks.append(self.step(deployment))
        return ticks

    def preview(self, endpoint: str) -> Tick:
        """What the next tick would decide for ``endpoint``, applying nothing."""
        return self.step(self.deployments.get(endpoint), apply=False)

    def step(self, deployment: Deployment, *, apply: bool = True) -> Tick:
        spec, now = deployment.spec, self.clock()
        primary, canary = canary_variants(spec)
        assert spec.ramp is not None
        windows = variant_windows(self.store, deployment.endpoint, deployment.updated_at)
        # The primary's reference is everything it answered since the canary began: at a
        # late step (100% has none) the current window holds only the few requests still
        # in flight when the weights moved, and their prediction mix is noise.
        began = self._began(deployment, canary)
        reference = (windows if began >= deployment.updated_at else variant_windows(
            self.store, deployment.endpoint, began))
        empty = VariantWindow(requests=0)
        decision, _ = decide(state_of(deployment), spec.ramp, spec.guardrails,
                             reference.get(primary.name, empty),
                             windows.get(canary.name, empty), now)
        if not apply or decision.action == "hold":
            return Tick(deployment.endpoint, decision, None, windows)
        if decision.action == "advance":
            target = apply_weight(spec, canary.name, decision.weight)
        else:
            winner = canary if decision.action == "promote" else primary
            target = DeploymentSpec(strategy="single", unknown_categories=spec.unknown_categories,
                                    variants=[winner.model_copy(update={"weight": 100.0})])
        reason = f"canary {canary.name} ({canary.model}): {decision.reason}"
        try:
            applied = self.deployments.put(deployment.endpoint, target, reason=reason,
                                           expected_revision=deployment.revision)
        except ConflictError:  # another process moved it first
            return Tick(deployment.endpoint, decision, None, windows)
        log.info("endpoint %s: %s", deployment.endpoint, reason)
        return Tick(deployment.endpoint, decision, applied.revision, windows)


    def _began(self, deployment: Deployment, canary: Variant) -> float:
        """When the current canary of ``canary.model`` was first deployed: the oldest
        revision of the unbroken run of canary specs ramping that model."""
        began = deployment.updated_at
        for entry in reversed(self.deployments.history(deployment.endpoint)):
            spec = entry["spec"]
            names = {v["name"]: v["model"] for v in spec.get("variants", [])}
            if spec.get("strategy") != "canary" or names.get(
                    spec.get("canary") or canary.name) != canary.model:
                break
            began = min(began, entry["created_at"])
        return began


def _label(outputs: Any) -> Any:
    """The prediction a log row holds (a label or a number), for the shift guardrail."""
    if isinstance(outputs, dict):
        outputs = outputs.get("prediction", outputs.get("label"))
    return outputs if isinstance(outputs, (str, int, float, bool)) else None
