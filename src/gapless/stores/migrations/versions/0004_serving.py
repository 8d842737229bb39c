"""Serving: API keys, deployments and their history, the prediction log, feedback.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("scopes", sa.String(128), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_used_at", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )
    op.create_table(
        "deployments",
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("spec_json", sa.Text, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("endpoint", name="pk_deployments"),
    )
    op.create_table(
        "deployment_history",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("spec_json", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deployment_history"),
    )
    op.create_index("ix_deployment_history_endpoint_revision", "deployment_history",
                    ["endpoint", "revision"])
    op.create_table(
        "predictions",
        sa.Column("prediction_id", sa.String(32), nullable=False),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("model", sa.String(250), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("variant", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("inputs_json", sa.Text, nullable=False),
        sa.Column("outputs_json", sa.Text, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("prediction_id", "variant", name="pk_predictions"),
    )
    op.create_index("ix_predictions_endpoint_created_at", "predictions",
                    ["endpoint", "created_at"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("prediction_id", sa.String(32), nullable=False),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("label_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
    )
    op.create_index("ix_feedback_prediction_id", "feedback", ["prediction_id"])


def downgrade() -> None:
    for table in ("feedback", "predictions", "deployment_history", "deployments", "api_keys"):
        op.drop_table(table)
