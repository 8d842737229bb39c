"""Table expectations: row_count, freshness of a time column, and SQL predicates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from gapless.data.expectations.base import (
    _AGE,
    AGE_UNITS,
    Target,
    _fail,
    _is,
    _Kind,
)


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


