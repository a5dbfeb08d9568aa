"""Test-only pickles whose loading runs code: they prove when (and where) unpickling happens.

``marker_pickle(path)`` is a pickle that, when loaded, writes the loading process's pid into
``path`` through ``builtins.exec`` — the classic ``__reduce__`` attack. Nothing in these
tests loads it except the isolated worker, and only where the tenant policy allows it.
"""

from __future__ import annotations

import pickle
import uuid
from pathlib import Path


class _RunsCode:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (self.code,))


def marker_path() -> Path:
    return Path(f"/tmp/marker-{uuid.uuid4().hex}")


def marker_pickle(marker: Path) -> bytes:
    return code_pickle(f"open({str(marker)!r}, 'w').write(str(__import__('os').getpid()))")


def code_pickle(code: str) -> bytes:
    """A pickle that runs the Python source ``code`` when loaded."""
    return pickle.dumps(_RunsCode(code), protocol=pickle.HIGHEST_PROTOCOL)
