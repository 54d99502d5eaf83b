"""The shared contract every connector keeps, run over real HTTP against each emulator.

Each system provides ``tests/harness_<system>.py`` (see ``tests/harness.py``); the
tests here are the same for all three: paging across many pages, windows and
filters, create/update/delete/lookup/find_copies, skips with reasons, retries on
5xx and 429, every error class, a lost answer found again by its origin, and no
token in any exception or log line.

The in-memory connector the planner tests use (``tests/harness_memory.py``) keeps the
same contract: every test runs over it too, but those marked ``over_http`` (what only
an HTTP client does: retries, status codes, paging, tokens in requests), which are
skipped for it with their reason.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from harness import TOKEN, Harness

from connectors.base import (
    AuthError,
    BadRequestError,
    ConflictError,
    ConnectorError,
    DateWindow,
    EntryDraft,
    ForbiddenError,
    NotFoundError,
    TransientError,
    UnknownOutcomeError,
)
from connectors.model import CanonicalEntry, Origin, Skip
from connectors.registry import CONNECTOR_TYPES

SYSTEMS = [*CONNECTOR_TYPES, "memory"]   # every registered type brings tests/harness_<type>.py
# Each emulator in each reading of its documents where they are silent: the connector
# must be right (or loud) under every one, not only under the emulator's default.
BEHAVIOURS: dict[str, dict[str, dict]] = {
    "kaiten": {
        "documented": {},
        "clamped-limit": {"limit_mode": "clamp", "clamp_to": 100},
        "reset-in-ms": {"reset_unit": "ms"},
        "reset-as-delta": {"reset_unit": "delta"},
        "paged-card-lists": {"card_logs_paging": "offset"},
        "patch-ignores-date": {"patch_ignores_for_date": True},
    },
    "tracker": {
        "documented": {},
        "link-only": {"search_paging": "link"},
        "count-only": {"search_paging": "count"},
        "no-headers-clamped": {"search_paging": "bare", "max_per_page": 40},
        "unpaged-issue-lists": {"issue_paging": "none"},
        "small-issue-pages": {"default_per_page": 5, "max_per_page": 5},
        "items-cap": {"items_cap": 120},
        "rate-limited": {"rate": 400},
    },
    "contracting": {
        "documented": {"page_size": None},
        "link": {"page_size": 50},
        "cursor": {"page_size": 50, "paging": "cursor"},
        "page-number": {"page_size": 50, "paging": "page-number"},
        "page-number-meta": {"page_size": 50, "paging": "page-number-meta"},
    },
    "memory": {"in-memory": {}},
}
for _system in SYSTEMS:  # a new system runs the suite at least as documented
    BEHAVIOURS.setdefault(_system, {"documented": {}})
CASES = [(system, behaviour) for system in SYSTEMS for behaviour in BEHAVIOURS[system]]
WINDOW = DateWindow(date(2026, 11, 1), date(2026, 11, 30))
ORIGIN = Origin(source="SRC", record_id="42")


@pytest.fixture(params=CASES, ids=[f"{s}-{b}" for s, b in CASES])
def h(request: pytest.FixtureRequest) -> Iterator[Harness]:
    system, behaviour = request.param
    over_http = request.node.get_closest_marker("over_http")
    if over_http is not None and system == "memory":
        pytest.skip(f"over HTTP only: {over_http.args[0]}")
    harness = importlib.import_module(f"harness_{system}").make_harness(
        **BEHAVIOURS[system][behaviour])
    try:
        yield harness
    finally:
        harness.close()


def read_all(h: Harness, window: DateWindow = WINDOW, filters=None) -> tuple[
        dict[str, CanonicalEntry], list[Skip]]:
    entries: dict[str, CanonicalEntry] = {}
    skips: list[Skip] = []
    for item in h.connector.read(window, filters or {}):
        if isinstance(item, Skip):
            skips.append(item)
        else:
            assert item.record_id not in entries, f"record {item.record_id} read twice"
            entries[item.record_id] = item
    return entries, skips


def lose_the_next_create_answer(h: Harness) -> None:
    """The next create is applied and its answer lost (a timeout after sending)."""
    if h.server is None:
        h.connector.lose_next_create_answer = True  # type: ignore[attr-defined]
    else:
        h.server.faults.add("lost", method="POST")


def draft(h: Harness, **kw) -> EntryDraft:
    base = dict(origin=ORIGIN, task=h.task(), work_date=date(2026, 11, 20), seconds=5400,
                comment="Fixed login [see PR #12]")
    return EntryDraft(**{**base, **kw})


# --- reading ---------------------------------------------------------------------------

@pytest.mark.over_http("paging: the in-memory connector reads in one go")
def test_read_streams_every_page_at_the_largest_page_size(h: Harness) -> None:
    total = 2 * h.page_size + 7
    ids = {h.seed_record(work_date=WINDOW.start + timedelta(days=i % 30), seconds=60 * (1 + i % 90))
           for i in range(total)}
    before = h.server.log.count()
    entries, skips = read_all(h)
    requests = h.server.log.count() - before
    assert set(entries) == ids and not skips
    # What a server that pages by its own (smaller) size costs: one more page, to learn it.
    served = min(h.page_size, getattr(h, "served_page_size", h.page_size))
    if not getattr(h, "splits", False):  # a split search's cost depends on creation times
        assert 1 <= requests <= math.ceil(total / served) + 2, requests
    assert all(not e.is_copy and e.origin == e.ref for e in entries.values())


def test_read_window_is_inclusive_at_both_ends(h: Harness) -> None:
    inside = {h.seed_record(work_date=WINDOW.start, seconds=600),
              h.seed_record(work_date=WINDOW.end, seconds=600)}
    h.seed_record(work_date=WINDOW.start - timedelta(days=1), seconds=600)
    h.seed_record(work_date=WINDOW.end + timedelta(days=1), seconds=600)
    entries, _ = read_all(h)
    assert set(entries) == inside
    assert {e.work_date for e in entries.values()} == {WINDOW.start, WINDOW.end}


def test_read_filters_by_author(h: Harness) -> None:
    first, second = h.authors()
    mine = {h.seed_record(work_date=date(2026, 11, 3), seconds=1200, author=first)
            for _ in range(3)}
    h.seed_record(work_date=date(2026, 11, 3), seconds=1200, author=second)
    entries, _ = read_all(h, filters=h.author_filter(first))
    assert set(entries) == mine


def test_unmappable_record_is_a_skip_with_reason_and_the_page_goes_on(h: Harness) -> None:
    good = h.seed_record(work_date=date(2026, 11, 5), seconds=1800, comment="ok")
    bad = h.seed_malformed(work_date=date(2026, 11, 5))
    entries, skips = read_all(h)
    assert good in entries
    assert [s.record_id for s in skips] == [bad]
    assert skips[0].reason and skips[0].connector == h.connector.name


# --- writing ---------------------------------------------------------------------------

def test_create_carries_the_origin_and_reads_back_as_a_copy(h: Harness) -> None:
    d = draft(h)
    created = h.connector.create(d)
    fitted = h.connector.fit(d)
    assert created.origin == ORIGIN and created.is_copy
    assert (created.task, created.work_date, created.seconds, created.comment) == \
        (fitted.task, fitted.work_date, fitted.seconds, fitted.comment)
    assert h.stored(created.record_id) is not None
    entries, _ = read_all(h)
    assert entries[created.record_id].origin == ORIGIN
    assert entries[created.record_id].content_hash == created.content_hash


def test_fit_is_idempotent_and_what_the_system_holds(h: Harness) -> None:
    d = draft(h, seconds=5445)
    fitted = h.connector.fit(d)
    assert h.connector.fit(fitted) == fitted
    assert h.connector.create(d).seconds == fitted.seconds


def test_update_changes_fields_and_keeps_the_origin(h: Harness) -> None:
    created = h.connector.create(draft(h))
    changed = draft(h, seconds=7200, comment="Fixed login and logout")
    updated = h.connector.update(created, changed)
    assert updated.record_id == created.record_id
    assert (updated.seconds, updated.comment, updated.origin) == (7200, changed.comment, ORIGIN)
    assert h.connector.lookup(created.record_id, created.task).origin == ORIGIN


def test_delete_then_lookup_proves_it_gone(h: Harness) -> None:
    created = h.connector.create(draft(h))
    found = h.connector.lookup(created.record_id, created.task)
    assert isinstance(found, CanonicalEntry) and found.content_hash == created.content_hash
    h.connector.delete(created)
    assert h.stored(created.record_id) is None
    assert h.connector.lookup(created.record_id, created.task) is None
    with pytest.raises(NotFoundError):
        h.connector.delete(created)


def test_find_copies_by_origin(h: Harness) -> None:
    created = h.connector.create(draft(h))
    h.connector.create(draft(h, origin=Origin(source="SRC", record_id="43")))
    h.seed_record(work_date=date(2026, 11, 20), seconds=600, task=h.task())
    copies = h.connector.find_copies(ORIGIN, h.task())
    assert [c.record_id for c in copies] == [created.record_id]
    assert h.connector.find_copies(Origin(source="SRC", record_id="999"), h.task()) == []


def test_a_lost_create_answer_is_unknown_outcome_and_the_copy_is_found_once(h: Harness) -> None:
    lose_the_next_create_answer(h)
    with pytest.raises(UnknownOutcomeError):
        h.connector.create(draft(h))
    copies = h.connector.find_copies(ORIGIN, h.task())
    assert len(copies) == 1 and copies[0].origin == ORIGIN


# --- failures --------------------------------------------------------------------------

@pytest.mark.over_http("retries on 5xx are the HTTP client's")
def test_5xx_on_a_read_is_retried(h: Harness) -> None:
    rid = h.seed_record(work_date=date(2026, 11, 7), seconds=600)
    h.server.faults.add("status", status=503, times=2)
    entries, _ = read_all(h)
    assert rid in entries
    assert h.server.log.count(status=503) == 2


@pytest.mark.over_http("429 and Retry-After are the HTTP client's")
def test_429_is_waited_out_once_not_hammered(h: Harness) -> None:
    rid = h.seed_record(work_date=date(2026, 11, 7), seconds=600)
    h.server.faults.add("status", status=429, headers={"Retry-After": "1"},
                        body='{"message": "Too many requests"}')
    entries, _ = read_all(h)
    assert rid in entries
    assert h.server.log.count(status=429) == 1


def test_a_read_that_fails_part_way_raises(h: Harness) -> None:
    if not getattr(h, "paged", True):
        pytest.skip("the documented list comes whole in one answer: it has no part way")
    for i in range(h.page_size + 3):
        h.seed_record(work_date=date(2026, 11, 1 + i % 28), seconds=600)
    if h.server is None:
        h.connector.fail_reads_after = h.page_size  # type: ignore[attr-defined]
    else:
        h.server.faults.add("latency", delay=0.0, times=1)   # the first page goes through
        h.server.faults.add("status", status=503, times=1000)
    got: list[object] = []
    with pytest.raises(TransientError):
        got.extend(h.connector.read(WINDOW, {}))
    if h.server is None or h.server.log.count(status=200):
        assert got  # a page went through: it was streamed before the failure


@pytest.mark.over_http("status codes become error classes in the HTTP client")
@pytest.mark.parametrize(("status", "error"), [
    (400, BadRequestError), (401, AuthError), (403, ForbiddenError), (409, ConflictError),
])
def test_status_codes_become_named_errors_on_writes(h: Harness, status: int, error) -> None:
    created = h.connector.create(draft(h))
    h.server.faults.add("status", status=status, method="P*",
                        body='{"message": "refused by the test"}')
    with pytest.raises(error) as info:
        h.connector.update(created, draft(h, seconds=600))
    assert "refused by the test" in str(info.value)


@pytest.mark.over_http("garbage bodies come only over HTTP")
@pytest.mark.parametrize("kind", ["html", "broken", "empty"])
def test_garbage_answers_are_transient_errors_with_a_clear_message(h: Harness, kind: str) -> None:
    h.server.faults.add(kind, times=1000)
    with pytest.raises(TransientError) as info:
        read_all(h)
    assert h.connector.name in str(info.value)


@pytest.mark.over_http("a token is checked by an HTTP API's 401")
def test_check_proves_credentials_and_reports_a_bad_token(h: Harness) -> None:
    assert h.connector.check()
    h.server.faults.add("status", status=401, body=f'{{"message": "bad token {TOKEN}"}}')
    with pytest.raises(AuthError) as info:
        h.connector.check()
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)


@pytest.mark.over_http("the token travels only in HTTP requests")
def test_no_token_in_any_log_line_or_exception(h: Harness, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    h.seed_record(work_date=date(2026, 11, 9), seconds=600)
    errors: list[ConnectorError] = []
    h.server.faults.add("status", status=500, times=1000,
                        body=f'{{"message": "echo Bearer {TOKEN} OAuth {TOKEN}"}}')
    try:
        read_all(h)
    except ConnectorError as exc:
        errors.append(exc)
    h.server.faults.clear()
    read_all(h)
    assert errors
    text = caplog.text + "".join(f"{e}{e!r}{e.args}" for e in errors)
    assert TOKEN not in text
