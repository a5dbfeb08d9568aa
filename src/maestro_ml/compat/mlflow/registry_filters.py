"""The filter and order-by strings of MLflow's registry and logged-model searches.

MLflow's grammar for these is smaller than the run search's: ``AND``-joined clauses over
attributes (``name``, ``run_id``, ``source_path``, ``version_number``, ``status`` ...) and
tags (``tags.team``, ``tag.`key```), with ``=``, ``!=``, ``LIKE``, ``ILIKE``, ``IN``,
``NOT IN`` and, for numbers, ``<``, ``<=``, ``>``, ``>=``. A clause becomes a test over the
plain facts a search service hands it (a dict with a ``tags`` dict). As in MLflow, ``!=``
on a tag an object does not have is true, so the client's own
``tag.`mlflow.prompt.is_prompt` != 'true'`` keeps every ordinary model.

>>> matches = compile_filter("name LIKE '%churn%' AND tags.team = 'ds'", MODEL_ATTRIBUTES)
>>> matches({"name": "churn-v2", "tags": {"team": "ds"}})
True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.search_tokens import Token, positioned_error, syntax_error, tokenize

MAX_FILTER_CHARS = 4096
MODEL_ATTRIBUTES = frozenset({"name"})
VERSION_ATTRIBUTES = frozenset(
    {"name", "run_id", "source_path", "version_number", "current_stage", "model_id"}
)
LOGGED_MODEL_ATTRIBUTES = frozenset({"name", "status", "source_run_id", "model_type", "model_id"})
NUMERIC_ATTRIBUTES = frozenset({"version_number"})
_TAG_PREFIXES = ("tags", "tag")
_PARAM_PREFIXES = ("params", "param")
_ATTRIBUTE_PREFIXES = ("attributes", "attribute", "attr")
_METRIC_PREFIXES = ("metrics", "metric")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_NUMBER_OPS = ("=", "!=", "<", "<=", ">", ">=")


@dataclass(frozen=True)
class Clause:
    entity: str  # "attribute", "tag", "param" or "metric"
    key: str
    op: str
    value: Any


def parse_filter(
    text: str | None, attributes: frozenset[str], *, metrics: bool = False
) -> list[Clause]:
    """The clauses of ``text``; InvalidInput (with a position) for anything else.

    ``metrics``: ``metrics.<key>`` clauses compare numbers (logged models' searches).
    """
    if not text or not text.strip():
        return []
    if len(text) > MAX_FILTER_CHARS:
        raise InvalidInput(f"filter: at most {MAX_FILTER_CHARS} characters", field="filter")
    tokens = tokenize(text, "filter")
    index = 0
    clauses: list[Clause] = []
    while True:
        clause, index = _clause(tokens, index, attributes, metrics)
        clauses.append(clause)
        token = tokens[index]
        if token.kind == "end":
            return clauses
        if not token.is_keyword("AND"):
            raise syntax_error("filter", token, "AND or the end of the filter")
        index += 1


def compile_filter(
    text: str | None, attributes: frozenset[str], *, metrics: bool = False
) -> Callable[[Mapping[str, Any]], bool]:
    """A test of facts against every clause of ``text`` (facts' ``metrics``: ``[(key,
    value)]``; a metric clause holds when one of the key's values passes it)."""
    clauses = parse_filter(text, attributes, metrics=metrics)
    return lambda facts: all(_holds(clause, facts) for clause in clauses)


def exact_name(clauses: Sequence[Clause]) -> str | None:
    """The name a ``name = '...'`` clause asks for, if any (to read one model only)."""
    for clause in clauses:
        if clause.entity == "attribute" and clause.key == "name" and clause.op == "=":
            return str(clause.value)
    return None


def name_pattern(clauses: Sequence[Clause]) -> str | None:
    """The pattern of a ``name LIKE '...'`` clause, if any (to narrow the rows read)."""
    for clause in clauses:
        if clause.entity == "attribute" and clause.key == "name" and clause.op == "LIKE":
            return str(clause.value)
    return None


def parse_order_by(
    items: Sequence[str], fields: Mapping[str, str], default: list[tuple[str, bool]]
) -> list[tuple[str, bool]]:
    """``["name ASC", "last_updated_timestamp DESC"]`` as ``[(field, ascending)]``; the
    MLflow keys are mapped through ``fields``."""
    order: list[tuple[str, bool]] = []
    for item in items:
        words = item.strip().split()
        if not words or len(words) > 2 or words[0] not in fields:
            raise InvalidInput(
                f"order_by: cannot order by {item[:100]!r}; use one of {', '.join(fields)} "
                "optionally followed by ASC or DESC", field="order_by",
            )
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise InvalidInput(f"order_by: direction must be ASC or DESC, got {words[1]!r}",
                               field="order_by")
        order.append((fields[words[0]], direction == "ASC"))
    return order or default


