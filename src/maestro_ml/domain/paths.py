"""Artifact keys: the one canonical form of every artifact path and model source.

A key is a relative, ``/``-separated path such as ``model/model.skops``. Every key that
reaches storage passes :func:`canonical_key`, which returns its NFC form or raises
:class:`InvalidPath` saying what is wrong. It refuses, rather than repairs, anything that
could name a different place than it appears to: absolute and home paths, drive letters,
URL schemes (``file://``, ``s3://``), ``.`` and ``..`` segments, empty segments,
backslashes, ``:`` (drives, schemes, NTFS streams, fsspec ``::`` chains), ``;``, ``#``,
``?``, control and invisible format characters, characters whose NFKC form is one of
those separators (fullwidth ``．．／``), and all of the above hidden behind percent-encoding
at any depth (``%2e%2e``, ``%252e``, overlong UTF-8 such as ``%c0%ae``, IIS ``%u002e``).

A single trailing ``/`` is dropped (``"plots/"`` names the folder ``"plots"``).
:func:`is_within` is the second fence, for filesystem paths after they are resolved.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from functools import lru_cache

from maestro_ml.domain.errors import InvalidPath

MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255
# Each level of encoding is one more decode a careless layer might do; legitimate keys
# never need more than a couple.
MAX_ENCODING_DEPTH = 3

_FORBIDDEN = {
    "\\": "backslashes are not allowed",
    ":": "':' is not allowed (drive letters, URL schemes and alternate data streams)",
    ";": "';' is not allowed",
    "#": "'#' is not allowed",
    "?": "'?' is not allowed",
}
# Characters that, once some layer normalises or decodes them, change how a key splits.
_STRUCTURAL = frozenset("/\\.:;#?%~")
# Slash lookalikes that NFKC leaves alone but a person reads as a separator.
_CONFUSABLE_SLASHES = {
    "\u2044": "/", "\u2215": "/", "\u29f8": "/", "\u2216": "\\", "\u29f9": "\\",
}  # fmt: skip
# Control (Cc), format/bidi (Cf), surrogate (Cs) and line/paragraph separators (Zl, Zp).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:/")
_DRIVE = re.compile(r"[A-Za-z]:(?!//)")
_ESCAPE_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_IIS_ESCAPE = re.compile(r"%[uU][0-9A-Fa-f]{4}")


def canonical_key(raw: str) -> str:
    """Return the canonical (NFC, no trailing ``/``) form of an artifact key.

    >>> canonical_key("metrics/u\\u0308mlaut.json") == "metrics/\\u00fcmlaut.json"
    True
    >>> canonical_key("../etc/passwd")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    maestro_ml.domain.errors.InvalidPath: Invalid artifact key '../etc/passwd': ...
    """
    if not isinstance(raw, str):
        raise InvalidPath(f"Invalid artifact key: expected a string, got {type(raw).__name__}")
    if len(raw) > 4 * MAX_KEY_BYTES:
        # NFC can shrink a key, but never by 4x; don't normalise megabytes to learn that.
        raise _invalid(raw, f"it is longer than {MAX_KEY_BYTES} bytes", "too_long")
    key = unicodedata.normalize("NFC", raw)
    _check(key, raw)
    layer = key
    for _ in range(MAX_ENCODING_DEPTH):
        if not _ESCAPE_RUN.search(layer):
            break
        layer = _percent_decode(layer, raw)
        _check(layer, raw)
    else:
        if _ESCAPE_RUN.search(layer):
            raise _invalid(raw, "too many levels of percent-encoding", "encoding")
    return key.removesuffix("/")


def join_key(*parts: str) -> str:
    """Canonicalise each part and join them with ``/``; the whole must be a valid key.

    >>> join_key("runs/abc", "artifacts/", "model.skops")
    'runs/abc/artifacts/model.skops'
    """
    if not parts:
        raise InvalidPath("Invalid artifact key: nothing to join")
    return canonical_key("/".join(canonical_key(part) for part in parts))


def is_within(root: str, candidate: str) -> bool:
    """True when POSIX path ``candidate`` is ``root`` or lies below it.

    Pure string logic: resolve symlinks (``os.path.realpath``) before calling, since
    ``/srv/a/link/..`` is only ``/srv/a`` when ``link`` is not a symlink.

    >>> is_within("/srv/artifacts", "/srv/artifacts/run/../run2/model")
    True
    >>> is_within("/srv/artifacts", "/srv/artifacts-evil/x")
    False
    """
    if not root or not candidate or "\x00" in root or "\x00" in candidate:
        return False
    root_n, candidate_n = _normalise(root), _normalise(candidate)
    if posixpath.isabs(root_n) != posixpath.isabs(candidate_n):
        return False
    try:
        return posixpath.commonpath([root_n, candidate_n]) == root_n
    except ValueError:
        return False


def _normalise(path: str) -> str:
    # normpath keeps a leading "//" (POSIX leaves it implementation-defined); one is enough.
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    return posixpath.normpath(path)


def _check(key: str, raw: str) -> None:
    """Raise unless ``key`` (one decoded layer of ``raw``) is a safe relative path."""
    if not key:
        raise _invalid(raw, "it is empty", "empty")
    _check_characters(key, raw)
    if len(key.encode()) > MAX_KEY_BYTES:
        raise _invalid(raw, f"it is longer than {MAX_KEY_BYTES} bytes", "too_long")
    if key[0] == "/":
        raise _invalid(raw, "absolute paths are not allowed", "absolute")
    if key[0] == "~":
        raise _invalid(raw, "it may not start with '~'", "home")
    if _DRIVE.match(key):
        raise _invalid(raw, "Windows drive letters are not allowed", "drive")
    if _SCHEME.match(key):
        raise _invalid(raw, "URL schemes (such as file:// or s3://) are not allowed", "scheme")
    for char, reason in _FORBIDDEN.items():
        if char in key:
            raise _invalid(raw, reason, "character")
    if _IIS_ESCAPE.search(key):
        raise _invalid(raw, "%u escapes are not allowed", "encoding")
    for segment in key.removesuffix("/").split("/"):
        _check_segment(segment, raw)


def _check_characters(key: str, raw: str) -> None:
    if key.isascii():
        if key.isprintable():
            return
        bad = next(char for char in key if not char.isprintable())
        raise _invalid(raw, f"control character U+{ord(bad):04X} is not allowed", "control")
    for char in key:
        if char.isascii():
            if not char.isprintable():
                raise _invalid(
                    raw, f"control character U+{ord(char):04X} is not allowed", "control"
                )
            continue
        problem = _non_ascii_problem(char)
        if problem:
            raise _invalid(raw, *problem)


@lru_cache(maxsize=4096)
def _non_ascii_problem(char: str) -> tuple[str, str] | None:
    """(reason, code) when a non-ASCII character is invisible or mimics a separator."""
    if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
        return f"invisible or control character U+{ord(char):04X} is not allowed", "control"
    folded = _CONFUSABLE_SLASHES.get(char) or unicodedata.normalize("NFKC", char)
    if _STRUCTURAL.intersection(folded):
        return f"U+{ord(char):04X} looks like {folded!r} and is not allowed", "lookalike"
    return None


def _check_segment(segment: str, raw: str) -> None:
    if not segment:
        raise _invalid(raw, "empty path segments ('//') are not allowed", "empty_segment")
    if segment in (".", ".."):
        raise _invalid(raw, f"'{segment}' segments are not allowed", "traversal")
    if not segment.strip(". "):
        # Windows trims trailing dots and spaces, so "... " can still mean "..".
        raise _invalid(raw, "segments made only of dots and spaces are not allowed", "traversal")
    if len(segment.encode()) > MAX_SEGMENT_BYTES:
        raise _invalid(
            raw, f"a segment is longer than {MAX_SEGMENT_BYTES} bytes", "segment_too_long"
        )


def _percent_decode(key: str, raw: str) -> str:
    """Decode one level of %XX escapes, refusing ones that hide structure."""

    def decode(match: re.Match[str]) -> str:
        data = bytes.fromhex(match.group().replace("%", ""))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Overlong forms such as %c0%ae ("." in two bytes) are invalid UTF-8.
            raise _invalid(
                raw,
                "percent-encoded bytes are not valid UTF-8 (overlong or malformed)",
                "encoding",
            ) from None
        if not text.isprintable():
            bad = next(char for char in text if not char.isprintable())
            if bad.isascii() or _non_ascii_problem(bad):
                raise _invalid(
                    raw, f"percent-encoded control character U+{ord(bad):04X}", "encoding"
                )
        hidden = sorted(_STRUCTURAL.difference("%").intersection(text))
        if hidden:
            raise _invalid(raw, f"percent-encoded {hidden[0]!r} is not allowed", "encoding")
        return text

    return _ESCAPE_RUN.sub(decode, key)


def _invalid(raw: str, reason: str, code: str) -> InvalidPath:
    shown = repr(raw if len(raw) <= 80 else raw[:77] + "...")
    return InvalidPath(f"Invalid artifact key {shown}: {reason}", reason=code)
