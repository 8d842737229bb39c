"""Deployments: which model versions an endpoint serves, and how traffic is split.

A deployment is a :class:`DeploymentSpec` stored per endpoint in the metadata store with a
revision number, so every worker and replica can poll one integer and pick up a change
within a second, without a restart. Every spec ever applied is kept in
``deployment_history``, which makes ``rollback`` one call and the routing auditable.

Routing itself is a pure function (:func:`route`): a spec and a request key in, the
variant that answers and the shadows that get a copy out. A/B routing is sticky: the same
key always hashes to the same variant, in every process.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gapless.core.errors import ConflictError, NotFoundError, ValidationError
from gapless.core.identity import current_user
from gapless.core.refs import check_name, parse_ref
from gapless.serving.feature_lookup import FeaturePolicy
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import deployment_history, deployments

ROLLBACK = "rollback to revision "  # how history marks a rollback (it pops the stack)
STRATEGIES = ("single", "shadow", "canary", "blue-green", "ab", "champion-challenger")


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    model: str  # NAME@VERSION or NAME@ALIAS, resolved to a version when applied
    weight: float = Field(0.0, ge=0, le=100)
    role: Literal["primary", "shadow"] = "primary"
    # python: the model as trained; onnx: its checked ONNX conversion (serving/runtimes.py)
    runtime: Literal["python", "onnx"] = "python"


class Guardrails(BaseModel):
    """Limits a canary must stay within, compared against the primary."""

    model_config = ConfigDict(extra="forbid")
    max_error_rate: float = Field(0.05, ge=0, le=1)
    max_p95_ms: float | None = Field(None, gt=0)
    max_prediction_shift: float | None = Field(0.2, ge=0)  # PSI of the prediction distribution
    min_requests: int = Field(100, ge=1)


class Ramp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: list[float] = Field(default_factory=lambda: [5.0, 25.0, 50.0, 100.0])
    interval_s: float = Field(300.0, gt=0)


class DeploymentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strategy: Literal["single", "shadow", "canary", "blue-green", "ab",
                      "champion-challenger"] = "single"
    variants: list[Variant]
    guardrails: Guardrails = Field(default_factory=Guardrails)
    ramp: Ramp | None = None
    canary: str | None = None  # the variant a ramp moves; default: the second primary
    unknown_categories: Literal["reject", "pass"] = "reject"
    # Request fields no signature reads that the prediction log keeps beside the inputs
    # (entity ids such as customer_id), for training-serving skew checks and joins.
    # Native protocol only; each value a JSON scalar.
    log_fields: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")]] = \
        Field(default_factory=list, max_length=16)
    # Models trained on feature views get their features from the online store; this
    # says what to do when a key has none (see serving/feature_lookup.py).
    features: FeaturePolicy = Field(default_factory=FeaturePolicy)

    @model_validator(mode="after")
    def _consistent(self) -> DeploymentSpec:
        names = [v.name for v in self.variants]
        if not self.variants:
            raise ValueError("a deployment needs at least one variant")
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        for variant in self.variants:
            parse_ref(variant.model, what=f"variant {variant.name!r} model")
        primaries = [v for v in self.variants if v.role == "primary"]
        shadows = [v for v in self.variants if v.role == "shadow"]
        if not primaries:
            raise ValueError("at least one variant must have role primary")
        if self.strategy in ("single", "blue-green", "shadow") and len(primaries) != 1:
            raise ValueError(f"strategy {self.strategy} serves exactly one primary variant, "
                             f"got {len(primaries)}")
        if self.strategy in ("shadow", "champion-challenger") and not shadows:
            raise ValueError(f"strategy {self.strategy} needs a variant with role shadow")
        if self.strategy in ("canary", "ab"):
            if len(primaries) < 2:
                raise ValueError(f"strategy {self.strategy} splits traffic between two or "
                                 "more primary variants")
            if abs(sum(v.weight for v in primaries) - 100.0) > 1e-6:
                raise ValueError(f"weights of the primary variants must add up to 100, got "
                                 f"{sum(v.weight for v in primaries):g}")
        if self.ramp is not None or self.canary is not None:
            if self.strategy != "canary" or len(primaries) != 2:
                raise ValueError("ramp and canary belong to a canary of exactly two primary "
                                 "variants")
            if self.canary is not None and self.canary not in {v.name for v in primaries}:
                raise ValueError(f"canary {self.canary!r} is not one of the primary variants "
                                 f"{[v.name for v in primaries]}")
        return self


def load_spec(source: DeploymentSpec | dict[str, Any]) -> DeploymentSpec:
    """A spec from a dict (YAML, JSON body) with errors that name the field."""
    if isinstance(source, DeploymentSpec):
        return source
    try:
        return DeploymentSpec.model_validate(source)
    except Exception as exc:  # pydantic's ValidationError, reworded with the field path
        errors = getattr(exc, "errors", lambda: [])()
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}"
                            for e in errors) or str(exc)
        raise ValidationError(f"deployment spec: {reasons}") from exc


def endpoint_settings(spec: DeploymentSpec | None) -> dict[str, Any]:
    """What belongs to the endpoint rather than to its variants (request checks, logged
    fields, the feature policy): kept when a rollout, a canary's decision or a
    challenger's promotion writes the next spec."""
    if spec is None:
        return {}
    return {"unknown_categories": spec.unknown_categories, "log_fields": list(spec.log_fields),
            "features": spec.features}


