"""One behaviour suite for the online feature store, run on SQLite and on a real Redis.

Redis tests use database 15 of GAPLESS_TEST_REDIS (default 127.0.0.1:6379) under a
key prefix of their own, and delete only that prefix afterwards: the server is shared.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gapless import NotFoundError, ValidationError
from gapless.stores.online import OnlineStore, open_online_store


@pytest.fixture(params=["sqlite", "redis"])
def online_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every online-store contract test runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/.gapless/online.db"
    return request.getfixturevalue("redis_url")


@pytest.fixture
def store(online_uri: str) -> Iterator[OnlineStore]:
    opened = open_online_store(online_uri)
    try:
        yield opened
    finally:
        opened.close()


def test_it_is_an_online_store(store: OnlineStore) -> None:
    assert isinstance(store, OnlineStore)


def test_round_trip_with_the_event_time(store: OnlineStore) -> None:
    values = {"n": 3, "mean": 1.5, "city": "Köln", "flag": True, "none": None, "l": [1, 2]}
    assert store.write("users", 1, [("u1", 100.0, values)]) == 1
    assert store.read("users", 1, ["u1"]) == [{**values, "_event_time": 100.0}]


def test_latest_event_time_wins_whatever_the_write_order(store: OnlineStore) -> None:
    old, new = ("u1", 10.0, {"x": "old"}), ("u1", 20.0, {"x": "new"})
    store.write("v", 1, [new])
    assert store.write("v", 1, [old]) == 0
    store.write("v", 2, [old])
    store.write("v", 2, [new])
    store.write("v", 3, [new, old])  # within one batch too
    for version in (1, 2, 3):
        assert store.read("v", version, ["u1"]) == [{"x": "new", "_event_time": 20.0}]


def test_rewriting_the_same_rows_changes_nothing(store: OnlineStore) -> None:
    rows = [(f"k{i}", float(i), {"x": i}) for i in range(50)]
    store.write("v", 1, rows)
    keys = [f"k{i}" for i in range(50)]
    before = store.read("v", 1, keys)
    store.write("v", 1, rows)
    store.write("v", 1, reversed(rows))
    assert store.read("v", 1, keys) == before
    assert store.freshness("v", 1)["rows"] == 50


def test_missing_keys_read_as_none(store: OnlineStore) -> None:
    store.write("v", 1, [("a", 1.0, {"x": 1})])
    assert store.read("v", 1, ["nope", "a", "also-nope"]) == [None, {"x": 1, "_event_time": 1.0},
                                                              None]
    assert store.read("v", 2, ["a"]) == [None]
    assert store.read("other", 1, ["a"]) == [None]
    assert store.read("v", 1, []) == []


def test_a_batch_of_100_keys_comes_back_in_key_order(store: OnlineStore) -> None:
    store.write("v", 1, [(str(i), float(i), {"i": i}) for i in range(0, 200, 2)])
    keys = [str(i) for i in reversed(range(100))]  # half of them stored
    rows = store.read("v", 1, keys)
    assert len(rows) == 100
    for key, row in zip(keys, rows, strict=True):
        assert row == (None if int(key) % 2 else {"i": int(key), "_event_time": float(key)})


def test_large_batches_are_written_and_read_whole(store: OnlineStore) -> None:
    rows = [(str(i), 1.0, {"i": i}) for i in range(2500)]
    assert store.write("v", 1, iter(rows)) == 2500
    found = store.read("v", 1, [str(i) for i in range(2500)], ["i"])
    assert [r["i"] for r in found] == list(range(2500))


def test_a_features_subset(store: OnlineStore) -> None:
    store.write("v", 1, [("a", 5.0, {"x": 1, "y": 2, "z": 3})])
    assert store.read("v", 1, ["a"], ["z", "x"]) == [{"z": 3, "x": 1, "_event_time": 5.0}]
    assert store.read("v", 1, ["a"], ["absent"]) == [{"absent": None, "_event_time": 5.0}]


def test_compound_keys(store: OnlineStore) -> None:
    store.write("pairs", 1, [(("u1", "i1"), 1.0, {"x": 1}), (("u1", "i2"), 1.0, {"x": 2}),
                             (("u1:i1",), 1.0, {"x": 3}), ("u1", 1.0, {"x": 4})])
    found = store.read("pairs", 1, [("u1", "i2"), ("u1", "i1"), "u1:i1", ("u1",), ("i1", "u1")])
    assert [None if r is None else r["x"] for r in found] == [2, 1, 3, 4, None]


@pytest.mark.parametrize("key", [("a\x1fb",), "a\x1fb", ("ok", "b\x1f"), (), ("a", 1), 7, None])
def test_bad_keys_are_refused_naming_the_key(store: OnlineStore, key: object) -> None:
    with pytest.raises(ValidationError, match="entity key"):
        store.write("v", 1, [(key, 1.0, {"x": 1})])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="entity key"):
        store.read("v", 1, [key])  # type: ignore[list-item]
    assert store.versions("v") == []


@pytest.mark.parametrize("row", [("a", "yesterday", {"x": 1}), ("a", float("nan"), {"x": 1}),
                                 ("a", 1.0, [1, 2]), ("a", 1.0, {"x": object()}),
                                 ("a", 1.0, {"x": float("inf")}), ("a", 1.0)])
def test_bad_rows_are_refused_and_nothing_is_written(store: OnlineStore, row: tuple) -> None:
    with pytest.raises(ValidationError):
        store.write("v", 1, [("ok", 1.0, {"x": 1}), row])
    assert store.read("v", 1, ["ok"]) == [None]


def test_drop_a_version_leaves_the_others(store: OnlineStore) -> None:
    for version in (1, 2, 3):
        store.write("v", version, [("a", 1.0, {"version": version})])
    store.write("w", 1, [("a", 1.0, {"x": 0})])
    assert store.versions("v") == [1, 2, 3]
    store.drop("v", 2)
    assert store.versions("v") == [1, 3]
    assert store.read("v", 2, ["a"]) == [None]
    assert store.read("v", 3, ["a"]) == [{"version": 3, "_event_time": 1.0}]
    with pytest.raises(NotFoundError, match="v@2"):
        store.freshness("v", 2)
    store.drop("v")
    assert store.versions("v") == []
    assert store.read("v", 1, ["a"]) == [None]
    assert store.read("w", 1, ["a"]) == [{"x": 0, "_event_time": 1.0}]
    store.drop("never-written")


def test_a_dropped_version_can_be_written_again(store: OnlineStore) -> None:
    store.write("v", 1, [("a", 9.0, {"x": "first"})])
    store.drop("v", 1)
    store.write("v", 1, [("a", 1.0, {"x": "again"})])
    assert store.read("v", 1, ["a"]) == [{"x": "again", "_event_time": 1.0}]
    assert store.freshness("v", 1)["max_event_time"] == 1.0


def test_freshness_is_recorded_per_view_version(store: OnlineStore) -> None:
    before = time.time()
    store.write("v", 1, [("a", 50.0, {"x": 1}), ("b", 70.0, {"x": 1})])
    store.write("v", 1, [("c", 60.0, {"x": 1})])
    store.write("v", 2, [("a", 10.0, {"x": 1})])
    fresh = store.freshness("v", 1)
    assert fresh["rows"] == 3 and fresh["max_event_time"] == 70.0
    assert before - 1 <= fresh["written_at"] <= time.time() + 1
    assert store.freshness("v", 2)["rows"] == 1
    with pytest.raises(NotFoundError, match="never written"):
        store.freshness("v", 9)


def test_an_empty_write_records_nothing(store: OnlineStore) -> None:
    assert store.write("v", 1, []) == 0
    assert store.versions("v") == []


def test_bad_view_names_and_versions_are_refused(store: OnlineStore) -> None:
    with pytest.raises(ValidationError, match="view name"):
        store.write("", 1, [("a", 1.0, {})])
    with pytest.raises(ValidationError, match="view name"):
        store.read("a\x1fb", 1, ["a"])
    with pytest.raises(ValidationError, match="version"):
        store.write("v", "1", [("a", 1.0, {})])  # type: ignore[arg-type]


def test_data_outlives_the_store_object(online_uri: str) -> None:
    first = open_online_store(online_uri)
    first.write("v", 1, [("a", 1.0, {"x": 1})])
    first.close()
    second = open_online_store(online_uri)
    try:
        assert second.read("v", 1, ["a"]) == [{"x": 1, "_event_time": 1.0}]
        assert second.versions("v") == [1]
    finally:
        second.close()
