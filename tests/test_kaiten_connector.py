"""What is particular to Kaiten, over real HTTP to the emulator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from urllib.parse import parse_qs

import pytest
from harness import TOKEN
from harness_kaiten import KaitenHarness, kaiten_config, make_harness
from support.retry import FAST_RETRY

from connectors.base import (
    AuthError,
    BadRequestError,
    DateWindow,
    EntryDraft,
    FeatureUnavailableError,
    NotFoundError,
    TransientError,
    UnknownOutcomeError,
)
from connectors.kaiten.client import KaitenConnector
from connectors.model import CanonicalEntry, Origin, Skip
from connectors.units import Rounding

DECEMBER = DateWindow(date(2025, 12, 1), date(2025, 12, 31))
TRACKER = Origin(source="YANDEX_TRACKER", record_id="300149")


@pytest.fixture
def h() -> Iterator[KaitenHarness]:
    harness = make_harness()
    yield harness
    harness.close()


def _draft(h: KaitenHarness, **kw) -> EntryDraft:
    values = {"origin": TRACKER, "task": h.task(), "work_date": date(2025, 12, 5),
              "seconds": 3600, "comment": "Fixed login"}
    return EntryDraft(**{**values, **kw})


def _settle(h: KaitenHarness) -> None:
    """Let the request log catch up: the emulator logs a request just after answering it.

    Its server answers on one event-loop thread and logs without yielding in between,
    so once one more request has been answered, every earlier one is in the log.
    """
    h.connector.check()


def _queries(h: KaitenHarness) -> list[dict[str, list[str]]]:
    _settle(h)
    return [parse_qs(e.query) for e in h.server.log.entries if e.path.endswith("/time-logs")]


def test_read_pages_by_200_with_the_filters_sent_to_the_server(h: KaitenHarness) -> None:
    me, other = (int(a) for a in h.authors())
    mine = {h.seed_record(work_date=date(2025, 12, 1 + i % 28), seconds=60) for i in range(450)}
    h.seed_record(work_date=date(2025, 12, 2), seconds=60, author=str(other))
    h.seed_record(work_date=date(2025, 12, 2), seconds=60, task=h.other_task())
    items = list(h.connector.read(DECEMBER, {"user_ids": [me], "card_ids": [int(h.task())]}))
    assert {i.record_id for i in items} == mine and len(items) == 450
    queries = _queries(h)
    assert [q["offset"] for q in queries] == [["0"], ["200"], ["400"]]
    for q in queries:
        assert q["limit"] == ["200"] and q["user_ids"] == [str(me)]
        assert q["card_ids"] == [h.task()]
        assert (q["from"], q["to"]) == (["2025-12-01"], ["2025-12-31"])


def test_read_sends_space_and_board_filters_joined_by_commas(h: KaitenHarness) -> None:
    list(h.connector.read(DECEMBER, {"space_ids": [3, 4], "board_ids": [5]}))
    [query] = _queries(h)
    assert query["space_ids"] == ["3,4"] and query["board_ids"] == ["5"]
    assert "user_ids" not in query


def test_to_is_inclusive(h: KaitenHarness) -> None:
    last = h.seed_record(work_date=date(2025, 12, 31), seconds=60)
    first = h.seed_record(work_date=date(2025, 12, 1), seconds=60)
    h.seed_record(work_date=date(2026, 1, 1), seconds=60)
    assert {i.record_id for i in h.connector.read(DECEMBER, {})} == {first, last}


def test_unmappable_record_is_a_skip_and_the_page_goes_on(h: KaitenHarness) -> None:
    before = h.seed_record(work_date=date(2025, 12, 3), seconds=120)
    bad = h.seed_malformed(work_date=date(2025, 12, 3))
    after = h.seed_record(work_date=date(2025, 12, 3), seconds=180)
    items = list(h.connector.read(DECEMBER, {}))
    assert [i.record_id for i in items] == [before, bad, after]
    assert isinstance(items[1], Skip) and "time_spent" in items[1].reason
    assert isinstance(items[2], CanonicalEntry) and items[2].seconds == 180


def test_a_page_failing_after_retries_raises(h: KaitenHarness) -> None:
    for i in range(250):
        h.seed_record(work_date=date(2025, 12, 1 + i % 28), seconds=60)
    stream = h.connector.read(DECEMBER, {})
    first_page = [next(stream) for _ in range(200)]
    assert len(first_page) == 200
    h.server.faults.add("status", path="*/time-logs", status=503, times=10)
    with pytest.raises(TransientError):
        list(stream)


def test_402_fails_only_that_record_and_names_the_card(h: KaitenHarness) -> None:
    free = h.emulator.add_card(space_id=h.emulator.add_space("Free", time_tracking=False))
    with pytest.raises(FeatureUnavailableError) as caught:
        h.connector.create(_draft(h, task=str(free)))
    assert f"card {free}" in str(caught.value) and "tariff" in str(caught.value)
    created = h.connector.create(_draft(h))
    assert h.stored(created.record_id) is not None


def test_long_comment_keeps_the_marker_and_fit_matches_what_is_stored(h: KaitenHarness) -> None:
    draft = _draft(h, comment="word " * 1200)
    created = h.connector.create(draft)
    stored = h.stored(created.record_id)["comment"]
    assert 4090 <= len(stored) <= 4096 and stored.endswith("… [timebridge:YANDEX_TRACKER:300149]")
    fitted = h.connector.fit(draft)
    [read] = list(h.connector.read(DECEMBER, {}))
    assert read.comment == created.comment == fitted.comment
    assert (read.seconds, read.work_date, read.origin) == (fitted.seconds, fitted.work_date,
                                                           TRACKER)


@pytest.mark.parametrize("rounding, seconds, minutes", [
    (Rounding.NEAREST, 5445, 91), (Rounding.UP, 5445, 91), (Rounding.DOWN, 5445, 90),
    (Rounding.NEAREST, 10, 1), (Rounding.DOWN, 10, 1), (Rounding.UP, 5401, 91),
])
def test_rounding_mode_ends_up_in_time_spent(h: KaitenHarness, rounding, seconds,
                                             minutes) -> None:
    config = kaiten_config(h.server.base_url, rounding=rounding.value)
    connector = KaitenConnector("kaiten", config, TOKEN, retry=FAST_RETRY)
    try:
        draft = _draft(h, seconds=seconds)
        created = connector.create(draft)
        assert h.stored(created.record_id)["time_spent"] == minutes
        assert created.seconds == connector.fit(draft).seconds == minutes * 60
    finally:
        connector.close()


def test_update_patches_minutes_date_and_comment(h: KaitenHarness) -> None:
    created = h.connector.create(_draft(h))
    updated = h.connector.update(created, _draft(h, seconds=1800, work_date=date(2025, 12, 6),
                                                 comment="Fixed login, really"))
    stored = h.stored(created.record_id)
    assert (stored["time_spent"], stored["for_date"]) == (30, "2025-12-06")
    assert stored["comment"] == "Fixed login, really [timebridge:YANDEX_TRACKER:300149]"
    assert updated.version != created.version and updated.record_id == created.record_id
    _settle(h)
    assert h.server.log.count("PATCH", f"*/cards/{h.task()}/time-logs/{created.record_id}") == 1


def test_update_cannot_move_a_log_to_another_card(h: KaitenHarness) -> None:
    created = h.connector.create(_draft(h))
    assert "task" not in h.connector.capabilities.updatable
    with pytest.raises(BadRequestError, match="cannot move"):
        h.connector.update(created, _draft(h, task=h.other_task()))
    assert h.server.log.count("PATCH") == 0


def test_delete_then_delete_again_is_not_found(h: KaitenHarness) -> None:
    created = h.connector.create(_draft(h))
    h.connector.delete(created)
    assert h.stored(created.record_id) is None
    with pytest.raises(NotFoundError):
        h.connector.delete(created)


def test_lookup_reads_the_cards_logs(h: KaitenHarness) -> None:
    rid = h.seed_record(work_date=date(2025, 12, 3), seconds=60, comment="x")
    found = h.connector.lookup(rid, h.task())
    assert isinstance(found, CanonicalEntry) and found.comment == "x"
    _settle(h)
    # The card's list is documented unpaged: the first look-up proves the server ignores
    # limit/offset (it answers the same short list twice); later ones need one request.
    assert h.server.log.count("GET", f"*/cards/{h.task()}/time-logs") == 2
    assert isinstance(h.connector.lookup(rid, h.task()), CanonicalEntry)
    _settle(h)
    assert h.server.log.count("GET", f"*/cards/{h.task()}/time-logs") == 3
    bad = h.seed_malformed(work_date=date(2025, 12, 3))
    assert isinstance(h.connector.lookup(bad, h.task()), Skip)
    assert h.connector.lookup(rid, h.other_task()) is None  # not on that card
    h.emulator.remove_card(int(h.task()))  # the card is gone (404): so is its log
    assert h.connector.lookup(rid, h.task()) is None


def test_find_copies_keeps_only_logs_marked_with_that_origin(h: KaitenHarness) -> None:
    copy = h.connector.create(_draft(h))
    h.connector.create(_draft(h, origin=Origin(source="YANDEX_TRACKER", record_id="300150")))
    h.seed_record(work_date=date(2025, 12, 5), seconds=60, comment="by hand")
    assert [c.record_id for c in h.connector.find_copies(TRACKER, h.task())] == [copy.record_id]
    assert h.connector.find_copies(TRACKER, h.other_task()) == []
    requests = len(h.server.log.entries)
    assert h.connector.find_copies(TRACKER, None) == []
    assert len(h.server.log.entries) == requests  # nowhere to look: nothing sent


def test_lost_create_is_unknown_outcome_and_the_copy_can_be_found(h: KaitenHarness) -> None:
    h.server.faults.add("lost", method="POST", path="*/time-logs")
    with pytest.raises(UnknownOutcomeError):
        h.connector.create(_draft(h))
    [found] = h.connector.find_copies(TRACKER, h.task())
    assert found.seconds == 3600 and found.comment == "Fixed login"
    _settle(h)
    assert h.server.log.count("POST") == 1  # never re-sent
    assert len(h.emulator.time_logs) == 1


def test_check_names_the_user_and_a_bad_token_is_auth_error(h: KaitenHarness) -> None:
    assert h.connector.check() == f"Ada Lovelace <ada@example.com> (user id {h.authors()[0]})"
    bad_token = "tok-WRONG-7b1e55aa90"
    connector = KaitenConnector("kaiten", kaiten_config(h.server.base_url), bad_token,
                                retry=FAST_RETRY)
    try:
        with pytest.raises(AuthError) as caught:
            connector.check()
    finally:
        connector.close()
    assert bad_token not in str(caught.value) and "401" in str(caught.value)
    _settle(h)
    assert h.server.log.count("GET", "*/users/current", 401) == 1  # not retried


@pytest.mark.slow
def test_real_rate_limit_is_respected_without_a_single_429() -> None:
    harness = make_harness(rate=5)
    token = "tok-RATE-5per-second-c0ffee"  # its own token: its own shared budget
    harness.emulator.add_user("Rate Tester", token=token)
    config = kaiten_config(harness.server.base_url, requests_per_second=5)
    connector = KaitenConnector("kaiten", config, token, retry=FAST_RETRY)
    try:
        began = time.monotonic()
        for _ in range(8):
            list(connector.read(DECEMBER, {}))
            connector.lookup("1", harness.task())
        elapsed = time.monotonic() - began
    finally:
        connector.close()
        harness.close()
    assert harness.server.log.count() == 16
    assert harness.server.log.count(status=429) == 0
    assert elapsed >= 2.5  # 16 requests at 5/s: 15 intervals of 0.2 s
