"""JSON body limits: nesting depth (``MAESTRO_MAX_JSON_DEPTH``) and string length
(``MAESTRO_MAX_STRING_BYTES``), checked on the raw bytes before any parser sees them.

The body of an ``application/json`` request is collected (the body-size middleware outside
has already bounded it), checked, and replayed to the app — nothing is parsed twice.
The check is a few C-speed byte operations, not a Python loop over bytes:

- depth: a body with no more ``[``/``{`` than the limit cannot be deeper (the common,
  small case ends here). Otherwise escapes are removed, everything but quotes and
  brackets is deleted (``bytes.translate``), strings are cut out, and innermost ``[]``
  pairs are stripped level by level: the number of rounds is the depth.
- strings: only a body longer than the limit can hold a longer string; then the body is
  split on its (unescaped) quotes and every other piece is a string's content.
  (``\\\\`` and ``\\"`` count one byte, other escapes their encoded length.)

Invalid JSON is left to the parser; a body over a limit answers 422 (depth) or 413
(string) problem+json naming the limit and its setting.
"""

from __future__ import annotations

import re

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_KEEP = b'"[]{}'
_DELETE = bytes(b for b in range(256) if b not in _KEEP)
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_STRING = re.compile(rb'"[^"]*"')
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _without_escapes(raw: bytes) -> bytes:
    # Escaped backslashes first, so that in \\" the quote still closes the string; each
    # escape becomes one byte, as long as the character it stands for.
    if b"\\" not in raw:
        return raw
    return raw.replace(b"\\\\", b"_").replace(b'\\"', b"_")


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Whether the JSON text nests arrays/objects deeper than ``limit``.

    >>> json_depth_exceeds(b'{"a": [[1]], "s": "[[[["}', 3)
    False
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    # Most strings hold no bracket and shrink to '""': drop those in C before the regex.
    brackets = _without_escapes(raw).translate(None, _DELETE).replace(b'""', b"")
    if b'"' in brackets:
        brackets = _STRING.sub(b"", brackets).replace(b'"', b"")
    brackets = brackets.translate(_BRACKETS)
    depth = 0
    while b"[]" in brackets:
        brackets = brackets.replace(b"[]", b"")
        depth += 1
        if depth > limit:
            return True
    return False


def longest_string(raw: bytes, limit: int) -> int:
    """The length in bytes of the longest JSON string, or 0 when none can exceed ``limit``."""
    if len(raw) <= limit:
        return 0
    pieces = _without_escapes(raw).split(b'"')[1::2]
    return max(map(len, pieces), default=0)


def is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


class JsonLimitsMiddleware:
    """Refuse JSON bodies that nest too deeply or carry an over-long string."""

    def __init__(self, app: ASGIApp, *, max_depth: int, max_string_bytes: int) -> None:
        self.app = app
        self.max_depth = max_depth
        self.max_string_bytes = max_string_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS or not is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # client went away: let the app see it
                await self.app(scope, _replay([], message, receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if json_depth_exceeds(raw, self.max_depth):
            await _reject(send, 422, "invalid_input", "Invalid input",
                          f"the JSON body nests deeper than {self.max_depth} levels",
                          self.max_depth, "MAESTRO_MAX_JSON_DEPTH")
            return
        longest = longest_string(raw, self.max_string_bytes)
        if longest > self.max_string_bytes:
            await _reject(send, 413, "payload_too_large", "Payload too large",
                          f"a string in the JSON body is {longest} bytes; the limit is "
                          f"{self.max_string_bytes} bytes", self.max_string_bytes,
                          "MAESTRO_MAX_STRING_BYTES")
            return
        await self.app(scope, _replay([raw], None, receive), send)


def _replay(bodies: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    queue: list[Message] = [{"type": "http.request", "body": b, "more_body": False}
                            for b in bodies]
    if pending is not None:
        queue.append(pending)

    async def replay() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replay


async def _reject(
    send: Send, status: int, code: str, title: str, detail: str, limit: int, setting: str
) -> None:
    body = orjson.dumps({
        "type": f"https://maestro-ml.dev/problems/{code}", "title": title, "status": status,
        "code": code, "detail": detail, "limit": limit, "setting": setting,
    })
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})
