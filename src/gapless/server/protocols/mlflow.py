"""The MLflow scoring protocol (``POST /invocations``), spoken as MLflow's own scoring server
(``mlflow.pyfunc.scoring_server``, MLflow 2 and 3) speaks it, so MLflow clients and
``mlflow models predict``-style scripts work unchanged. Pure functions; no HTTP framework.

Content types, as MLflow checks them: ``application/json``, ``text/csv`` and
``application/vnd.apache.parquet``; the only parameter allowed is ``charset``, and only
``utf-8``. Anything else is a 415 whose body is plain text, as MLflow sends it.

JSON bodies are an object with exactly one of these fields (``params`` is accepted and
ignored, as scikit-learn models take none; other fields are ignored, as MLflow does)::

    {"dataframe_split": {"columns": [...], "data": [[...], ...], "index": [...]}}
    {"dataframe_records": [{"col": value, ...}, ...]}
    {"instances": [{"col": value, ...}, ...]}     or {"instances": {"col": [values]}}
    {"inputs": {"col": [values], ...}}             or a list of records, or {"col": value}
                                                  (one row); a list of values when the
                                                  model has one input column

CSV is ``DataFrame.to_csv()`` output: a header row of names, then rows (an index column,
unnamed, is ignored as an extra field); cells are parsed per column type and pandas'
missing markers (empty, ``NA``, ``nan``, ...) are missing.

Errors (:func:`mlflow_error`) are MLflow's JSON, ``{"error_code": ..., "message": ...}``:
a malformed body is 400 ``BAD_REQUEST``; values against the signature are 400
``INVALID_PARAMETER_VALUE`` with ``error_class: SCHEMA_ENFORCEMENT_FAILED``, as MLflow's
schema enforcement reports them (gapless's own routes say 422).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gapless.core.errors import GaplessError, RequestError, ValidationError
from gapless.server.protocols.native import load_json, to_jsonable
from gapless.serving.validation import (
    frame_from_columns,
    frame_from_mapping,
    frame_from_records,
    input_spec,
)

if TYPE_CHECKING:
    import pandas as pd

    from gapless.core.schema import Signature
    from gapless.serving.validation import InputSpec

CONTENT_TYPE_CSV = "text/csv"
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = [CONTENT_TYPE_CSV, CONTENT_TYPE_JSON, CONTENT_TYPE_PARQUET]
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")

# MLflow's error codes for the statuses a gapless error can earn (mlflow.exceptions).
ERROR_CODES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
               404: "ENDPOINT_NOT_FOUND", 409: "RESOURCE_CONFLICT",
               429: "REQUEST_LIMIT_EXCEEDED", 500: "INTERNAL_ERROR", 501: "NOT_IMPLEMENTED",
               503: "TEMPORARILY_UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_PREDICT_FAILED = ("Encountered an unexpected error while evaluating the model. Verify that "
                   "the serialized input Dataframe is compatible with the model for inference.")


def parse_mlflow(body: bytes, content_type: str | None, signature: Signature | InputSpec, *,
                 max_bytes: int, unknown_categories: str = "reject") -> pd.DataFrame:
    """The frame an MLflow scoring request carries.

    Raises :class:`RequestError`: 415 for a content type MLflow would refuse, 413 over
    ``max_bytes``, 400 for a body that is not one of the formats, 422 for values against
    the signature (field and 0-based row named). Render them with :func:`mlflow_error`.
    """
    mime = _media_type(content_type)
    if len(body) > max_bytes:
        raise RequestError(f"the request body is {len(body):,} bytes, over the limit of "
                           f"{max_bytes:,}; send fewer rows per request", status=413)
    spec = input_spec(signature)
    if mime == CONTENT_TYPE_CSV:
        return _from_csv(body, spec, unknown_categories)
    if mime == CONTENT_TYPE_PARQUET:
        return _from_parquet(body, spec, unknown_categories)
    payload = load_json(body, max_bytes=max_bytes)
    if not isinstance(payload, dict):
        got = "a list" if isinstance(payload, list) else f"{type(payload).__name__}"
        raise RequestError(f"The input must be a JSON object with exactly one of the fields "
                           f"{', '.join(FORMATS)}; received {got}", status=400)
    formats = [name for name in FORMATS if name in payload]
    if len(formats) != 1:
        raise RequestError(f"The input must be a JSON object with exactly one of the fields "
                           f"{', '.join(FORMATS)}; received the fields "
                           f"{', '.join(map(str, payload)) or 'none'}", status=400)
    name = formats[0]
    data = payload[name]
    if name == "dataframe_split":
        return _from_split(data, spec, unknown_categories)
    if name == "dataframe_records":
        if not isinstance(data, list):
            raise RequestError(f"dataframe_records must be a list of records, got "
                               f"{_kind(data)}", status=400, field=name)
        return frame_from_records(data, spec, unknown_categories=unknown_categories)
    return _from_tensor_input(name, data, spec, unknown_categories)


def format_mlflow(predictions: Any) -> dict[str, Any]:
    """MLflow's response body: ``{"predictions": [...]}``; a DataFrame as records, a Series
    as records of its one column, arrays as (nested) lists, as MLflow renders them."""
    import pandas as pd

    if isinstance(predictions, pd.Series):
        predictions = predictions.to_frame()
    if isinstance(predictions, pd.DataFrame):
        return {"predictions": predictions.to_dict(orient="records")}
    return {"predictions": to_jsonable(predictions)}


def mlflow_error(exc: BaseException, *, status: int | None = None
                 ) -> tuple[int, dict[str, str] | str]:
    """The status and body MLflow's scoring server would answer ``exc`` with.

    The body is a dict to send as JSON, except for 415, which MLflow sends as plain text
    (a str here). :class:`RequestError` uses its own status (422 becomes MLflow's 400
    ``INVALID_PARAMETER_VALUE``); other gapless errors take ``status`` (the server's error
    table) or 500. An exception that is not a gapless error is the model failing on the
    frame, which MLflow reports as 400 ``BAD_REQUEST`` with a fixed message (the original
    is not echoed: it may hold model internals; log it).
    """
    if isinstance(exc, RequestError):
        if exc.status == 415:
            return 415, str(exc)
        if exc.status == 422:
            return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": str(exc),
                         "error_class": "SCHEMA_ENFORCEMENT_FAILED"}
        return exc.status, {"error_code": "BAD_REQUEST", "message": str(exc)}
    if isinstance(exc, ValidationError) and status in (None, 400, 422):
        return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": str(exc)}
    if isinstance(exc, GaplessError):
        code = status or 500
        return code, {"error_code": ERROR_CODES.get(code, "INTERNAL_ERROR"),
                      "message": str(exc)}
    return 400, {"error_code": "BAD_REQUEST", "message": _PREDICT_FAILED}


def _media_type(content_type: str | None) -> str:
    """The media type, after MLflow's checks of its parameters (415 on failure)."""
    parts = [part.strip() for part in (content_type or "").split(";")]
    mime = parts[0].lower()
    parameters = {key.strip().lower(): value.strip()
                  for key, _, value in (part.partition("=") for part in parts[1:] if part)}
    if parameters.get("charset", "utf-8").strip('"').lower() != "utf-8":
        raise RequestError("The scoring server only supports UTF-8", status=415)
    unexpected = sorted(set(parameters) - {"charset"})
    if unexpected:
        raise RequestError(f"Unrecognized content type parameters: {', '.join(unexpected)}. "
                           "Only `charset=utf-8` is accepted (MLflow scoring protocol 2.0+)",
                           status=415)
    if mime not in CONTENT_TYPES:
        raise RequestError(f"This predictor only supports the following content types: "
                           f"Types: {CONTENT_TYPES}. Got '{content_type or ''}'.", status=415)
    return mime


