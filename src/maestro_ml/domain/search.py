"""The run-search language: MLflow-compatible filter strings and order-by keys.

Owns the grammar and what each entity may be compared with, not the query: storage turns
the :class:`Clause` and :class:`OrderKey` lists into SQL. Keywords are case-insensitive::

    filter     := clause ( AND clause )*
    clause     := identifier operator value
    identifier := entity "." key | attribute
    entity     := metric(s) | param(s) | parameter(s) | tag(s) | attribute(s) | attr | run
                  | dataset(s)
    key        := bare-key | `back quoted` | "double quoted"
    value      := number | 'string' | "string" | "(" string ( "," string )* ")"

What each entity accepts (MLflow's rules)::

    metrics, numeric attributes   =  !=  >  >=  <  <=             numbers
    params, tags                  =  !=  LIKE  ILIKE              quoted strings
    string attributes, datasets   =  !=  LIKE  ILIKE  IN  NOT IN  quoted strings / lists

Numbers become ``float``; ``IN`` lists become ``tuple[str, ...]``. ``created`` is MLflow's
alias of ``start_time`` and ```run name``` of ``run_name``. ``OR`` is not part of the
language (nor MLflow's). Errors are :class:`InvalidInput` with a 1-based ``position``.

>>> parse_filter("metrics.acc > 0.9 and params.model = 'rf'")[0]
Clause(entity='metric', key='acc', op='>', value=0.9)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.search_tokens import Token, positioned_error, syntax_error, tokenize

Entity = Literal["metric", "param", "tag", "attribute", "dataset"]

MAX_FILTER_LENGTH = 4096
MAX_CLAUSES = 50
MAX_ORDER_BY = 50

NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time", "created_at"})
STRING_ATTRIBUTES = frozenset(
    {"status", "run_name", "run_id", "user_id", "artifact_uri", "lifecycle_stage"}
)
ATTRIBUTES = NUMERIC_ATTRIBUTES | STRING_ATTRIBUTES
DATASET_FIELDS = frozenset({"name", "digest", "context"})

_ATTRIBUTE_ALIASES = {"created": "start_time", "run name": "run_name"}
_ENTITY_PREFIXES: dict[str, Entity] = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
    "dataset": "dataset", "datasets": "dataset",
}  # fmt: skip
_COMPARISONS = ("=", "!=", ">", ">=", "<", "<=")
_STRING_MATCHES = ("=", "!=", "LIKE", "ILIKE")
_STRING_SETS = (*_STRING_MATCHES, "IN", "NOT IN")
_OPERATOR_NAMES = "=, !=, >, >=, <, <=, LIKE, ILIKE, IN or NOT IN"


@dataclass(frozen=True, slots=True)
class Clause:
    """One ``identifier operator value`` comparison, already validated."""

    entity: Entity
    key: str
    op: str
    value: str | float | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One sort key of a run search; ascending unless ``descending``."""

    entity: Entity
    key: str
    descending: bool = False


def parse_filter(text: str | None) -> list[Clause]:
    """Parse a filter string into clauses joined by AND; blank or ``None`` gives ``[]``.

    >>> parse_filter("tags.`team name` LIKE 'ml-%' AND attributes.run_id IN ('a', 'b')")
    [Clause(entity='tag', key='team name', op='LIKE', value='ml-%'), \
Clause(entity='attribute', key='run_id', op='IN', value=('a', 'b'))]
    """
    if text is None:
        return []
    if not isinstance(text, str):
        raise InvalidInput("filter must be a string")
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidInput(
            f"filter is {len(text)} characters long; the limit is {MAX_FILTER_LENGTH}",
            limit=MAX_FILTER_LENGTH,
        )
    if not text.strip():
        return []
    parser = _Parser(tokenize(text, "filter"), "filter")
    clauses = [parser.clause()]
    while parser.accept_keyword("AND"):
        if len(clauses) >= MAX_CLAUSES:
            raise InvalidInput(f"filter has more than {MAX_CLAUSES} clauses", limit=MAX_CLAUSES)
        clauses.append(parser.clause())
    parser.expect_end("AND or the end of the filter")
    return clauses


def parse_order_by(items: Iterable[str] | str | None) -> list[OrderKey]:
    """Parse order-by items such as ``"metrics.acc DESC"`` or ``"start_time"``.

    >>> parse_order_by(["metrics.`val loss` ASC", "start_time DESC"])[1]
    OrderKey(entity='attribute', key='start_time', descending=True)
    """
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    keys: list[OrderKey] = []
    for item in items:
        if len(keys) >= MAX_ORDER_BY:
            raise InvalidInput(f"more than {MAX_ORDER_BY} order_by items", limit=MAX_ORDER_BY)
        keys.append(_parse_order_item(item))
    return keys


def _parse_order_item(item: str) -> OrderKey:
    if not isinstance(item, str):
        raise InvalidInput("each order_by item must be a string")
    if len(item) > MAX_FILTER_LENGTH:
        raise InvalidInput(f"order_by item is longer than {MAX_FILTER_LENGTH} characters")
    parser = _Parser(tokenize(item, "order_by"), "order_by")
    entity, key, token = parser.identifier()
    if entity == "dataset":
        raise positioned_error("order_by", token, "runs cannot be ordered by dataset fields")
    descending = False
    if parser.peek().is_keyword("ASC", "DESC"):
        descending = parser.take().text.upper() == "DESC"
    parser.expect_end("ASC, DESC or the end of the order_by item")
    return OrderKey(entity, key, descending)