def _clause(tokens: list[Token], index: int, attributes: frozenset[str],
            metrics: bool) -> tuple[Clause, int]:
    entity, key, index = _identifier(tokens, index, attributes, metrics)
    op, index = _operator(tokens, index)
    numeric = entity == "metric" or (entity == "attribute" and key in NUMERIC_ATTRIBUTES)
    allowed = _NUMBER_OPS if numeric else _STRING_OPS
    if op not in allowed:
        raise positioned_error("filter", tokens[index - 1],
                               f"operator {op} is not allowed for {key}; use one of "
                               f"{', '.join(allowed)}")
    token = tokens[index]
    if op in ("IN", "NOT IN"):
        values, index = _string_list(tokens, index)
        return Clause(entity, key, op, values), index
    if numeric:
        if token.kind == "str" and token.value.strip().lstrip("-").isdigit():
            return Clause(entity, key, op, int(token.value)), index + 1
        if token.kind != "num":
            raise syntax_error("filter", token, f"a number for {key}")
        return Clause(entity, key, op, float(token.text)), index + 1
    if token.kind != "str":
        raise syntax_error("filter", token, "a quoted string")
    return Clause(entity, key, op, token.value), index + 1


def _identifier(
    tokens: list[Token], index: int, attributes: frozenset[str], metrics: bool
) -> tuple[str, str, int]:
    token = tokens[index]
    if token.kind == "bq":
        name = token.value
    elif token.kind == "word" and not token.is_keyword("AND", "OR", "NOT", "IN", "LIKE", "ILIKE"):
        name = token.text
    else:
        raise syntax_error("filter", token, "an attribute such as name, or tags.<key>")
    prefix, dot, rest = name.partition(".")
    if dot and metrics and prefix.lower() in _METRIC_PREFIXES:
        key, index = _key_after_dot(tokens, index, rest)
        return "metric", key, index
    if dot and prefix.lower() in _TAG_PREFIXES + _PARAM_PREFIXES:
        entity = "tag" if prefix.lower() in _TAG_PREFIXES else "param"
        key, index = _key_after_dot(tokens, index, rest)
        return entity, key, index
    if dot and prefix.lower() in _ATTRIBUTE_PREFIXES:
        name = rest
    if name not in attributes:
        others = "tags.<key>, params.<key> or metrics.<key>" if metrics else "tags.<key>"
        raise positioned_error("filter", token, f"unknown attribute {name!r}; use one of "
                               f"{', '.join(sorted(attributes))}, or {others}")
    return "attribute", name, index + 1


def _key_after_dot(tokens: list[Token], index: int, rest: str) -> tuple[str, int]:
    """``tags.team`` is one word; ``tags.`my key``` is the word ``tags.`` then a bq token."""
    if rest:
        return rest, index + 1
    following = tokens[index + 1]
    if following.kind in ("bq", "str"):
        return following.value, index + 2
    raise syntax_error("filter", following, "a tag key")


def _operator(tokens: list[Token], index: int) -> tuple[str, int]:
    token = tokens[index]
    if token.kind == "op":
        return token.text, index + 1
    if token.is_keyword("LIKE", "ILIKE", "IN"):
        return token.text.upper(), index + 1
    if token.is_keyword("NOT") and tokens[index + 1].is_keyword("IN"):
        return "NOT IN", index + 2
    raise syntax_error("filter", token, "an operator (=, !=, LIKE, ILIKE, IN, NOT IN)")


def _string_list(tokens: list[Token], index: int) -> tuple[tuple[str, ...], int]:
    if tokens[index].kind != "(":
        raise syntax_error("filter", tokens[index], "'(' starting a list of strings")
    values: list[str] = []
    index += 1
    while True:
        token = tokens[index]
        if token.kind != "str":
            raise syntax_error("filter", token, "a quoted string")
        values.append(token.value)
        index += 1
        if tokens[index].kind == ")":
            return tuple(values), index + 1
        if tokens[index].kind != ",":
            raise syntax_error("filter", tokens[index], "',' or ')'")
        index += 1


def _holds(clause: Clause, facts: Mapping[str, Any]) -> bool:
    if clause.entity == "metric":
        return any(_compares(value, clause.op, clause.value)
                   for key, value in facts.get("metrics") or () if key == clause.key)
    if clause.entity == "attribute":
        actual = facts.get(clause.key)
    else:
        actual = (facts.get("tags" if clause.entity == "tag" else "params") or {}).get(clause.key)
    if actual is None:
        return clause.op in ("!=", "NOT IN")
    op, wanted = clause.op, clause.value
    if isinstance(wanted, int | float) and not isinstance(wanted, bool):
        return _compares(float(actual), op, wanted)
    text = str(actual)
    if op in ("LIKE", "ILIKE"):
        return like_regex(wanted, op == "ILIKE").fullmatch(text) is not None
    if op == "IN":
        return text in wanted
    if op == "NOT IN":
        return text not in wanted
    return (text == wanted) if op == "=" else (text != wanted)


def _compares(number: float, op: str, wanted: float) -> bool:
    return {"=": number == wanted, "!=": number != wanted, "<": number < wanted,
            "<=": number <= wanted, ">": number > wanted, ">=": number >= wanted}[op]


def like_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """SQL LIKE as a regular expression: ``%`` any run, ``_`` one character."""
    parts = ("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in pattern)
    flags = (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL
    return re.compile("".join(parts), flags)
