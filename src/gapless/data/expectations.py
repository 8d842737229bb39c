"""Declared schemas: what a dataset promises, as frozen data parsed from YAML.

Each expectation kind is one small frozen class registered under its YAML key in
``COLUMN_KINDS`` or ``TABLE_KINDS``: it checks its value, writes it back
(``spec_value``) and says how data are judged. Kinds with ``evaluates == "rows"``
give ``violation(target)``, a DuckDB condition true for each offending row, and pass
when ``tolerates(failing, total)``; those with ``quarantine`` pass only with no
offending row, so such rows can be set aside. Kinds with ``evaluates == "aggregates"``
name SQL aggregates (``measures``) and ``judge`` their values. Every declared column
also carries an implied ``exists``. Missing values (null, and NaN in float columns) are
left to ``not_null`` and ``max_missing_fraction``; the other kinds ignore them.
Nothing here reads data: ``gapless.data.validation`` runs the SQL.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from gapless.core.errors import NotFoundError, ValidationError
from gapless.data.types import MAX_CATEGORIES, MAX_CATEGORY_FRACTION, SEMANTIC_TYPES, classify

AGE_UNITS = MappingProxyType({"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800})
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def quote_name(name: str) -> str:
    """A column or view name as a DuckDB identifier, whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A scalar from a spec as a DuckDB literal (strings escaped, never interpolated raw)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _is(kind: str, arrow_type: Any) -> bool:
    import pyarrow.types as pat

    if arrow_type is None:
        return False
    if kind == "string":
        t = arrow_type.value_type if pat.is_dictionary(arrow_type) else arrow_type
        return pat.is_string(t) or pat.is_large_string(t) or pat.is_string_view(t)
    if kind == "numeric":
        return pat.is_integer(arrow_type) or pat.is_floating(arrow_type) or pat.is_decimal(
            arrow_type)
    if kind == "temporal":
        return pat.is_timestamp(arrow_type) or pat.is_date(arrow_type)
    return bool(getattr(pat, f"is_{kind}")(arrow_type))


@dataclass(frozen=True)
class Target:
    """What an expectation is compiled against: a column of the source view, or the table."""

    source: str  # the view, already quoted
    name: str | None = None  # the column as named in the data; None for the table
    arrow_type: Any = None

    @property
    def column(self) -> str:
        return quote_name(self.name or "")

    @property
    def missing(self) -> str:
        """SQL true where the value is missing; NaN counts as missing in float columns."""
        if _is("floating", self.arrow_type):
            return f"({self.column} IS NULL OR isnan({self.column}))"
        return f"({self.column} IS NULL)"

    def present_and(self, condition: str) -> str:
        return f"(NOT {self.missing} AND ({condition}))"


def _fail(where: str, message: str) -> ValidationError:
    return ValidationError(f"{where}: {message}")


