"""Tables of the feature store: every version of every feature view.

A view's definition is never changed in place: applying a different definition adds the
next version, so a training set built from ``customer_activity@2`` can always be rebuilt.
"""

from sqlalchemy import Column, Float, Integer, String, Table, Text

from gapless.stores.tables.base import metadata

feature_views = Table(
    "feature_views",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("digest", String(64), nullable=False),  # SHA-256 of the canonical definition
    Column("spec_json", Text, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
)
