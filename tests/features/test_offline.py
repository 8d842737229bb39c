"""Point-in-time training sets: never a future value, ties and late rows resolved, TTLs
honoured, windows exact; views versioned; every bad input named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gapless import NotFoundError, ValidationError, Workspace

T0 = pd.Timestamp("2026-11-01 00:00:00")


def at(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


VIEW = {"name": "activity", "entities": ["customer_id"], "timestamp": "event_time",
        "source": {"dataset": "events"}, "ttl": "2d",
        "features": [{"name": "last_amount", "column": "amount"},
                     {"name": "tx_count_1d", "aggregate": {"function": "count",
                                                           "column": "amount",
                                                           "window": "1d"}},
                     {"name": "amount_sum_1d", "aggregate": {"function": "sum",
                                                             "column": "amount",
                                                             "window": "1d"}},
                     {"name": "amount_last_1d", "aggregate": {"function": "last",
                                                              "column": "amount",
                                                              "window": "1d"}}]}


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    events = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b", "b"],
        "event_time": [at(0), at(10), at(10), at(30), at(5), at(100)],
        "amount": [1.0, 2.0, 3.0, 4.0, 10.0, 20.0],   # a at 10h: a tie, 3.0 stored last
    })
    workspace.data.add("events", events)
    workspace.features.apply(VIEW)
    return workspace


def lookup(ws: Workspace, rows: list[tuple[str, float]], features: list[str]) -> pd.DataFrame:
    entities = pd.DataFrame({"customer_id": [k for k, _ in rows],
                             "event_timestamp": [at(h) for _, h in rows]})
    return ws.features.training_set(entities, features)


def test_each_row_sees_the_latest_value_at_or_before_its_time(ws: Workspace) -> None:
    found = lookup(ws, [("a", -1), ("a", 0), ("a", 9.99), ("a", 10), ("a", 29.99),
                        ("a", 30), ("b", 6), ("c", 50)], ["activity:last_amount"])
    assert pd.isna(found["last_amount"].iloc[0]) and pd.isna(found["last_amount"].iloc[7])
    assert found["last_amount"].iloc[1:7].tolist() == [1.0, 1.0, 3.0, 3.0, 4.0, 10.0]
    assert list(found.columns) == ["customer_id", "event_timestamp", "last_amount"]


def test_values_older_than_the_ttl_are_missing(ws: Workspace) -> None:
    found = lookup(ws, [("a", 30 + 48), ("a", 30 + 48.01), ("b", 99)], ["activity:last_amount"])
    assert found["last_amount"].iloc[0] == 4.0  # exactly the TTL: still valid
    assert pd.isna(found["last_amount"].iloc[1]) and pd.isna(found["last_amount"].iloc[2])


def test_windowed_aggregates_read_only_the_window_before_each_row(ws: Workspace) -> None:
    found = lookup(ws, [("a", 10), ("a", 24), ("a", 34.5), ("b", 200), ("c", 1)],
                   ["activity:tx_count_1d", "activity:amount_sum_1d",
                    "activity:amount_last_1d"])
    assert found["tx_count_1d"].tolist() == [3, 2, 1, 0, 0]  # at 24h the 0h row is out
    assert found["amount_sum_1d"].iloc[:3].tolist() == [6.0, 5.0, 4.0]
    assert found["amount_last_1d"].iloc[2] == 4.0 and pd.isna(found["amount_sum_1d"].iloc[3])


def test_no_row_ever_sees_a_later_value_on_random_data(workspace: Workspace) -> None:
    rng = np.random.default_rng(7)
    n = 3000
    events = pd.DataFrame({"k": rng.integers(0, 50, n).astype(str),
                           "t": T0 + pd.to_timedelta(rng.integers(0, 10_000, n), unit="min"),
                           "v": rng.normal(size=n)})
    events["written"] = events["t"]  # the value carries its own time: leakage shows
    workspace.data.add("noisy", events)
    workspace.features.apply({"name": "noisy", "entities": ["k"], "timestamp": "t",
                              "source": {"dataset": "noisy"},
                              "features": [{"name": "written"}, {"name": "v"}]})
    entities = pd.DataFrame({"k": rng.integers(0, 60, 2000).astype(str),
                             "when": T0 + pd.to_timedelta(rng.integers(-100, 10_100, 2000),
                                                          unit="min")})
    found = workspace.features.training_set(entities, ["noisy"], timestamp="when")
    seen = found.dropna(subset=["written"])
    assert (seen["written"] <= seen["when"]).all()
    # ... and it is the latest such value: recompute with pandas for every row.
    for row in found.sample(200, random_state=1).itertuples():
        past = events[(events["k"] == row.k) & (events["t"] <= row.when)]
        expected = past["t"].max() if len(past) else None
        assert (pd.isna(row.written) and expected is None) or row.written == expected


def test_static_views_join_on_the_key(workspace: Workspace) -> None:
    workspace.data.add("customers", pd.DataFrame({"customer_id": ["a", "b", "a"],
                                                  "segment": ["old", "pro", "new"]}))
    workspace.features.apply({"name": "profile", "entities": ["customer_id"],
                              "source": {"dataset": "customers"},
                              "features": [{"name": "segment"}]})
    found = workspace.features.training_set(pd.DataFrame({"customer_id": ["a", "b", "z"]}),
                                            ["profile:segment"], timestamp=None)
    assert found["segment"].tolist()[:2] == ["new", "pro"] and pd.isna(found["segment"][2])


def test_changing_a_view_adds_a_version_and_keeps_the_old_one(ws: Workspace) -> None:
    assert ws.features.apply(VIEW)[0].created is False
    changed = {**VIEW, "ttl": "1d"}
    applied = ws.features.apply(changed)[0]
    assert applied.created and applied.version.ref == "activity@2"
    assert ws.features.get("activity@1").view.ttl == "2d"
    assert ws.features.get("activity").view.ttl == "1d"
    old = lookup(ws, [("a", 30 + 30)], ["activity@1:last_amount"])
    new = lookup(ws, [("a", 30 + 30)], ["activity:last_amount"])
    assert old["last_amount"].iloc[0] == 4.0 and pd.isna(new["last_amount"].iloc[0])


def test_a_training_set_saved_as_a_dataset_records_its_lineage(ws: Workspace) -> None:
    entities = pd.DataFrame({"customer_id": ["a", "b"], "event_timestamp": [at(31), at(6)],
                             "label": [1, 0]})
    frame, ref = ws.features.training_set(entities, ["activity:last_amount"],
                                          save_as="train_set")
    version = ws.data.get(ref)
    assert ref == "train_set@1" and version.parents == ("events@1",)
    assert version.spec["feature_views"]["activity@1"]["features"] == ["last_amount"]
    assert ws.data.load(ref)["last_amount"].tolist() == [4.0, 10.0]
    ws.data.add("applications", entities)  # entity rows as a dataset: a parent too
    _, ref = ws.features.training_set("applications", ["activity:last_amount"],
                                      save_as="train_set_2")
    assert ws.data.get(ref).parents == ("applications@1", "events@1")


@pytest.mark.parametrize(("features", "entities", "message"), [
    (["activity:nope"], {"customer_id": ["a"], "event_timestamp": [T0]},
     "feature view 'activity' has no feature 'nope'"),
    (["ghost:x"], {"customer_id": ["a"], "event_timestamp": [T0]}, "no feature view 'ghost'"),
    (["activity:last_amount"], {"customer_id": ["a"]},
     "the entity frame has no timestamp column 'event_timestamp'"),
    (["activity:last_amount"], {"user": ["a"], "event_timestamp": [T0]},
     "lacks the key column(s) ['customer_id'] of feature view 'activity'"),
    (["activity:last_amount"], {"customer_id": ["a"], "event_timestamp": ["soon"]},
     "entity frame column 'event_timestamp': not times"),
])
def test_bad_requests_are_named(ws: Workspace, features: list[str], entities: dict,
                               message: str) -> None:
    with pytest.raises((ValidationError, NotFoundError)) as caught:
        ws.features.training_set(pd.DataFrame(entities), features)
    assert message in str(caught.value)


def test_a_view_whose_source_lacks_the_key_is_named(workspace: Workspace) -> None:
    workspace.data.add("events", pd.DataFrame({"user": ["a"], "event_time": [T0],
                                               "amount": [1.0]}))
    workspace.features.apply(VIEW)
    with pytest.raises(ValidationError, match=r"the source of feature view 'activity' lacks "
                                              r"column\(s\) \['customer_id'\]"):
        lookup(workspace, [("a", 1)], ["activity:last_amount"])


@pytest.mark.parametrize(("change", "message"), [
    ({"ttl": "soon"}, "field 'ttl': ttl 'soon': expected a number and a unit"),
    ({"features": [{"name": "x", "aggregate": {"function": "median", "column": "a",
                                               "window": "1d"}}]}, "field 'features.0"),
    ({"timestamp": None}, "windowed aggregates need a timestamp column"),
    ({"source": {}}, "give exactly one of dataset"),
    ({"features": [{"name": "customer_id"}]}, "are also entity keys"),
])
def test_bad_views_are_refused_with_the_field(workspace: Workspace, change: dict,
                                              message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        workspace.features.apply({**VIEW, **change})
    assert message in str(caught.value)


def test_expressions_compute_per_row_before_the_join_and_in_aggregates(ws: Workspace) -> None:
    ws.features.apply({**VIEW, "features": [
        {"name": "big", "expression": "CASE WHEN amount >= 3 THEN 1 ELSE 0 END"},
        {"name": "big_1d", "aggregate": {"function": "sum", "window": "1d",
                                         "expression": "CASE WHEN amount >= 3 THEN 1 ELSE 0 END"}},
        {"name": "cents", "expression": "amount * 100"}]})
    found = lookup(ws, [("a", 10), ("a", 24), ("a", 34.5), ("b", 6), ("c", 1)],
                   ["activity:big", "activity:big_1d", "activity:cents"])
    assert found["big"].iloc[:4].tolist() == [1, 1, 1, 1]  # 3.0 won the tie at 10h
    assert found["big_1d"].iloc[:4].tolist() == [1, 1, 1, 1]
    assert found["cents"].iloc[:4].tolist() == [300.0, 300.0, 400.0, 1000.0]
    assert pd.isna(found["cents"].iloc[4])
    static = {"name": "limits", "entities": ["customer_id"], "source": {"dataset": "events"},
              "features": [{"name": "half", "expression": "amount / 2"}]}
    ws.features.apply(static)
    assert lookup(ws, [("b", 0)], ["limits:half"])["half"].tolist() == [10.0]  # last stored


@pytest.mark.parametrize(("feature", "message"), [
    ({"name": "x", "expression": "amount; DROP TABLE t"}, "without ';' or comments"),
    ({"name": "x", "expression": "amount", "column": "amount"}, "not column and expression"),
    ({"name": "x", "aggregate": {"function": "sum", "window": "1d"}},
     "give a column or an expression, exactly one"),
])
def test_bad_expressions_are_refused_when_applied(workspace: Workspace, feature: dict,
                                                  message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        workspace.features.apply({**VIEW, "features": [feature]})


def test_an_expression_the_source_cannot_compute_is_named(ws: Workspace) -> None:
    ws.features.apply({**VIEW, "features": [{"name": "ratio",
                                             "expression": "amount / credit_limit"}]})
    with pytest.raises(ValidationError, match=r"feature 'ratio': its expression "
                       r"'amount / credit_limit' does not work on the source: .*credit_limit"):
        lookup(ws, [("a", 10)], ["activity:ratio"])


def test_late_rows_count_by_their_event_time_not_their_position(workspace: Workspace) -> None:
    # Stored out of order: the 5h value arrived after the 20h one.
    workspace.data.add("late", pd.DataFrame({"k": ["a", "a", "a"],
                                             "t": [at(0), at(20), at(5)],
                                             "v": [1.0, 3.0, 2.0]}))
    workspace.features.apply({"name": "late", "entities": ["k"], "timestamp": "t",
                              "source": {"dataset": "late"}, "features": [{"name": "v"}]})
    found = workspace.features.training_set(
        pd.DataFrame({"k": ["a"] * 3, "event_timestamp": [at(4), at(6), at(21)]}), ["late"])
    assert found["v"].tolist() == [1.0, 2.0, 3.0]
