"""Prediction-log rows: a :class:`PredictionRecord` checked and encoded for the
``predictions`` table, and the compact JSON every logged value is stored as.

Encoding runs in the log's writer thread, never on the request path. A record the tables
cannot take (an unknown role, an over-long name, NUL in text) raises ValueError naming
the field, so the log rejects and counts it instead of poisoning a batch.
"""

from __future__ import annotations

import base64
import json
import math
import operator
import re
from datetime import date, datetime
from datetime import time as clock_time
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gapless.serving.prediction_log import PredictionRecord

ROLES = ("primary", "shadow")
ID_PATTERN = re.compile(r"[0-9A-Za-z_-]{1,32}")
LIMITS = {"endpoint": 128, "model": 250, "variant": 64}


def encode_row(record: PredictionRecord) -> dict[str, Any]:
    """The ``predictions`` row of ``record``; ValueError naming the field when it cannot be."""
    pid = record.prediction_id
    if not isinstance(pid, str) or not ID_PATTERN.fullmatch(pid):
        raise ValueError(f"prediction_id {pid!r}: expected 1-32 letters, digits, '-' or '_'")
    if record.role not in ROLES:
        raise ValueError(f"prediction {pid}: role {record.role!r}, expected one of {ROLES}")
    row: dict[str, Any] = {"prediction_id": pid, "role": record.role}
    for name, limit in LIMITS.items():
        value = getattr(record, name)
        if not isinstance(value, str) or not 0 < len(value) <= limit or not _storable(value):
            raise ValueError(f"prediction {pid}: {name} {value!r}, expected text of 1-{limit} "
                             "characters without NUL")
        row[name] = value
    row["version"] = operator.index(record.version)
    row["status"] = operator.index(record.status)
    for name in ("latency_ms", "created_at"):
        value = float(getattr(record, name))
        if not math.isfinite(value):
            raise ValueError(f"prediction {pid}: {name} is {value}, expected a finite number")
        row[name] = value
    inputs = record.inputs
    # A callable is evaluated here, in the writer thread: the request path hands over a
    # reference to its frame instead of converting rows while the caller waits.
    row["inputs_json"] = to_json(inputs() if callable(inputs) else inputs)
    row["outputs_json"] = to_json(record.outputs)
    row["probabilities_json"] = (None if record.probabilities is None
                                 else to_json(_pairs(*record.probabilities)))
    return row


def _pairs(classes: Any, values: Any) -> list[list[Any]]:
    values = values.tolist() if hasattr(values, "tolist") else list(values)
    if len(values) != len(classes):
        raise ValueError(f"probabilities: {len(values)} values for {len(classes)} classes")
    return [[label, value] for label, value in zip(classes, values, strict=True)]


def _storable(text: str) -> bool:
    """Whether both databases take ``text`` (PostgreSQL refuses NUL; lone surrogates fail)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def to_json(value: Any) -> str:
    """Compact JSON of ``value``: NumPy values made plain, NaN and infinities ``null``,
    dates ISO 8601, bytes base64, anything else unknown its ``str``."""
    try:
        return _ENCODER.encode(value)
    except (ValueError, TypeError):  # NaN somewhere, or a key JSON cannot take: slow path
        return _ENCODER.encode(_plain(value))


def _plain_scalar(obj: Any) -> Any:
    name = type(obj).__name__
    if name in ("NaTType", "NAType"):  # pandas' missing markers
        return None
    if hasattr(obj, "tolist"):  # NumPy arrays and scalars, pandas Series
        return obj.tolist()
    if isinstance(obj, datetime | date | clock_time):
        return obj.isoformat()
    if isinstance(obj, Decimal):
        return float(obj)
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, set | frozenset):
        return list(obj)
    if isinstance(obj, bytes | bytearray):
        return base64.b64encode(obj).decode("ascii")
    return str(obj)


_ENCODER = json.JSONEncoder(allow_nan=False, default=_plain_scalar, separators=(",", ":"))


def _plain(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, str | int):
        return obj
    if isinstance(obj, dict):
        return {_plain_key(key): _plain(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(value) for value in obj]
    return _plain(_plain_scalar(obj))


def _plain_key(key: Any) -> Any:
    key = key if isinstance(key, str) else _plain(key)
    return key if key is None or isinstance(key, str | int | float) else str(key)
