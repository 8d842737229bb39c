"""Schemas and signatures: what a model takes in and gives back.

A :class:`Signature` is inferred from the training data when a model is trained and
travels with every registered version, so the registry can show it, serving can check
requests against it (names, types, categories, ranges, nullability) and monitoring can
count values out of the training range. It is plain data: ``to_dict`` / ``from_dict``
round-trip through JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gapless.core.errors import ValidationError

COLUMN_TYPES = ("integer", "float", "boolean", "string", "datetime")
# A text column with at most this many distinct values is categorical: its values are listed.
MAX_CATEGORIES = 100


@dataclass(frozen=True)
class ColumnSchema:
    """One input column: its type, whether it may be missing, and what values it took."""

    name: str
    type: str
    nullable: bool = True
    categories: tuple[Any, ...] | None = None
    minimum: float | str | None = None  # numbers; ISO text for datetimes
    maximum: float | str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "nullable": self.nullable}
        if self.categories is not None:
            out["categories"] = list(self.categories)
        if self.minimum is not None:
            out["minimum"], out["maximum"] = self.minimum, self.maximum
        return out


@dataclass(frozen=True)
class OutputSchema:
    """What the model predicts: a label among ``classes``, a value, or a cluster."""

    problem: str
    type: str
    classes: tuple[Any, ...] | None = None
    name: str = "prediction"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "problem": self.problem, "type": self.type}
        if self.classes is not None:
            out["classes"] = list(self.classes)
        return out


@dataclass(frozen=True)
class Signature:
    inputs: tuple[ColumnSchema, ...]
    output: OutputSchema
    extras: Mapping[str, Any] = field(default_factory=dict)  # e.g. where it came from

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.inputs]

    def column(self, name: str) -> ColumnSchema:
        for column in self.inputs:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"inputs": [c.to_dict() for c in self.inputs],
                               "output": self.output.to_dict()}
        if self.extras:
            out["extras"] = dict(self.extras)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        try:
            inputs = tuple(
                ColumnSchema(name=str(c["name"]), type=_checked_type(c["type"], c["name"]),
                             nullable=bool(c.get("nullable", True)),
                             categories=(tuple(c["categories"])
                                         if c.get("categories") is not None else None),
                             minimum=c.get("minimum"), maximum=c.get("maximum"))
                for c in data["inputs"])
            out = data["output"]
            output = OutputSchema(problem=str(out["problem"]), type=str(out["type"]),
                                  classes=(tuple(out["classes"])
                                           if out.get("classes") is not None else None),
                                  name=str(out.get("name", "prediction")))
        except (KeyError, TypeError) as exc:
            raise ValidationError(f"signature is malformed: missing or wrong field {exc}") from exc
        return cls(inputs, output, dict(data.get("extras") or {}))


def _checked_type(kind: object, column: object) -> str:
    if kind not in COLUMN_TYPES:
        raise ValidationError(f"signature column {column!r}: type {kind!r} is not one of "
                              f"{', '.join(COLUMN_TYPES)}")
    return str(kind)


def column_type(series: Any) -> str:
    """The signature type of a pandas Series."""
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def infer_column(name: str, series: Any) -> ColumnSchema:
    kind = column_type(series)
    values = series.dropna()
    nullable = bool(series.isna().any())
    if kind in ("integer", "float") and len(values):
        low, high = float(values.min()), float(values.max())
        return ColumnSchema(name, kind, nullable,
                            minimum=low if math.isfinite(low) else None,
                            maximum=high if math.isfinite(high) else None)
    if kind == "datetime" and len(values):
        return ColumnSchema(name, kind, nullable, minimum=values.min().isoformat(),
                            maximum=values.max().isoformat())
    if kind in ("string", "boolean"):
        distinct = values.unique()
        if len(distinct) <= MAX_CATEGORIES:
            return ColumnSchema(name, kind, nullable,
                                categories=tuple(sorted(_plain(v) for v in distinct)))
    return ColumnSchema(name, kind, nullable)


def infer_signature(X: Any, y: Any = None, *, problem: str,
                    classes: Sequence[Any] | None = None) -> Signature:
    """The signature of a model trained on feature frame ``X`` (and target ``y``)."""
    inputs = tuple(infer_column(str(name), X[name]) for name in X.columns)
    if problem in ("binary", "multiclass"):
        labels = classes if classes is not None else sorted(y.dropna().unique())
        kind = column_type(y) if y is not None else "string"
        output = OutputSchema(problem, kind, tuple(_plain(c) for c in labels))
    elif problem == "clustering":
        output = OutputSchema(problem, "integer")
    else:
        output = OutputSchema(problem, "float")
    return Signature(inputs, output)


def _plain(value: Any) -> Any:
    """numpy scalars as plain Python values, so the signature is JSON."""
    return value.item() if hasattr(value, "item") else value
