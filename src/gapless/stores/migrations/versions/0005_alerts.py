"""Alerts: every firing of a monitoring rule, with what its actions did; pipeline triggers.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("metric", sa.String(250), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("condition", sa.String(64), nullable=False),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.Column("window_end", sa.Float, nullable=False),
        sa.Column("fired_at", sa.Float, nullable=False),
        sa.Column("actions_json", sa.Text, nullable=False),
        sa.Column("pipeline", sa.String(128), nullable=True),
        sa.Column("consumed_at", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_events"),
    )
    op.create_index("ix_alert_events_rule_endpoint_fired_at", "alert_events",
                    ["rule", "endpoint", "fired_at"])
    op.create_index("ix_alert_events_pipeline_consumed_at", "alert_events",
                    ["pipeline", "consumed_at"])


def downgrade() -> None:
    op.drop_table("alert_events")
