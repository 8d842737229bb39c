"""Data versioning: datasets, dataset versions, lineage edges, validations.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_datasets"),
        sa.UniqueConstraint("name", name="uq_datasets_name"),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("row_count", sa.BigInteger, nullable=False),
        sa.Column("columns_json", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source_uri", sa.Text, nullable=True),
        sa.Column("query", sa.Text, nullable=True),
        sa.Column("time_column", sa.String(250), nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("spec_json", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_versions"),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name="fk_dataset_versions_dataset_id_datasets"
        ),
        sa.UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_dataset_id_version"),
    )
    op.create_index("ix_dataset_versions_digest", "dataset_versions", ["digest"])
    op.create_table(
        "dataset_parents",
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("parent_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("version_id", "parent_id", name="pk_dataset_parents"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["dataset_versions.id"],
            name="fk_dataset_parents_version_id_dataset_versions",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["dataset_versions.id"],
            name="fk_dataset_parents_parent_id_dataset_versions",
        ),
    )


    op.create_table(
        "dataset_validations",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("on_fail", sa.String(16), nullable=False),
        sa.Column("spec_json", sa.Text, nullable=False),
        sa.Column("result_json", sa.Text, nullable=False),
        sa.Column("quarantine_id", sa.Integer, nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_validations"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["dataset_versions.id"],
            name="fk_dataset_validations_version_id_dataset_versions",
        ),
        sa.ForeignKeyConstraint(
            ["quarantine_id"], ["dataset_versions.id"],
            name="fk_dataset_validations_quarantine_id_dataset_versions",
        ),
    )
    op.create_index("ix_dataset_validations_version_id", "dataset_validations", ["version_id"])


def downgrade() -> None:
    for table in ("dataset_validations", "dataset_parents", "dataset_versions", "datasets"):
        op.drop_table(table)
