"""Alerts: rules judged on the prediction log, fired at most once per cooldown.

Each rule (see :mod:`gapless.monitoring.alert_rules` for the format) is judged on the
**latest complete window** of its endpoint: with ``window: 5m`` at 12:07, the window
12:00-12:05. A window still filling is not judged, because its shares rest on the few
requests seen so far and its ``rate_per_s`` (requests over the full length) reads low
until it closes, so a ``requests < 10`` rule would fire at the start of every window.
The price is a delay of at most one window length.

The decision is pure (:func:`decide`): the value, the condition, and the rule's last
firing on that endpoint. The last firing is read from the metadata store in the same
write transaction that records a new one (SQLite ``BEGIN IMMEDIATE``; on PostgreSQL an
advisory lock per rule and endpoint), so two processes evaluating at once fire once. A
rule that already fired for a window, or inside its cooldown, is *suppressed* with the
reason. Actions run after the firing is recorded, outside the transaction: ``log``
(a warning on the ``gapless.monitoring.alerts`` logger), ``webhook`` (JSON POSTed with a
timeout; a failure is recorded, never raised) and ``pipeline`` (the stored event is a
trigger, pending until :func:`consume_trigger` marks it consumed, exactly once). What
each action did is written back to the event's ``actions_json``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from gapless.monitoring.alert_rules import AlertRule, AlertRules, metric_value
from gapless.monitoring.triggers import AlertEvent, consume_trigger, events, pending_triggers
from gapless.monitoring.windows import FeatureWindow, Window, windows
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import alert_events

if TYPE_CHECKING:
    import pandas as pd

    from gapless.core.schema import Signature

HttpPost = Callable[[str, dict[str, Any], float], None]
logger = logging.getLogger(__name__)


def post_json(url: str, payload: dict[str, Any], timeout: float) -> None:
    """POST ``payload`` as JSON; raises on a network error, a timeout or a 4xx/5xx answer."""
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise ValueError(f"webhook {url!r}: only http:// and https:// URLs are posted to")
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "gapless-alerts"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


@dataclass(frozen=True)
class LastFiring:
    event_id: int
    fired_at: float
    window_start: float


@dataclass(frozen=True)
class AlertOutcome:
    """One rule's verdict: ``status`` is fired, suppressed (by the cooldown or an
    earlier firing for the same window), quiet (condition not met, or no data) or
    skipped (the rule cannot be judged as called, e.g. a drift rule with no reference)."""

    rule: str
    endpoint: str
    metric: str
    condition: str
    status: str
    value: float | None
    window_start: float
    window_end: float
    reason: str
    event_id: int | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AlertResults:
    outcomes: list[AlertOutcome]
    evaluated_at: float

    def _with(self, status: str) -> list[AlertOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def fired(self) -> list[AlertOutcome]:
        return self._with("fired")

    @property
    def suppressed(self) -> list[AlertOutcome]:
        return self._with("suppressed")

    @property
    def quiet(self) -> list[AlertOutcome]:
        return self._with("quiet")

    @property
    def skipped(self) -> list[AlertOutcome]:
        return self._with("skipped")


def latest_complete_window(seconds: float, now: float) -> tuple[float, float]:
    """Start and end of the last epoch-aligned window of ``seconds`` that ended by ``now``."""
    end = math.floor(now / seconds) * seconds
    return end - seconds, end


def decide(rule: AlertRule, value: float | None, window_start: float,
           last: LastFiring | None, now: float) -> tuple[str, str]:
    """Pure: ``("fire" | "suppressed" | "quiet", reason)`` for ``value`` of ``rule`` in the
    window starting at ``window_start``, given the rule's last firing on the endpoint."""
    if value is None:
        return "quiet", "no value"
    if not rule.breached(value):
        return "quiet", f"{value:.4g} does not meet {rule.condition}"
    if last is not None and last.window_start == window_start:
        return "suppressed", (f"already fired for this window at {_iso(last.fired_at)} "
                              f"(event {last.event_id})")
    if last is not None and now - last.fired_at < rule.cooldown:
        return "suppressed", (f"cooldown: fired at {_iso(last.fired_at)} (event "
                              f"{last.event_id}); quiet until "
                              f"{_iso(last.fired_at + rule.cooldown)}")
    return "fire", f"{value:.4g} {rule.condition}"


