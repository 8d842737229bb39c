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
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from gapless.core.errors import ConflictError, ValidationError
from gapless.serving.deployments import (
    Deployment,
    DeploymentSpec,
    DeploymentStore,
    Variant,
    endpoint_settings,
)
from gapless.serving.guardrails import CanaryState, Decision, VariantWindow, apply_weight, decide
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import predictions

log = logging.getLogger(__name__)

CHECKS_PER_STEP = 30  # judgements per ramp step (see CanaryController.tick)
MAX_CHECK_S = 10.0
SAMPLE_ROWS = 2_000  # newest rows per variant a tick reads latencies and predictions from


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
    """Per variant, what the primaries answered since ``since``: requests and errors
    (status 500: the model failed on valid rows) counted in the database, latencies and
    predictions from the newest :data:`SAMPLE_ROWS` rows (enough for a p95 and a PSI,
    and a tick stays cheap however long a step runs)."""
    p = predictions
    where = [p.c.endpoint == endpoint, p.c.role == "primary", p.c.created_at >= since]
    if until is not None:
        where.append(p.c.created_at < until)
    counts = (sa.select(p.c.variant, sa.func.count(),
                        sa.func.sum(sa.case((p.c.status >= 500, 1), else_=0)))
              .where(*where).group_by(p.c.variant))
    windows = {}
    with store.read() as conn:
        for variant, requests, errors in conn.execute(counts).all():
            sample = conn.execute(
                sa.select(p.c.status, p.c.latency_ms, p.c.outputs_json)
                .where(*where, p.c.variant == variant)
                .order_by(p.c.created_at.desc()).limit(SAMPLE_ROWS)).all()
            answered = (_label(json.loads(o)) for status, _, o in sample if status == 200)
            windows[variant] = VariantWindow(
                requests=int(requests), errors=int(errors or 0),
                latencies_ms=[latency for _, latency, _ in sample],
                predictions=[label for label in answered if label is not None])
    return windows


class CanaryController:
    """Moves every ramping canary one decision forward per :meth:`tick`."""

    def __init__(self, store: MetadataStore, *, clock: Callable[[], float] = time.time,
                 period: float = 1.0) -> None:
        self.store = store
        self.deployments = DeploymentStore(store)
        self.clock = clock
        self.period = period  # how often tick() is called
        self._due: dict[tuple[str, int], float] = {}

    def tick(self) -> list[Tick]:
        """Judge and move every canary with a ramp that is due; one Tick per canary judged.

        A canary is judged about :data:`CHECKS_PER_STEP` times per step of its ramp (at
        most every :data:`MAX_CHECK_S` seconds, at least every ``period``): each judgement
        reads the prediction log, so a five-minute step is checked every ten seconds, not
        every second, and serving keeps its CPU."""
        ticks = []
        now = self.clock()
        revisions = self.deployments.revisions()
        self._due = {key: due for key, due in self._due.items()
                     if revisions.get(key[0]) == key[1]}
        for endpoint, revision in revisions.items():
            if now < self._due.get((endpoint, revision), -math.inf):
                continue
            deployment = self.deployments.get(endpoint)
            ramp = deployment.spec.ramp
            if deployment.spec.strategy == "canary" and ramp is not None:
                ticks.append(self.step(deployment))
                self._due[(endpoint, deployment.revision)] = now + max(
                    self.period, min(ramp.interval_s / CHECKS_PER_STEP, MAX_CHECK_S))
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
            target = DeploymentSpec(strategy="single", **endpoint_settings(spec),
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
