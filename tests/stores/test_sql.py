from __future__ import annotations

from pathlib import Path

import pytest

from gapless import ConfigError, StoreUnavailableError
from gapless.stores.sql import MetadataStore


@pytest.mark.parametrize("uri, message", [
    ("mysql://root@127.0.0.1/x", "unsupported metadata URI scheme 'mysql'"),
    ("not a uri at all", "malformed metadata URI"),
    ("postgresql+asyncpg://u@h/db", "supported: sqlite, postgresql"),
])
def test_bad_uris_are_config_errors_naming_the_uri(uri: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MetadataStore(uri)


def test_unreachable_postgres_names_the_uri_without_the_password() -> None:
    uri = "postgresql+psycopg://bob:hunter2@127.0.0.1:1/gapless"
    with pytest.raises(StoreUnavailableError) as caught:
        MetadataStore(uri)
    message = str(caught.value)
    assert "127.0.0.1:1/gapless" in message and "hunter2" not in message
    assert "running" in message


def test_sqlite_folder_that_cannot_exist_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreUnavailableError, match="a-file"):
        MetadataStore(f"sqlite:///{blocker}/meta.db")


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    import sqlalchemy as sa

    store = MetadataStore(f"sqlite:///{tmp_path}/m.db")
    with store.read() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA busy_timeout")).scalar() == 30000
    store.dispose()
