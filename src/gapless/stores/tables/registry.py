"""Tables of the model registry: registered models, their versions, aliases and the audit log.

A version points at its model file by SHA-256 (``digest``: the stored bytes, ciphertext
when encrypted; ``model_digest``: the plain model file) and carries what makes it
traceable: signature, lineage, metrics. ``model_aliases`` has one row per alias with a
``revision`` counter, so a promotion can say "move it only if it still points where I
saw it" and two concurrent promotions cannot both win. ``model_audit`` is append-only:
the migration installs triggers that refuse UPDATE and DELETE on it.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gapless.stores.tables.base import metadata

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_by", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("name"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_id", String(32), nullable=True),
    Column("digest", String(64), nullable=False),
    Column("model_digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("format", String(16), nullable=False),
    Column("encrypted", Boolean, nullable=False),
    Column("signature_json", Text, nullable=True),
    Column("lineage_json", Text, nullable=False),
    Column("metrics_json", Text, nullable=False),
    Column("evaluation_json", Text, nullable=True),
    Column("tags_json", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("source", String(32), nullable=False),
    Column("trusted_by", String(128), nullable=True),
    Column("created_by", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("model_id", "version"),
    Index(None, "run_id"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("updated_by", String(128), nullable=False),
    Column("updated_at", Float, nullable=False),
)

model_audit = Table(
    "model_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("alias", String(64), nullable=True),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=True),
    Column("gates_json", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Index(None, "model_id"),
)