def evaluate(store: MetadataStore, rules: Any, *, now: float | None = None,
             reference: Mapping[str, pd.DataFrame] | None = None,
             signatures: Mapping[str, Signature | None] | None = None,
             http_post: HttpPost = post_json) -> AlertResults:
    """Judge every rule on its latest complete window at ``now`` (default: the clock),
    record and act on those that fire. ``reference``: per endpoint, the frame drift rules
    compare the window's inputs with (drift rules of other endpoints are skipped).
    ``signatures``: per endpoint, the training signature ``outside_share`` is judged by."""
    rules = AlertRules.load(rules)
    now = time.time() if now is None else now
    with_inputs = {_key(r) for r in rules if r.needs_inputs}
    cache: dict[tuple[str, float, str | None], dict[str, Any]] = {}
    outcomes = []
    for rule in rules:
        start, end = latest_complete_window(rule.window, now - rule.lag)
        base = {"rule": rule.name, "endpoint": rule.endpoint, "metric": rule.metric,
                "condition": rule.condition, "window_start": start, "window_end": end}
        if rule.is_drift:
            frame = (reference or {}).get(rule.endpoint)
            if frame is None:
                outcomes.append(AlertOutcome(**base, status="skipped", value=None, reason=(
                    f"drift rule needs a reference frame for endpoint {rule.endpoint!r}; "
                    f"pass reference={{{rule.endpoint!r}: frame}} (CLI: --reference "
                    f"{rule.endpoint}=FILE|NAME@VERSION)")))
                continue
            value, why = _drift_value(store, rule, start, end, frame)
        elif rule.is_performance:
            value, why = _performance_value(store, rule, start, end)
        else:
            if _key(rule) not in cache:
                cache[_key(rule)] = _window(store, rule, start, end, _key(rule) in with_inputs,
                                            (signatures or {}).get(rule.endpoint))
            value, why = metric_value(rule.metric, cache[_key(rule)])
            if value is not None and cache[_key(rule)]["requests"] < rule.least_rows:
                value, why = None, (f"{cache[_key(rule)]['requests']} request(s) in the "
                                    f"window, fewer than min_rows {rule.least_rows}")
        status, reason = decide(rule, value, start, None, now)
        if value is None or status == "quiet":
            outcomes.append(AlertOutcome(**base, status="quiet", value=value,
                                         reason=f"no value: {why}" if value is None else reason))
            continue
        status, reason, event_id = _claim(store, rule, value, start, end, now)
        actions = [] if event_id is None else _act(
            store, rule, event_id, {**base, "value": value, "fired_at": now,
                                    "event_id": event_id}, http_post)
        outcomes.append(AlertOutcome(**base, status=status, value=value, reason=reason,
                                     event_id=event_id, actions=actions))
    return AlertResults(outcomes, now)


# -- the shell: reading windows, recording firings, running actions --------------------------
def _key(rule: AlertRule) -> tuple[str, float, str | None]:
    return rule.endpoint, rule.window, rule.variant


def _window(store: MetadataStore, rule: AlertRule, start: float, end: float, inputs: bool,
            signature: Signature | None) -> dict[str, Any]:
    """The rule's window as ``to_dict()``, every version and variant (or only
    ``rule.variant``) added together; an empty window when nothing was logged."""
    found = [w for w in windows(store, rule.endpoint, window=rule.window, since=start,
                                until=end, signature=signature, inputs=inputs)
             if rule.variant is None or w.variant == rule.variant]
    total = Window(start, rule.window, rule.endpoint, 0, rule.variant or "all")
    for w in found:
        total.requests += w.requests
        total.errors += w.errors
        total.nulls += w.nulls
        total.latency.merge(w.latency)
        for label, count in w.classes.items():
            total.classes[label] = total.classes.get(label, 0) + count
        _add_moments(total.output, w.output)
        for name, feature in w.features.items():
            into = total.features.setdefault(name, FeatureWindow(name))
            into.values += feature.values
            into.missing += feature.missing
            into.outside += feature.outside
            _add_moments(into.moments, feature.moments)
    return total.to_dict()


def _add_moments(into: Any, other: Any) -> None:
    """Chan's pairwise update of (count, mean, m2)."""
    if not other.count:
        return
    total = into.count + other.count
    delta = other.mean - into.mean
    into.m2 += other.m2 + delta * delta * into.count * other.count / total
    into.mean += delta * other.count / total
    into.count = total


