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

import contextlib
import logging
import threading
import time
from collections import Counter, deque
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
    inputs: Any  # pd.Index of the model's signature names, in order (built once)

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
    import pandas as pd

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
        InputSpec(Signature(tuple(looked_up), signature.output)), pd.Index(signature.names))


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
    """The model's frame, with the fetched features, and how many rows of each view fell
    back to the policy, by reason (``missing``, ``stale``, ``unavailable``)."""

    frame: Any
    fallbacks: Counter[tuple[str, str]] = field(default_factory=Counter)


class FeatureFetcher:
    """Fills request frames from the online store; one per serving process.

    :meth:`fill_async` (the server's path) hands the reads to one thread that serves
    every request waiting at that moment with one read per view: under load, concurrent
    requests share a round trip to the store, and none waits on another's read. A lone
    request reads in place instead: two thread hand-offs would cost it more than the read
    (SQLite: a B-tree lookup; Redis: one round trip), and with nothing else in flight
    the event loop has no one to keep waiting, for at most the store's timeout.
    :meth:`fill` reads in the calling thread (shadows, the engine without a loop)."""

    def __init__(self, online_store: Callable[[], Any], *,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = online_store  # opened on first use, in the worker process
        self.clock = clock
        self._warned: dict[str, float] = {}
        self._down: tuple[float, str] | None = None  # (retry at, monotonic; the error)
        self._reader: _Reader | None = None
        self._reader_lock = threading.Lock()

    def fill(self, frame: Any, plan: FeaturePlan, policy: FeaturePolicy) -> Filled:
        """The frame the model takes: its signature's columns, in order, from ``frame`` (a
        parsed request, entity keys included) and from the online store. Raises
        RequestError (reject) or StoreUnavailableError. The request's other columns
        (keys, logged fields) stay in ``frame``, which the prediction log reads too."""
        from gapless.serving.validation import column_arrays

        columns = column_arrays(frame)
        keys = _keys(columns, plan)
        reads = {lookup: self.read(lookup, keys[lookup]) for lookup in plan.lookups}
        return self._assemble(columns, plan, policy, keys, reads)

    async def fill_async(self, frame: Any, plan: FeaturePlan, policy: FeaturePolicy, *,
                         alone: bool = False) -> Filled:
        """:meth:`fill`, the reads coalesced with concurrent requests' in the reader
        thread; ``alone``: no other request is being served (see the class docstring)."""
        from gapless.serving.validation import column_arrays

        if alone:
            return self.fill(frame, plan, policy)

        columns = column_arrays(frame)
        keys = _keys(columns, plan)
        if self._reader is None:
            with self._reader_lock:
                if self._reader is None:
                    self._reader = _Reader(self.read)
        reads = await self._reader.submit([(lookup, keys[lookup]) for lookup in plan.lookups])
        return self._assemble(columns, plan, policy, keys, reads)

    def read(self, lookup: ViewLookup, keys: list[tuple[str, ...]]) -> list[Any] | Exception:
        """The store's rows for ``keys``, or the StoreUnavailableError it failed with (as a
        value). A store that failed less than RETRY_AFTER_S ago is not asked: its error
        comes back at once, so an outage costs each request nothing rather than a timeout.
        """
        down = self._down
        if down is not None and time.monotonic() < down[0]:
            return StoreUnavailableError(down[1])
        try:
            rows: list[Any] = self._store().read(lookup.view, lookup.version, keys,
                                                 lookup.features)
        except StoreUnavailableError as exc:
            self._down = (time.monotonic() + RETRY_AFTER_S,
                          f"{exc} (not asked again for {RETRY_AFTER_S:g}s)")
            return exc
        self._down = None
        return rows

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    def _assemble(self, columns: dict[str, Any], plan: FeaturePlan, policy: FeaturePolicy,
                  keys: Mapping[ViewLookup, list[tuple[str, ...]]],
                  reads: Mapping[ViewLookup, list[Any] | Exception]) -> Filled:
        from gapless.serving.columns import convert_column
        from gapless.serving.validation import frame_from_arrays

        fallbacks: Counter[tuple[str, str]] = Counter()
        fetched: dict[str, list[Any]] = {}
        for lookup in plan.lookups:
            fetched.update(self._apply(lookup, keys[lookup], reads[lookup], policy, fallbacks))
        try:
            for rule in plan.looked_up.columns:
                columns[rule.name] = convert_column(rule, fetched[rule.name], False)
        except RequestError as exc:
            raise IntegrityError(f"the online store holds values the model cannot take: "
                                 f"{exc}; re-materialize the view or retrain the model"
                                 ) from None
        return Filled(frame_from_arrays({name: columns[name] for name in plan.inputs},
                                        plan.inputs), fallbacks)

    def _apply(self, lookup: ViewLookup, keys: list[tuple[str, ...]],
               rows: list[Any] | Exception, policy: FeaturePolicy,
               fallbacks: Counter[tuple[str, str]]) -> dict[str, list[Any]]:
        """One view's values per row, the policy followed where a row has none."""
        if isinstance(rows, StoreUnavailableError):
            if policy.on_missing == "reject":
                raise StoreUnavailableError(f"feature view {lookup.ref}: {rows}") from None
            self._warn(str(rows))
            fallbacks[(lookup.ref, "unavailable")] += len(keys)
            return {name: [_fallback(policy, name)] * len(keys) for name in lookup.features}
        if isinstance(rows, Exception):
            raise rows
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

    def _warn(self, message: str) -> None:
        now = self.clock()
        if now - self._warned.get(message, -WARN_EVERY_S) >= WARN_EVERY_S:
            if len(self._warned) > 100:  # messages differ per outage; keep the memory flat
                self._warned.clear()
            self._warned[message] = now
            log.warning("serving without online features (policy applies): %s", message)


Wanted = list[tuple[ViewLookup, list[tuple[str, ...]]]]


class _Reader:
    """One thread reading for every request waiting at that moment: the keys of each
    view are read together (each distinct key once) and every request gets its rows.
    A read that fails for another reason than the store being unavailable (a key the
    store refuses) is retried per request, so only the request at fault gets the error.
    """

    def __init__(self, read: Callable[[ViewLookup, list[tuple[str, ...]]],
                                      list[Any] | Exception]) -> None:
        self._read = read
        self._waiting: deque[tuple[Wanted, Any, Any]] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="gapless-feature-reads",
                                        daemon=True)
        self._thread.start()

    async def submit(self, wanted: Wanted) -> dict[ViewLookup, list[Any] | Exception]:
        import asyncio

        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._ready:
            self._waiting.append((wanted, loop, future))
            self._ready.notify()
        result: dict[ViewLookup, list[Any] | Exception] = await future
        return result

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._waiting and not self._closed:
                    self._ready.wait()
                if not self._waiting:
                    return
                batch = list(self._waiting)
                self._waiting.clear()
            union: dict[ViewLookup, dict[tuple[str, ...], None]] = {}
            for wanted, _, _ in batch:
                for lookup, keys in wanted:
                    union.setdefault(lookup, {}).update(dict.fromkeys(keys))
            together: dict[ViewLookup, dict[tuple[str, ...], Any] | Exception] = {}
            for lookup, distinct in union.items():
                found = self._safe_read(lookup, list(distinct))
                together[lookup] = (found if isinstance(found, Exception)
                                    else dict(zip(distinct, found, strict=True)))
            for wanted, loop, future in batch:
                answer: dict[ViewLookup, list[Any] | Exception] = {}
                for lookup, keys in wanted:
                    rows = together[lookup]
                    if isinstance(rows, StoreUnavailableError):
                        answer[lookup] = rows
                    elif isinstance(rows, Exception):  # some request's key: find whose
                        answer[lookup] = self._safe_read(lookup, keys)
                    else:
                        answer[lookup] = [rows[key] for key in keys]
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits
                    loop.call_soon_threadsafe(_settle, future, answer)

    def _safe_read(self, lookup: ViewLookup, keys: list[tuple[str, ...]]
                   ) -> list[Any] | Exception:
        try:
            return self._read(lookup, keys)
        except Exception as exc:  # noqa: BLE001 - handed to the request, raised there
            return exc


def _settle(future: Any, answer: Any) -> None:
    if not future.done():  # the caller went away (cancelled)
        future.set_result(answer)


def _keys(columns: Mapping[str, Any], plan: FeaturePlan
          ) -> dict[ViewLookup, list[tuple[str, ...]]]:
    """Each view's entity keys per row, as the online store holds them (materialization
    writes ``str(value)``: 42 and "42" are one key), checked here so that a key the store
    would refuse fails its own request, not a read shared with others."""
    from gapless.stores.online.base import encode_key

    out = {lookup: list(zip(*([str(v) for v in columns[name].tolist()]
                              for name in lookup.entities), strict=True))
           for lookup in plan.lookups}
    for keys in out.values():
        for key in keys:
            encode_key(key)
    return out


def _entity_column(name: str, signature: Signature, storage: str) -> ColumnSchema:
    """An entity key as a request column: as the signature has it when the model also
    takes it as an input, else typed as it was in the training set, never missing."""
    if name in signature.names:
        return signature.column(name)
    kind = next((kind for prefix, kind in _STORAGE_TYPES if storage.startswith(prefix)),
                "string")
    return ColumnSchema(name, kind, nullable=False)


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
