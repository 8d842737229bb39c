"""One column of a request checked and converted: the per-type rules of
:mod:`gapless.serving.validation` (strict types, missing values, categories, ISO dates,
CSV text) and the messages that name the field and the row."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gapless.core.errors import RequestError

if TYPE_CHECKING:
    import numpy as np

# What pandas' read_csv (and so MLflow's CSV scoring) reads as missing.
CSV_MISSING = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                         "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None",
                         "n/a", "nan", "null"})
# How many names or values a message lists before "and N more".
_SHOW = 5
_NONE = type(None)
_HINTS = {"float": "send a JSON number", "integer": "send a whole number",
          "boolean": "send true or false", "string": "send a JSON string",
          "datetime": "send an ISO 8601 string such as '2024-05-01T12:30:00'"}
_EXPECTED = {"float": "a number", "integer": "an integer", "boolean": "true or false",
             "string": "a string", "datetime": "an ISO 8601 date-time"}




class ColumnRule:
    __slots__ = ("name", "kind", "nullable", "categories", "allowed")

    def __init__(self, name: str, kind: str, nullable: bool,
                 categories: tuple[Any, ...] | None) -> None:
        self.name, self.kind, self.nullable, self.categories = name, kind, nullable, categories
        self.allowed = (frozenset(categories)
                        if categories is not None and kind == "string" else None)




def convert_column(col: ColumnRule, values: Any, reject: bool,
             records: list[dict[str, Any]] | None = None) -> Any:
    """The column's values as the array the frame takes, or a RequestError."""
    import numpy as np

    if isinstance(values, np.ndarray):
        fast = _from_array(col, values)
        if fast is not None:
            return fast
        if values.dtype.kind == "M":  # as datetime objects (None for NaT), not nanoseconds
            values = values.astype("datetime64[us]")
        values = values.tolist()
    kinds = set(map(type, values))
    if col.kind == "float":
        return _floats(col, values, kinds, records)
    if col.kind == "integer":
        return _integers(col, values, kinds, records)
    if col.kind == "boolean":
        return _booleans(col, values, kinds, records)
    if col.kind == "datetime":
        return _datetimes(col, values, records)
    return _strings(col, values, kinds, reject, records)


def _from_array(col: ColumnRule, values: np.ndarray) -> Any:
    """Numeric or boolean arrays (binary tensors) converted without a Python loop; None
    when the array needs the per-value path (or holds the error it will report)."""
    import numpy as np

    kind = values.dtype.kind
    if col.kind == "float" and kind in "iuf":
        out = values.astype(np.float64)
        if not np.isfinite(out).all():
            bad = np.isinf(out) | (np.isnan(out) if not col.nullable else False)
            if bad.any():
                return None
        return out
    if col.kind == "integer" and kind in "iu":
        if kind == "u" and values.size and values.max() > np.iinfo(np.int64).max:
            return None
        return values.astype(np.int64)
    if col.kind == "integer" and kind == "f":
        missing = np.isnan(values)
        return None if missing.any() and not col.nullable else _integral_or_none(values,
                                                                                 missing)
    if col.kind == "boolean" and kind == "b":
        return values.astype(bool)
    if col.kind == "datetime" and kind == "M":
        return None if not col.nullable and np.isnat(values).any() else values.astype(
            "datetime64[ns]")
    return None


def _integral_or_none(values: np.ndarray, missing: np.ndarray) -> Any:
    import numpy as np

    finite = values[~missing]
    if not (np.isfinite(finite).all() and (finite == np.floor(finite)).all()):
        return None
    return values.astype(np.float64) if missing.any() else values.astype(np.int64)


def _floats(col: ColumnRule, values: Sequence[Any], kinds: set[type],
            records: list[dict[str, Any]] | None) -> Any:
    import numpy as np

    if not kinds <= {float, int, _NONE}:
        for row, value in enumerate(values):
            if not is_missing(value) and not _is_number(value):
                raise _bad_value(col, row, value)
    try:
        out = np.array(values, dtype=np.float64)
    except (OverflowError, TypeError, ValueError):
        row = next(i for i, v in enumerate(values) if not _fits_float(v))
        raise _bad_value(col, row, values[row], "too large for a 64-bit float") from None
    finite = np.isfinite(out)
    if not finite.all():
        bad = ~finite if not col.nullable else np.isinf(out)
        if bad.any():
            row = int(bad.argmax())
            if math.isinf(out[row]):
                raise _bad_value(col, row, values[row], "expected a finite number")
            raise _missing(col, row, records)
    return out


def _integers(col: ColumnRule, values: Sequence[Any], kinds: set[type],
              records: list[dict[str, Any]] | None) -> Any:
    import numpy as np

    has_missing = False
    if not kinds <= {int}:
        clean: list[Any] = []
        for row, value in enumerate(values):
            kind = type(value)
            if kind is int:
                clean.append(value)
            elif is_missing(value):
                if not col.nullable:
                    raise _missing(col, row, records)
                has_missing = True
                clean.append(None)
            elif _is_whole(value):
                clean.append(int(value))
            else:
                raise _bad_value(col, row, value)
        values = clean
    try:
        return np.array(values, dtype=np.float64 if has_missing else np.int64)
    except OverflowError:
        row = next(i for i, v in enumerate(values)
                   if v is not None and not -2**63 <= v < 2**63)
        raise _bad_value(col, row, values[row], "outside the 64-bit integer range") from None


