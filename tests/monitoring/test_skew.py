"""Training-serving skew: served rows against offline rows of the same entity, joined
exactly or as of the time each row was served."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gapless import ValidationError
from gapless.monitoring.skew import training_serving_skew


def served() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["a", "b", "c", "a", "z"],
                         "age": [30.0, 41.0, None, 31.0, 5.0],
                         "plan": ["x", "y", "y", "x", "x"],
                         "logged_at": [100.0, 100.0, 100.0, 300.0, 100.0]})


def offline() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["a", "b", "c", "a"], "age": [30.0, 40.0, 50.0, 31.0],
                         "plan": ["x", "y", "y", "z"],
                         "event_time": pd.to_datetime([50, 60, 70, 250], unit="s", utc=True)})


def test_as_of_join_compares_each_row_with_the_value_known_when_it_was_served() -> None:
    report = training_serving_skew(served(), offline(), key="customer_id",
                                   timestamp="event_time")
    assert (report.served_rows, report.matched_rows, report.unmatched_rows) == (5, 4, 1)
    skew = {f.name: f for f in report.features}
    # b: 41 served, 40 offline; c: missing when served only.
    assert (skew["age"].compared, skew["age"].mismatches) == (4, 2)
    assert (skew["age"].served_missing, skew["age"].offline_missing) == (1, 0)
    # a at 300 sees a's row of 250 (plan z); a at 100 sees the row of 50 (plan x).
    assert skew["plan"].mismatch_rate == 0.25
    assert skew["plan"].examples == [{"customer_id": "a", "served": "x", "offline": "z"}]


def test_a_served_row_before_any_offline_row_is_not_compared() -> None:
    early = served().assign(logged_at=[10.0, 10.0, 10.0, 300.0, 10.0])
    report = training_serving_skew(early, offline(), key="customer_id",
                                   timestamp="event_time")
    assert report.matched_rows == 1  # only a at 300


def test_exact_join_tolerances_and_text() -> None:
    left = pd.DataFrame({"id": [1, 2, 3], "x": [1.0, 2.0 + 1e-9, 3.0], "s": ["a", "b", None]})
    right = pd.DataFrame({"id": [1, 2, 3], "x": [1.0, 2.0, 3.1], "s": ["a", "B", None]})
    report = training_serving_skew(left, right, key="id")
    skew = {f.name: f for f in report.features}
    assert skew["x"].mismatches == 1 and skew["s"].mismatches == 1  # both missing agree
    loose = training_serving_skew(left, right, key="id", rtol=0.05)
    assert next(f for f in loose.features if f.name == "x").mismatches == 0


def test_features_missing_on_one_side_are_named_not_compared() -> None:
    report = training_serving_skew(served(), offline().drop(columns="plan"), key="customer_id",
                                   timestamp="event_time", features=["age", "plan", "income"])
    assert [f.name for f in report.features] == ["age"]
    assert report.not_compared == {"plan": "not in the offline rows",
                                   "income": "not in the served inputs"}


def test_bad_input_gets_a_message_naming_what_to_fix() -> None:
    with pytest.raises(ValidationError, match="served rows have no key column 'customer'.*"
                                              "log_fields"):
        training_serving_skew(served(), offline(), key="customer")
    with pytest.raises(ValidationError, match="more than one row for {'customer_id': 'a'}"):
        training_serving_skew(served(), offline(), key="customer_id")
    with pytest.raises(ValidationError, match="no time column 'when'"):
        training_serving_skew(served(), offline(), key="customer_id", timestamp="when")
    bad_time = offline().assign(event_time=["soon"] * 4)
    with pytest.raises(ValidationError, match="column 'event_time': not a time"):
        training_serving_skew(served(), bad_time, key="customer_id", timestamp="event_time")


def test_no_served_rows_compares_nothing() -> None:
    empty = served().iloc[:0]
    report = training_serving_skew(empty, offline().drop(columns="event_time")
                                   .drop_duplicates("customer_id"), key="customer_id")
    assert report.served_rows == 0 and all(f.compared == 0 for f in report.features)
    assert all(f.mismatch_rate is None for f in report.features)


def test_skew_rate_on_many_rows_matches_the_injected_share() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    ids = np.arange(n)
    values = rng.normal(size=n)
    corrupted = rng.random(n) < 0.07
    left = pd.DataFrame({"id": ids, "v": np.where(corrupted, values * 1.5, values)})
    right = pd.DataFrame({"id": ids, "v": values})
    (found,) = training_serving_skew(left, right, key="id").features
    assert found.mismatches == int((corrupted & (values != 0)).sum())