def single(model: str) -> DeploymentSpec:
    return DeploymentSpec(strategy="single",
                          variants=[Variant(name="primary", model=model, weight=100.0)])


# -- routing ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    answer: Variant
    shadows: tuple[Variant, ...]


def route(spec: DeploymentSpec, key: str | None = None,
          rng: random.Random | None = None) -> Route:
    """Which variant answers this request, and which shadows get a copy.

    With a key (A/B, canary with a sticky key), the choice is a stable hash of the key,
    so one user always sees one variant; without one it is random by weight."""
    primaries = [v for v in spec.variants if v.role == "primary"]
    shadows = tuple(v for v in spec.variants if v.role == "shadow")
    if len(primaries) == 1:
        return Route(primaries[0], shadows)
    point = (_bucket(key) if key is not None else (rng or random).random()) * 100.0
    running = 0.0
    for variant in primaries:
        running += variant.weight
        if point < running:
            return Route(variant, shadows)
    return Route(primaries[-1], shadows)


def _bucket(key: str) -> float:
    """A stable number in [0, 1) for a request key, the same in every process."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


# -- storage ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Deployment:
    endpoint: str
    revision: int
    spec: DeploymentSpec
    updated_by: str
    updated_at: float


class DeploymentStore:
    """Deployments of every endpoint, with their history."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def get(self, endpoint: str) -> Deployment:
        with self.store.read() as conn:
            row = conn.execute(sa.select(deployments).where(
                deployments.c.endpoint == endpoint)).first()
        if row is None:
            raise NotFoundError(f"no deployment on endpoint {endpoint!r}; create one with "
                                f"`gapless deploy {endpoint} --model NAME@VERSION`")
        return Deployment(endpoint, row.revision, load_spec(json.loads(row.spec_json)),
                          row.updated_by, row.updated_at)

    def revisions(self) -> dict[str, int]:
        """Every endpoint's current revision: what a worker polls to notice a change."""
        with self.store.read() as conn:
            return dict(conn.execute(sa.select(deployments.c.endpoint,
                                               deployments.c.revision)).all())

    def put(self, endpoint: str, spec: DeploymentSpec | dict[str, Any], *,
            reason: str | None = None, expected_revision: int | None = None) -> Deployment:
        """Apply ``spec`` to ``endpoint`` (creating it), optionally only if it is still at
        ``expected_revision``; the old and the new spec stay in the history."""
        check_name(endpoint, what="endpoint name")
        spec = load_spec(spec)
        text = spec.model_dump_json()
        actor, now = current_user(), time.time()

        def work(conn: sa.Connection) -> int:
            current = conn.execute(sa.select(deployments.c.revision).where(
                deployments.c.endpoint == endpoint).with_for_update()).scalar()
            if expected_revision is not None and current != expected_revision:
                raise ConflictError(f"endpoint {endpoint!r} is at revision {current}, not "
                                    f"{expected_revision}; reload it and try again")
            revision = (current or 0) + 1
            values = {"revision": revision, "spec_json": text, "updated_by": actor,
                      "updated_at": now}
            if current is None:
                conn.execute(deployments.insert().values(endpoint=endpoint, **values))
            else:
                conn.execute(deployments.update().where(
                    deployments.c.endpoint == endpoint).values(**values))
            conn.execute(deployment_history.insert().values(
                endpoint=endpoint, revision=revision, spec_json=text, reason=reason,
                actor=actor, created_at=now))
            return revision

        revision = self.store.write(work)
        return Deployment(endpoint, revision, spec, actor, now)

    def history(self, endpoint: str) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(deployment_history).where(
                deployment_history.c.endpoint == endpoint).order_by(
                deployment_history.c.revision)).all()
        return [{"revision": r.revision, "spec": json.loads(r.spec_json), "reason": r.reason,
                 "actor": r.actor, "created_at": r.created_at} for r in rows]

    def rollback(self, endpoint: str, *, reason: str | None = None) -> Deployment:
        """Re-apply the spec that was live before the current one, as a new revision.

        Like the registry's alias rollback it pops a stack: rolling back twice goes two
        deployments back, never back and forth between the last two."""
        current = self.get(endpoint)
        stack: list[dict[str, Any]] = []
        for entry in self.history(endpoint):
            if (entry["reason"] or "").startswith(ROLLBACK) and len(stack) > 1:
                stack.pop()
            else:
                stack.append(entry)
        if len(stack) < 2:
            raise ValidationError(f"endpoint {endpoint!r} has no earlier deployment to roll "
                                  "back to")
        target = stack[-2]
        note = f"{ROLLBACK}{target['revision']}" + (f": {reason}" if reason else "")
        return self.put(endpoint, target["spec"], reason=note,
                        expected_revision=current.revision)
