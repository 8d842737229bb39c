"""Model registry: registered models, versions, aliases, the append-only audit log.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_REFUSE = "model_audit is append-only"


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registered_models"),
        sa.UniqueConstraint("name", name="uq_registered_models_name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("model_digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("encrypted", sa.Boolean, nullable=False),
        sa.Column("signature_json", sa.Text, nullable=True),
        sa.Column("lineage_json", sa.Text, nullable=False),
        sa.Column("metrics_json", sa.Text, nullable=False),
        sa.Column("evaluation_json", sa.Text, nullable=True),
        sa.Column("tags_json", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("trusted_by", sa.String(128), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.ForeignKeyConstraint(["model_id"], ["registered_models.id"],
                                name="fk_model_versions_model_id_registered_models"),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_model_id_version"),
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_table(
        "model_aliases",
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("model_id", "alias", name="pk_model_aliases"),
        sa.ForeignKeyConstraint(["model_id"], ["registered_models.id"],
                                name="fk_model_aliases_model_id_registered_models"),
        sa.ForeignKeyConstraint(["version_id"], ["model_versions.id"],
                                name="fk_model_aliases_version_id_model_versions"),
    )
    op.create_table(
        "model_audit",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("alias", sa.String(64), nullable=True),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("gates_json", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_audit"),
        sa.ForeignKeyConstraint(["model_id"], ["registered_models.id"],
                                name="fk_model_audit_model_id_registered_models"),
    )
    op.create_index("ix_model_audit_model_id", "model_audit", ["model_id"])
    _append_only()


def _append_only() -> None:
    """Triggers that refuse to change or remove an audit entry, on both backends."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION gapless_model_audit_append_only() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{_REFUSE}' USING ERRCODE = 'integrity_constraint_violation'; "
            "END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER model_audit_append_only BEFORE UPDATE OR DELETE ON model_audit "
            "FOR EACH ROW EXECUTE FUNCTION gapless_model_audit_append_only()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER model_audit_no_{event.lower()} BEFORE {event} ON model_audit "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS model_audit_append_only ON model_audit")
        op.execute("DROP FUNCTION IF EXISTS gapless_model_audit_append_only()")
    for table in ("model_audit", "model_aliases", "model_versions", "registered_models"):
        op.drop_table(table)
