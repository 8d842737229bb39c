"""Feature views: which features of which entities, from which source, valid how long.

A view is YAML (or a mapping), one per file or a list under ``views:``::

    name: customer_activity
    description: what each customer did lately
    entities: [customer_id]            # the key(s) rows are looked up by
    timestamp: event_time              # when each value became true; leave out for a
                                       # static view (entity attributes, one row per key)
    source: {dataset: transactions}    # a dataset (NAME or NAME@VERSION), {parquet: PATH},
                                       # or {sql: QUERY, uri: postgresql://${DB_USER}@host/db}
    ttl: 30d                           # older values count as missing (default: forever)
    features:
      - name: last_amount              # the column's latest value at the lookup time
        column: amount
      - name: tx_count_7d              # windowed aggregates per entity
        aggregate: {function: count, column: amount, window: 7d}
      - name: amount_mean_1d
        aggregate: {function: mean, column: amount, window: 1d}

A SQL source is run each time the view is read (training set, materialization) and its
result stored as the next version of the dataset ``features.VIEW`` when it changed, so
a training set's lineage names exactly the rows it was joined from. A password in
``uri`` is refused (it would be stored with the view): write ``${VARIABLE}`` instead.

Aggregates: count, sum, mean, min, max, last over a window such as 1h, 1d or 7d (the
rows with ``lookup time - window < event time <= lookup time``). A feature without
``column``, ``expression`` or ``aggregate`` reads the column of its own name. An
``expression`` (DuckDB SQL over one source row, such as ``amount / nullif(limit, 0)``
or ``CASE WHEN days_late > 30 THEN 1 ELSE 0 END``) computes a value per row, for a
feature or in place of an aggregate's column; training sets and materialization compute
it in the same join, so serving and training agree.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticError

from gapless.core.errors import ValidationError
from gapless.stores.specfiles import read_yaml

NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
FUNCTIONS = ("count", "sum", "mean", "min", "max", "last")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PASSWORD = re.compile(r"://[^/@]*:(?!\$\{)[^/@]+@")  # user:secret@, unless ${VAR}


def check_expression(text: str) -> str:
    """A SQL expression as a feature may hold: one expression, not a statement."""
    if not text.strip() or ";" in text or "--" in text or "/*" in text:
        raise ValueError(f"expression {text!r}: give one SQL expression over the source "
                         "row's columns, such as amount / nullif(credit_limit, 0), without "
                         "';' or comments")
    return text


def duration_seconds(text: str | float, what: str) -> float:
    """Seconds in ``30s``, ``15m``, ``1h``, ``7d``, ``2w`` (or a number of seconds)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        match = DURATION.match(str(text))
        if match is None:
            raise ValueError(f"{what} {text!r}: expected a number and a unit s, m, h, d or "
                             "w, such as 7d")
        value = float(match.group(1)) * SECONDS[match.group(2)]
    if value <= 0:
        raise ValueError(f"{what} {text!r}: must be longer than zero")
    return value


class Aggregate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    function: Literal["count", "sum", "mean", "min", "max", "last"]
    column: str | None = None
    expression: str | None = None  # a SQL expression over the source row, instead
    window: str

    @model_validator(mode="after")
    def _one_input(self) -> Aggregate:
        if (self.column is None) == (self.expression is None):
            raise ValueError("aggregate: give a column or an expression, exactly one")
        if self.expression is not None:
            check_expression(self.expression)
        return self

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        duration_seconds(value, "window")
        return value


class Feature(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME)
    column: str | None = None
    expression: str | None = None  # a SQL expression over the source row's columns
    aggregate: Aggregate | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Feature:
        given = [k for k in ("column", "expression", "aggregate") if getattr(self, k)]
        if len(given) > 1:
            raise ValueError(f"feature {self.name!r}: give one of a column, an expression or "
                             f"an aggregate, not {' and '.join(given)}")
        if self.expression is not None:
            check_expression(self.expression)
        return self

    @property
    def computed(self) -> str | None:
        """The SQL expression it is computed from, row by row, if any."""
        if self.aggregate is not None:
            return self.aggregate.expression
        return self.expression

    @property
    def reads(self) -> str:
        """The source column it reads (a computed one's is named after the feature)."""
        if self.computed is not None:
            return f"__computed_{self.name}"
        if self.aggregate is not None:
            assert self.aggregate.column is not None
            return self.aggregate.column
        return self.column or self.name


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str | None = None
    parquet: str | None = None
    sql: str | None = None  # a query, run against ``uri``
    uri: str | None = None  # a SQLAlchemy URL; ${VAR} is read from the environment

    @model_validator(mode="after")
    def _exactly_one(self) -> Source:
        given = [name for name in ("dataset", "parquet", "sql") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("source: give exactly one of dataset (NAME or NAME@VERSION), "
                             "parquet (a path) or sql (a query, with uri)")
        if (self.sql is None) != (self.uri is None):
            raise ValueError("source: a sql query needs the uri of its database, and uri "
                             "belongs to a sql query")
        if self.uri is not None and _PASSWORD.search(self.uri):
            raise ValueError("source: uri holds a password, which would be stored with the "
                             "view; write it as ${VARIABLE} and set that in the environment")
        return self

    def database_url(self) -> str:
        """``uri`` with each ``${VAR}`` replaced from the environment."""
        import os

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ValidationError(f"feature view source uri: environment variable {name} "
                                      "is not set")
            return os.environ[name]

        return _VARIABLE.sub(value, self.uri or "")


class FeatureView(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME)
    description: str | None = None
    entities: list[str] = Field(min_length=1)
    timestamp: str | None = None
    source: Source
    ttl: str | None = None
    features: list[Feature] = Field(min_length=1)

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: str | None) -> str | None:
        if value is not None:
            duration_seconds(value, "ttl")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FeatureView:
        names = [f.name for f in self.features]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"feature name(s) {twice} used more than once")
        clash = sorted(set(names) & set(self.entities))
        if clash:
            raise ValueError(f"feature name(s) {clash} are also entity keys")
        if self.timestamp is None and any(f.aggregate for f in self.features):
            raise ValueError("windowed aggregates need a timestamp column")
        return self

    @property
    def ttl_seconds(self) -> float | None:
        return None if self.ttl is None else duration_seconds(self.ttl, "ttl")

    @property
    def digest(self) -> str:
        canonical = json.dumps(self.model_dump(exclude_none=True), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def feature(self, name: str) -> Feature:
        found = next((f for f in self.features if f.name == name), None)
        if found is None:
            raise ValidationError(f"feature view {self.name!r} has no feature {name!r}; its "
                                  f"features are {[f.name for f in self.features]}")
        return found


def load_views(source: Any) -> list[FeatureView]:
    """Views from a YAML path, a mapping (one view, or ``views: [...]``), a list or a view;
    every error names the view and the field."""
    if isinstance(source, FeatureView):
        return [source]
    where = "feature view spec"
    if isinstance(source, str | Path):
        where = f"feature view spec {source}"
        source = read_yaml(source, "feature view spec")
    if isinstance(source, Mapping) and "views" in source:
        source = source["views"]
    entries = [source] if isinstance(source, Mapping) else source
    if not isinstance(entries, list) or not entries:
        raise ValidationError(f"{where}: expected a view (a mapping) or a list of views")
    views = []
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        label = f"{where}: view {name!r}" if name else f"{where}: view #{index + 1}"
        try:
            views.append(FeatureView.model_validate(entry))
        except PydanticError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "view"
            raise ValidationError(f"{label}, field {field!r}: "
                                  f"{first['msg'].removeprefix('Value error, ')}") from None
    return views
