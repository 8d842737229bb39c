"""Declared schema specs: parsing, round trips and the errors a user sees for bad specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gapless.core.errors import GaplessError, NotFoundError, ValidationError
from gapless.data.expectations import (
    COLUMN_KINDS,
    AllowedValues,
    CastableType,
    Freshness,
    Max,
    MaxMissingFraction,
    Min,
    NotNull,
    Predicate,
    Regex,
    RowCount,
    SchemaSpec,
    SemanticType,
    Target,
    Unique,
    literal,
    load_schema_spec,
    quote_name,
)

FULL_YAML = """\
description: credit applications
columns:
  age:
    type: integer
    not_null: true
    unique: true
    min: 18
    max: 120
  home:
    type: categorical
    allowed_values: [own, rent]
    regex: "^[a-z]+$"
    max_missing_fraction: 0.05
  opened:
    min: 2020-01-01
  notes:
table:
  row_count: {min: 100, max: 1000000}
  freshness: {column: ts, max_age: 7d}
  predicates:
    - name: income_covers_debt
      sql: "income >= debt"
"""


def write(tmp_path: Path, text: str, name: str = "schema.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_full_yaml_parses_into_frozen_kinds(tmp_path: Path) -> None:
    spec = load_schema_spec(write(tmp_path, FULL_YAML))
    columns = {c.name: c.expectations for c in spec.columns}
    assert columns["age"] == (CastableType("integer"), NotNull(), Unique(), Min(18), Max(120))
    assert columns["home"] == (SemanticType("categorical"), AllowedValues(("own", "rent")),
                               Regex("^[a-z]+$"), MaxMissingFraction(0.05))
    assert columns["opened"] == (Min("2020-01-01"),)  # a YAML date is kept as ISO text
    assert columns["notes"] == ()  # declared with no expectations: only `exists`
    assert spec.table == (RowCount(100, 1_000_000), Freshness("ts", "7d"),
                          Predicate("income_covers_debt", "income >= debt"))
    assert spec.description == "credit applications"
    with pytest.raises(AttributeError):
        spec.columns[0].expectations[0].type = "float"  # type: ignore[misc]


def test_to_dict_is_json_safe_and_round_trips(tmp_path: Path) -> None:
    spec = load_schema_spec(write(tmp_path, FULL_YAML))
    data = spec.to_dict()
    assert load_schema_spec(json.loads(json.dumps(data))) == spec
    assert data["table"]["predicates"] == [{"name": "income_covers_debt",
                                            "sql": "income >= debt"}]
    assert data["columns"]["age"] == {"type": "integer", "not_null": True, "unique": True,
                                      "min": 18, "max": 120}
    assert data["table"]["row_count"] == {"min": 100, "max": 1_000_000}


def test_false_flags_declare_nothing_and_empty_spec_is_valid() -> None:
    spec = load_schema_spec({"columns": {"a": {"not_null": False, "unique": False}}})
    assert spec.columns[0].expectations == ()
    assert load_schema_spec({}) == SchemaSpec()


def test_unknown_expectation_names_file_column_and_expectation(tmp_path: Path) -> None:
    path = write(tmp_path, "columns:\n  age:\n    not_nul: true\n")
    with pytest.raises(ValidationError) as info:
        load_schema_spec(path)
    message = str(info.value)
    assert str(path) in message and "`age`" in message and "`not_nul`" in message
    assert "did you mean `not_null`" in message
    for known in COLUMN_KINDS:
        assert known in message
    assert isinstance(info.value, GaplessError)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"table": {"row_cnt": {"min": 1}}}, ["table", "`row_cnt`", "row_count"]),
        ({"colums": {}}, ["top-level", "`colums`", "columns"]),
        ({"columns": {"a": {"regex": "(unclosed"}}}, ["`a`", "regex", "(unclosed", "RE2"]),
        ({"columns": {"a": {"regex": "(?=look)ahead"}}}, ["`a`", "regex"]),
        ({"columns": {"a": {"min": True}}}, ["`a`", "`min`", "True"]),
        ({"columns": {"a": {"max": float("nan")}}}, ["`a`", "`max`", "finite"]),
        ({"columns": {"a": {"allowed_values": []}}}, ["`allowed_values`", "non-empty"]),
        ({"columns": {"a": {"max_missing_fraction": 1.5}}}, ["between 0 and 1"]),
        ({"columns": {"a": {"not_null": "yes"}}}, ["`not_null`", "true or false"]),
        ({"columns": {"a": {"type": "number"}}}, ["`type`", "'number'", "integer, float"]),
        ({"columns": {"a": "not a mapping"}}, ["`a`", "mapping"]),
        ({"table": {"row_count": {"min": 10, "max": 5}}}, ["min 10 is above max 5"]),
        ({"table": {"row_count": {"min": -1}}}, ["whole numbers"]),
        ({"table": {"row_count": {"least": 1}}}, ["row_count"]),
        ({"table": {"freshness": {"column": "ts", "max_age": "7 days"}}}, ["30m, 12h, 7d"]),
        ({"table": {"freshness": {"column": "ts"}}}, ["freshness", "max_age"]),
        ({"table": {"predicates": [{"name": "p"}]}}, ["name and an sql"]),
        ({"table": {"predicates": {"name": "p", "sql": "a > 1"}}}, ["a list"]),
        ({"table": {"predicates": [{"name": "p", "sql": "a >"}]}}, ["`p`", "does not parse"]),
        ({"table": {"predicates": [{"name": "p", "sql": "1); DROP TABLE t; SELECT (1"}]}},
         ["`p`", "one SQL expression"]),
        ({"table": {"predicates": [{"name": "p", "sql": "a > 1"},
                                   {"name": "p", "sql": "a > 2"}]}}, ["`p`", "twice"]),
    ],
)
def test_bad_specs_say_what_and_where(spec: dict, words: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        load_schema_spec(spec)
    for word in words:
        assert word in str(info.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        load_schema_spec(tmp_path / "nope.yaml")
    with pytest.raises(ValidationError, match="fix the YAML"):
        load_schema_spec(write(tmp_path, "columns: [unclosed\n"))
    with pytest.raises(ValidationError, match="expected a mapping"):
        load_schema_spec(write(tmp_path, "- just\n- a list\n"))


@pytest.mark.parametrize(("age", "seconds"), [("30m", 1800), ("12h", 43200), ("7d", 604800),
                                              ("2w", 1209600), ("1.5h", 5400), (90, 90)])
def test_freshness_ages(age: str | int, seconds: float) -> None:
    assert Freshness("ts", age).seconds() == seconds


def test_sql_quoting_survives_hostile_names_and_values() -> None:
    assert quote_name('we"ird') == '"we""ird"'
    assert literal("it's") == "'it''s'"
    assert literal(True) == "TRUE" and literal(3) == "3" and literal(2.5) == "2.5"
    target = Target('"v"', 'a "b"', None)
    assert NotNull().violation(target) == '("a ""b""" IS NULL)'
    assert "'x'' OR 1=1 --'" in AllowedValues(("x' OR 1=1 --",)).violation(target)
