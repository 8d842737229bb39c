"""The run-search filter grammar: parsed into a tree, compiled to bound SQL, never concatenated.

Grammar (keywords are case-insensitive)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | comparison
    comparison := field op value
                | field ["not"] "in" "(" value ("," value)* ")"
                | field "is" ["not"] "null"
    field      := entity "." key | attribute
    entity     := metrics | params | tags | attributes   (singular forms and `run` too)
    key        := name made of letters, digits, _ - . / :  |  `any text in backticks`
    op         := = | == | != | <> | < | <= | > | >= | like | ilike | not like | not ilike
    value      := number | 'text' | "text"

Attributes: ``status``, ``name``, ``run_id``, ``parent_id``, ``user``, ``experiment``,
``start_time``, ``end_time`` (the last two are epoch seconds). Metrics compare the
latest value of the metric; a run without the metric never matches a comparison.
Params compare as numbers when the value given is a number and the stored value
parses as one, otherwise as text. ``is null`` matches runs that lack the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gapless.core.errors import FilterSyntaxError

ENTITIES = {
    "metrics": "metrics", "metric": "metrics",
    "params": "params", "param": "params",
    "tags": "tags", "tag": "tags",
    "attributes": "attributes", "attribute": "attributes", "attr": "attributes",
    "run": "attributes",
}
ATTRIBUTES = {
    "status": "status", "name": "name", "run_name": "name", "run_id": "id", "id": "id",
    "parent_id": "parent_id", "user": "user", "experiment": "experiment",
    "start_time": "start_time", "end_time": "end_time",
}
NUMERIC_ATTRIBUTES = {"start_time", "end_time"}
COMPARISONS = {"=", "!=", "<", "<=", ">", ">=", "like", "ilike", "not like", "not ilike"}
ORDERED = {"<", "<=", ">", ">="}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<quoted>`[^`]*`)
  | (?P<op>==|!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][\w\-.:/]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int


@dataclass(frozen=True)
class Field:
    entity: str  # metrics | params | tags | attributes
    key: str
    position: int


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: str  # one of COMPARISONS, or "in", "not in", "is null", "is not null"
    value: Any  # float | str | tuple of those | None


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Comparison | BoolOp | Not


@dataclass(frozen=True)
class OrderBy:
    field: Field
    descending: bool


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise FilterSyntaxError(f"unexpected character {text[pos]!r}", text=text, position=pos)
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    # -- token helpers -------------------------------------------------
    def peek(self, offset: int = 0) -> Token | None:
        i = self.index + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.error("unexpected end of filter", len(self.text))
        self.index += 1
        return token

    def at_keyword(self, *words: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token.kind == "word" and token.text.lower() in words

    def expect_punct(self, char: str) -> Token:
        token = self.next()
        if token.text != char:
            raise self.error(f"expected {char!r}, got {token.text!r}", token.position)
        return token

    def error(self, message: str, position: int) -> FilterSyntaxError:
        return FilterSyntaxError(message, text=self.text, position=position)

    # -- grammar -------------------------------------------------------
    def parse_filter(self) -> Node:
        node = self.parse_or()
        token = self.peek()
        if token is not None:
            raise self.error(f"expected 'and', 'or' or the end, got {token.text!r}", token.position)
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.at_keyword("or"):
            self.next()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_not()]
        while self.at_keyword("and"):
            self.next()
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def parse_not(self) -> Node:
        if self.at_keyword("not"):
            self.next()
            return Not(self.parse_not())
        token = self.peek()
        if token is not None and token.text == "(":
            self.next()
            node = self.parse_or()
            self.expect_punct(")")
            return node
        return self.parse_comparison()

    def parse_field(self) -> Field:
        token = self.next()
        if token.kind != "word":
            raise self.error(
                f"expected a field such as metrics.auc or params.model, got {token.text!r}",
                token.position,
            )
        head, dot, rest = token.text.partition(".")
        entity = ENTITIES.get(head.lower())
        if entity is None:
            if not dot and head.lower() in ATTRIBUTES:
                return Field("attributes", ATTRIBUTES[head.lower()], token.position)
            raise self.error(
                f"unknown field {token.text!r}; start with one of metrics., params., tags., "
                f"attributes. or use an attribute ({', '.join(sorted(set(ATTRIBUTES)))})",
                token.position,
            )
        if not dot:
            raise self.error(f"expected '.' and a key after {head!r}", token.position + len(head))
        key = rest
        if not key:
            quoted = self.peek()
            if quoted is None or quoted.kind != "quoted":
                raise self.error(f"expected a key after '{head}.'", token.position + len(head) + 1)
            self.next()
            key = quoted.text[1:-1]
            if not key:
                raise self.error("empty key in backticks", quoted.position)
        if entity == "attributes":
            if key.lower() not in ATTRIBUTES:
                raise self.error(
                    f"unknown attribute {key!r}; known: {', '.join(sorted(set(ATTRIBUTES)))}",
                    token.position,
                )
            key = ATTRIBUTES[key.lower()]
        return Field(entity, key, token.position)

    def parse_value(self) -> tuple[Any, Token]:
        token = self.next()
        if token.kind == "number":
            return float(token.text), token
        if token.kind == "string":
            body = token.text[1:-1]
            quote = token.text[0]
            body = body.replace(quote * 2, quote) if quote == "'" else body
            return re.sub(r"\\(.)", r"\1", body), token
        raise self.error(
            f"expected a number or a quoted string, got {token.text!r}", token.position
        )

    def parse_comparison(self) -> Comparison:
        field = self.parse_field()
        token = self.peek()
        if token is None:
            raise self.error(f"expected an operator after {field.key!r}", len(self.text))
        if self.at_keyword("is"):
            self.next()
            negated = self.at_keyword("not")
            if negated:
                self.next()
            null = self.next()
            if null.text.lower() != "null":
                raise self.error(f"expected 'null', got {null.text!r}", null.position)
            return Comparison(field, "is not null" if negated else "is null", None)
        if self.at_keyword("in") or (self.at_keyword("not") and self.at_keyword("in", offset=1)):
            op = "in" if self.next().text.lower() == "in" else "not in"
            if op == "not in":
                self.next()
            self.expect_punct("(")
            values = [self.parse_value()[0]]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.next()
                values.append(self.parse_value()[0])
            self.expect_punct(")")
            return self.checked(Comparison(field, op, tuple(values)), token)
        op_token = self.next()
        op = op_token.text.lower()
        if op == "not" and self.at_keyword("like", "ilike"):
            op = "not " + self.next().text.lower()
        op = {"==": "=", "<>": "!="}.get(op, op)
        if op not in COMPARISONS:
            raise self.error(
                f"expected an operator (=, !=, <, <=, >, >=, like, ilike, in, is), "
                f"got {op_token.text!r}",
                op_token.position,
            )
        value, _ = self.parse_value()
        return self.checked(Comparison(field, op, value), op_token)

    def checked(self, node: Comparison, at: Token) -> Comparison:
        """Reject comparisons that cannot mean anything, naming where they are."""
        entity, key = node.field.entity, node.field.key
        values = node.value if isinstance(node.value, tuple) else (node.value,)
        numeric = all(isinstance(v, float) for v in values)
        textual = all(isinstance(v, str) for v in values)
        if not (numeric or textual):
            raise self.error("a list must hold only numbers or only strings", at.position)
        is_like = "like" in node.op
        if entity == "metrics" and (not numeric or is_like):
            raise self.error(
                f"metrics.{key} is a number: compare it with a number (e.g. > 0.8)", at.position
            )
        if entity == "tags" and not textual:
            raise self.error(f"tags.{key} is text: quote the value (e.g. = '5')", at.position)
        if entity == "attributes":
            wants_number = key in NUMERIC_ATTRIBUTES
            if wants_number and (not numeric or is_like):
                raise self.error(f"{key} is a time in epoch seconds: compare it with a number",
                                 at.position)
            if not wants_number and not textual:
                raise self.error(f"{key} is text: quote the value", at.position)
        if node.op in ORDERED and textual and entity != "attributes":
            raise self.error(
                f"'{node.op}' needs a number; {entity}.{key} can only be compared with text "
                "using =, !=, like, ilike or in",
                at.position,
            )
        if is_like and not textual:
            raise self.error(f"'{node.op}' needs a quoted pattern such as 'rf%'", at.position)
        return node

    def parse_order_by(self) -> OrderBy:
        field = self.parse_field()
        descending = False
        if self.at_keyword("asc", "desc"):
            descending = self.next().text.lower() == "desc"
        token = self.peek()
        if token is not None:
            raise self.error(f"expected ASC, DESC or the end, got {token.text!r}", token.position)
        return OrderBy(field, descending)


def parse_filter(text: str) -> Node | None:
    """Parse a filter string; an empty or blank filter means "every run"."""
    if text is None or not text.strip():
        return None
    return _Parser(text).parse_filter()


def parse_order_by(clause: str) -> OrderBy:
    """Parse one ordering clause such as ``metrics.auc DESC`` or ``start_time``."""
    return _Parser(clause).parse_order_by()