def _from_split(data: Any, spec: InputSpec, unknown_categories: str) -> pd.DataFrame:
    if not isinstance(data, dict):
        raise RequestError(f"dataframe_split must be an object with `columns` and `data`, "
                           f"got {_kind(data)}", status=400, field="dataframe_split")
    extra = sorted(set(data) - {"columns", "data", "index"})
    if "data" not in data or extra:
        raise RequestError(f"dataframe_split must have a `data` field and optionally "
                           f"`columns` and `index`; got {', '.join(map(str, data)) or 'none'}",
                           status=400, field="dataframe_split")
    if "columns" not in data:
        raise RequestError("dataframe_split has no `columns`: name the fields, as "
                           "DataFrame.to_dict(orient='split') does", status=400,
                           field="dataframe_split")
    return frame_from_columns(data["columns"], data["data"], spec,
                              unknown_categories=unknown_categories)


def _from_tensor_input(name: str, data: Any, spec: InputSpec,
                       unknown_categories: str) -> pd.DataFrame:
    """``instances`` and ``inputs``: records, columns, one record, or one column."""
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        return frame_from_records(data, spec, unknown_categories=unknown_categories)
    if isinstance(data, Mapping):
        if all(isinstance(v, list) for v in data.values()):
            return frame_from_mapping(data, spec, unknown_categories=unknown_categories)
        if not any(isinstance(v, list | dict) for v in data.values()):
            return frame_from_records([dict(data)], spec,
                                      unknown_categories=unknown_categories)
        raise RequestError(f"`{name}` as an object must map every field to a list of values "
                           "(one per row) or every field to one value (one row)", status=400,
                           field=name)
    if isinstance(data, list) and data and len(spec.names) == 1 and not any(
            isinstance(v, list | dict) for v in data):
        return frame_from_mapping({spec.names[0]: data}, spec,
                                  unknown_categories=unknown_categories)
    if isinstance(data, list) and not data:
        raise RequestError(f"`{name}` has no rows; send at least one", status=400, field=name)
    raise RequestError(f"`{name}` must be a list of records, or an object of field -> list "
                       "of values; rows as plain arrays carry no field names (use "
                       "dataframe_split to send columns and rows)", status=400, field=name)


