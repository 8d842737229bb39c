"""Pipelines: runs, their steps (with cache keys), and schedule firings.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("pipeline", sa.String(128), nullable=False),
        sa.Column("spec_json", sa.Text, nullable=False),
        sa.Column("spec_digest", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(250), nullable=False),
        sa.Column("executor", sa.String(128), nullable=False),
        sa.Column("resumed_from", sa.String(32), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_runs"),
    )
    op.create_index("ix_pipeline_runs_pipeline_started_at", "pipeline_runs",
                    ["pipeline", "started_at"])
    op.create_table(
        "pipeline_steps",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("step", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=True),
        sa.Column("cached_from", sa.String(32), nullable=True),
        sa.Column("outputs_json", sa.Text, nullable=True),
        sa.Column("log", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("run_id", "step", name="pk_pipeline_steps"),
    )
    op.create_index("ix_pipeline_steps_cache_key_status", "pipeline_steps",
                    ["cache_key", "status"])
    op.create_table(
        "schedule_firings",
        sa.Column("schedule", sa.String(128), nullable=False),
        sa.Column("fire_at", sa.Float, nullable=False),
        sa.Column("claimed_by", sa.String(250), nullable=False),
        sa.Column("claimed_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("schedule", "fire_at", name="pk_schedule_firings"),
    )


def downgrade() -> None:
    op.drop_table("schedule_firings")
    op.drop_table("pipeline_steps")
    op.drop_table("pipeline_runs")
