"""``gapless db``: metadata-store schema migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from gapless.cli.render import console

if TYPE_CHECKING:
    from gapless.stores.sql import MetadataStore

app = typer.Typer(help="Manage the metadata store's schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    revision: str = typer.Argument("head", help="Target Alembic revision."),
) -> None:
    """Apply pending migrations to the metadata store (opening a workspace also does this)."""
    from gapless.stores.migrations import current_revision, upgrade

    with _unmigrated_store(ctx) as store:
        before = upgrade(store, revision)
        with store.read() as conn:
            after = current_revision(conn)
    note = "already up to date" if before == after else f"upgraded from {before or 'empty'}"
    console().print(f"metadata store {store.display_uri} is at revision {after} ({note})")


@app.command("current")
def current(ctx: typer.Context) -> None:
    """Show the schema revision of the metadata store."""
    from gapless.stores.migrations import current_revision, script_head

    with _unmigrated_store(ctx) as store, store.read() as conn:
        found = current_revision(conn)
    head = script_head()
    state = "up to date" if found == head else f"behind head {head}; run `gapless db upgrade`"
    console().print(f"metadata store {store.display_uri}: revision {found or 'none'} ({state})")


@contextmanager
def _unmigrated_store(ctx: typer.Context) -> Iterator[MetadataStore]:
    """The workspace's metadata store, opened without applying migrations."""
    from gapless.core.config import Settings
    from gapless.stores.sql import MetadataStore
    from gapless.workspace import find_root

    settings = Settings.load((ctx.obj or {}).get("workspace") or find_root())
    store = MetadataStore(settings.metadata_uri, migrate=False)
    try:
        yield store
    finally:
        store.dispose()
