"""make_loans: deterministic, and every planted quirk its docstring promises is there."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gapless.core.errors import ValidationError
from gapless.data import sample_data
from gapless.data.sample_data import make_loans

COLUMNS = ["application_id", "customer_id", "applied_at", "region", "employment", "housing",
           "age", "income", "purpose", "channel", "loan_amount", "term_months", "debt",
           "credit_score", "interest_rate", "has_guarantor", "defaulted"]


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return make_loans(6000, seed=0)


def test_shape_columns_and_types(loans: pd.DataFrame) -> None:
    assert list(loans.columns) == COLUMNS and len(loans) == 6000
    assert pd.api.types.is_datetime64_any_dtype(loans["applied_at"])
    assert loans["applied_at"].is_monotonic_increasing
    assert loans["applied_at"].min() >= pd.Timestamp("2024-01-01")
    assert loans["applied_at"].max() < pd.Timestamp("2024-01-01") + pd.Timedelta(days=365)
    assert loans["has_guarantor"].dtype == bool
    assert set(loans["defaulted"].unique()) == {0, 1}
    for col in ("age", "term_months", "application_id"):
        assert pd.api.types.is_integer_dtype(loans[col])
    assert set(loans["region"]) == set(sample_data.REGIONS)
    assert set(loans["term_months"]) == {12, 24, 36, 48, 60}


def test_seeded_and_deterministic() -> None:
    pd.testing.assert_frame_equal(make_loans(300, seed=5), make_loans(300, seed=5))
    assert not make_loans(300, seed=5).equals(make_loans(300, seed=6))
    shifted = make_loans(300, seed=5, start="2023-06-01", periods_days=30)
    assert shifted["applied_at"].max() < pd.Timestamp("2023-07-01")


def test_planted_duplicates_are_adjacent_copies(loans: pd.DataFrame) -> None:
    repeated = loans.duplicated()
    assert int(repeated.sum()) == 6000 // 200
    positions = np.flatnonzero(repeated.to_numpy())
    assert loans.iloc[positions].reset_index(drop=True).equals(
        loans.iloc[positions - 1].reset_index(drop=True))
    assert loans.drop_duplicates()["application_id"].is_unique


def test_planted_mar_and_mcar_missingness(loans: pd.DataFrame) -> None:
    gap = loans["income"].isna()
    by_job = gap.groupby(loans["employment"]).mean()
    assert by_job["self_employed"] > 0.3 > 0.1 > by_job["salaried"]
    assert gap[loans["age"] < 25].mean() > 2 * gap[loans["age"] >= 25].mean()
    score_gap = loans["credit_score"].isna().groupby(loans["channel"]).mean()
    assert score_gap["broker"] > 0.15 > 0.05 > score_gap["online"]
    assert loans["debt"].isna().mean() == pytest.approx(sample_data.DEBT_MISSING_RATE, abs=0.01)
    assert loans["housing"].isna().mean() == pytest.approx(sample_data.HOUSING_MISSING_RATE,
                                                           abs=0.01)
    complete = [c for c in COLUMNS if c not in ("income", "credit_score", "debt", "housing")]
    assert loans[complete].notna().all().all()


def test_planted_outliers(loans: pd.DataFrame) -> None:
    distinct = 6000 - 6000 // 200
    assert int((loans.drop_duplicates()["age"] == sample_data.AGE_SENTINEL).sum()) == max(
        1, distinct // 1000)
    assert loans.loc[loans["age"] != sample_data.AGE_SENTINEL, "age"].between(18, 90).all()
    income = loans["income"].dropna()
    q1, q3 = income.quantile([0.25, 0.75])
    assert int((income > q3 + 6 * (q3 - q1)).sum()) >= distinct // 300 // 2


def test_shift_along_time(loans: pd.DataFrame) -> None:
    late = loans["applied_at"] >= pd.Timestamp("2024-01-01") + pd.Timedelta(days=182.5)
    assert not (loans.loc[~late, "purpose"] == sample_data.NEW_PURPOSE).any()
    assert 0.08 < (loans.loc[late, "purpose"] == sample_data.NEW_PURPOSE).mean() < 0.16
    ratio = loans.loc[late, "income"].median() / loans.loc[~late, "income"].median()
    assert 1.04 < ratio < 1.18
    jump = loans.loc[late, "interest_rate"].mean() - loans.loc[~late, "interest_rate"].mean()
    assert 1.1 < jump < 1.9
    quarter = loans["applied_at"].dt.quarter
    online = (loans["channel"] == "online").groupby(quarter).mean()
    assert online.iloc[-1] > online.iloc[0] + 0.1


def test_target_depends_on_features(loans: pd.DataFrame) -> None:
    assert 0.05 < loans["defaulted"].mean() < 0.2
    by_score = loans.groupby(loans["credit_score"] < 620)["defaulted"].mean()
    assert by_score[True] > 2 * by_score[False]
    by_job = loans.groupby("employment")["defaulted"].mean()
    assert by_job["unemployed"] == by_job.max()


def test_customers_repeat_with_stable_attributes(loans: pd.DataFrame) -> None:
    per_customer = loans.groupby("customer_id")
    assert (per_customer.size() > 1).mean() > 0.1
    assert (per_customer[["region", "employment"]].nunique() == 1).all().all()


def test_bad_arguments() -> None:
    with pytest.raises(ValidationError, match="n_rows"):
        make_loans(10)
    with pytest.raises(ValidationError, match="periods_days"):
        make_loans(100, periods_days=0)


def test_repayments_turn_late_before_a_default_and_are_seeded() -> None:
    loans = make_loans(2000, seed=4)
    payments = sample_data.make_repayments(loans, seed=4)
    assert payments.equals(sample_data.make_repayments(loans, seed=4))
    assert list(payments.columns) == ["customer_id", "paid_at", "amount", "days_late", "late"]
    assert payments["paid_at"].is_monotonic_increasing
    assert payments["paid_at"].max() <= loans["applied_at"].max()
    assert set(payments["customer_id"]) == set(loans["customer_id"])
    assert ((payments["late"] == 1) == (payments["days_late"] > 0)).all()
    defaulted = set(loans.loc[loans["defaulted"] == 1, "customer_id"])
    rate = payments.groupby(payments["customer_id"].isin(defaulted))["late"].mean()
    assert rate[False] < 0.08 < 0.15 < rate[True]  # trouble shows before the default
