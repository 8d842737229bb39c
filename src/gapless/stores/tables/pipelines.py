"""Tables of pipelines: every run and each of its steps, and the firings of schedules.

A run row is written when a run starts and closed when it ends; each step row records
its status, its cache key (the hash of its code, parameters and inputs), its outputs as
JSON, its log and its error, so a later run can skip a step whose key it has seen
succeed, and resume after the step that failed. A schedule firing is claimed by
inserting its (schedule, fire time) row: the primary key lets exactly one scheduler
process win each firing.
"""

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from gapless.stores.tables.base import metadata

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("pipeline", String(128), nullable=False),
    Column("spec_json", Text, nullable=False),
    Column("spec_digest", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # running | succeeded | failed
    Column("trigger", String(250), nullable=False),  # manual, schedule:..., alert:..., data:...
    Column("executor", String(128), nullable=False),
    Column("resumed_from", String(32), nullable=True),
    Column("created_by", String(128), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("error", Text, nullable=True),
    Index(None, "pipeline", "started_at"),
)

pipeline_steps = Table(
    "pipeline_steps",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("step", String(128), primary_key=True),
    Column("position", Integer, nullable=False),  # order in the spec
    # pending | running | succeeded | cached | failed | skipped (a dependency failed)
    Column("status", String(16), nullable=False),
    Column("cache_key", String(64), nullable=True),
    Column("cached_from", String(32), nullable=True),  # the run whose outputs were reused
    Column("outputs_json", Text, nullable=True),
    Column("log", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Index(None, "cache_key", "status"),
)

schedule_firings = Table(
    "schedule_firings",
    metadata,
    Column("schedule", String(128), primary_key=True),
    Column("fire_at", Float, primary_key=True),  # the cron time this firing is for
    Column("claimed_by", String(250), nullable=False),  # host:pid of the scheduler
    Column("claimed_at", Float, nullable=False),
    Column("status", String(16), nullable=False),  # claimed | started | skipped | failed
    Column("run_id", String(32), nullable=True),
    Column("detail", Text, nullable=True),
)
