"""The embedded online store: one SQLite file in WAL mode.

Each thread gets its own connection (WAL lets them read while one writes); statements
are fixed texts, so sqlite3's statement cache prepares each once per connection. Rows
live in a ``WITHOUT ROWID`` table keyed by (view, version, key): a lookup is one
B-tree search. A write is one ``BEGIN IMMEDIATE`` transaction of ``executemany``
UPSERTs whose ``WHERE`` keeps the row with the latest event time.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gapless.core.config import redact_uri
from gapless.core.errors import (
    ConfigError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
    StoreWriteError,
)
from gapless.stores.online.base import (
    Key,
    Row,
    check_view,
    decode_row,
    encode_key,
    encode_rows,
)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS online_rows (
        view TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL,
        event_time REAL NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (view, version, key)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS online_freshness (
        view TEXT NOT NULL, version INTEGER NOT NULL,
        max_event_time REAL NOT NULL, written_at REAL NOT NULL,
        PRIMARY KEY (view, version)) WITHOUT ROWID""",
)
_UPSERT = (
    "INSERT INTO online_rows (view, version, key, event_time, value) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (view, version, key) DO UPDATE SET "
    "event_time = excluded.event_time, value = excluded.value "
    "WHERE excluded.event_time >= online_rows.event_time"
)
_FRESHNESS = (
    "INSERT INTO online_freshness (view, version, max_event_time, written_at) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (view, version) DO UPDATE SET "
    "max_event_time = max(online_freshness.max_event_time, excluded.max_event_time), "
    "written_at = excluded.written_at"
)
_READ_ONE = ("SELECT key, event_time, value FROM online_rows "
             "WHERE view = ? AND version = ? AND key = ?")
# Keys per SELECT: well under SQLite's bound-variable limit on every build.
_CHUNK = 900
_BUSY_MS = 30_000


class SQLiteOnlineStore:
    """An :class:`~gapless.stores.online.base.OnlineStore` in one SQLite file."""

    def __init__(self, uri: str, *, timeout: float = 0.5) -> None:
        self.uri = uri
        self.display_uri = redact_uri(uri)
        self._target, self._is_uri = _database(uri)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        with self._translated("open"):
            if not self._is_uri:
                folder = Path(self._target).parent
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreUnavailableError(
                        f"online store {self.display_uri}: cannot create the folder {folder}: "
                        f"{exc}; check the path and its permissions"
                    ) from exc
            conn = self._conn()
            conn.execute("PRAGMA journal_mode = WAL")
            for statement in _SCHEMA:
                conn.execute(statement)

    # -- the protocol ------------------------------------------------------------------
    def write(self, view: str, version: int, rows: Iterable[Row]) -> int:
        check_view(view, version)
        encoded = encode_rows(rows)
        if not encoded:
            return 0
        params = [(view, version, key, t, value) for key, t, value in encoded]
        newest = max(t for _, t, _ in encoded)
        with self._translated(f"write to view `{view}@{version}`", write=True):
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                stored = conn.executemany(_UPSERT, params).rowcount
                conn.execute(_FRESHNESS, (view, version, newest, time.time()))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return stored

    def read(self, view: str, version: int, keys: Sequence[Key],
             features: Sequence[str] | None = None) -> list[dict[str, Any] | None]:
        check_view(view, version)
        stored = [encode_key(key) for key in keys]
        with self._translated(f"read view `{view}@{version}`"):
            conn = self._conn()
            if len(stored) == 1:
                found = conn.execute(_READ_ONE, (view, version, stored[0])).fetchall()
            else:
                found = []
                for start in range(0, len(stored), _CHUNK):
                    chunk = stored[start:start + _CHUNK]
                    sql = ("SELECT key, event_time, value FROM online_rows WHERE view = ? "
                           f"AND version = ? AND key IN ({','.join('?' * len(chunk))})")
                    found += conn.execute(sql, (view, version, *chunk)).fetchall()
        by_key = {key: (t, value) for key, t, value in found}
        out: list[dict[str, Any] | None] = []
        for key in stored:
            hit = by_key.get(key)
            out.append(None if hit is None else decode_row(hit[0], hit[1], features))
        return out

    def drop(self, view: str, version: int | None = None) -> None:
        check_view(view, version)
        where, params = ("view = ?", (view,)) if version is None else \
            ("view = ? AND version = ?", (view, version))
        with self._translated(f"drop view `{view}`", write=True):
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(f"DELETE FROM online_rows WHERE {where}", params)
                conn.execute(f"DELETE FROM online_freshness WHERE {where}", params)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def versions(self, view: str) -> list[int]:
        check_view(view)
        with self._translated(f"list versions of view `{view}`"):
            rows = self._conn().execute(
                "SELECT version FROM online_freshness WHERE view = ? ORDER BY version", (view,)
            ).fetchall()
        return [version for (version,) in rows]

    def freshness(self, view: str, version: int) -> dict[str, Any]:
        check_view(view, version)
        with self._translated(f"read freshness of view `{view}@{version}`"):
            conn = self._conn()
            meta = conn.execute(
                "SELECT max_event_time, written_at FROM online_freshness "
                "WHERE view = ? AND version = ?", (view, version)).fetchone()
            count = conn.execute("SELECT count(*) FROM online_rows WHERE view = ? AND "
                                 "version = ?", (view, version)).fetchone()[0]
        if meta is None:
            raise NotFoundError(
                f"online store {self.display_uri}: view `{view}@{version}` was never written "
                f"(versions stored: {self.versions(view)}); materialize it first"
            )
        return {"rows": count, "max_event_time": meta[0], "written_at": meta[1]}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # -- internals ---------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._lock:
            if self._closed:
                raise StoreError(f"online store {self.display_uri} is closed")
            # check_same_thread=False only so close() may close every thread's connection.
            conn = sqlite3.connect(self._target, uri=self._is_uri, isolation_level=None,
                                   check_same_thread=False, cached_statements=256,
                                   timeout=_BUSY_MS / 1000)
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._connections.append(conn)
        self._local.conn = conn
        return conn

    @contextmanager
    def _translated(self, action: str, *, write: bool = False) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "unable to open" in str(exc):
                raise StoreUnavailableError(
                    f"online store {self.display_uri}: cannot open the database ({exc}); "
                    "check the path and its permissions"
                ) from exc
            error = StoreWriteError if write else StoreError
            raise error(f"online store {self.display_uri}: {action} failed: {exc}") from exc
        except sqlite3.Error as exc:
            error = StoreWriteError if write else StoreError
            raise error(f"online store {self.display_uri}: {action} failed: {exc}") from exc


def _database(uri: str) -> tuple[str, bool]:
    """``(target, is_uri)`` for sqlite3.connect: a file path, or a shared in-memory URI."""
    if not uri.startswith("sqlite:///") and uri not in ("sqlite://", "sqlite:"):
        raise ConfigError(
            f"malformed online store URI {redact_uri(uri)!r}; expected "
            "sqlite:///path/online.db (relative) or sqlite:////abs/path/online.db"
        )
    path = uri[len("sqlite:///"):] if uri.startswith("sqlite:///") else ""
    if path in ("", ":memory:"):
        # One in-memory database shared by this store's per-thread connections.
        return f"file:gapless-online-{uuid.uuid4().hex}?mode=memory&cache=shared", True
    return path, False
