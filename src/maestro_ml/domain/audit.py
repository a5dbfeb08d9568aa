"""The audit log's hash chain: canonical event serialisation, linking and verification.

Each chain (one per tenant, plus ``platform`` for events that belong to no tenant) is a
sequence ``seq = 1, 2, ...`` where ``hash = sha256(prev_hash + canonical_json(fields))``
and the first event links to ``GENESIS``. Changing, deleting or reordering any event breaks
a link; the chain's head (last seq and hash, stored apart) catches the deletion of the
last events, which no link can. Pure: no I/O, standard library only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
PLATFORM_CHAIN = "platform"

OUTCOMES = ("success", "denied", "error")

# The fields a hash covers, in the order they are documented; the canonical form sorts
# keys anyway, so the order here is for readers.
CHAINED_FIELDS = (
    "chain", "seq", "tenant_id", "occurred_at",
    "actor_user_id", "actor_email", "actor_api_key_id",
    "action", "method", "route", "object", "object_id",
    "outcome", "status_code", "client_ip", "request_id", "user_agent",
)


def chain_of(tenant_id: str | None) -> str:
    """The chain an event of this tenant goes into (platform-level events: ``platform``)."""
    return tenant_id or PLATFORM_CHAIN


def canonical_time(value: datetime) -> str:
    """UTC, microsecond precision, ``Z`` suffix: one spelling for one instant."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return canonical_time(value)
    return value


def storable(value: Any) -> Any:
    """``value`` with every string made storable in any database: NUL (which PostgreSQL's
    text and JSON refuse) and lone surrogates become U+FFFD; dicts are cleaned throughout.

    An event records what a client sent, hostile bytes included; it must still be written,
    and be hashed as it is stored.
    """
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate: not UTF-8 at all
            value = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
        return value
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    return value


def canonical_json(fields: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes a hash is taken over."""
    plain = {name: _plain(fields.get(name)) for name in CHAINED_FIELDS}
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_json(fields)).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """The result of verifying one chain; ``broken_seq`` names the first bad event."""

    chain: str
    checked: int
    last_seq: int
    broken_seq: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def verify_chain(
    chain: str, events: Iterable[Mapping[str, Any]], head: tuple[int, str] | None
) -> ChainReport:
    """Walk ``events`` (ordered by seq) and compare with the stored head ``(seq, hash)``.

    Detects a modified event (hash mismatch), a deleted one (seq gap, or a head beyond
    the last event) and a reordered one (seq or previous-hash mismatch).
    """
    expected, prev, checked = 1, GENESIS, 0
    for event in events:
        seq = int(event["seq"])
        if seq != expected:
            return ChainReport(chain, checked, expected - 1, expected,
                               f"event seq {expected} is missing (next found: {seq})")
        if event["prev_hash"] != prev:
            return ChainReport(chain, checked, seq - 1, seq,
                               f"event seq {seq} does not link to event seq {seq - 1}")
        if link_hash(prev, event) != event["hash"]:
            return ChainReport(chain, checked, seq - 1, seq,
                               f"event seq {seq} was modified (hash mismatch)")
        prev, expected, checked = event["hash"], expected + 1, checked + 1
    last = expected - 1
    head_seq, head_hash = head if head is not None else (0, GENESIS)
    if head_seq > last:
        return ChainReport(chain, checked, last, last + 1,
                           f"chain head is at seq {head_seq} but the last event is seq {last}:"
                           f" event seq {last + 1} onwards was deleted")
    if head_seq < last:
        return ChainReport(chain, checked, last, head_seq + 1,
                           f"event seq {head_seq + 1} onwards was added behind the chain head")
    if head_hash != prev:
        return ChainReport(chain, checked, last, last,
                           f"event seq {last} does not match the chain head")
    return ChainReport(chain, checked, last)


@dataclass(frozen=True)
class AuditRecord:
    """One thing that happened, as the API layer saw it, before it is chained."""

    tenant_id: str | None
    action: str
    method: str
    route: str
    outcome: str
    status_code: int
    request_id: str
    occurred_at: datetime
    actor_user_id: str | None = None
    actor_email: str | None = None
    actor_api_key_id: str | None = None
    object: Mapping[str, Any] | None = None
    object_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    object_id: str | None = None
    request_id: str | None = None
