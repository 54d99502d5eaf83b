"""Kaiten webhook deliveries read as hints (bridge.cli.webhooks): what is accepted, what is
ignored and why, and that no JSON value whatever makes the parser raise."""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.cli.webhooks import KaitenHint, Rejected, hint_from_delivery, parse_delivery

LOG = {"id": 77, "card_id": 1001, "user_id": 5, "time_spent": 30, "for_date": "2026-11-20",
       "comment": "login page"}


@pytest.mark.parametrize("payload", [
    {"event": "timelog:add", "data": LOG},
    {"event": "timelog:update", "data": {"old": {**LOG, "time_spent": 10}, "new": LOG}},
    {"event": "timelog:update", "data": {"new": LOG}},
    {"event": "timelog:remove", "data": {"old": LOG}},
    {"type": "timelog:add", "data": LOG},
    {"event_type": "timelog:add", "data": LOG},
    {"event": "  TimeLog:Add ", "data": LOG},
])
def test_the_time_log_is_found_at_data_data_new_or_data_old(payload: dict) -> None:
    hint = parse_delivery(payload)
    assert isinstance(hint, KaitenHint), hint
    assert (hint.card_id, hint.log_id, hint.for_date) == (1001, 77, date(2026, 11, 20))
    assert hint.event in ("timelog:add", "timelog:update", "timelog:remove")


def test_data_itself_wins_over_new_and_new_over_old() -> None:
    nested = {"event": "timelog:update",
              "data": {"old": {"card_id": 1}, "new": {"card_id": 2}}}
    assert parse_delivery(nested).card_id == 2
    assert parse_delivery({"event": "timelog:update",
                           "data": {"card_id": 3, "new": {"card_id": 2}}}).card_id == 3
    assert parse_delivery({"event": "timelog:remove",
                           "data": {"old": {"card_id": 1}, "new": None}}).card_id == 1


@pytest.mark.parametrize(("card", "expected"), [
    (1001, 1001), ("1001", 1001), (" 42 ", 42), (2**63 - 1, 2**63 - 1),
])
def test_a_card_id_is_a_positive_integer_or_its_digits(card: Any, expected: int) -> None:
    assert parse_delivery({"event": "timelog:add", "data": {"card_id": card}}).card_id == \
        expected


@pytest.mark.parametrize("card", [
    0, -5, 2**63, 10**40, True, False, None, 1.5, 1001.0, "", "10a", "-1", "1e3",
    "9" * 20, [1001], {"id": 1001}, "١٠٠١",   # Arabic-Indic digits are not Kaiten's
])
def test_anything_else_is_no_card_id(card: Any) -> None:
    rejected = parse_delivery({"event": "timelog:add", "data": {"card_id": card}})
    assert isinstance(rejected, Rejected) and rejected.malformed
    assert "card_id" in rejected.reason and len(rejected.reason) < 200


@pytest.mark.parametrize("event", ["card:add", "card:update", "comment:remove", "tag:add",
                                   "block:add", "card_member:update"])
def test_other_events_are_ignored_with_a_reason_not_as_malformed(event: str) -> None:
    rejected = parse_delivery({"event": event, "data": {"card_id": 1001}})
    assert rejected == Rejected(f"event {event!r} is not about time logs", event, False)


@pytest.mark.parametrize(("payload", "why"), [
    ([LOG], "array"),
    ("timelog:add", "string"),
    (None, "null"),
    (7, "number"),
    ({"data": LOG}, "no event name"),
    ({"event": 5, "data": LOG}, "no event name"),
    ({"event": "   ", "data": LOG}, "no event name"),
    ({"event": "timelog:add"}, "without a time log"),
    ({"event": "timelog:add", "data": [LOG]}, "without a time log"),
    ({"event": "timelog:add", "data": {"new": [LOG]}}, "without a time log"),
    ({"event": "timelog:add", "data": {"old": "x"}}, "without a time log"),
    ({"event": "timelog:add", "data": {"card": {"id": 1001}}}, "without a time log"),
])
def test_malformed_deliveries_say_what_is_wrong(payload: Any, why: str) -> None:
    rejected = parse_delivery(payload)
    assert isinstance(rejected, Rejected) and rejected.malformed
    assert why in rejected.reason


def test_unusable_ids_and_dates_of_the_log_are_left_out_not_fatal() -> None:
    hint = parse_delivery({"event": "timelog:add",
                           "data": {"card_id": 9, "id": "x", "for_date": "2026-02-30"}})
    assert hint == KaitenHint("timelog:add", 9, None, None)
    hint = parse_delivery({"event": "timelog:add",
                           "data": {"card_id": 9, "id": 3, "for_date": "2026-02-03T00:00:00Z"}})
    assert (hint.log_id, hint.for_date) == (3, date(2026, 2, 3))
    assert str(hint) == "timelog:add for log 3 of card 9 dated 2026-02-03"


def test_a_reason_quotes_little_of_what_was_sent_and_nothing_that_drives_a_terminal() -> None:
    rejected = parse_delivery({"event": "x:\x1b[2J" + "y" * 10_000})
    assert "\x1b" not in rejected.reason and len(rejected.reason) < 120
    assert rejected.event == "other"   # not a name a metric label may carry


def test_hint_from_delivery_logs_why_it_gave_none(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="timebridge.webhooks"):
        assert hint_from_delivery({"event": "card:add"}) is None
        assert hint_from_delivery({"event": "timelog:add", "data": LOG}).card_id == 1001
    assert [r.getMessage() for r in caplog.records] == [
        "webhook ignored: event 'card:add' is not about time logs"]


# --- hostile payloads -----------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30)
EVENTS = st.sampled_from(["timelog:add", "timelog:update", "timelog:remove", "card:add"])
KEYS = st.sampled_from(["card_id", "id", "for_date", "new", "old", "data", "event"])
LOGISH = st.dictionaries(KEYS, JSON, max_size=5)


@settings(max_examples=200, deadline=None)
@given(st.one_of(
    JSON,
    st.fixed_dictionaries({"event": EVENTS, "data": JSON}),
    st.fixed_dictionaries({"event": EVENTS, "data": LOGISH}),
    st.fixed_dictionaries({"event": EVENTS,
                           "data": st.fixed_dictionaries({"new": LOGISH, "old": LOGISH})}),
    st.fixed_dictionaries({"event": EVENTS, "data": st.fixed_dictionaries({
        "card_id": st.integers() | st.text() | JSON})}),
))
def test_no_json_value_makes_the_parser_raise(payload: Any) -> None:
    parsed = parse_delivery(payload)
    if isinstance(parsed, KaitenHint):
        assert 0 < parsed.card_id < 2**63
        assert parsed.event in ("timelog:add", "timelog:update", "timelog:remove")
    else:
        assert isinstance(parsed.reason, str) and len(parsed.reason) < 200


def test_deep_nesting_and_huge_values_are_answered_too() -> None:
    deep: Any = 1001
    for _ in range(50_000):
        deep = [deep]
    assert isinstance(parse_delivery({"event": "timelog:add", "data": {"card_id": deep}}),
                      Rejected)
    assert isinstance(parse_delivery({"event": "timelog:add", "data": deep}), Rejected)
    huge = json.loads('{"event": "timelog:add", "data": {"card_id": 1' + "0" * 4000 + "}}")
    assert isinstance(parse_delivery(huge), Rejected)
    assert isinstance(parse_delivery({"event": "timelog:add",
                                      "data": {"card_id": "1" * 10**6}}), Rejected)