def _from_csv(body: bytes, spec: InputSpec, unknown_categories: str) -> pd.DataFrame:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"the CSV body is not UTF-8: byte {exc.start} cannot be decoded",
                           status=400) from None
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
    except csv.Error as exc:
        raise RequestError(f"Failed to parse input as CSV: {exc}", status=400) from None
    if len(rows) < 2:
        raise RequestError("the CSV has no rows: send a header row of field names, then one "
                           "row per prediction", status=400)
    return frame_from_columns(rows[0], rows[1:], spec, unknown_categories=unknown_categories,
                              text=True)


def _from_parquet(body: bytes, spec: InputSpec, unknown_categories: str) -> pd.DataFrame:
    import pandas as pd

    try:
        frame = pd.read_parquet(io.BytesIO(body))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds; all mean "not Parquet"
        raise RequestError(f"Failed to parse input as a Pandas DataFrame from Parquet: {exc}",
                           status=400) from None
    columns = {str(name): _values(frame[name]) for name in frame.columns}
    return frame_from_mapping(columns, spec, unknown_categories=unknown_categories)


def _values(series: pd.Series) -> Any:
    """A column as a numpy array the checks take: missing as None in object columns."""
    values = series.to_numpy()
    if values.dtype == object:
        missing = series.isna().to_numpy()
        if missing.any():
            values = values.copy()
            values[missing] = None
    return values


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


__all__ = ["CONTENT_TYPES", "ERROR_CODES", "FORMATS", "format_mlflow", "mlflow_error",
           "parse_mlflow"]