def _booleans(col: ColumnRule, values: Sequence[Any], kinds: set[type],
              records: list[dict[str, Any]] | None) -> Any:
    import numpy as np

    if kinds <= {bool}:
        return np.array(values, dtype=bool)
    clean: list[Any] = []
    for row, value in enumerate(values):
        if isinstance(value, bool | np.bool_):
            clean.append(bool(value))
        elif is_missing(value):
            if not col.nullable:
                raise _missing(col, row, records)
            clean.append(None)
        else:
            raise _bad_value(col, row, value)
    out = np.empty(len(clean), dtype=object)
    out[:] = clean
    return out if None in clean else out.astype(bool)


def _strings(col: ColumnRule, values: Sequence[Any], kinds: set[type], reject: bool,
             records: list[dict[str, Any]] | None) -> Any:
    if not kinds <= {str}:
        clean: list[Any] = []
        for row, value in enumerate(values):
            if isinstance(value, str):
                clean.append(str(value))
            elif is_missing(value):
                if not col.nullable:
                    raise _missing(col, row, records)
                clean.append(None)
            else:
                raise _bad_value(col, row, value)
        values = clean
    if reject and col.allowed is not None:
        unknown = set(values) - col.allowed
        unknown.discard(None)
        if unknown:
            row = next(i for i, v in enumerate(values) if v in unknown)
            known = list_values(col.categories or ())
            raise RequestError(
                f"row {row}, field `{col.name}`: unknown category {show_value(values[row])}; "
                f"known: {known}; send one of them (or serve with "
                "unknown_categories='pass' to let the model handle unseen values)",
                status=422, field=col.name, row=row)
    return values if isinstance(values, list) else list(values)


def _datetimes(col: ColumnRule, values: Sequence[Any],
               records: list[dict[str, Any]] | None) -> Any:
    import numpy as np

    clean: list[Any] = []
    for row, value in enumerate(values):
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise _bad_value(col, row, value) from None
        elif is_missing(value):
            if not col.nullable:
                raise _missing(col, row, records)
            clean.append(None)
            continue
        elif not isinstance(value, datetime):
            raise _bad_value(col, row, value)
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        clean.append(value)
    return np.array(clean, dtype="datetime64[ns]")


def parse_cells(col: ColumnRule, cells: Sequence[Any]) -> list[Any]:
    """Text cells (CSV) as the values JSON would have brought for ``col``'s type."""
    parse = _TEXT_PARSERS.get(col.kind)
    out: list[Any] = []
    for row, cell in enumerate(cells):
        if not isinstance(cell, str):
            out.append(cell)
        elif cell in CSV_MISSING:
            out.append(None)
        elif parse is None:
            out.append(cell)
        else:
            try:
                out.append(parse(cell))
            except ValueError:
                raise _bad_value(col, row, cell) from None
    return out


def _text_integer(cell: str) -> Any:
    try:
        return int(cell)
    except ValueError:
        return float(cell)


def _text_boolean(cell: str) -> bool:
    lowered = cell.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(cell)


_TEXT_PARSERS = {"float": float, "integer": _text_integer, "boolean": _text_boolean}


def all_missing(col: ColumnRule, n: int) -> Any:
    import numpy as np

    if col.kind in ("float", "integer"):
        return np.full(n, np.nan)
    if col.kind == "datetime":
        return np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if col.kind == "boolean":
        return np.full(n, None, dtype=object)
    return [None] * n




# -- values and messages -----------------------------------------------------------------
def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _is_number(value: Any) -> bool:
    import numpy as np

    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool | np.bool_))


def _is_whole(value: Any) -> bool:
    """An integer-valued number that is not a bool: 3, 3.0, numpy's int64(3)."""
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return False
    if isinstance(value, np.integer):
        return True
    return isinstance(value, float | np.floating) and math.isfinite(value) and (
        float(value).is_integer())


def _fits_float(value: Any) -> bool:
    try:
        float(value)
    except (OverflowError, TypeError, ValueError):
        return False
    return True


def _missing(col: ColumnRule, row: int, records: list[dict[str, Any]] | None) -> RequestError:
    absent = records is not None and col.name not in records[row]
    return RequestError(f"row {row}, field `{col.name}`: {'missing' if absent else 'null'}, "
                        "but the column is not nullable (the model was trained without "
                        f"missing values in it); {_HINTS[col.kind]}",
                        status=422, field=col.name, row=row)


def _bad_value(col: ColumnRule, row: int, value: Any, problem: str | None = None) -> RequestError:
    problem = problem or f"expected {_EXPECTED[col.kind]}"
    hint = _HINTS[col.kind] + (" or null" if col.nullable else "")
    return RequestError(
        f"row {row}, field `{col.name}`: {problem}, got {show_value(value)}; {hint}",
        status=422, field=col.name, row=row)


def show_value(value: Any) -> str:
    """A value as a message shows it: JSON words for JSON things, text quoted and cut."""
    import numpy as np

    if value is None:
        return "null"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return repr(value.item() if isinstance(value, np.generic) else value)


def list_names(names: Sequence[str]) -> str:
    shown = ", ".join(f"`{n}`" for n in names[:_SHOW])
    return shown + (f" and {len(names) - _SHOW} more" if len(names) > _SHOW else "")


def list_values(values: Sequence[Any]) -> str:
    shown = ", ".join(show_value(v) for v in values[:_SHOW])
    return shown + (f" and {len(values) - _SHOW} more" if len(values) > _SHOW else "")
