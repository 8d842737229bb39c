"""Requests checked against a signature: one frame from every shape, and every bad value
reported with its field, its row and the right status."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gapless.core.errors import RequestError, ValidationError
from gapless.core.schema import infer_signature
from gapless.data.sample_data import make_loans
from gapless.serving.validation import (
    InputSpec,
    frame_from_columns,
    frame_from_mapping,
    frame_from_records,
    input_spec,
)


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return make_loans(200).drop(columns=["defaulted"])


@pytest.fixture(scope="module")
def spec(features: pd.DataFrame) -> InputSpec:
    y = make_loans(200)["defaulted"]
    return InputSpec(infer_signature(features, y, problem="binary"))


@pytest.fixture
def records(features: pd.DataFrame) -> list[dict[str, Any]]:
    """Six rows as a JSON client sends them (ISO dates, nulls where the data has NaN)."""
    return json.loads(features.iloc[:6].to_json(orient="records", date_format="iso"))


def expected(features: pd.DataFrame, n: int) -> pd.DataFrame:
    return features.iloc[:n].reset_index(drop=True)


def raises(call: Any, status: int, *fragments: str, field: str | None = None,
           row: int | None = None) -> RequestError:
    with pytest.raises(RequestError) as caught:
        call()
    error = caught.value
    assert (error.status, error.field, error.row) == (status, field, row), str(error)
    for fragment in fragments:
        assert fragment in str(error)
    return error


# -- one frame from every shape ----------------------------------------------------------
def test_records_give_the_training_frame_in_signature_order(features, spec, records) -> None:
    shuffled = [dict(reversed(list(r.items()))) for r in records]
    frame = frame_from_records(shuffled, spec)
    assert list(frame.columns) == list(features.columns)
    pd.testing.assert_frame_equal(frame, expected(features, 6), check_dtype=False)
    dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
    assert (dtypes["income"], dtypes["age"], dtypes["has_guarantor"]) == (
        "float64", "int64", "bool")
    assert (dtypes["applied_at"], dtypes["region"]) == ("datetime64[ns]", "object")


def test_records_columns_and_mapping_give_the_same_frame(features, spec, records) -> None:
    names = list(records[0])
    from_records = frame_from_records(records, spec)
    from_columns = frame_from_columns(names, [[r[n] for n in names] for r in records], spec)
    from_mapping = frame_from_mapping({n: [r[n] for r in records] for n in names}, spec)
    pd.testing.assert_frame_equal(from_records, from_columns)
    pd.testing.assert_frame_equal(from_records, from_mapping)


def test_a_signature_and_its_input_spec_give_the_same_frame(spec, records) -> None:
    assert input_spec(spec) is spec
    pd.testing.assert_frame_equal(frame_from_records(records, spec.signature),
                                  frame_from_records(records, spec))


def test_the_public_constructor_gives_the_same_values(spec, records, monkeypatch) -> None:
    fast = frame_from_records(records, spec)
    monkeypatch.delattr(pd.DataFrame, "_from_arrays")
    slow = frame_from_records(records, spec)
    pd.testing.assert_frame_equal(fast, slow, check_dtype=False)
    assert slow["income"].dtype == np.float64 and slow["applied_at"].dtype == fast[
        "applied_at"].dtype


def test_extra_fields_are_ignored_and_whole_floats_are_integers(spec, records) -> None:
    records[0]["request_source"] = "mobile"
    records[0]["age"] = 41.0
    frame = frame_from_records(records, spec)
    assert "request_source" not in frame.columns and frame.loc[0, "age"] == 41
    assert frame["age"].dtype == np.int64


def test_missing_values_where_nullable(spec, records) -> None:
    records[0]["income"] = None
    del records[1]["housing"]
    records[2]["credit_score"] = float("nan")
    frame = frame_from_records(records, spec)
    assert np.isnan(frame.loc[0, "income"]) and frame.loc[1, "housing"] is None
    assert np.isnan(frame.loc[2, "credit_score"])


def test_nullable_columns_absent_from_the_request_are_all_missing(spec, records) -> None:
    for record in records:
        del record["income"], record["housing"]
    frame = frame_from_records(records, spec)
    assert frame["income"].isna().all() and frame["housing"].isna().all()


def test_unknown_categories_pass_when_asked(spec, records) -> None:
    records[4]["region"] = "mars"
    frame = frame_from_records(records, spec, unknown_categories="pass")
    assert frame.loc[4, "region"] == "mars"
    with pytest.raises(ValidationError, match="unknown_categories"):
        frame_from_records(records, spec, unknown_categories="ignore")


def test_offsets_are_converted_to_utc(spec, records) -> None:
    records[0]["applied_at"] = "2024-03-01T12:00:00+02:00"
    records[1]["applied_at"] = "2024-03-01"
    frame = frame_from_records(records, spec)
    assert frame.loc[0, "applied_at"] == pd.Timestamp("2024-03-01T10:00:00")
    assert frame.loc[1, "applied_at"] == pd.Timestamp("2024-03-01")


def test_nullable_integers_and_booleans() -> None:
    table = pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64"),
                          "flag": pd.array([True, None, False], dtype="boolean")})
    signature = infer_signature(table, pd.Series([0, 1, 0]), problem="binary")
    assert [(c.type, c.nullable) for c in signature.inputs] == [("integer", True),
                                                                ("boolean", True)]
    frame = frame_from_records([{"n": 2, "flag": None}, {"n": None, "flag": True}], signature)
    assert frame["n"].dtype == np.float64 and np.isnan(frame.loc[1, "n"])
    assert frame["flag"].tolist() == [None, True]
    whole = frame_from_records([{"n": 2, "flag": True}], signature)
    assert (str(whole["n"].dtype), str(whole["flag"].dtype)) == ("int64", "bool")


# -- every bad value names its field and row ---------------------------------------------
@pytest.mark.parametrize(("field", "value", "fragments"), [
    ("income", "abc", ["row 3, field `income`: expected a number, got 'abc'"]),
    ("loan_amount", "1200", ["expected a number, got '1200'"]),  # numeric text: no coercion
    ("loan_amount", True, ["expected a number, got true"]),
    ("loan_amount", float("inf"), ["expected a finite number"]),
    ("loan_amount", [1, 2], ["got an array"]),
    ("age", 33.5, ["expected an integer, got 33.5"]),
    ("age", "33", ["expected an integer, got '33'"]),
    ("age", None, ["field `age`: null, but the column is not nullable"]),
    ("has_guarantor", "yes", ["expected true or false, got 'yes'"]),
    ("has_guarantor", 1, ["expected true or false, got 1"]),
    ("region", 7, ["expected a string, got 7"]),
    ("region", "mars", ["unknown category 'mars'", "known: 'central', 'east'"]),
    ("applied_at", "yesterday", ["expected an ISO 8601 date-time, got 'yesterday'"]),
    ("applied_at", 1700000000, ["expected an ISO 8601 date-time"]),
    ("income", {"amount": 1}, ["got an object; send a JSON number or null"]),
])
def test_bad_values_name_field_and_row(spec, records, field, value, fragments) -> None:
    records[3][field] = value
    raises(lambda: frame_from_records(records, spec), 422, *fragments, field=field, row=3)


def test_a_key_missing_from_one_record_is_named_missing(spec, records) -> None:
    del records[2]["age"]
    raises(lambda: frame_from_records(records, spec), 422,
           "row 2, field `age`: missing, but the column is not nullable", field="age", row=2)


def test_missing_required_columns_are_listed_with_possible_typos(spec, records) -> None:
    for record in records:
        record["agee"] = record.pop("age")
        del record["region"]
    error = raises(lambda: frame_from_records(records, spec), 422,
                   "missing required fields `region`, `age`", "`agee`", field="region")
    assert error.row is None and "row 0" not in str(error)


def test_a_long_list_of_missing_columns_is_cut(spec) -> None:
    raises(lambda: frame_from_records([{"unrelated": 1}], spec), 422, "and 7 more",
           field="application_id")


@pytest.mark.parametrize(("records", "fragment", "row"), [
    ({"age": 1}, "expected a list of objects (one per row), got an object", None),
    ([], "the request has no rows", None),
    ([{"age": 1}, [1, 2]], "row 1: expected an object of field -> value, got an array", 1),
])
def test_records_of_the_wrong_shape_are_400(spec, records, fragment, row) -> None:
    raises(lambda: frame_from_records(records, spec), 400, fragment, row=row)


def test_columns_and_rows_of_the_wrong_shape_are_400(spec, records) -> None:
    names = list(records[0])
    rows = [[r[n] for n in names] for r in records]
    rows[4] = rows[4][:-1]
    raises(lambda: frame_from_columns(names, rows, spec), 400,
           f"row 4: expected a list of {len(names)} values", "got 15 values", row=4)
    raises(lambda: frame_from_columns([*names, "age"], [], spec), 400, "names `age` twice",
           field="age")
    raises(lambda: frame_from_columns(names, [], spec), 400, "no rows")
    raises(lambda: frame_from_columns("age", [[1]], spec), 400, "`columns` must be a list")
    raises(lambda: frame_from_columns(names, [5], spec), 400, "row 0", "got 5", row=0)


def test_columns_of_different_lengths_are_400(spec, records) -> None:
    mapping = {n: [r[n] for r in records] for n in records[0]}
    mapping["age"] = mapping["age"][:2]
    raises(lambda: frame_from_mapping(mapping, spec), 400, "field `age` has 2 values",
           field="age")
    mapping["age"] = 33
    raises(lambda: frame_from_mapping(mapping, spec), 400, "expected a list of values",
           field="age")


# -- text cells (CSV) and numpy arrays (binary tensors) ----------------------------------
def test_text_cells_are_parsed_per_type(features, spec, records) -> None:
    names = list(records[0])
    rows = [["" if r[n] is None else str(r[n]) for n in names] for r in records]
    frame = frame_from_columns(names, rows, spec, text=True)
    pd.testing.assert_frame_equal(frame, frame_from_records(records, spec))
    rows[1][names.index("credit_score")] = "n/a?"
    raises(lambda: frame_from_columns(names, rows, spec, text=True), 422,
           "row 1, field `credit_score`: expected a number, got 'n/a?'",
           field="credit_score", row=1)


def test_numpy_columns_skip_the_value_loop_but_not_the_checks(spec, records) -> None:
    mapping: dict[str, Any] = {n: [r[n] for r in records] for n in records[0]}
    mapping["age"] = np.asarray(mapping["age"], dtype=np.int32)
    mapping["loan_amount"] = np.asarray(mapping["loan_amount"], dtype=np.float32)
    mapping["has_guarantor"] = np.asarray(mapping["has_guarantor"])
    frame = frame_from_mapping(mapping, spec)
    assert frame["age"].dtype == np.int64 and frame["loan_amount"].dtype == np.float64
    mapping["age"] = np.array([30, 31, 32, np.nan, 34, 35])
    raises(lambda: frame_from_mapping(mapping, spec), 422, "row 3, field `age`: null",
           field="age", row=3)
    mapping["age"] = np.arange(6)
    mapping["interest_rate"] = np.array([1, 2, np.inf, 4, 5, 6], dtype=np.float32)
    raises(lambda: frame_from_mapping(mapping, spec), 422, "expected a finite number",
           field="interest_rate", row=2)
    mapping["interest_rate"] = np.ones(6)
    mapping["has_guarantor"] = np.ones(6, dtype=np.int8)
    raises(lambda: frame_from_mapping(mapping, spec), 422, "expected true or false, got 1",
           field="has_guarantor", row=0)
