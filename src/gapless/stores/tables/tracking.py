"""Tables of experiment tracking: experiments, runs, params, metrics, tags, run artifacts.

Times are seconds since the epoch as floats. A run's environment (git commit, Python,
packages, host) is stored once per distinct content in ``run_environments`` and
referenced by digest, so thousands of runs from one checkout share one row.
``latest_metrics`` keeps the newest value of each metric of each run (highest step,
then newest timestamp) so run search filters and sorts on metrics without scanning
the full history.
Params keep a numeric shadow (``value_num``) when the value parses as a number,
so ``params.max_depth > 5`` compares numbers, not strings.
"""

from sqlalchemy import (
    BigInteger,
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

RUN_ID = String(32)
KEY = String(250)

experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("name"),
)

# What a run ran on (git commit, Python, packages, host), stored once per distinct content.
run_environments = Table(
    "run_environments",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("content", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", RUN_ID, primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", Float, nullable=False),
    Column("end_time", Float, nullable=True),
    Column("parent_id", RUN_ID, ForeignKey("runs.id"), nullable=True),
    Column("user", String(128), nullable=False),
    Column("environment", String(64), ForeignKey("run_environments.digest"), nullable=True),
    Index(None, "experiment_id", "start_time"),
    Index(None, "parent_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", RUN_ID, ForeignKey("runs.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    Column("value_num", Float, nullable=True),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", RUN_ID, ForeignKey("runs.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

metrics = Table(
    "metrics",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("run_id", RUN_ID, ForeignKey("runs.id"), nullable=False),
    Column("key", KEY, nullable=False),
    # NULL stands for NaN: SQLite cannot store NaN.
    Column("value", Float, nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", Float, nullable=False),
    Index(None, "run_id", "key", "step"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", RUN_ID, ForeignKey("runs.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Float, nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", Float, nullable=False),
    Index(None, "key", "value"),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", RUN_ID, ForeignKey("runs.id"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
)
