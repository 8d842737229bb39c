"""Tables of serving: API keys, endpoint deployments, the prediction log and feedback.

API keys are stored as a salted hash only (``key_hash``), looked up by a public prefix
(``key_id``) that the key itself carries. A deployment row per endpoint holds the routing
spec as JSON with a ``revision`` that every worker polls, so a change applies everywhere
without a restart; ``deployment_history`` keeps every spec for rollback and audit.
Predictions and feedback are written in batches by the prediction log, off the request
path, and joined by ``prediction_id``.
"""

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from gapless.stores.tables.base import metadata

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("scopes", String(128), nullable=False),
    Column("salt", String(64), nullable=False),
    Column("key_hash", String(128), nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=True),
)

deployments = Table(
    "deployments",
    metadata,
    Column("endpoint", String(128), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("spec_json", Text, nullable=False),
    Column("updated_by", String(128), nullable=False),
    Column("updated_at", Float, nullable=False),
)

deployment_history = Table(
    "deployment_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint", String(128), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("spec_json", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("actor", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Index(None, "endpoint", "revision"),
)

predictions = Table(
    "predictions",
    metadata,
    # A shadow's row shares the primary's prediction id, so feedback labels both.
    Column("prediction_id", String(32), primary_key=True),
    Column("variant", String(64), primary_key=True),
    Column("endpoint", String(128), nullable=False),
    Column("model", String(250), nullable=False),
    Column("version", Integer, nullable=False),
    Column("role", String(16), nullable=False),  # primary | shadow
    Column("inputs_json", Text, nullable=False),
    Column("outputs_json", Text, nullable=False),
    # A classifier's class probabilities as [[label, p], ...] when they were computed.
    Column("probabilities_json", Text, nullable=True),
    Column("latency_ms", Float, nullable=False),
    Column("status", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Index(None, "endpoint", "created_at"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prediction_id", String(32), nullable=False),
    Column("endpoint", String(128), nullable=False),
    Column("label_json", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index(None, "prediction_id"),
)
