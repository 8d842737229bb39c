"""Stattests' surface: the registry, preparing columns, and run's verdicts and refusals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gapless import ValidationError
from gapless.monitoring import stattests
from gapless.monitoring.stattests import (
    CategoricalColumn,
    NumericColumn,
    StatTest,
    prepare_categorical,
    prepare_numeric,
    run,
)

NUMERIC_TESTS = ["ks", "psi", "wasserstein", "jensen_shannon"]
CATEGORICAL_TESTS = ["chi2", "psi", "jensen_shannon"]


# -- the registry and the public surface ----------------------------------------------------
def test_all_is_sorted_and_every_builtin_is_registered() -> None:
    assert stattests.__all__ == sorted(stattests.__all__)
    assert stattests.names() == ["chi2", "jensen_shannon", "ks", "psi", "wasserstein"]
    table = {n: (t.kind, t.applies_to, t.default_threshold)
             for n in stattests.names() for t in [stattests.get(n)]}
    assert table == {
        "chi2": ("p_value", frozenset({"categorical"}), 0.05),
        "jensen_shannon": ("distance", frozenset({"numeric", "categorical"}), 0.1),
        "ks": ("p_value", frozenset({"numeric"}), 0.05),
        "psi": ("distance", frozenset({"numeric", "categorical"}), 0.1),
        "wasserstein": ("distance", frozenset({"numeric"}), 0.1),
    }


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValidationError, match=r"unknown stattest 'kss'.*'ks'.*'wasserstein'"):
        stattests.get("kss")


def test_register_adds_a_test_and_refuses_a_taken_name() -> None:
    def gap(reference: NumericColumn, current: NumericColumn) -> tuple[float, None]:
        return abs(float(reference.values.mean() - current.values.mean())), None

    mean_gap = StatTest("test_mean_gap", "distance", frozenset({"numeric"}), 0.5, gap)
    try:
        stattests.register(mean_gap)
        stattests.register(mean_gap)  # the same object again is harmless
        result = run("test_mean_gap", prepare_numeric([1.0, 2.0]), prepare_numeric([3.0]))
        assert (result.statistic, result.drifted) == (1.5, True)
        with pytest.raises(ValidationError, match="already registered.*replace=True"):
            stattests.register(StatTest("ks", "distance", frozenset({"numeric"}), 0.1, gap))
    finally:
        stattests._base._REGISTRY.pop("test_mean_gap", None)
    assert "test_mean_gap" not in stattests.names()


@pytest.mark.parametrize(("kind", "applies", "threshold", "match"), [
    ("effect", {"numeric"}, 0.1, "kind must be"),
    ("distance", {"text"}, 0.1, "applies_to"),
    ("distance", set(), 0.1, "applies_to"),
    ("p_value", {"numeric"}, 1.5, r"in \(0, 1\)"),
    ("distance", {"numeric"}, -1.0, ">= 0"),
])
def test_a_malformed_stattest_is_refused(kind: str, applies: set[str], threshold: float,
                                         match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        StatTest("bad", kind, frozenset(applies), threshold,  # type: ignore[arg-type]
                 lambda r, c: (0.0, None))


def test_a_test_that_returns_nan_is_reported_not_passed_on() -> None:
    nan_test = StatTest("test_nan", "distance", frozenset({"numeric"}), 0.1,
                        lambda r, c: (math.nan, None))
    stattests.register(nan_test)
    try:
        with pytest.raises(ValidationError, match="non-finite result"):
            run("test_nan", prepare_numeric([1.0]), prepare_numeric([2.0]))
    finally:
        stattests._base._REGISTRY.pop("test_nan", None)


# -- preparing columns ------------------------------------------------------------------------
def test_prepare_numeric_sorts_once_and_counts_nan_none_and_inf_as_missing() -> None:
    column = prepare_numeric(np.array([3.0, np.nan, 1.0, np.inf, 2.0, -np.inf]))
    assert column.values.tolist() == [1.0, 2.0, 3.0] and column.missing == 3
    assert column.values.dtype == np.float64 and not column.values.flags.writeable
    assert prepare_numeric([2, None, 1]).values.tolist() == [1.0, 2.0]
    assert prepare_numeric([2, None, 1]).missing == 1


@pytest.mark.parametrize("values", [
    pd.Series([3, None, 1, 2], dtype="Int64"),
    pd.Series([3.0, None, 1.0, 2.0], dtype="Float64"),
    pd.Series([3.0, np.nan, 1.0, 2.0]),
    np.array([3, pd.NA, 1, 2], dtype=object),
    [3, float("nan"), 1, 2],
])
def test_prepare_numeric_reads_numpy_pandas_nullable_and_lists(values: object) -> None:
    column = prepare_numeric(values)
    assert (column.values.tolist(), column.missing) == ([1.0, 2.0, 3.0], 1)


def test_prepare_numeric_leaves_its_input_alone() -> None:
    values = np.array([3.0, 1.0, 2.0])
    prepare_numeric(values)
    assert values.tolist() == [3.0, 1.0, 2.0]


@pytest.mark.parametrize(("values", "match"), [
    (np.array(["1", "x"]), "expected numbers"),
    (np.array([1, "x"], dtype=object), "got text"),
    (pd.Series(["a", "b"]), "expected numbers"),
    (pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"])), "dates"),
    (np.zeros((2, 2)), "one dimension"),
    ("abc", "sequence"),
])
def test_prepare_numeric_refuses_what_is_not_numbers(values: object, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        prepare_numeric(values)


def test_an_all_missing_column_prepares_empty_and_every_test_refuses_it() -> None:
    empty = prepare_numeric([np.nan, None, np.inf])
    assert (empty.values.size, empty.missing) == (0, 3)
    full = prepare_numeric([1.0, 2.0, 3.0])
    for name in NUMERIC_TESTS:
        with pytest.raises(ValidationError, match=r"reference column has no values \(3 missing"):
            run(name, empty, full)
        with pytest.raises(ValidationError, match="current column has no values"):
            run(name, full, prepare_numeric([]))
    none = prepare_categorical([None, np.nan])
    assert (none.total, none.missing) == (0, 2)
    for name in CATEGORICAL_TESTS:
        with pytest.raises(ValidationError, match="current column has no values"):
            run(name, prepare_categorical(["a"]), none)


def test_columns_built_by_hand_must_keep_the_invariants() -> None:
    with pytest.raises(ValidationError, match="sorted"):
        NumericColumn(np.array([2.0, 1.0]))
    with pytest.raises(ValidationError, match="finite"):
        NumericColumn(np.array([1.0, np.nan]))
    with pytest.raises(ValidationError, match="float64"):
        NumericColumn(np.array([1, 2]))
    with pytest.raises(ValidationError, match="unique and sorted"):
        CategoricalColumn(np.array(["b", "a"]), np.array([1, 1], dtype=np.int64))
    with pytest.raises(ValidationError, match="int64"):
        CategoricalColumn(np.array(["a"]), np.array([1.0]))


def test_prepare_categorical_counts_labels_sorted_as_text() -> None:
    column = prepare_categorical(["b", "a", None, "b", np.nan, "c", "b"])
    assert column.categories.tolist() == ["a", "b", "c"]
    assert column.counts.tolist() == [1, 3, 1] and column.counts.dtype == np.int64
    assert (column.missing, column.total) == (2, 5)


@pytest.mark.parametrize(("values", "categories", "counts", "missing"), [
    (pd.Series(["x", None, "y", "x"], dtype="string"), ["x", "y"], [2, 1], 1),
    (pd.Categorical(["x", "x"], categories=["x", "unused"]), ["x"], [2], 0),
    (pd.Series([True, False, True, None], dtype="boolean"), ["False", "True"], [1, 2], 1),
    (np.array([1, 2, 2, 3]), ["1", "2", "3"], [1, 2, 1], 0),
    (np.array([1, 1.0, 2.5], dtype=object), ["1", "2.5"], [2, 1], 0),  # 1 == 1.0
])
def test_prepare_categorical_reads_pandas_and_numpy_kinds(
        values: object, categories: list[str], counts: list[int], missing: int) -> None:
    column = prepare_categorical(values)
    assert (column.categories.tolist(), column.counts.tolist(), column.missing) == (
        categories, counts, missing)


@pytest.mark.parametrize("values", [
    np.array([1, "1", 2], dtype=object),
    np.array([True, "yes"], dtype=object),
    [1, "a", None],
])
def test_prepare_categorical_refuses_mixed_kinds(values: object) -> None:
    with pytest.raises(ValidationError, match="different kinds.*cast the column"):
        prepare_categorical(values)


@pytest.mark.parametrize("values", [pd.Series([[1], [2]]), [{"a": 1}, {"b": 2}], [(1, 2), (3,)]])
def test_prepare_categorical_refuses_values_that_are_not_single_labels(values: object) -> None:
    with pytest.raises(ValidationError, match="expected single labels"):
        prepare_categorical(values)


# -- run: verdicts and refusals ------------------------------------------------------------------
def test_run_reads_the_verdict_by_kind_and_threshold() -> None:
    rng = np.random.default_rng(7)
    ref, cur = prepare_numeric(rng.normal(0, 1, 500)), prepare_numeric(rng.normal(0.3, 1, 500))
    ks = run("ks", ref, cur)
    assert (ks.test, ks.kind, ks.threshold) == ("ks", "p_value", 0.05)
    assert ks.drifted is (ks.p_value < 0.05)
    strict = run("ks", ref, cur, threshold=1e-300)
    assert strict.drifted is False and strict.p_value == ks.p_value
    dist = run("wasserstein", ref, cur, threshold=0.0)
    assert (dist.p_value, dist.drifted, dist.kind) == (None, True, "distance")


def test_run_refuses_mismatched_columns_wrong_kinds_and_bad_thresholds() -> None:
    num, cat = prepare_numeric([1.0, 2.0]), prepare_categorical(["a", "b"])
    with pytest.raises(ValidationError, match="reference is numeric but the current column is "
                                              "categorical"):
        run("psi", num, cat)
    with pytest.raises(ValidationError, match=r"'ks' does not apply to categorical.*'chi2'"):
        run("ks", cat, cat)
    with pytest.raises(ValidationError, match="'chi2' does not apply to numeric"):
        run("chi2", num, num)
    with pytest.raises(ValidationError, match="prepare_numeric"):
        run("ks", np.array([1.0]), np.array([2.0]))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"in \(0, 1\)"):
        run("ks", num, num, threshold=5)
    with pytest.raises(ValidationError, match="finite and >= 0"):
        run("psi", num, num, threshold=math.inf)
    with pytest.raises(ValidationError, match="must be a number"):
        run("psi", num, num, threshold="high")  # type: ignore[arg-type]
