"""The filter grammar, without a database."""

from __future__ import annotations

import pytest

from gapless import FilterSyntaxError
from gapless.tracking.search import (
    BoolOp,
    Comparison,
    Field,
    Not,
    parse_filter,
    parse_order_by,
)


def test_and_binds_tighter_than_or() -> None:
    node = parse_filter("metrics.a > 1 or params.b = 'x' and tags.c != 'y'")
    assert isinstance(node, BoolOp) and node.op == "or"
    assert isinstance(node.items[1], BoolOp) and node.items[1].op == "and"


def test_parentheses_not_in_and_null() -> None:
    node = parse_filter("not (params.m in ('rf', \"gb\") or tags.t is not null)")
    assert isinstance(node, Not)
    inner = node.item
    assert isinstance(inner, BoolOp)
    assert inner.items[0] == Comparison(Field("params", "m", 5), "in", ("rf", "gb"))
    assert inner.items[1].op == "is not null"


def test_values_keys_and_aliases() -> None:
    node = parse_filter("metric.`val loss` <= -1.5e-3")
    assert node == Comparison(Field("metrics", "val loss", 0), "<=", -1.5e-3)
    assert parse_filter("run_name == 'it''s'").value == "it's"
    assert parse_filter("attributes.run_id <> 'abc'").field.key == "id"
    assert parse_filter("params.x not like 'a%'").op == "not like"
    assert parse_filter("") is None and parse_filter("   ") is None


@pytest.mark.parametrize("text, position, message", [
    ("metrics.auc >", 13, "unexpected end"),
    ("metrics.auc > 0.8 and", 21, "unexpected end"),
    ("metrics.auc = 'high'", 12, "is a number"),
    ("params.model > 'rf'", 13, "needs a number"),
    ("tags.t = 5", 7, "is text"),
    ("foo.bar = 1", 0, "unknown field"),
    ("metrics.auc > 0.8 )", 18, "expected 'and', 'or' or the end"),
    ("metrics.auc ~ 1", 12, "unexpected character"),
    ("(metrics.a > 1", 14, "unexpected end"),
    ("status = 'x' extra", 13, "expected 'and'"),
    ("attributes.colour = 'red'", 0, "unknown attribute"),
    ("params.x in (1, 'a')", 9, "only numbers or only strings"),
    ("start_time > 'yesterday'", 11, "epoch seconds"),
])
def test_syntax_errors_point_at_the_fault(text: str, position: int, message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=message) as caught:
        parse_filter(text)
    assert caught.value.position == position


def test_order_by_clauses() -> None:
    assert parse_order_by("metrics.auc DESC").descending
    assert not parse_order_by("start_time").descending
    with pytest.raises(FilterSyntaxError, match="ASC, DESC"):
        parse_order_by("metrics.auc downwards")


def test_values_are_never_spliced_into_sql() -> None:
    import sqlalchemy as sa

    from gapless.tracking.query import compile_filter

    hostile = "x'; DROP TABLE runs; --"
    quoted = hostile.replace("'", "''")
    clause = compile_filter(parse_filter(f"params.model = '{quoted}'"))
    compiled = clause.compile(dialect=sa.dialects.sqlite.dialect())
    assert "DROP TABLE" not in str(compiled)
    assert hostile in compiled.params.values()
