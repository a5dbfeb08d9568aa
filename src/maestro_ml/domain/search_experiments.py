"""The experiment-search language (MLflow's ``search_experiments``): filter and order keys.

Experiments are few per tenant, so the service filters and orders them in memory with
:func:`matches` and :func:`sort_key`; this module owns the grammar::

    filter     := clause ( AND clause )*
    clause     := identifier operator value
    identifier := [attribute(s).]name | [attribute(s).]creation_time
                  | [attribute(s).]last_update_time | tag(s).key
    name, tags      =  !=  LIKE  ILIKE     quoted strings
    times           =  !=  >  >=  <  <=    numbers (epoch milliseconds)

>>> clauses = parse_experiment_filter("name LIKE 'churn%' and tags.team = 'a'")
>>> [matches(c, "churn-v2", {"team": "a"}, 0, 0) for c in clauses]
[True, True]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.search import MAX_CLAUSES, MAX_FILTER_LENGTH
from maestro_ml.domain.search_tokens import Token, positioned_error, syntax_error, tokenize

TIME_FIELDS = frozenset({"creation_time", "last_update_time"})
ORDER_FIELDS = frozenset({"name", "experiment_id", *TIME_FIELDS})
_ATTRIBUTE_PREFIXES = ("attribute", "attributes", "attr")
_TAG_PREFIXES = ("tag", "tags")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE")
_NUMBER_OPS = ("=", "!=", ">", ">=", "<", "<=")


@dataclass(frozen=True, slots=True)
class ExperimentClause:
    """``field`` is ``name``, a time field, or a tag key when ``is_tag``."""

    field: str
    is_tag: bool
    op: str
    value: str | float


def parse_experiment_filter(text: str | None) -> list[ExperimentClause]:
    if text is None or not text.strip():
        return []
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidInput(f"filter is longer than {MAX_FILTER_LENGTH} characters")
    tokens = tokenize(text, "filter")
    position = 0

    def take() -> Token:
        nonlocal position
        token = tokens[min(position, len(tokens) - 1)]
        position += 1
        return token

    clauses = [_clause(take)]
    while tokens[position].is_keyword("AND"):
        position += 1
        if len(clauses) >= MAX_CLAUSES:
            raise InvalidInput(f"filter has more than {MAX_CLAUSES} clauses")
        clauses.append(_clause(take))
    if tokens[position].kind != "end":
        raise syntax_error("filter", tokens[position], "AND or the end of the filter")
    return clauses


def _clause(next_token: Callable[[], Token]) -> ExperimentClause:
    token = next_token()
    field, is_tag = _identifier(token, next_token)
    op_token = next_token()
    op = op_token.text.upper() if op_token.kind in ("op", "word") else ""
    allowed = _NUMBER_OPS if field in TIME_FIELDS and not is_tag else _STRING_OPS
    if op not in allowed:
        raise syntax_error("filter", op_token, f"one of {', '.join(allowed)}")
    value_token = next_token()
    if allowed is _NUMBER_OPS:
        if value_token.kind != "num":
            raise syntax_error("filter", value_token, f"a number for {field}")
        return ExperimentClause(field, is_tag, op, float(value_token.text))
    if value_token.kind != "str":
        raise syntax_error("filter", value_token, "a quoted string")
    return ExperimentClause(field, is_tag, op, value_token.value)


def _identifier(token: Token, next_token: Callable[[], Token]) -> tuple[str, bool]:
    if token.kind == "bq":
        return _attribute(token.value, token), False
    if token.kind != "word":
        raise syntax_error("filter", token, "an identifier such as name or tags.team")
    prefix, dot, key = token.text.partition(".")
    if not dot:
        return _attribute(prefix, token), False
    if not key and prefix.lower() in _TAG_PREFIXES:  # tags.`key with spaces`
        quoted = next_token()
        if quoted.kind in ("bq", "str") and quoted.value:
            return quoted.value, True
        raise syntax_error("filter", quoted, "a tag key after 'tags.'")
    if prefix.lower() in _TAG_PREFIXES and key:
        return key, True
    if prefix.lower() in _ATTRIBUTE_PREFIXES and key:
        return _attribute(key, token), False
    raise positioned_error(
        "filter", token, "use name, creation_time, last_update_time or tags.<key>"
    )


def _attribute(name: str, token: Token) -> str:
    if name.lower() not in ("name", *TIME_FIELDS):
        raise positioned_error(
            "filter", token,
            f"unknown experiment attribute {name!r}; use name, creation_time or last_update_time",
        )
    return name.lower()


def matches(
    clause: ExperimentClause, name: str, tags: Mapping[str, str], creation_time: int,
    last_update_time: int,
) -> bool:
    if clause.is_tag:
        held: str | float | None = tags.get(clause.field)
    elif clause.field == "name":
        held = name
    else:
        held = creation_time if clause.field == "creation_time" else last_update_time
    if held is None:
        return False
    op, value = clause.op, clause.value
    if op in ("LIKE", "ILIKE"):
        return like(str(value), str(held), case_insensitive=op == "ILIKE")
    if op == "=":
        return held == value
    if op == "!=":
        return held != value
    number, target = float(held), float(value)
    return {">": number > target, ">=": number >= target, "<": number < target,
            "<=": number <= target}[op]


def like(pattern: str, value: str, *, case_insensitive: bool = False) -> bool:
    """SQL LIKE: ``%`` any run, ``_`` one character."""
    regex = "".join(
        ".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern
    )
    flags = re.IGNORECASE | re.DOTALL if case_insensitive else re.DOTALL
    return re.fullmatch(regex, value, flags) is not None


def parse_experiment_order(items: Iterable[str] | None) -> list[tuple[str, bool]]:
    """``["name ASC", "creation_time DESC"]`` -> ``[("name", False), ("creation_time", True)]``."""
    keys = []
    for item in items or ():
        if not isinstance(item, str) or len(item) > 200:
            raise InvalidInput("each order_by item must be a short string", field="order_by")
        words = item.split()
        if not words or len(words) > 2:
            raise InvalidInput(f"invalid order_by item {item!r}", field="order_by")
        field = words[0].lower()
        for prefix in _ATTRIBUTE_PREFIXES:
            field = field.removeprefix(prefix + ".")
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if field not in ORDER_FIELDS or direction not in ("ASC", "DESC"):
            raise InvalidInput(
                f"invalid order_by item {item!r}: order by name, experiment_id, creation_time "
                "or last_update_time, then ASC or DESC", field="order_by",
            )
        keys.append((field, direction == "DESC"))
    return keys
