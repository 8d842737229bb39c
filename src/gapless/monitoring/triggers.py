"""Stored alert events, and the pipeline triggers among them.

Every firing of an alert rule is a row of ``alert_events``. A row whose rule has a
``pipeline`` action is also a trigger for the retraining scheduler: pending while its
``consumed_at`` is null, and consumed exactly once, by a conditional UPDATE that only
one caller can win.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from gapless.core.errors import NotFoundError
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import alert_events


@dataclass(frozen=True)
class AlertEvent:
    id: int
    rule: str
    endpoint: str
    metric: str
    value: float
    condition: str
    window_start: float
    window_end: float
    fired_at: float
    actions: list[dict[str, Any]]
    pipeline: str | None
    consumed_at: float | None


def events(store: MetadataStore, *, rule: str | None = None,
           endpoint: str | None = None) -> list[AlertEvent]:
    """Every recorded firing, oldest first, optionally of one rule and/or endpoint."""
    a = alert_events
    stmt = sa.select(a).order_by(a.c.fired_at, a.c.id)
    if rule is not None:
        stmt = stmt.where(a.c.rule == rule)
    if endpoint is not None:
        stmt = stmt.where(a.c.endpoint == endpoint)
    return _events(store, stmt)


def pending_triggers(store: MetadataStore, pipeline: str | None = None) -> list[AlertEvent]:
    """Pipeline triggers not consumed yet, oldest first (of one pipeline, or all)."""
    a = alert_events
    stmt = sa.select(a).where(a.c.pipeline.is_not(None), a.c.consumed_at.is_(None))
    if pipeline is not None:
        stmt = stmt.where(a.c.pipeline == pipeline)
    return _events(store, stmt.order_by(a.c.fired_at, a.c.id))


def consume_trigger(store: MetadataStore, event_id: int, *, now: float | None = None) -> bool:
    """Mark trigger ``event_id`` consumed. True for the one caller that consumed it;
    False when it was consumed already (by this or another process)."""
    a = alert_events
    at = time.time() if now is None else now

    def work(conn: sa.Connection) -> bool:
        done = conn.execute(sa.update(a).where(a.c.id == event_id, a.c.pipeline.is_not(None),
                                               a.c.consumed_at.is_(None))
                            .values(consumed_at=at))
        if done.rowcount == 1:
            return True
        found = conn.execute(sa.select(a.c.pipeline).where(a.c.id == event_id)).first()
        if found is None or found.pipeline is None:
            raise NotFoundError(f"alert event {event_id} is not a pipeline trigger; list the "
                                "pending ones with pending_triggers()")
        return False

    return store.write(work)


def _events(store: MetadataStore, stmt: Any) -> list[AlertEvent]:
    with store.read() as conn:
        rows = conn.execute(stmt).all()
    return [AlertEvent(id=r.id, rule=r.rule, endpoint=r.endpoint, metric=r.metric,
                       value=r.value, condition=r.condition, window_start=r.window_start,
                       window_end=r.window_end, fired_at=r.fired_at,
                       actions=json.loads(r.actions_json), pipeline=r.pipeline,
                       consumed_at=r.consumed_at) for r in rows]
