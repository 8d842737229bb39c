"""gapless's own prediction protocol (``POST /v1/endpoints/{name}/predict``): parse a body
into a frame, format predictions into a response. Pure functions; no HTTP framework.

Request body (JSON, UTF-8), rows in one of two shapes::

    {"instances": [{"age": 31, "region": "north", ...}, ...]}
    {"columns": ["age", "region", ...], "data": [[31, "north", ...], ...]}

plus, optionally, routing keys for sticky A/B assignment, in one of two forms:

* ``"key": "customer-42"`` — one key for the whole request, repeated for every row;
* ``"keys": ["customer-42", "customer-7", ...]`` — one key per row, aligned with the rows.

Keys are strings (integers are taken as their decimal text). They are per row because a
row is what gets a prediction id, a variant and a logged prediction; a strategy that
routes whole requests uses the first key (all equal when ``"key"`` was sent). Any other
top-level field is an error, so a misspelt ``"instance"`` or ``"kyes"`` is not ignored.

Fields a row carries that the signature does not read are ignored, except those the
deployment names in ``log_fields`` (entity ids such as ``customer_id``): each must be a
JSON scalar, and it goes to the prediction log beside the inputs, never to the model.

Response (:func:`format_native`), arrays aligned with the request's rows::

    {"model": "churn@3", "variant": "challenger",
     "ids": ["p-...", ...], "predictions": [1, ...],
     "probabilities": [{"0": 0.18, "1": 0.82}, ...]}   # classifiers with probabilities

Class labels are JSON object keys, so they appear as text (``"1"``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gapless.core.errors import RequestError
from gapless.serving.validation import frame_from_columns, frame_from_records

if TYPE_CHECKING:
    import pandas as pd

    from gapless.core.schema import Signature
    from gapless.serving.validation import InputSpec

_FIELDS = ("instances", "columns", "data", "key", "keys")


@dataclass(frozen=True)
class NativeRequest:
    """A parsed native request: the frame to predict on and one routing key per row (None
    when the client sent none)."""

    frame: pd.DataFrame
    keys: tuple[str, ...] | None


def parse_native(body: bytes, signature: Signature | InputSpec, *, max_bytes: int,
                 unknown_categories: str = "reject",
                 log_fields: Sequence[str] = ()) -> NativeRequest:
    """The frame and keys of a native request body.

    Raises :class:`RequestError`: 413 when ``body`` is longer than ``max_bytes``; 400 when
    it is not UTF-8 JSON (naming the line, column and offset), not one of the two shapes,
    or carries bad keys; 422 when a value disagrees with the signature (naming the field
    and the 0-based row).
    """
    payload = load_json(body, max_bytes=max_bytes)
    if not isinstance(payload, dict):
        raise RequestError(f"expected a JSON object with `instances`, or `columns` and "
                           f"`data`; got {_kind(payload)}", status=400)
    unknown = [name for name in payload if name not in _FIELDS]
    if unknown:
        raise RequestError(f"unknown field `{unknown[0]}` in the request; known fields: "
                           f"{', '.join(_FIELDS)}", status=400, field=str(unknown[0]))
    if "instances" in payload:
        if "columns" in payload or "data" in payload:
            raise RequestError("send either `instances`, or `columns` and `data`, not both",
                               status=400)
        frame = frame_from_records(payload["instances"], signature,
                                   unknown_categories=unknown_categories)
    elif "columns" in payload and "data" in payload:
        frame = frame_from_columns(payload["columns"], payload["data"], signature,
                                   unknown_categories=unknown_categories)
    elif "columns" in payload or "data" in payload:
        sent, needed = ("columns", "data") if "columns" in payload else ("data", "columns")
        raise RequestError(f"`{sent}` was sent without `{needed}`; send both", status=400,
                           field=needed)
    else:
        raise RequestError("the request has no rows: send `instances` (a list of objects), "
                           "or `columns` and `data` (a list of rows)", status=400)
    keep = [name for name in log_fields if name not in frame.columns]
    if keep:
        frame = _with_log_fields(frame, payload, keep)
    return NativeRequest(frame, _keys(payload, len(frame)))


def _with_log_fields(frame: pd.DataFrame, payload: dict[str, Any],
                     names: Sequence[str]) -> pd.DataFrame:
    """``frame`` with the ``names`` columns added from the request's rows (None where a
    row lacks one); the engine hands the model only its signature's columns."""
    if "instances" in payload:
        rows = payload["instances"]
        columns = {name: [row.get(name) for row in rows] for name in names}
    else:
        index = {name: i for i, name in enumerate(payload["columns"])}
        columns = {name: [row[index[name]] if name in index else None
                          for row in payload["data"]] for name in names}
    for name, values in columns.items():
        for row, value in enumerate(values):
            if not (value is None or isinstance(value, str | int | float | bool)):
                raise RequestError(f"row {row}, `{name}`: a logged field must be a string, "
                                   f"number or boolean, got {_kind(value)}", status=422,
                                   field=name, row=row)
    return frame.assign(**columns)


