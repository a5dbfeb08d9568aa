"""Names people give things: display-name validation and URL-safe slugs.

:func:`validate_name` is the one rule for experiment, model, run and similar names;
:func:`slugify` derives deployment names that fit a URL path and a DNS label
(``[a-z0-9-]``, at most 63 characters, no leading or trailing dash).
"""

from __future__ import annotations

import re
import unicodedata

from maestro_ml.domain.errors import InvalidInput

MAX_SLUG_LENGTH = 63
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# Control (Cc), format/bidi (Cf), surrogates (Cs) and line/paragraph separators (Zl, Zp):
# invisible in a listing, so two names that look the same could differ.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def slugify(name: str) -> str:
    """Lower-case ASCII slug of ``name``; accents are dropped, other runs become one dash.

    >>> slugify("  Churn Model (v2) — Ünïcode!  ")
    'churn-model-v2-unicode'
    """
    if not isinstance(name, str):
        raise InvalidInput("name must be a string")
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SLUG.sub("-", ascii_name.lower()).strip("-")
    slug = slug[:MAX_SLUG_LENGTH].rstrip("-")
    if not slug:
        raise InvalidInput(
            f"name {name[:80]!r} has no letters or digits to build a URL-safe name from"
        )
    return slug


def validate_name(name: str, kind: str, max_len: int = 256) -> str:
    """Return ``name`` stripped of surrounding whitespace, or raise naming the ``kind``.

    >>> validate_name("  churn model ", "model")
    'churn model'
    """
    # Callers pass "model" or "tenant name"; both should read "... name must ...".
    subject = kind if kind.endswith("name") else f"{kind} name"
    if not isinstance(name, str):
        raise InvalidInput(f"{subject} must be a string", kind=kind)
    stripped = name.strip()
    if not stripped:
        raise InvalidInput(f"{subject} must not be empty", kind=kind)
    if len(stripped) > max_len:
        raise InvalidInput(
            f"{subject} is {len(stripped)} characters long; the limit is {max_len}",
            kind=kind,
            limit=max_len,
        )
    for char in stripped:
        if not char.isprintable() and unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            raise InvalidInput(f"{subject} contains control character U+{ord(char):04X}", kind=kind)
    return stripped
