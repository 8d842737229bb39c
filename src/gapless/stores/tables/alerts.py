"""Tables of monitoring alerts: one row per alert that fired.

A row is written in the same transaction that checks the rule's cooldown, so the last
firing of a rule on an endpoint is known to every process. ``actions_json`` records what
each action did (ok or failed, and a message). A row with a ``pipeline`` is also a
retraining trigger: pending while ``consumed_at`` is null, consumed once by the scheduler.
"""

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from gapless.stores.tables.base import metadata

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule", String(128), nullable=False),
    Column("endpoint", String(128), nullable=False),
    Column("metric", String(250), nullable=False),
    Column("value", Float, nullable=False),
    Column("condition", String(64), nullable=False),
    Column("window_start", Float, nullable=False),
    Column("window_end", Float, nullable=False),
    Column("fired_at", Float, nullable=False),
    Column("actions_json", Text, nullable=False),
    Column("pipeline", String(128), nullable=True),
    Column("consumed_at", Float, nullable=True),
    Index(None, "rule", "endpoint", "fired_at"),
    Index(None, "pipeline", "consumed_at"),
)