def _drift_value(store: MetadataStore, rule: AlertRule, start: float, end: float,
                 reference: pd.DataFrame) -> tuple[float | None, str]:
    """``drift_share`` or ``dataset_drift`` of the window's logged inputs against
    ``reference``, streamed through fixed-size summaries (any window length fits)."""
    from gapless.monitoring.drift_windows import drift_windows

    found = drift_windows(store, rule.endpoint, reference, window=rule.window, since=start,
                          until=end, variant=rule.variant, combined=True,
                          min_rows=max(1, rule.least_rows))
    if not found:
        return None, "no logged inputs in the window"
    (window,) = found
    if window.drifted is None:
        return None, window.reason or "no drift verdict"
    return (window.drift_share if rule.metric == "drift_share"
            else float(window.drifted)), ""


def _performance_value(store: MetadataStore, rule: AlertRule, start: float,
                       end: float) -> tuple[float | None, str]:
    """A ``performance.METRIC`` (from labels) or ``estimated.METRIC`` (from confidence)
    of the window, every version and variant together (or only ``rule.variant``)."""
    from gapless.monitoring.performance import performance_windows

    source, metric = rule.metric.split(".")
    found = performance_windows(store, rule.endpoint, window=rule.window, since=start,
                                until=end, variant=rule.variant, combined=True)
    if not found:
        return None, "no answered predictions in the window"
    (window,) = found
    estimated = source == "estimated"
    rows = window.estimated_rows if estimated else window.scored
    what = "row(s) with probabilities" if estimated else "labelled row(s)"
    if rows < rule.least_rows:
        return None, f"{rows} {what} in the window, fewer than min_rows {rule.least_rows}"
    value = (window.estimated if estimated else window.metrics).get(metric)
    if value is None:
        return None, f"{metric} is not measured for {window.problem or 'these outputs'}"
    return value, ""


def _claim(store: MetadataStore, rule: AlertRule, value: float, start: float, end: float,
           now: float) -> tuple[str, str, int | None]:
    """In one write transaction: read the last firing, decide, record a firing."""
    a = alert_events
    lock = int.from_bytes(hashlib.sha256(f"{rule.name}\0{rule.endpoint}".encode()).digest()[:8],
                          "big", signed=True)

    def work(conn: sa.Connection) -> tuple[str, str, int | None]:
        if store.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock})
        row = conn.execute(sa.select(a.c.id, a.c.fired_at, a.c.window_start)
                           .where(a.c.rule == rule.name, a.c.endpoint == rule.endpoint)
                           .order_by(a.c.fired_at.desc(), a.c.id.desc()).limit(1)).first()
        last = LastFiring(row.id, row.fired_at, row.window_start) if row else None
        status, reason = decide(rule, value, start, last, now)
        if status != "fire":
            return status, reason, None
        event_id = conn.execute(a.insert().values(
            rule=rule.name, endpoint=rule.endpoint, metric=rule.metric, value=value,
            condition=rule.condition, window_start=start, window_end=end, fired_at=now,
            actions_json="[]", pipeline=rule.pipeline)).inserted_primary_key[0]
        return "fired", reason, int(event_id)

    return store.write(work)


def _act(store: MetadataStore, rule: AlertRule, event_id: int, payload: dict[str, Any],
         http_post: HttpPost) -> list[dict[str, Any]]:
    done = []
    for action in rule.actions:
        result = {"action": action.kind, "target": action.target, "ok": True}
        if action.kind == "log":
            logger.warning("alert %r on endpoint %r: %s = %.4g meets %s (window %s to %s)",
                           rule.name, rule.endpoint, rule.metric, payload["value"],
                           rule.condition, _iso(payload["window_start"]),
                           _iso(payload["window_end"]))
            result["message"] = "logged"
        elif action.kind == "webhook":
            try:
                http_post(str(action.target), payload, action.timeout)
                result["message"] = "delivered"
            except Exception as exc:  # any failure of the receiver is recorded, not raised
                result.update(ok=False, message=f"{type(exc).__name__}: {exc}")
        else:
            result["message"] = (f"trigger for pipeline {action.target!r} recorded as event "
                                 f"{event_id}; pending until consumed")
        done.append(result)
    store.write(lambda conn: conn.execute(
        sa.update(alert_events).where(alert_events.c.id == event_id)
        .values(actions_json=json.dumps(done))))
    return done


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["AlertEvent", "AlertOutcome", "AlertResults", "AlertRule", "AlertRules",
           "LastFiring", "consume_trigger", "decide", "evaluate", "events",
           "latest_complete_window", "pending_triggers", "post_json"]
