"""The metadata database: engine from a URI, transaction scopes, driver errors -> GaplessError.

SQLite is the embedded default. It runs in WAL mode with a busy timeout, and every
write transaction starts with ``BEGIN IMMEDIATE`` so a writer waits for the lock
up front instead of failing with "database is locked" when it upgrades a read
lock; what still comes back busy is retried with backoff. PostgreSQL is reached
through psycopg 3 and retried on serialization failures and deadlocks.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gapless.core.config import redact_uri
from gapless.core.errors import (
    ConfigError,
    ConflictError,
    StoreError,
    StoreUnavailableError,
)

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")

SUPPORTED_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
_WRITE = "gapless_write"
_RETRY_SECONDS = 60.0
# PostgreSQL SQLSTATEs that mean "try the transaction again".
_PG_TRANSIENT = {"40001", "40P01", "55P03"}


class MetadataStore:
    """Owns one SQLAlchemy engine; hands out read and write transactions.

    Opening the store applies any pending Alembic migration (see
    :func:`gapless.stores.migrations.upgrade`), so code above never meets an old schema.
    """

    def __init__(self, uri: str, *, migrate: bool = True) -> None:
        self.uri = uri
        self.display_uri = redact_uri(uri)
        self.engine = create_engine(uri)
        if migrate:
            from gapless.stores.migrations import upgrade

            upgrade(self)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a plain (deferred) transaction, for queries."""
        with self._translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(conn)`` in one write transaction; retry it while the database is busy.

        ``work`` must be safe to run again: it is called anew after a rollback.
        """
        deadline = time.monotonic() + _RETRY_SECONDS
        delay = 0.005
        while True:
            try:
                with self._translated(), self.engine.connect() as raw:
                    conn = raw.execution_options(**{_WRITE: True})
                    with conn.begin():
                        return work(conn)
            except _Transient:
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"metadata store {self.display_uri} stayed busy for "
                        f"{_RETRY_SECONDS:.0f}s; another process holds a long write lock"
                    ) from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)

    def dispose(self) -> None:
        """Close pooled connections (call before a process forks or exits)."""
        self.engine.dispose()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        from sqlalchemy import exc as sa_exc

        try:
            yield
        except sa_exc.IntegrityError as exc:
            raise ConflictError(
                f"metadata store {self.display_uri} refused the write: {_first_line(exc.orig)}"
            ) from exc
        except sa_exc.DBAPIError as exc:
            if _is_transient(exc):
                raise _Transient() from exc
            if isinstance(exc, sa_exc.OperationalError) and _is_connect_failure(exc):
                raise StoreUnavailableError(
                    f"cannot reach metadata store {self.display_uri}: {_first_line(exc.orig)}; "
                    "check that the database server is running and the URI is right"
                ) from exc
            raise StoreError(
                f"metadata store {self.display_uri} failed: {_first_line(exc.orig)}"
            ) from exc


class _Transient(Exception):
    """Internal signal: the transaction lost a lock race and may be retried."""


def create_engine(uri: str) -> Engine:
    """Build an engine for a supported URI, with SQLite tuned for concurrent writers."""
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    shown = redact_uri(uri)
    try:
        url = make_url(uri)
    except ArgumentError as exc:
        raise ConfigError(
            f"malformed metadata URI {shown!r}; expected e.g. sqlite:///path/meta.db or "
            "postgresql+psycopg://user@host:5432/db"
        ) from exc
    if url.drivername not in SUPPORTED_SCHEMES:
        raise ConfigError(
            f"unsupported metadata URI scheme {url.drivername!r} in {shown!r}; "
            f"supported: {', '.join(SUPPORTED_SCHEMES)}"
        )
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    try:
        if url.get_backend_name() == "sqlite":
            engine = _sqlite_engine(url, sa, event)
        else:
            engine = sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise ConfigError(
            f"the driver for {shown!r} is not installed; pip install 'gapless[postgres]'"
        ) from exc
    return engine


def _sqlite_engine(url, sa, event) -> Engine:  # type: ignore[no-untyped-def]
    database = url.database or ""
    if database and database != ":memory:":
        folder = Path(database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(
                f"cannot create the folder {folder} for the metadata database: {exc}"
            ) from exc
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, emit BEGIN so we can choose IMMEDIATE.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # LIKE is case-sensitive on PostgreSQL; make SQLite agree (ILIKE stays insensitive).
        cursor.execute("PRAGMA case_sensitive_like = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str],
    where: Callable[[Table, Any], Any] | None = None,
) -> None:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE`` on SQLite and PostgreSQL alike.

    ``where(table, excluded)`` may restrict which conflicting rows are updated; with
    no ``update`` columns a conflicting row is left as it is (``DO NOTHING``).
    """
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table)
    if not update:
        conn.execute(stmt.on_conflict_do_nothing(index_elements=list(keys)), list(rows))
        return
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: stmt.excluded[name] for name in update},
        where=where(table, stmt.excluded) if where else None,
    )
    conn.execute(stmt, list(rows))


def _is_transient(exc: Exception) -> bool:
    orig = getattr(exc, "orig", None)
    text = str(orig).lower()
    if "database is locked" in text or "database table is locked" in text or "busy" in text:
        return True
    sqlstate = getattr(orig, "sqlstate", None)
    return sqlstate in _PG_TRANSIENT


def _is_connect_failure(exc: Exception) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    markers = ("connection refused", "could not connect", "unable to open database",
               "connection failed", "does not exist", "timeout expired", "could not translate")
    return any(marker in text for marker in markers)


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
