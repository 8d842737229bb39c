"""Features fetched at serving time, so a client sends entity keys rather than features.

A model trained on a training set built by ``workspace.features.training_set(...,
save_as=...)`` carries, through its lineage, the feature view versions and features it
was trained on. When such a model is loaded for serving, :func:`plan_for` turns that
into a :class:`FeaturePlan`: which view versions to read, by which entity keys, and what
a request must carry instead (the entity keys plus the model's other inputs). For each
request the engine calls :meth:`FeatureFetcher.fill`: one online-store read per view for
all of the request's rows, values converted to the signature's types, and the columns
added to the frame the model's saved transforms then take. The logged prediction holds
the frame, so the feature values used (and the entity keys) are in the prediction log,
where ``Monitor.skew`` compares them with the offline values.

A key the store has no row for, a row older than ``max_age``, or a store that does not
answer within its timeout (then it is not asked again for ``RETRY_AFTER_S`` seconds, so
an outage costs each request nothing), follows the deployment's :class:`FeaturePolicy`:

* ``impute`` (the default): the features are missing, and the model's own imputers fill
  them as they filled missing values in training;
* ``default``: each feature takes its value from ``defaults`` (every looked-up feature
  must have one; checked when the deployment is applied);
* ``reject``: the request is refused with a 422 naming the row, the key and the view
  (a 503 naming the store when it is down).

A row that exists but holds None for a feature (an empty window, a value past the
view's TTL) is passed on as missing under every policy: training saw the same NaN.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gapless.core.errors import (
    IntegrityError,
    NotFoundError,
    RequestError,
    StoreUnavailableError,
    ValidationError,
)
from gapless.core.records import ModelVersion
from gapless.core.schema import ColumnSchema, Signature

log = logging.getLogger(__name__)
WARN_EVERY_S = 30.0  # one log line per store outage and interval, not one per request
RETRY_AFTER_S = 5.0  # after a store failed to answer, requests skip it this long
# Arrow storage types of a training set's columns -> signature types, for entity keys.
_STORAGE_TYPES = (("int", "integer"), ("uint", "integer"), ("float", "float"),
                  ("double", "float"), ("bool", "boolean"), ("timestamp", "datetime"))


class FeaturePolicy(BaseModel):
    """What serving does when a looked-up feature is not there: the ``features`` field of
    a deployment spec."""

    model_config = ConfigDict(extra="forbid")
    on_missing: Literal["impute", "default", "reject"] = "impute"
    defaults: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    # Rows materialized longer ago than this count as missing (None: never stale).
    max_age: str | None = None

    @field_validator("max_age")
    @classmethod
    def _max_age(cls, value: str | None) -> str | None:
        if value is not None:
            from gapless.features.views import duration_seconds

            duration_seconds(value, "max_age")
        return value

    @property
    def max_age_seconds(self) -> float | None:
        from gapless.features.views import duration_seconds

        return None if self.max_age is None else duration_seconds(self.max_age, "max_age")


@dataclass(frozen=True)
class ViewLookup:
    """The features a model reads from one feature view version."""

    view: str
    version: int
    entities: tuple[str, ...]
    features: tuple[str, ...]

    @property
    def ref(self) -> str:
        return f"{self.view}@{self.version}"


@dataclass(frozen=True)
class FeaturePlan:
    """What serving one model fetches, and what a request to it must carry instead."""

    lookups: tuple[ViewLookup, ...]
    request: Any  # InputSpec: the entity keys and the model's inputs no view provides
    looked_up: Any  # InputSpec of the fetched columns (all nullable), for their types

    @property
    def features(self) -> list[str]:
        return [name for lookup in self.lookups for name in lookup.features]

    @property
    def entities(self) -> list[str]:
        return list(dict.fromkeys(e for lookup in self.lookups for e in lookup.entities))


def plan_for(version: ModelVersion, data: Any, views: Any) -> FeaturePlan | None:
    """The plan for ``version``, or None when it was not trained on feature views.

    ``data`` is the workspace's DataVersions, ``views`` its feature ViewRegistry: the
    training dataset's spec names the view versions (``feature_views``), the registry
    their entity keys; only the features the model's signature takes are fetched."""
    from gapless.serving.validation import InputSpec

    dataset = (version.lineage or {}).get("dataset")
    if not dataset or not version.signature:
        return None
    try:
        trained_on = data.get(str(dataset))
    except NotFoundError:
        return None
    joined = (trained_on.spec or {}).get("feature_views") or {}
    if not joined:
        return None
    signature = Signature.from_dict(version.signature)
    takes = set(signature.names)
    lookups = []
    for ref, entry in joined.items():
        found = views.get(ref)
        chosen = tuple(name for name in entry.get("features", ()) if name in takes)
        if chosen:
            lookups.append(ViewLookup(found.view.name, found.version,
                                      tuple(found.view.entities), chosen))
    if not lookups:
        return None
    fetched = {name for lookup in lookups for name in lookup.features}
    storage = {str(c.get("name")): str(c.get("storage", "")) for c in trained_on.columns}
    entities = [_entity_column(name, signature, storage.get(name, ""))
                for name in dict.fromkeys(e for lookup in lookups for e in lookup.entities)]
    own = [c for c in signature.inputs
           if c.name not in fetched and c.name not in {e.name for e in entities}]
    looked_up = [ColumnSchema(c.name, c.type, True, c.categories) for c in signature.inputs
                 if c.name in fetched]
    return FeaturePlan(
        tuple(lookups),
        InputSpec(Signature((*entities, *own), signature.output, signature.extras)),
        InputSpec(Signature(tuple(looked_up), signature.output)))


