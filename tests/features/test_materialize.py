"""Materialization into the online store, and online reads by entity key: the same values
the point-in-time join gives for that time, idempotent, invalidated by a new version,
served over REST."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from conftest import redis_prefixed_url
from gapless import ValidationError, Workspace

T0 = pd.Timestamp("2026-11-01")
DAY = 86400.0
VIEW = {"name": "activity", "entities": ["customer_id"], "timestamp": "event_time",
        "source": {"dataset": "events"}, "ttl": "30d",
        "features": [{"name": "last_amount", "column": "amount"},
                     {"name": "tx_count_7d", "aggregate": {"function": "count",
                                                           "column": "amount",
                                                           "window": "7d"}}]}


@pytest.fixture(params=["sqlite", "redis"])
def ws(workspace: Workspace, request: pytest.FixtureRequest) -> Iterator[Workspace]:
    """The embedded default (SQLite online store) and a real Redis."""
    if request.param == "redis":
        urls = redis_prefixed_url()
        workspace = Workspace(workspace.root, online_uri=next(urls))
    workspace.data.add("events", pd.DataFrame({
        "customer_id": ["a", "a", "b", "c"],
        "event_time": [T0, T0 + pd.Timedelta("2D"), T0 + pd.Timedelta("1D"),
                       T0 + pd.Timedelta("9D")],
        "amount": [1.0, 2.0, 5.0, 7.0]}))
    workspace.features.apply(VIEW)
    yield workspace
    if request.param == "redis":
        workspace.close()
        next(urls, None)  # deletes the test's keys


def epoch(days: float) -> float:
    return (T0 + pd.Timedelta(days=days)).timestamp()


def test_materialized_values_equal_the_point_in_time_join(ws: Workspace) -> None:
    done = ws.features.materialize("activity", until=epoch(3))
    assert done.view == "activity@1" and done.rows == 2  # c's only row is later
    online = ws.features.online(["a", "b", "c", "zz"], ["activity"])
    offline = ws.features.training_set(pd.DataFrame({
        "customer_id": ["a", "b"], "event_timestamp": [T0 + pd.Timedelta("3D")] * 2}),
        ["activity"])
    assert online[:2] == offline[["last_amount", "tx_count_7d"]].to_dict("records")
    assert online[2] == {"last_amount": None, "tx_count_7d": None} == online[3]
    assert ws.features.online(["a"], ["activity:last_amount"]) == [{"last_amount": 2.0}]


def test_materializing_again_changes_nothing_and_older_runs_never_win(ws: Workspace) -> None:
    ws.features.materialize("activity", until=epoch(3))
    first = ws.features.online(["a", "b"], ["activity"])
    again = ws.features.materialize("activity", until=epoch(3))
    assert ws.features.online(["a", "b"], ["activity"]) == first and again.rows >= 0
    ws.features.materialize("activity", until=epoch(10))  # now a's count left the window
    later = ws.features.online(["a", "c"], ["activity"])
    assert later == [{"last_amount": 2.0, "tx_count_7d": 0},
                     {"last_amount": 7.0, "tx_count_7d": 1}]
    ws.features.materialize("activity", until=epoch(3))  # an older snapshot
    assert ws.features.online(["a"], ["activity"]) == later[:1]


def test_incremental_runs_touch_only_entities_with_new_rows(ws: Workspace) -> None:
    ws.features.materialize("activity", until=epoch(3))
    done = ws.features.materialize("activity", until=epoch(10), since=epoch(3))
    assert done.rows == 1  # only c has a row after day 3


def test_a_new_view_version_invalidates_the_old_rows(ws: Workspace) -> None:
    ws.features.materialize("activity", until=epoch(3))
    ws.features.apply({**VIEW, "ttl": "1d"})
    done = ws.features.materialize("activity", until=epoch(3.5))  # a's day-2 row: too old
    assert done.view == "activity@2" and done.dropped_versions == [1]
    assert ws.features.online_store.versions("activity") == [2]
    assert ws.features.online(["a"], ["activity:last_amount"]) == [{"last_amount": None}]


def test_bad_online_requests_are_named(ws: Workspace) -> None:
    with pytest.raises(ValidationError, match="has no feature 'nope'"):
        ws.features.online(["a"], ["activity:nope"])
    with pytest.raises(ValidationError, match=r"keyed by \['customer_id'\]"):
        ws.features.online([("a", "b")], ["activity"])


def test_features_over_rest_in_one_call(ws: Workspace) -> None:
    from fastapi.testclient import TestClient

    from gapless.server.app import create_app

    ws.features.materialize("activity", until=epoch(3))
    keys = ["a", "b"] + [f"k{i}" for i in range(98)]
    with TestClient(create_app(ws, auth=False)) as client:
        answer = client.get("/v1/features/activity", params={"key": keys,
                                                             "features": "last_amount"})
        assert answer.status_code == 200, answer.text
        rows = answer.json()["rows"]
        assert len(rows) == 100 and rows[0] == {"key": "a", "features": {"last_amount": 2.0}}
        assert rows[2]["features"] == {"last_amount": None}
        assert client.get("/v1/features/activity").status_code == 400
        missing = client.get("/v1/features/ghost", params={"key": "a"})
        assert missing.status_code == 404 and "no feature view 'ghost'" in missing.text
