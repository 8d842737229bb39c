"""Backend-specific cases of the online store; shared behaviour is in
tests/contracts/test_online_store.py."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import free_port, redis_prefixed_url, service_missing
from gapless import ConfigError, StoreError, StoreUnavailableError
from gapless.core.config import Settings
from gapless.stores.online import open_online_store
from gapless.stores.online.redis import RedisOnlineStore
from gapless.stores.online.sqlite import SQLiteOnlineStore


@pytest.fixture
def redis_url() -> Iterator[str]:
    yield from redis_prefixed_url()


# -- choosing a backend -----------------------------------------------------------------
def test_an_unknown_scheme_lists_the_known_ones_without_the_password() -> None:
    with pytest.raises(ConfigError, match="redis, rediss, sqlite") as caught:
        open_online_store("memcached://user:hunter2@host:11211")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError, match="known schemes"):
        open_online_store("/just/a/path.db")


def test_the_workspace_default_uri_opens_sqlite_under_the_state_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GAPLESS_ONLINE_URI", raising=False)
    settings = Settings.load(tmp_path)
    store = open_online_store(settings.online_uri)
    try:
        assert isinstance(store, SQLiteOnlineStore)
        store.write("v", 1, [("a", 1.0, {"x": 1})])
    finally:
        store.close()
    assert (tmp_path / ".gapless" / "online.db").is_file()


# -- SQLite -----------------------------------------------------------------------------
def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = open_online_store(f"sqlite:///{tmp_path}/online.db")
    store.close()
    with sqlite3.connect(tmp_path / "online.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_in_memory_is_shared_by_threads() -> None:
    store = open_online_store("sqlite:///:memory:")
    try:
        store.write("v", 1, [("a", 1.0, {"x": 1})])
        seen: list[object] = []
        thread = threading.Thread(target=lambda: seen.append(store.read("v", 1, ["a"])))
        thread.start()
        thread.join()
        assert seen == [[{"x": 1, "_event_time": 1.0}]]
    finally:
        store.close()


def test_sqlite_threads_read_while_another_writes(tmp_path: Path) -> None:
    store = open_online_store(f"sqlite:///{tmp_path}/online.db")
    store.write("v", 1, [(str(i), 0.0, {"i": i}) for i in range(100)])
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                rows = store.read("v", 1, [str(i) for i in range(100)])
                assert all(row is not None for row in rows)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for thread in readers:
        thread.start()
    try:
        for t in range(1, 30):
            store.write("v", 1, [(str(i), float(t), {"i": i, "t": t}) for i in range(100)])
    finally:
        stop.set()
        for thread in readers:
            thread.join()
        store.close()
    assert errors == []


def test_sqlite_a_folder_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreUnavailableError, match="cannot create the folder"):
        open_online_store(f"sqlite:///{blocker}/sub/online.db")


def test_sqlite_a_path_that_is_a_folder_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "online.db").mkdir()
    with pytest.raises(StoreUnavailableError, match="online.db"):
        open_online_store(f"sqlite:///{tmp_path}/online.db")


def test_sqlite_a_closed_store_says_so(tmp_path: Path) -> None:
    store = open_online_store(f"sqlite:///{tmp_path}/online.db")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.read("v", 1, ["a"])


# -- Redis ------------------------------------------------------------------------------
def test_redis_down_fails_fast_naming_the_uri_without_the_password() -> None:
    port = free_port()
    uri = f"redis://default:hunter2@127.0.0.1:{port}/0"
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError) as caught:
        open_online_store(uri, timeout=0.5)
    assert time.monotonic() - start < 1.0
    message = str(caught.value)
    assert f"127.0.0.1:{port}/0" in message and "hunter2" not in message
    assert "Redis" in message


def test_redis_that_never_answers_times_out() -> None:
    """A socket that accepts connections and says nothing: the store must not hang."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{port}"):
            open_online_store(f"redis://127.0.0.1:{port}/0", timeout=0.3)
        assert time.monotonic() - start < 1.5


def test_redis_going_away_after_open_is_unavailable(tmp_path: Path) -> None:
    """A private redis-server, stopped (by its PID) while the store is open."""
    import shutil
    import subprocess

    binary = shutil.which("redis-server")
    if binary is None:
        service_missing("redis-server", "not on PATH (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                store = open_online_store(f"redis://127.0.0.1:{port}/0")
                break
            except StoreUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        store.write("v", 1, [("a", 1.0, {"x": 1})])
    finally:
        process.terminate()
        process.wait(timeout=10)
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="cannot read view `v@1`"):
        store.read("v", 1, ["a"])
    with pytest.raises(StoreUnavailableError, match="cannot write"):
        store.write("v", 1, [("a", 1.0, {"x": 1})])
    assert time.monotonic() - start < 2.0
    store.close()


def test_redis_prefixes_keep_stores_apart(redis_url: str) -> None:
    other_url = redis_url + "-other"
    first, second = open_online_store(redis_url), open_online_store(other_url)
    try:
        first.write("v", 1, [("a", 1.0, {"x": 1})])
        assert second.read("v", 1, ["a"]) == [None]
        assert second.versions("v") == []
    finally:
        first.drop("v")
        first.close()
        second.close()


def test_redis_drop_leaves_no_keys_behind(redis_url: str) -> None:
    import redis

    store = open_online_store(redis_url)
    assert isinstance(store, RedisOnlineStore)
    store.write("v", 1, [(str(i), 1.0, {"i": i}) for i in range(1500)])
    store.write("v", 2, [("a", 1.0, {"i": 0})])
    store.drop("v")
    client = redis.Redis.from_url(redis_url.split("?")[0])
    try:
        assert list(client.scan_iter(match=f"{store.prefix}*")) == []
    finally:
        client.close()
        store.close()


def test_redis_a_bad_prefix_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="prefix"):
        open_online_store("redis://127.0.0.1:6379/15?prefix=")
