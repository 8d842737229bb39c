from __future__ import annotations

from pathlib import Path

from gapless.stores.migrations import HEAD_REVISION, current_revision, script_head, upgrade
from gapless.stores.sql import MetadataStore


def test_head_constant_matches_alembic_scripts() -> None:
    assert script_head() == HEAD_REVISION


def test_upgrade_is_explicit_and_idempotent(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path}/m.db", migrate=False)
    with store.read() as conn:
        assert current_revision(conn) is None
    assert upgrade(store) is None
    assert upgrade(store) == HEAD_REVISION
    with store.read() as conn:
        assert current_revision(conn) == HEAD_REVISION
    store.dispose()
