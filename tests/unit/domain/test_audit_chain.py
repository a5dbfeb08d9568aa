"""The hash chain: links, canonical form, and what verification reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from maestro_ml.domain.audit import GENESIS, canonical_json, link_hash, storable, verify_chain


def build_chain(n: int) -> list[dict]:
    events, prev = [], GENESIS
    for seq in range(1, n + 1):
        event = {"chain": "t1", "seq": seq, "tenant_id": "t1", "action": "models:write",
                 "object": {"model_id": f"m{seq}"}, "outcome": "success", "status_code": 201,
                 "occurred_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seq)}
        event["prev_hash"] = prev
        event["hash"] = prev = link_hash(prev, event)
        events.append(event)
    return events


def head_of(events: list[dict]) -> tuple[int, str]:
    return events[-1]["seq"], events[-1]["hash"]


def test_an_untouched_chain_verifies():
    events = build_chain(5)
    report = verify_chain("t1", events, head_of(events))
    assert report.ok and report.checked == 5 and report.last_seq == 5


def test_an_empty_chain_without_head_verifies():
    assert verify_chain("t1", [], None).ok


def test_canonical_form_ignores_key_order_and_time_zone_spelling():
    moment = datetime(2026, 1, 1, 12, tzinfo=UTC)
    a = {"seq": 1, "object": {"a": "1", "b": "2"}, "occurred_at": moment}
    b = {"object": {"b": "2", "a": "1"}, "seq": 1,
         "occurred_at": moment.astimezone(timezone(timedelta(hours=2)))}
    assert canonical_json(a) == canonical_json(b)
    assert b'"occurred_at":"2026-01-01T12:00:00.000000Z"' in canonical_json(a)


def test_a_modified_field_is_reported_at_its_seq():
    events = build_chain(5)
    events[2] = {**events[2], "outcome": "denied"}
    report = verify_chain("t1", events, head_of(events))
    assert (report.ok, report.broken_seq) == (False, 3)
    assert "modified" in report.reason


def test_a_deleted_middle_event_is_a_gap():
    events = build_chain(5)
    head = head_of(events)
    del events[1]
    report = verify_chain("t1", events, head)
    assert report.broken_seq == 2 and "missing" in report.reason


def test_deleting_the_last_event_is_caught_by_the_head():
    events = build_chain(5)
    head = head_of(events)
    report = verify_chain("t1", events[:-1], head)
    assert report.broken_seq == 5 and "deleted" in report.reason


def test_swapping_two_events_is_caught():
    events = build_chain(4)
    a, b = events[1], events[2]
    events[1] = {**b, "seq": 2}
    events[2] = {**a, "seq": 3}
    report = verify_chain("t1", events, head_of(build_chain(4)))
    assert report.broken_seq == 2


def test_a_rehashed_forgery_still_breaks_the_next_link():
    events = build_chain(3)
    forged = {**events[0], "actor_email": "intruder@x.test"}
    forged["hash"] = link_hash(GENESIS, forged)
    events[0] = forged
    report = verify_chain("t1", events, head_of(events))
    assert report.broken_seq == 2 and "link" in report.reason


def test_storable_replaces_nul_and_lone_surrogates_everywhere_and_keeps_the_rest():
    assert storable("run\x00id") == "run\ufffdid"
    assert storable("a\ud800b") == "a\ufffdb"
    assert storable({"al\x00ias": "x\x00", "n": 3}) == {"al\ufffdias": "x\ufffd", "n": 3}
    assert storable("plain é ✓") == "plain é ✓"
    assert storable(None) is None and storable(201) == 201
    storable("\ud800").encode()  # valid UTF-8 now
