"""Compile parsed run filters and orderings into SQLAlchemy expressions with bound values."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from gapless.stores.tables import experiments, latest_metrics, params, runs, tags
from gapless.tracking.search import BoolOp, Comparison, Field, Node, Not, OrderBy

_KEYED = {"metrics": latest_metrics, "params": params, "tags": tags}


def compile_filter(node: Node | None) -> sa.ColumnElement[bool]:
    """A WHERE clause over ``runs`` (joined to ``experiments``) for the parsed filter."""
    if node is None:
        return sa.true()
    if isinstance(node, BoolOp):
        parts = [compile_filter(item) for item in node.items]
        return sa.and_(*parts) if node.op == "and" else sa.or_(*parts)
    if isinstance(node, Not):
        return sa.not_(compile_filter(node.item))
    return _compile_comparison(node)


def _compare(column: Any, op: str, value: Any) -> sa.ColumnElement[bool]:
    if op == "in":
        return column.in_(list(value))
    if op == "not in":
        return column.not_in(list(value))
    if op == "like":
        return column.like(value)
    if op == "not like":
        return column.not_like(value)
    if op == "ilike":
        return column.ilike(value)
    if op == "not ilike":
        return column.not_ilike(value)
    return {
        "=": column.__eq__, "!=": column.__ne__, "<": column.__lt__,
        "<=": column.__le__, ">": column.__gt__, ">=": column.__ge__,
    }[op](value)


def _compile_comparison(node: Comparison) -> sa.ColumnElement[bool]:
    field = node.field
    if field.entity == "attributes":
        column = experiments.c.name if field.key == "experiment" else runs.c[field.key]
        if node.op == "is null":
            return column.is_(None)
        if node.op == "is not null":
            return column.is_not(None)
        return _compare(column, node.op, node.value)
    table = _KEYED[field.entity]
    has_key = sa.and_(table.c.run_id == runs.c.id, table.c.key == field.key)
    if node.op in ("is null", "is not null"):
        exists = sa.exists().where(has_key)
        return exists if node.op == "is not null" else sa.not_(exists)
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    numeric = all(isinstance(v, float) for v in values)
    column = table.c.value_num if field.entity == "params" and numeric else table.c.value
    return sa.exists().where(has_key, _compare(column, node.op, node.value))


def order_columns(order: list[OrderBy]) -> tuple[list[Any], list[Any]]:
    """ORDER BY columns for ``order``, plus the outer joins they need (as (table, on) pairs).

    Runs missing an ordering key sort last in both directions; ties fall back to the
    newest start time, then the run id, so paging is stable.
    """
    columns: list[Any] = []
    joins: list[Any] = []
    for index, item in enumerate(order):
        for column in _order_columns(item.field, index, joins):
            ordered = column.desc() if item.descending else column.asc()
            columns.append(ordered.nulls_last())
    columns += [runs.c.start_time.desc(), runs.c.id]
    return columns, joins


def _order_columns(field: Field, index: int, joins: list[Any]) -> list[Any]:
    if field.entity == "attributes":
        return [experiments.c.name if field.key == "experiment" else runs.c[field.key]]
    table = _KEYED[field.entity].alias(f"order_{index}")
    joins.append((table, sa.and_(table.c.run_id == runs.c.id, table.c.key == field.key)))
    # Numeric params sort as numbers, the rest as text after them.
    return [table.c.value_num, table.c.value] if field.entity == "params" else [table.c.value]
