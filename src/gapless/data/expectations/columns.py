"""Column expectations: not_null, unique, min, max, allowed_values, regex,
max_missing_fraction and type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from gapless.data.expectations.base import (
    Target,
    _fail,
    _is,
    _Kind,
    _scalar,
    literal,
)
from gapless.data.types import MAX_CATEGORIES, MAX_CATEGORY_FRACTION, SEMANTIC_TYPES, classify


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


