"""Which types a skops model file may contain before Maestro agrees to load it.

skops already refuses to build anything it does not trust by default; ``get_untrusted_types``
lists the rest, and this module decides which of those are acceptable: classes (not functions)
from scikit-learn, numpy and scipy.sparse, and a few plain builtins. Functions are refused even
from those libraries because a stored function reference is called at predict time (think
``FunctionTransformer(func=numpy.save)``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

ALLOWED_PREFIXES = ("sklearn.", "numpy.", "scipy.sparse.")
ALLOWED_BUILTINS = frozenset(
    f"builtins.{name}"
    for name in (
        "bool", "bytes", "complex", "dict", "float", "frozenset", "int", "list", "set", "slice",
        "str", "tuple",
    )
)  # fmt: skip


def refused_types(type_names: Iterable[str]) -> list[str]:
    """The names among ``type_names`` that are not allowed, sorted."""
    return sorted(name for name in set(type_names) if not is_allowed_type(name))


def is_allowed_type(name: str) -> bool:
    """True for an allowed builtin or a class defined under one of the allowed libraries."""
    if name in ALLOWED_BUILTINS:
        return True
    return name.startswith(ALLOWED_PREFIXES) and _names_a_class(name)


def _names_a_class(name: str) -> bool:
    module_name, _, attribute = name.rpartition(".")
    try:
        # Importing is safe: the prefix check limits this to modules of installed libraries.
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):
        return False
    return isinstance(found, type)