def format_native(prediction_ids: Sequence[str], predictions: Any,
                  probabilities: Any | None, model_ref: str, variant: str | None, *,
                  classes: Sequence[Any] | None = None) -> dict[str, Any]:
    """The response body (a JSON-ready dict) for one request's predictions.

    ``predictions`` is a sequence or array with one value per row; ``probabilities`` an
    array of shape (rows, classes) whose columns follow ``classes`` (required with it),
    or None for models without probabilities. ``model_ref`` is ``name@version``;
    ``variant`` the deployment variant that served the rows (None for a single model).
    """
    values = to_jsonable(predictions)
    body: dict[str, Any] = {"model": model_ref, "variant": variant,
                            "ids": list(prediction_ids), "predictions": values}
    if probabilities is not None:
        if classes is None:
            raise ValueError("format_native: probabilities need their classes")
        labels = [str(_plain(c)) for c in classes]
        body["probabilities"] = [dict(zip(labels, row, strict=True))
                                 for row in to_jsonable(probabilities)]
    return body


def load_json(body: bytes, *, max_bytes: int) -> Any:
    """``body`` parsed as UTF-8 JSON, within ``max_bytes``; shared by the JSON protocols.

    Raises :class:`RequestError` 413 for a body over the limit and 400 for one that is
    not UTF-8 JSON, naming where it breaks.
    """
    if len(body) > max_bytes:
        raise RequestError(f"the request body is {len(body):,} bytes, over the limit of "
                           f"{max_bytes:,}; send fewer rows per request", status=413)
    if not body.strip():
        raise RequestError("the request body is empty; send a JSON object", status=400)
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        raise RequestError(f"the request body is not UTF-8: byte {exc.start} cannot be "
                           "decoded; encode the JSON as UTF-8", status=400) from None
    except json.JSONDecodeError as exc:
        raise RequestError(f"the request body is not valid JSON: {exc.msg} at line "
                           f"{exc.lineno}, column {exc.colno} (byte {exc.pos})",
                           status=400) from None
    except RecursionError:
        raise RequestError("the request body is nested too deeply to parse; send flatter "
                           "JSON", status=400) from None
    except ValueError as exc:  # an integer longer than Python's digit limit
        raise RequestError(f"the request body is not usable JSON: {str(exc).split(';')[0]}; "
                           "send shorter numbers", status=400) from None


def _keys(payload: dict[str, Any], rows: int) -> tuple[str, ...] | None:
    if "key" in payload and "keys" in payload:
        raise RequestError("send either `key` (one for the request) or `keys` (one per row), "
                           "not both", status=400, field="keys")
    if "key" in payload:
        return (_key(payload["key"], "key", None),) * rows
    if "keys" not in payload:
        return None
    keys = payload["keys"]
    if not isinstance(keys, list) or len(keys) != rows:
        got = f"{len(keys)} keys" if isinstance(keys, list) else _kind(keys)
        raise RequestError(f"`keys` must be a list with one key per row ({rows}), got {got}",
                           status=400, field="keys")
    return tuple(_key(key, "keys", row) for row, key in enumerate(keys))


def _key(value: Any, field: str, row: int | None) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    where = f"row {row}, " if row is not None else ""
    raise RequestError(f"{where}`{field}`: a routing key must be a string, got {_kind(value)}",
                       status=400, field=field, row=row)


def to_jsonable(values: Any) -> list[Any]:
    """Values as a JSON-ready list: numpy and pandas containers and scalars as Python's."""
    import numpy as np

    array = np.asarray(values)
    out = array.tolist()
    if array.dtype == object:
        out = [_plain(v) for v in out] if array.ndim == 1 else [[_plain(v) for v in row]
                                                               for row in out]
    return out


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return "null" if value is None else json.dumps(value)


__all__ = ["NativeRequest", "format_native", "load_json", "parse_native", "to_jsonable"]
