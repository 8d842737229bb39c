"""Declared schemas: what a dataset promises, as frozen data parsed from YAML.

Each expectation kind is one small frozen class registered under its YAML key in
``COLUMN_KINDS`` or ``TABLE_KINDS``: it checks its value, writes it back
(``spec_value``) and says how data are judged. Kinds with ``evaluates == "rows"``
give ``violation(target)``, a DuckDB condition true for each offending row, and pass
when ``tolerates(failing, total)``; those with ``quarantine`` pass only with no
offending row, so such rows can be set aside. Kinds with ``evaluates == "aggregates"``
name SQL aggregates (``measures``) and ``judge`` their values. Every declared column
also carries an implied ``exists``. Missing values (null, and NaN in float columns) are
left to ``not_null`` and ``max_missing_fraction``; the other kinds ignore them.
Nothing here reads data: ``gapless.data.validation`` runs the SQL.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gapless.core.errors import NotFoundError, ValidationError
from gapless.data.expectations.base import Target, literal, quote_name
from gapless.data.expectations.columns import (
    AllowedValues,
    CastableType,
    Max,
    MaxMissingFraction,
    Min,
    NotNull,
    Regex,
    SemanticType,
    Unique,
    _parse_type,
)
from gapless.data.expectations.table import Freshness, Predicate, RowCount

# The registries: YAML key -> parser returning zero or more expectations of that kind.
COLUMN_KINDS: Mapping[str, Any] = MappingProxyType({
    "type": _parse_type, "not_null": NotNull.parse, "unique": Unique.parse, "min": Min.parse,
    "max": Max.parse, "allowed_values": AllowedValues.parse, "regex": Regex.parse,
    "max_missing_fraction": MaxMissingFraction.parse})
TABLE_KINDS: Mapping[str, Any] = MappingProxyType({
    "row_count": RowCount.parse, "freshness": Freshness.parse, "predicates": Predicate.parse})
Expectation = (NotNull | Unique | Min | Max | AllowedValues | Regex | MaxMissingFraction
               | CastableType | SemanticType | RowCount | Freshness | Predicate)


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    expectations: tuple[Expectation, ...] = ()


@dataclass(frozen=True)
class SchemaSpec:
    """A parsed schema; ``to_dict`` is JSON-safe and parses back to an equal spec."""

    columns: tuple[ColumnSpec, ...] = ()
    table: tuple[Expectation, ...] = ()
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.description is None else {
            "description": self.description}
        out["columns"] = {c.name: {e.kind: e.spec_value() for e in c.expectations}
                          for c in self.columns}
        table: dict[str, Any] = {}
        for exp in self.table:
            if isinstance(exp, Predicate):
                table.setdefault("predicates", []).append(exp.spec_value())
            else:
                table[exp.kind] = exp.spec_value()
        return {**out, "table": table} if table else out


def load_schema_spec(source: str | os.PathLike[str] | Mapping[str, Any]) -> SchemaSpec:
    """Parse a schema from a YAML file or a mapping; each fault names file, column and kind."""
    if isinstance(source, Mapping):
        return _parse(source, "schema")
    path = Path(source)
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NotFoundError(f"schema file {path} does not exist; check the path") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot read schema {path}: {exc}; fix the YAML") from exc
    return _parse(data, str(path))


def _parse(data: Any, origin: str) -> SchemaSpec:
    if not isinstance(data, Mapping):
        raise ValidationError(f"{origin}: expected a mapping with `columns` and/or `table`, "
                              f"got {type(data).__name__}")
    _known(data, ("columns", "description", "table"), f"{origin}: unknown top-level key")
    columns, table = data.get("columns") or {}, data.get("table") or {}
    if not isinstance(columns, Mapping) or not isinstance(table, Mapping):
        raise ValidationError(f"{origin}: `columns` and `table` must be mappings")
    parsed = []
    for name, body in columns.items():
        if isinstance(name, bool) or not isinstance(name, str | int):
            raise ValidationError(f"{origin}: column names must be strings, got {name!r}")
        where = f"{origin}: column `{name}`"
        if not isinstance(body := body or {}, Mapping):
            raise ValidationError(f"{where}: expected a mapping of expectations, got {body!r}")
        _known(body, COLUMN_KINDS, f"{where}: unknown expectation")
        exps = [e for key, value in body.items()
                for e in COLUMN_KINDS[key](value, f"{where}, expectation `{key}`")]
        parsed.append(ColumnSpec(str(name), tuple(exps)))
    _known(table, TABLE_KINDS, f"{origin}: table: unknown expectation")
    table_exps = [e for key, value in table.items()
                  for e in TABLE_KINDS[key](value, f"{origin}: table, expectation `{key}`")]
    description = data.get("description")
    return SchemaSpec(tuple(parsed), tuple(table_exps),
                      None if description is None else str(description))


def _known(mapping: Mapping[Any, Any], known: Any, prefix: str) -> None:
    for key in mapping:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise ValidationError(f"{prefix} `{key}`{hint}; known: {', '.join(sorted(known))}")



__all__ = [
    "COLUMN_KINDS", "TABLE_KINDS", "AllowedValues", "CastableType", "ColumnSpec", "Expectation",
    "Freshness", "Max", "MaxMissingFraction", "Min", "NotNull", "Predicate", "Regex",
    "RowCount", "SchemaSpec", "SemanticType", "Target", "Unique", "literal",
    "load_schema_spec", "quote_name",
]
