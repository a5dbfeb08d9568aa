"""The tokenizer of the run-search language (see :mod:`maestro_ml.domain.search`).

Owns the character-level rules: what a bare word, a number, a quoted string, a back-quoted
key and an operator look like, and where each token starts. Positions are 0-based offsets
here; :mod:`~maestro_ml.domain.search` reports them 1-based to people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from maestro_ml.domain.errors import InvalidInput

# A bare word may hold dots (``tags.mlflow.source.name``), dashes and slashes
# (``metrics.train/loss``): nothing in the grammar subtracts or divides, so they are
# unambiguous, and MLflow users log keys like these all the time.
_WORD = re.compile(r"[^\W\d][\w.\-/]*")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_RUN = re.compile(r"[\w.]*")
_OPERATORS = (">=", "<=", "!=", "=", ">", "<")
_PUNCTUATION = {"(": "(", ")": ")", ",": ","}


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical unit: ``kind`` is word, num, str, bq, op, (, ), ``,`` or end."""

    kind: str
    text: str
    pos: int
    value: str = ""

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words

    def shown(self) -> str:
        return "end of input" if self.kind == "end" else repr(self.text)


def syntax_error(what: str, token: Token, expected: str) -> InvalidInput:
    """The one shape of syntax error: where, what was found, what would have fitted."""
    return positioned_error(what, token, f"expected {expected}, got {token.shown()}")


def positioned_error(what: str, token: Token, reason: str) -> InvalidInput:
    """An error about one token, with its 1-based position for people and clients."""
    return InvalidInput(
        f"Invalid {what} at position {token.pos + 1}: {reason}",
        position=token.pos + 1,
        token=token.text,
    )


def tokenize(text: str, what: str) -> list[Token]:
    """Split ``text`` into tokens ending with an ``end`` token; ``what`` names it in errors."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            tokens.append(Token("end", "", n))
            return tokens
        token = _next_token(text, i, what)
        tokens.append(token)
        i = token.pos + len(token.text)


def _next_token(text: str, i: int, what: str) -> Token:
    char = text[i]
    if char in "'\"":
        return _quoted_string(text, i, what)
    if char == "`":
        end = text.find("`", i + 1)
        if end < 0:
            raise positioned_error(what, Token("bq", char, i), "unterminated back-quoted key")
        return Token("bq", text[i : end + 1], i, text[i + 1 : end])
    if char in _PUNCTUATION:
        return Token(char, char, i)
    for op in _OPERATORS:
        if text.startswith(op, i):
            return Token("op", op, i)
    number = _NUMBER.match(text, i)
    if number:
        end = number.end()
        if end < len(text) and (text[end].isalnum() or text[end] in "_."):
            bad = Token("num", text[i : _RUN.match(text, end).end()], i)
            raise positioned_error(what, bad, f"malformed number {bad.text!r}")
        return Token("num", number.group(), i)
    word = _WORD.match(text, i)
    if word:
        return Token("word", word.group(), i)
    raise positioned_error(what, Token("?", char, i), f"unexpected character {char!r}")


def _quoted_string(text: str, start: int, what: str) -> Token:
    """A '...' or "..." literal; the quote is escaped as ``\\'`` or doubled as ``''``.

    A backslash before anything but the quote or another backslash is kept as written,
    so LIKE patterns such as ``'50\\%'`` reach storage unchanged.
    """
    quote = text[start]
    out: list[str] = []
    i, n = start + 1, len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in (quote, "\\"):
            out.append(text[i + 1])
            i += 2
        elif char == quote and i + 1 < n and text[i + 1] == quote:
            out.append(quote)
            i += 2
        elif char == quote:
            return Token("str", text[start : i + 1], start, "".join(out))
        else:
            out.append(char)
            i += 1
    raise positioned_error(what, Token("str", quote, start), "unterminated string")
