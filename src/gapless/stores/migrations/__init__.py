"""Alembic migrations of the metadata store, applied whenever a store opens.

The common case, a database already at the head revision, costs one query and
never imports Alembic. Otherwise the upgrade runs inside one write transaction
that holds the database's write lock (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL
advisory lock), so processes opening a fresh store at once migrate it exactly once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from gapless.stores.sql import MetadataStore

# The newest revision in versions/; a test checks it equals Alembic's head.
HEAD_REVISION = "0008"
_LOCK_KEY = 0x6761706C  # "gapl": the advisory-lock id gapless migrations take on PostgreSQL
SCRIPT_LOCATION = str(Path(__file__).parent)


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    import sqlalchemy as sa

    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(store: MetadataStore, revision: str = "head") -> str | None:
    """Bring the database to ``revision``; returns the revision it was at before."""
    with store.read() as conn:
        before = current_revision(conn)
    if revision == "head" and before == HEAD_REVISION:
        return before

    def migrate(conn: Connection) -> str | None:
        import sqlalchemy as sa

        if store.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        found = current_revision(conn)
        if revision == "head" and found == HEAD_REVISION:
            return found
        _run_alembic(conn, revision)
        return found

    return store.write(migrate)


def _run_alembic(conn: Connection, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = conn
    command.upgrade(config, revision)


def script_head() -> str | None:
    """Alembic's own idea of the head revision (for tests and `gapless db`)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return ScriptDirectory.from_config(config).get_current_head()