class _Parser:
    """Recursive descent over a token list; ``what`` names the input in errors."""

    def __init__(self, tokens: list[Token], what: str) -> None:
        self.tokens = tokens
        self.what = what
        self.index = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def accept_keyword(self, word: str) -> bool:
        if self.peek().is_keyword(word):
            self.index += 1
            return True
        return False

    def expect_end(self, expected: str) -> None:
        token = self.peek()
        if token.is_keyword("OR"):
            raise positioned_error(self.what, token, "OR is not supported; join clauses with AND")
        if token.kind != "end":
            raise syntax_error(self.what, token, expected)

    def clause(self) -> Clause:
        entity, key, _ = self.identifier()
        op_token = self.peek()
        op = self.operator()
        allowed = _allowed_operators(entity, key)
        if op not in allowed:
            raise positioned_error(
                self.what,
                op_token,
                f"operator {op} is not allowed for {_describe(entity, key)}; "
                f"use one of {', '.join(allowed)}",
            )
        if _is_numeric(entity, key):
            return Clause(entity, key, op, self.number(entity, key))
        if op in ("IN", "NOT IN"):
            return Clause(entity, key, op, self.string_list(entity, key))
        return Clause(entity, key, op, self.string(entity, key))

    def identifier(self) -> tuple[Entity, str, Token]:
        token = self.take()
        if token.kind == "bq":
            return "attribute", self._attribute(token.value, token), token
        if token.kind != "word" or token.is_keyword("AND", "OR", "NOT", "IN", "LIKE", "ILIKE"):
            raise syntax_error(self.what, token, "an identifier such as metrics.acc or status")
        prefix, dot, key = token.text.partition(".")
        if not dot:
            return "attribute", self._attribute(token.text, token), token
        entity = _ENTITY_PREFIXES.get(prefix.lower())
        if entity is None:
            raise positioned_error(
                self.what,
                token,
                f"unknown entity type {prefix!r}; use one of metrics, params, tags, "
                "attributes or datasets",
            )
        if not key and self.peek().kind in ("bq", "str"):
            key = self.take().value
        if not key:
            raise positioned_error(self.what, token, f"missing key after {token.text!r}")
        if entity == "attribute":
            key = self._attribute(key, token)
        elif entity == "dataset" and key not in DATASET_FIELDS:
            raise positioned_error(
                self.what,
                token,
                f"unknown dataset field {key!r}; use one of {', '.join(sorted(DATASET_FIELDS))}",
            )
        return entity, key, token

    def _attribute(self, name: str, token: Token) -> str:
        resolved = _ATTRIBUTE_ALIASES.get(name.lower(), name.lower())
        if resolved not in ATTRIBUTES:
            raise InvalidInput(
                f"Invalid attribute {name!r} in {self.what} at position {token.pos + 1}. "
                f"Valid attributes are: {', '.join(sorted(ATTRIBUTES))}",
                position=token.pos + 1,
                token=token.text,
                attribute=name,
                valid=sorted(ATTRIBUTES),
            )
        return resolved

    def operator(self) -> str:
        token = self.take()
        if token.kind == "op":
            return token.text
        if token.is_keyword("LIKE", "ILIKE", "IN"):
            return token.text.upper()
        if token.is_keyword("NOT"):
            if self.accept_keyword("IN"):
                return "NOT IN"
            raise syntax_error(self.what, self.peek(), "IN after NOT")
        raise syntax_error(self.what, token, f"an operator ({_OPERATOR_NAMES})")

    def number(self, entity: Entity, key: str) -> float:
        token = self.take()
        if token.kind != "num":
            raise syntax_error(self.what, token, f"a number for {_describe(entity, key)}")
        value = float(token.text)
        if not math.isfinite(value):
            raise positioned_error(self.what, token, f"number {token.text} is out of range")
        return value

    def string(self, entity: Entity, key: str) -> str:
        token = self.take()
        if token.kind != "str":
            hint = " (string values must be quoted)" if token.kind in ("num", "word") else ""
            expected = f"a quoted string for {_describe(entity, key)}{hint}"
            raise syntax_error(self.what, token, expected)
        return token.value

    def string_list(self, entity: Entity, key: str) -> tuple[str, ...]:
        opening = self.take()
        if opening.kind != "(":
            raise syntax_error(self.what, opening, "'(' to start a list such as ('a', 'b')")
        values = [self.string(entity, key)]
        while self.peek().kind == ",":
            self.take()
            values.append(self.string(entity, key))
        closing = self.take()
        if closing.kind != ")":
            raise syntax_error(self.what, closing, "',' or ')' in the list")
        return tuple(values)


def _is_numeric(entity: Entity, key: str) -> bool:
    return entity == "metric" or (entity == "attribute" and key in NUMERIC_ATTRIBUTES)


def _allowed_operators(entity: Entity, key: str) -> tuple[str, ...]:
    if _is_numeric(entity, key):
        return _COMPARISONS
    if entity in ("param", "tag"):
        return _STRING_MATCHES
    return _STRING_SETS


def _describe(entity: Entity, key: str) -> str:
    return f"{entity} {key!r}"