def check_policy(policy: FeaturePolicy, plans: Sequence[FeaturePlan | None]) -> None:
    """Refuse a deployment whose policy cannot be followed: ``default`` without a value
    for some fetched feature, or a default for a feature no variant fetches (a typo)."""
    fetched = {name for plan in plans if plan is not None for name in plan.features}
    unknown = sorted(set(policy.defaults) - fetched)
    if unknown:
        raise ValidationError(f"deployment spec: features.defaults names {unknown}, which no "
                              f"variant fetches from a feature view (fetched: "
                              f"{sorted(fetched) or 'none'})")
    if policy.on_missing == "default":
        lacking = sorted(fetched - set(policy.defaults))
        if lacking:
            raise ValidationError(f"deployment spec: features.on_missing is 'default' but "
                                  f"features.defaults has no value for {lacking}")


@dataclass
class Filled:
    """A request frame with its fetched features, and how many rows of each view fell
    back to the policy, by reason (``missing``, ``stale``, ``unavailable``)."""

    frame: Any
    fallbacks: Counter[tuple[str, str]] = field(default_factory=Counter)


class FeatureFetcher:
    """Fills request frames from the online store; one per serving process."""

    def __init__(self, online_store: Callable[[], Any], *,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = online_store  # opened on first use, in the worker process
        self.clock = clock
        self._warned: dict[str, float] = {}
        self._down: tuple[float, str] | None = None  # (retry at, monotonic; the error)

    def fill(self, frame: Any, plan: FeaturePlan, policy: FeaturePolicy) -> Filled:
        """``frame`` (a parsed request, entity keys included) with the plan's features
        added as columns; raises RequestError (reject) or StoreUnavailableError."""
        import pandas as pd

        from gapless.serving.validation import frame_from_mapping

        filled = Filled(frame)
        columns: dict[str, list[Any]] = {}
        for lookup in plan.lookups:
            columns.update(self._fetch(frame, lookup, policy, filled.fallbacks))
        try:
            fetched = frame_from_mapping(columns, plan.looked_up, unknown_categories="pass")
        except RequestError as exc:
            raise IntegrityError(f"the online store holds values the model cannot take: "
                                 f"{exc}; re-materialize the view or retrain the model"
                                 ) from None
        fetched.index = frame.index
        filled.frame = pd.concat([frame, fetched], axis=1)
        return filled

    def _fetch(self, frame: Any, lookup: ViewLookup, policy: FeaturePolicy,
               fallbacks: Counter[tuple[str, str]]) -> dict[str, list[Any]]:
        keys = list(zip(*(_key_texts(frame[name]) for name in lookup.entities), strict=True))
        try:
            rows = self._read(lookup, keys)
        except StoreUnavailableError as exc:
            if policy.on_missing == "reject":
                raise StoreUnavailableError(f"feature view {lookup.ref}: {exc}") from None
            self._warn(str(exc))
            fallbacks[(lookup.ref, "unavailable")] += len(keys)
            return {name: [_fallback(policy, name)] * len(keys) for name in lookup.features}
        max_age, now = policy.max_age_seconds, self.clock()
        out: dict[str, list[Any]] = {name: [] for name in lookup.features}
        for index, (key, row) in enumerate(zip(keys, rows, strict=True)):
            reason = None
            if row is None:
                reason = "missing"
            elif max_age is not None and now - float(row["_event_time"]) > max_age:
                reason = "stale"
            if reason is None:
                for name in lookup.features:
                    out[name].append(row[name])
                continue
            if policy.on_missing == "reject":
                raise RequestError(_rejection(lookup, index, key, reason, row, now, policy),
                                   status=422, field=lookup.entities[0], row=index)
            fallbacks[(lookup.ref, reason)] += 1
            for name in lookup.features:
                out[name].append(_fallback(policy, name))
        return out

    def _read(self, lookup: ViewLookup, keys: list[tuple[str, ...]]) -> list[Any]:
        """The store's rows, unless it failed less than RETRY_AFTER_S ago: then its error
        again at once, so an outage costs each request nothing rather than a timeout."""
        down = self._down
        if down is not None and time.monotonic() < down[0]:
            raise StoreUnavailableError(down[1])
        try:
            rows: list[Any] = self._store().read(lookup.view, lookup.version, keys,
                                                 lookup.features)
        except StoreUnavailableError as exc:
            self._down = (time.monotonic() + RETRY_AFTER_S,
                          f"{exc} (not asked again for {RETRY_AFTER_S:g}s)")
            raise
        self._down = None
        return rows

    def _warn(self, message: str) -> None:
        now = self.clock()
        if now - self._warned.get(message, -WARN_EVERY_S) >= WARN_EVERY_S:
            if len(self._warned) > 100:  # messages differ per outage; keep the memory flat
                self._warned.clear()
            self._warned[message] = now
            log.warning("serving without online features (policy applies): %s", message)


def _entity_column(name: str, signature: Signature, storage: str) -> ColumnSchema:
    """An entity key as a request column: as the signature has it when the model also
    takes it as an input, else typed as it was in the training set, never missing."""
    if name in signature.names:
        return signature.column(name)
    kind = next((kind for prefix, kind in _STORAGE_TYPES if storage.startswith(prefix)),
                "string")
    return ColumnSchema(name, kind, nullable=False)


def _key_texts(values: Any) -> list[str]:
    """Entity key values as the online store holds them (materialization writes
    ``str(value)``): 42 and "42" are one key."""
    return [str(value) for value in values.tolist()]


def _fallback(policy: FeaturePolicy, name: str) -> Any:
    return policy.defaults.get(name) if policy.on_missing == "default" else None


def _rejection(lookup: ViewLookup, index: int, key: tuple[str, ...], reason: str,
               row: Mapping[str, Any] | None, now: float, policy: FeaturePolicy) -> str:
    shown = ", ".join(f"{name}={part!r}" for name, part in zip(lookup.entities, key,
                                                               strict=True))
    if reason == "missing":
        return (f"row {index}: feature view {lookup.ref} has no online values for "
                f"{shown}; materialize the view (`gapless features materialize "
                f"{lookup.view}`) or send a known key")
    assert row is not None
    age_h = (now - float(row["_event_time"])) / 3600.0
    return (f"row {index}: the online values of feature view {lookup.ref} for {shown} were "
            f"materialized {age_h:.1f} h ago, over the deployment's max_age "
            f"{policy.max_age}; materialize the view again")