def _scalar(value: Any, where: str) -> Any:
    """A bound or allowed value: a number, a string, or a date (kept as an ISO string)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool) or not isinstance(value, int | float | str) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        raise _fail(where, f"expected a finite number, a string or a date, got {value!r}")
    return value


class _Kind:
    """What every kind shares: parameters and the YAML value are read off its fields."""

    kind: ClassVar[str]
    text: ClassVar[str]  # what it expects, formatted with its parameters
    evaluates: ClassVar[str] = "rows"
    quarantine: ClassVar[bool] = True
    as_mapping: ClassVar[bool] = False  # its YAML value is a mapping of its fields

    @staticmethod
    def check(value: Any, where: str) -> Any:
        """The single value of a kind with one field, checked and normalized."""
        return value

    @classmethod
    def parse(cls, value: Any, where: str) -> tuple[Any, ...]:
        """Zero or more expectations from a YAML value; a kind without fields is a flag."""
        if fields(cls):  # type: ignore[arg-type]
            return (cls(cls.check(value, where)),)
        if not isinstance(value, bool):
            raise _fail(where, f"expected true or false, got {value!r}")
        return (cls(),) if value else ()

    def describe(self) -> str:
        return self.text.format(**self.params())

    def params(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in fields(self)}  # type: ignore[arg-type]

    def spec_value(self) -> Any:
        params = self.params()
        if self.as_mapping:
            return {k: v for k, v in params.items() if v is not None}
        return next(iter(params.values())) if params else True

    def tolerates(self, failing: int, total: int) -> bool:
        return failing == 0


@dataclass(frozen=True)
class NotNull(_Kind):
    kind: ClassVar[str] = "not_null"
    text: ClassVar[str] = "no missing values"

    def violation(self, target: Target) -> str:
        return target.missing


@dataclass(frozen=True)
class Unique(_Kind):
    """Every row holding a value that occurs more than once fails, all copies alike."""

    kind: ClassVar[str] = "unique"
    text: ClassVar[str] = "no duplicated values"

    def violation(self, target: Target) -> str:
        col = target.column
        dupes = f"SELECT {col} FROM {target.source} GROUP BY {col} HAVING count(*) > 1"
        return target.present_and(f"{col} IN ({dupes})")


@dataclass(frozen=True)
class Min(_Kind):
    value: Any
    kind: ClassVar[str] = "min"
    text: ClassVar[str] = "values >= {value!r}"
    op: ClassVar[str] = "<"
    check = staticmethod(_scalar)

    def violation(self, target: Target) -> str:
        col = target.column
        if isinstance(self.value, int | float) and not _is("numeric", target.arrow_type):
            col = f"TRY_CAST({col} AS DOUBLE)"  # a numeric bound on text compares as numbers
        return target.present_and(f"{col} {self.op} {literal(self.value)}")


@dataclass(frozen=True)
class Max(Min):
    kind: ClassVar[str] = "max"
    text: ClassVar[str] = "values <= {value!r}"
    op: ClassVar[str] = ">"


@dataclass(frozen=True)
class AllowedValues(_Kind):
    """Numbers and booleans compare natively when the column holds them, else as text."""

    values: tuple[Any, ...]
    kind: ClassVar[str] = "allowed_values"
    text: ClassVar[str] = "values in {values!r}"

    @staticmethod
    def check(value: Any, where: str) -> Any:
        if not isinstance(value, list | tuple) or not value:
            raise _fail(where, f"expected a non-empty list of values, got {value!r}")
        return tuple(v if isinstance(v, bool) else _scalar(v, where) for v in value)

    def violation(self, target: Target) -> str:
        kind, col = target.arrow_type, target.column
        bools = all(isinstance(v, bool) for v in self.values)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in self.values)
        if (bools and _is("boolean", kind)) or (numbers and _is("numeric", kind)):
            options = [literal(v) for v in self.values]
        else:
            options = [literal(str(v).lower() if isinstance(v, bool) else str(v))
                       for v in self.values]
            col = f"CAST({col} AS VARCHAR)"
        return target.present_and(f"{col} NOT IN ({', '.join(options)})")


@dataclass(frozen=True)
class Regex(_Kind):
    """The whole value, as text, must match the pattern (RE2 syntax, as DuckDB runs it)."""

    pattern: str
    kind: ClassVar[str] = "regex"
    text: ClassVar[str] = "values matching {pattern!r}"

    @staticmethod
    def check(value: Any, where: str) -> Any:
        if not isinstance(value, str):
            raise _fail(where, f"expected a regular expression string, got {value!r}")
        import duckdb

        try:
            with duckdb.connect() as con:
                con.execute(f"SELECT regexp_full_match('', {literal(value)})")
        except duckdb.Error as exc:
            raise _fail(where, f"invalid regular expression {value!r}: {exc}; use RE2 syntax "
                               "(no look-arounds or back-references)") from exc
        return value

    def violation(self, target: Target) -> str:
        col = f"CAST({target.column} AS VARCHAR)"
        return target.present_and(f"NOT regexp_full_match({col}, {literal(self.pattern)})")


@dataclass(frozen=True)
class MaxMissingFraction(_Kind):
    """Passes while at most ``fraction`` of the rows are missing; quarantines nothing."""

    fraction: float
    kind: ClassVar[str] = "max_missing_fraction"
    text: ClassVar[str] = "at most {fraction:.2%} missing"
    quarantine: ClassVar[bool] = False

    @staticmethod
    def check(value: Any, where: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise _fail(where, f"expected a fraction between 0 and 1, got {value!r}")
        return value

    def violation(self, target: Target) -> str:
        return target.missing

    def tolerates(self, failing: int, total: int) -> bool:
        return failing <= self.fraction * total


@dataclass(frozen=True)
class CastableType(_Kind):
    """integer, float, boolean, datetime: each row whose value is not one fails.

    Text is read the way DuckDB casts it ('12', '1e3', 'true', '2024-01-31'); a float
    with a fractional part is not an integer; only 0 and 1 are booleans among integers.
    """

    type: str
    kind: ClassVar[str] = "type"
    NATIVE: ClassVar[Mapping[str, tuple[str, ...]]] = MappingProxyType({
        "integer": ("integer",), "float": ("numeric",), "boolean": ("boolean",),
        "datetime": ("temporal",)})
    text: ClassVar[str] = "{type} values"

    def violation(self, target: Target) -> str:
        col, kind = target.column, target.arrow_type
        if kind is None or any(_is(k, kind) for k in self.NATIVE[self.type]):
            return "FALSE"
        if self.type == "integer" and _is("numeric", kind):
            return target.present_and(f"NOT isfinite({col}) OR {col} <> trunc({col})")
        if self.type == "boolean" and _is("integer", kind):
            return target.present_and(f"{col} NOT IN (0, 1)")
        if not _is("string", kind):
            return target.present_and("TRUE")
        if self.type == "integer":
            num = f"TRY_CAST({col} AS DOUBLE)"
            return target.present_and(f"{num} IS NULL OR NOT isfinite({num}) "
                                      f"OR {num} <> trunc({num})")
        cast = {"float": "DOUBLE", "boolean": "BOOLEAN", "datetime": "TIMESTAMP"}[self.type]
        return target.present_and(f"TRY_CAST({col} AS {cast}) IS NULL")


@dataclass(frozen=True)
class SemanticType(_Kind):
    """categorical, text, identifier: the column as a whole, judged with ``classify``."""

    type: str
    kind: ClassVar[str] = "type"
    evaluates: ClassVar[str] = "aggregates"
    ACCEPTS: ClassVar[Mapping[str, frozenset[str]]] = MappingProxyType({
        "categorical": frozenset({"categorical", "boolean"}),
        "text": frozenset({"text", "categorical", "identifier"}),
        "identifier": frozenset({"identifier"})})
    text: ClassVar[str] = "a {type} column"

    def measures(self, target: Target) -> dict[str, str]:
        col = target.column
        out = {"non_null": f"count({col})", "distinct": f"count(DISTINCT {col})"}
        if _is("string", target.arrow_type):
            out["avg_length"] = f"avg(length(CAST({col} AS VARCHAR)))"
        return out

    def judge(self, observed: Mapping[str, Any], target: Target, *, total: int,
              now_us: int) -> tuple[bool, str]:
        non_null, distinct = observed["non_null"], observed["distinct"]
        inferred = classify(target.name or "", target.arrow_type, non_null=non_null,
                            distinct=distinct, avg_length=observed.get("avg_length"))
        ok = non_null == 0 or inferred in self.ACCEPTS[self.type]
        if not ok and _is("integer", target.arrow_type):  # integer codes and integer keys
            few = distinct <= MAX_CATEGORIES or distinct <= MAX_CATEGORY_FRACTION * non_null
            ok = distinct >= non_null if self.type == "identifier" else (
                self.type == "categorical" and few)
        seen = f"{distinct:,} distinct values in {non_null:,} non-missing rows"
        if ok:
            return True, f"{self.type} as declared ({seen})"
        return False, (f"expected {self.type}, the data look like {inferred} ({seen}, stored "
                       f"as {target.arrow_type}); fix the data or declare type: {inferred}")


def _parse_type(value: Any, where: str) -> tuple[Any, ...]:
    if value not in SEMANTIC_TYPES:
        raise _fail(where, f"unknown type {value!r}; known types are {', '.join(SEMANTIC_TYPES)}")
    return (SemanticType(value) if value in SemanticType.ACCEPTS else CastableType(value),)


@dataclass(frozen=True)
class RowCount(_Kind):
    min: int | None = None
    max: int | None = None
    kind: ClassVar[str] = "row_count"
    evaluates: ClassVar[str] = "aggregates"
    as_mapping: ClassVar[bool] = True

    @classmethod
    def parse(cls, value: Any, where: str) -> tuple[Any, ...]:
        if not isinstance(value, Mapping) or not value or set(value) - {"min", "max"}:
            raise _fail(where, f"expected {{min: N, max: N}} (either or both), got {value!r}")
        lo, hi = value.get("min"), value.get("max")
        for bound in (lo, hi):
            if bound is not None and (type(bound) is not int or bound < 0):
                raise _fail(where, f"expected whole numbers >= 0, got {bound!r}")
        if lo is not None and hi is not None and lo > hi:
            raise _fail(where, f"min {lo} is above max {hi}")
        return (cls(lo, hi),)

    def describe(self) -> str:
        if self.max is None:
            return f"at least {self.min:,} rows"
        return f"at most {self.max:,} rows" if self.min is None else (
            f"{self.min:,} to {self.max:,} rows")

    def measures(self, target: Target) -> dict[str, str]:
        return {}

    def judge(self, observed: Mapping[str, Any], target: Target, *, total: int,
              now_us: int) -> tuple[bool, str]:
        ok = (self.min is None or total >= self.min) and (self.max is None or total <= self.max)
        return ok, f"{total:,} rows; expected {self.describe()}"


@dataclass(frozen=True)
class Freshness(_Kind):
    """Fails when the newest value of ``column`` is older than ``now - max_age``."""

    column: str
    max_age: str | int | float
    kind: ClassVar[str] = "freshness"
    text: ClassVar[str] = "newest `{column}` at most {max_age} old"
    evaluates: ClassVar[str] = "aggregates"
    as_mapping: ClassVar[bool] = True

    @classmethod
    def parse(cls, value: Any, where: str) -> tuple[Any, ...]:
        if not isinstance(value, Mapping) or set(value) != {"column", "max_age"} or not (
                isinstance(value["column"], str)):
            raise _fail(where, f"expected {{column: NAME, max_age: 7d}}, got {value!r}")
        made = cls(value["column"], value["max_age"])
        made.seconds(where)
        return (made,)

    def seconds(self, where: str = "freshness") -> float:
        """``max_age`` in seconds: a number of seconds, or like 30m, 12h, 7d, 2w."""
        age = self.max_age
        if isinstance(age, int | float) and not isinstance(age, bool) and age >= 0:
            return float(age)
        match = _AGE.match(age) if isinstance(age, str) else None
        if not match:
            raise _fail(where, f"max_age must look like 30m, 12h, 7d or 2w, got {age!r}")
        return float(match[1]) * AGE_UNITS[match[2]]

    def measures(self, target: Target) -> dict[str, str]:
        col = target.column
        if _is("string", target.arrow_type):
            col = f"TRY_CAST({col} AS TIMESTAMP)"
        elif not _is("temporal", target.arrow_type):
            return {}
        return {"newest_us": f"epoch_us(max({col}))"}

    def judge(self, observed: Mapping[str, Any], target: Target, *, total: int,
              now_us: int) -> tuple[bool, str]:
        if "newest_us" not in observed:
            return False, (f"column `{self.column}` holds {target.arrow_type}, not date-times; "
                           "point freshness at a timestamp column")
        if observed["newest_us"] is None:
            return False, f"column `{self.column}` has no date-time values"
        age = (now_us - observed["newest_us"]) / 1e6
        stamp = dt.datetime.fromtimestamp(observed["newest_us"] / 1e6, dt.UTC).isoformat()
        ok = age <= self.seconds()
        advice = "" if ok else "; the data are stale: load newer data or relax max_age"
        old = f"{age / 86400:,.1f}d" if abs(age) >= 172800 else f"{age / 3600:,.1f}h"
        return ok, (f"newest `{self.column}` is {stamp}, {old} old "
                    f"(at most {self.max_age} allowed){advice}")


@dataclass(frozen=True)
class Predicate(_Kind):
    """A DuckDB boolean expression over one row; rows where it is false or null fail."""

    name: str
    sql: str
    kind: ClassVar[str] = "predicate"
    text: ClassVar[str] = "{sql}"
    as_mapping: ClassVar[bool] = True

    @classmethod
    def parse(cls, value: Any, where: str) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise _fail(where, f"expected a list of {{name: ..., sql: ...}}, got {value!r}")
        import duckdb

        made: list[Predicate] = []
        for item in value:
            if not (isinstance(item, Mapping) and set(item) == {"name", "sql"}
                    and all(isinstance(item[k], str) and item[k].strip() for k in item)):
                raise _fail(where, f"each predicate needs a name and an sql string, got {item!r}")
            name, sql = item["name"], item["sql"]
            if name in {p.name for p in made}:
                raise _fail(where, f"predicate name `{name}` is used twice; names must differ")
            try:  # one expression, not statements smuggled after it
                statements = duckdb.extract_statements(f"SELECT (\n{sql}\n) AS ok")
            except duckdb.Error as exc:
                raise _fail(where, f"predicate `{name}` does not parse: {exc}") from exc
            if len(statements) != 1:
                raise _fail(where, f"predicate `{name}` must be one SQL expression, got {sql!r}")
            made.append(cls(name, sql))
        return tuple(made)

    def violation(self, target: Target) -> str:
        return f"NOT coalesce((\n{self.sql}\n), FALSE)"  # newlines end a trailing -- comment


# The registries: YAML key -> parser returning zero or more expectations of that kind.
COLUMN_KINDS: Mapping[str, Any] = MappingProxyType({
    "type": _parse_type, "not_null": NotNull.parse, "unique": Unique.parse, "min": Min.parse,
    "max": Max.parse, "allowed_values": AllowedValues.parse, "regex": Regex.parse,
    "max_missing_fraction": MaxMissingFraction.parse})
TABLE_KINDS: Mapping[str, Any] = MappingProxyType({
    "row_count": RowCount.parse, "freshness": Freshness.parse, "predicates": Predicate.parse})
Expectation = (NotNull | Unique | Min | Max | AllowedValues | Regex | MaxMissingFraction
               | CastableType | SemanticType | RowCount | Freshness | Predicate)


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    expectations: tuple[Expectation, ...] = ()


@dataclass(frozen=True)
class SchemaSpec:
    """A parsed schema; ``to_dict`` is JSON-safe and parses back to an equal spec."""

    columns: tuple[ColumnSpec, ...] = ()
    table: tuple[Expectation, ...] = ()
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.description is None else {
            "description": self.description}
        out["columns"] = {c.name: {e.kind: e.spec_value() for e in c.expectations}
                          for c in self.columns}
        table: dict[str, Any] = {}
        for exp in self.table:
            if isinstance(exp, Predicate):
                table.setdefault("predicates", []).append(exp.spec_value())
            else:
                table[exp.kind] = exp.spec_value()
        return {**out, "table": table} if table else out


def load_schema_spec(source: str | os.PathLike[str] | Mapping[str, Any]) -> SchemaSpec:
    """Parse a schema from a YAML file or a mapping; each fault names file, column and kind."""
    if isinstance(source, Mapping):
        return _parse(source, "schema")
    path = Path(source)
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NotFoundError(f"schema file {path} does not exist; check the path") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot read schema {path}: {exc}; fix the YAML") from exc
    return _parse(data, str(path))


def _parse(data: Any, origin: str) -> SchemaSpec:
    if not isinstance(data, Mapping):
        raise ValidationError(f"{origin}: expected a mapping with `columns` and/or `table`, "
                              f"got {type(data).__name__}")
    _known(data, ("columns", "description", "table"), f"{origin}: unknown top-level key")
    columns, table = data.get("columns") or {}, data.get("table") or {}
    if not isinstance(columns, Mapping) or not isinstance(table, Mapping):
        raise ValidationError(f"{origin}: `columns` and `table` must be mappings")
    parsed = []
    for name, body in columns.items():
        if isinstance(name, bool) or not isinstance(name, str | int):
            raise ValidationError(f"{origin}: column names must be strings, got {name!r}")
        where = f"{origin}: column `{name}`"
        if not isinstance(body := body or {}, Mapping):
            raise ValidationError(f"{where}: expected a mapping of expectations, got {body!r}")
        _known(body, COLUMN_KINDS, f"{where}: unknown expectation")
        exps = [e for key, value in body.items()
                for e in COLUMN_KINDS[key](value, f"{where}, expectation `{key}`")]
        parsed.append(ColumnSpec(str(name), tuple(exps)))
    _known(table, TABLE_KINDS, f"{origin}: table: unknown expectation")
    table_exps = [e for key, value in table.items()
                  for e in TABLE_KINDS[key](value, f"{origin}: table, expectation `{key}`")]
    description = data.get("description")
    return SchemaSpec(tuple(parsed), tuple(table_exps),
                      None if description is None else str(description))


def _known(mapping: Mapping[Any, Any], known: Any, prefix: str) -> None:
    for key in mapping:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise ValidationError(f"{prefix} `{key}`{hint}; known: {', '.join(sorted(known))}")

