"""Tables of data versioning: datasets, their immutable versions, and lineage edges.

A version points at a Parquet snapshot by SHA-256 (``digest``) in the artifact store.
``columns_json`` holds the schema with per-column statistics, so listing, diffing and
drift references never need to read the snapshot. ``dataset_validations`` keeps every
validation of a version against a declared schema, so a promotion gate can ask
whether a model's training data passed. ``spec_json`` holds what produced a
derived version (a cleaning spec and what it learned, a validation that quarantined it).
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

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("name"),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("columns_json", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("source_uri", Text, nullable=True),
    Column("query", Text, nullable=True),
    Column("time_column", String(250), nullable=True),
    Column("description", Text, nullable=True),
    Column("spec_json", Text, nullable=True),
    Column("created_by", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("dataset_id", "version"),
    Index(None, "digest"),
)

dataset_parents = Table(
    "dataset_parents",
    metadata,
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), primary_key=True),
    Column("parent_id", Integer, ForeignKey("dataset_versions.id"), primary_key=True),
)

dataset_validations = Table(
    "dataset_validations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("on_fail", String(16), nullable=False),
    Column("spec_json", Text, nullable=False),
    Column("result_json", Text, nullable=False),
    Column("quarantine_id", Integer, ForeignKey("dataset_versions.id"), nullable=True),
    Column("created_by", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Index(None, "version_id"),
)
