"""Requests checked against a model's signature and turned into the one DataFrame its
pipeline takes: the engine every wire protocol calls, with no HTTP in it.

A protocol reduces its body to one of three shapes and calls the matching function:

* :func:`frame_from_records` — ``[{field: value, ...}, ...]``, one object per row;
* :func:`frame_from_columns` — ``columns=[...]`` and ``data=[[...], ...]``, one list per row;
* :func:`frame_from_mapping` — ``{field: [value, ...], ...}``, one sequence (or 1-D numpy
  array) per column.

Every bad value is a :class:`~gapless.core.errors.RequestError` naming the field and the row
(0-based, the position in the request): 400 when the body is not the shape asked for, 422
when it is but disagrees with the signature. The rules are the same for every protocol:

* Fields are matched by exact name. Fields the signature does not name are ignored, so a
  client may send ids or context along; a missing non-nullable column names the unknown
  fields too, in case one is a typo.
* A field absent from a record, a JSON ``null`` and NaN all mean *missing*. Missing is fine
  where the column is nullable (the pipeline imputes it) and an error where it is not. A
  column absent from the whole request is one error naming the columns; a nullable one
  becomes all-missing.
* Types are strict. ``float``: JSON numbers, finite (ints are fine). ``integer``: ints, or
  floats with no fractional part. ``boolean``: ``true``/``false``. ``string``: strings.
  ``datetime``: ISO 8601 strings (or ``datetime`` objects); an offset is converted to UTC
  and dropped, as training data is naive. ``true`` is not a number, and a numeric string
  (``"42"``) is not a number either: a client that quotes numbers has a bug worth hearing
  about, and coercing would cost every request. CSV is text by nature, so
  ``frame_from_columns(..., text=True)`` parses each cell for its column's type instead.
* Categories are checked for string columns that list them: with
  ``unknown_categories="reject"`` (the default) an unseen value is an error naming a few
  known ones; with ``"pass"`` it goes to the pipeline, whose encoders ignore it. Booleans
  always accept both values, and numeric ranges are not enforced (monitoring counts
  values out of the training range instead).

The frame has the signature's columns in its order, with the dtypes training had
for numbers, flags and times: ``float64``; ``int64`` (``float64`` with NaN when a value is
missing); ``bool`` (``object`` with None when a value is missing); ``datetime64[ns]``
(NaT when missing). Text is ``object`` with None when missing (training frames have
pandas' ``str``; building those costs more than the rest of a request, and the pipelines
turn both into the same strings).

Checking is plain Python over the values with set-based fast paths, then one DataFrame is
built. Build an :class:`InputSpec` once per model version and pass it wherever a
:class:`~gapless.core.schema.Signature` is accepted: building one costs about as much as
checking a one-row request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gapless.core.errors import RequestError, ValidationError
from gapless.core.schema import Signature
from gapless.serving.columns import (
    CSV_MISSING,
    ColumnRule,
    all_missing,
    convert_column,
    list_names,
    parse_cells,
    show_value,
)

if TYPE_CHECKING:
    import pandas as pd

UNKNOWN_CATEGORY = ("reject", "pass")


class InputSpec:
    """A :class:`Signature` prepared for checking requests; build once per model version
    (it holds the category sets) and pass it wherever a signature is accepted."""

    __slots__ = ("signature", "columns", "names", "index")

    def __init__(self, signature: Signature) -> None:
        import pandas as pd

        self.signature = signature
        self.columns = tuple(ColumnRule(c.name, c.type, c.nullable, c.categories)
                             for c in signature.inputs)
        self.names = [c.name for c in signature.inputs]
        self.index = pd.Index(self.names)


def input_spec(signature: Signature | InputSpec) -> InputSpec:
    """``signature`` prepared for checking; an :class:`InputSpec` is returned as is."""
    return signature if isinstance(signature, InputSpec) else InputSpec(signature)


def frame_from_records(records: Any, signature: Signature | InputSpec, *,
                       unknown_categories: str = "reject") -> pd.DataFrame:
    """The frame for ``records``, a list of objects (one per row) keyed by field name.

    Raises :class:`RequestError`: 400 when ``records`` is not a non-empty list of objects,
    422 when a value disagrees with the signature (see the module docstring for the rules).
    """
    spec, reject = input_spec(signature), _reject(unknown_categories)
    if not isinstance(records, list):
        raise RequestError(f"expected a list of objects (one per row), got {show_value(records)}",
                           status=400)
    if not records:
        raise RequestError("the request has no rows; send at least one", status=400)
    if set(map(type, records)) != {dict}:
        row = next(i for i, r in enumerate(records) if not isinstance(r, dict))
        raise RequestError(f"row {row}: expected an object of field -> value, "
                           f"got {show_value(records[row])}", status=400, row=row)
    seen = records[0].keys() if len(records) == 1 else set().union(*records)
    _check_present(spec, seen)
    columns: dict[str, Any] = {}
    for col in spec.columns:
        name = col.name
        if name in seen:
            columns[name] = convert_column(col, [r.get(name) for r in records], reject, records)
        else:
            columns[name] = all_missing(col, len(records))
    return _frame(spec, columns)


def frame_from_columns(columns: Any, data: Any, signature: Signature | InputSpec, *,
                       unknown_categories: str = "reject", text: bool = False) -> pd.DataFrame:
    """The frame for ``data``, a list of rows, each a list of values in ``columns`` order.

    ``text=True`` reads every cell as text (CSV): cells in :data:`CSV_MISSING` are missing
    and the others are parsed for their column's type. Raises :class:`RequestError`: 400
    when ``columns`` is not a list of distinct names or a row is not a list of
    ``len(columns)`` values, 422 when a value disagrees with the signature.
    """
    spec, reject = input_spec(signature), _reject(unknown_categories)
    if not isinstance(columns, list | tuple) or not all(isinstance(c, str) for c in columns):
        raise RequestError(f"`columns` must be a list of field names, got {show_value(columns)}",
                           status=400)
    index = {name: i for i, name in enumerate(columns)}
    if len(index) != len(columns):
        twice = next(c for i, c in enumerate(columns) if index[c] != i)
        raise RequestError(f"`columns` names `{twice}` twice; name each field once",
                           status=400, field=twice)
    if not isinstance(data, list | tuple):
        raise RequestError(f"`data` must be a list of rows, got {show_value(data)}", status=400)
    if not data:
        raise RequestError("the request has no rows; send at least one", status=400)
    width = len(columns)
    if not set(map(type, data)) <= {list, tuple} or set(map(len, data)) != {width}:
        row = next(i for i, r in enumerate(data)
                   if not isinstance(r, list | tuple) or len(r) != width)
        got = (f"{len(data[row])} values" if isinstance(data[row], list | tuple)
               else show_value(data[row]))
        raise RequestError(f"row {row}: expected a list of {width} values, one per name in "
                           f"`columns`, got {got}", status=400, row=row)
    _check_present(spec, index)
    transposed = list(zip(*data, strict=True))
    out: dict[str, Any] = {}
    for col in spec.columns:
        position = index.get(col.name)
        if position is None:
            out[col.name] = all_missing(col, len(data))
        else:
            values = transposed[position]
            cells = parse_cells(col, values) if text else values
            out[col.name] = convert_column(col, cells, reject)
    return _frame(spec, out)


def frame_from_mapping(mapping: Any, signature: Signature | InputSpec, *,
                       unknown_categories: str = "reject") -> pd.DataFrame:
    """The frame for ``mapping``: field name -> the column's values (a list or a 1-D numpy
    array), every signature column the same length.

    Numeric and boolean numpy arrays skip the per-value loop (not the checks). Raises
    :class:`RequestError`: 400 when a column is not a sequence or the lengths differ, 422
    when a value disagrees with the signature.
    """
    import numpy as np

    spec, reject = input_spec(signature), _reject(unknown_categories)
    if not isinstance(mapping, Mapping):
        raise RequestError(f"expected an object of field -> list of values, "
                           f"got {show_value(mapping)}", status=400)
    _check_present(spec, mapping)
    given = [c for c in spec.columns if c.name in mapping]
    length = None
    for col in given:
        values = mapping[col.name]
        if isinstance(values, np.ndarray) and values.ndim != 1:
            raise RequestError(f"field `{col.name}`: expected one value per row (1-D), got "
                               f"shape {list(values.shape)}", status=400, field=col.name)
        if not isinstance(values, list | tuple | np.ndarray):
            raise RequestError(f"field `{col.name}`: expected a list of values, one per row, "
                               f"got {show_value(values)}", status=400, field=col.name)
        if length is None:
            length, first = len(values), col.name
        elif len(values) != length:
            raise RequestError(f"field `{col.name}` has {len(values)} values but `{first}` has "
                               f"{length}; send one value per row for every field",
                               status=400, field=col.name)
    if not length:
        raise RequestError("the request has no rows; send at least one", status=400)
    out: dict[str, Any] = {}
    for col in spec.columns:
        out[col.name] = (convert_column(col, mapping[col.name], reject) if col.name in mapping
                         else all_missing(col, length))
    return _frame(spec, out)


# -- checks shared by the three shapes ---------------------------------------------------
def _reject(unknown_categories: str) -> bool:
    if unknown_categories not in UNKNOWN_CATEGORY:
        raise ValidationError(f"unknown_categories must be one of {UNKNOWN_CATEGORY}, "
                              f"got {unknown_categories!r}")
    return unknown_categories == "reject"


def _check_present(spec: InputSpec, seen: Any) -> None:
    missing = [c.name for c in spec.columns if not c.nullable and c.name not in seen]
    if not missing:
        return
    known = set(spec.names)
    unknown = [str(name) for name in seen if name not in known]
    message = (f"missing required field{'s' if len(missing) > 1 else ''} "
               f"{list_names(missing)}; the model needs a value for "
               f"{'each' if len(missing) > 1 else 'it'} in every row")
    if unknown:
        message += f" (the request also has fields the model does not use: {list_names(unknown)})"
    raise RequestError(message, status=422, field=missing[0])




def _frame(spec: InputSpec, columns: dict[str, Any]) -> pd.DataFrame:
    return frame_from_arrays(columns, spec.index)


def column_arrays(frame: pd.DataFrame) -> dict[str, Any]:
    """Each column's values as an array, without a Series per column (``frame[name]``
    costs a one-row request more than its checks); pandas' public path as a fallback."""
    get = getattr(frame, "_get_column_array", None)
    if get is not None:
        try:
            return {str(name): get(i) for i, name in enumerate(frame.columns)}
        except (TypeError, IndexError):  # a pandas whose private accessor changed
            pass
    return {str(name): frame[name].to_numpy() for name in frame.columns}


