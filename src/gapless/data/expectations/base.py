"""What every expectation kind shares: SQL quoting, the target it is compiled against,
and the `_Kind` base that reads parameters and YAML values off dataclass fields."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, ClassVar

from gapless.core.errors import ValidationError

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