def frame_from_arrays(columns: dict[str, Any], index: Any = None) -> pd.DataFrame:
    """One DataFrame from checked columns (name -> array or list), in their order. Built
    through pandas' own array-to-frame constructor: the public one re-checks every column
    and converts text to ``str`` arrays, which costs a single-row request about five times
    the rest of its checking. Text stays ``object``, which the pipelines' encoders take as
    they take ``str``. ``index``: the column names as a prepared ``pd.Index``."""
    import numpy as np
    import pandas as pd

    index = pd.Index(list(columns)) if index is None else index

    arrays = []
    for values in columns.values():
        if not isinstance(values, np.ndarray):
            out = np.empty(len(values), dtype=object)
            out[:] = values
            values = out
        arrays.append(values)
    length = len(arrays[0]) if arrays else 0
    build = getattr(pd.DataFrame, "_from_arrays", None)
    if build is not None:
        try:
            return build(arrays, columns=index, index=pd.RangeIndex(length),
                         verify_integrity=False)
        except (TypeError, ValueError):  # a pandas whose private constructor changed
            pass
    return pd.DataFrame(dict(zip(index, arrays, strict=True)), columns=index, copy=False)


__all__ = [
    "CSV_MISSING",
    "InputSpec",
    "UNKNOWN_CATEGORY",
    "column_arrays",
    "frame_from_arrays",
    "frame_from_columns",
    "frame_from_mapping",
    "frame_from_records",
    "input_spec",
]

