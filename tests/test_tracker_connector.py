"""What is particular to the Tracker connector, over real HTTP to its emulator.

The shared contract suite covers create/update/delete/paging/errors; here: the
creation-time search, per-author searches, paging in the query string, business-day
durations, time zones near midnight, IAM/cloud headers and skips.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx
import pytest
from harness import TOKEN
from harness_tracker import TrackerHarness, make_harness
from support.retry import FAST_RETRY

from connectors.base import (
    AuthError,
    BadRequestError,
    DateWindow,
    EntryDraft,
    ForbiddenError,
    NotFoundError,
)
from connectors.model import CanonicalEntry, Origin, Skip
from connectors.tracker.client import CAPABILITIES, TrackerConnector
from connectors.tracker.config import TrackerConfig

TODAY = datetime.now(UTC).date()
WINDOW = DateWindow(TODAY - timedelta(days=10), TODAY + timedelta(days=5))
DAY = WINDOW.start + timedelta(days=2)
ORIGIN = Origin(source="KAITEN", record_id="300149")
SEARCH = "/v2/worklog/_search"


@pytest.fixture
def h() -> Iterator[TrackerHarness]:
    harness = make_harness()
    try:
        yield harness
    finally:
        harness.close()


def read(h: TrackerHarness, window: DateWindow = WINDOW,
         filters: dict | None = None) -> tuple[list[CanonicalEntry], list[Skip]]:
    items = list(h.connector.read(window, filters or {}))
    return ([i for i in items if isinstance(i, CanonicalEntry)],
            [i for i in items if isinstance(i, Skip)])


def draft(**kw) -> EntryDraft:
    return EntryDraft(**{"origin": ORIGIN, "task": "TEST-1", "work_date": DAY, "seconds": 5400,
                         "comment": "Fixed login", **kw})


# --- reading: by creation time, per author, paged in the query -----------------------

def test_the_search_is_by_creation_time_from_the_lookback_to_now(h: TrackerHarness) -> None:
    since = datetime.combine(WINDOW.start - timedelta(days=90), time(0), tzinfo=h.tz)
    start = h.start_of(DAY)
    too_old = h.emulator.add_worklog("TEST-1", start=start, duration=600,
                                     created_at=since - timedelta(minutes=1))
    just_in = h.emulator.add_worklog("TEST-1", start=start, duration=600,
                                     created_at=since + timedelta(minutes=1))
    recent = h.seed_record(work_date=DAY, seconds=600)
    h.seed_record(work_date=WINDOW.end + timedelta(days=1), seconds=600)
    h.seed_record(work_date=WINDOW.start - timedelta(days=1), seconds=600)
    entries, skips = read(h)
    assert {e.record_id for e in entries} == {just_in, recent}
    assert too_old not in {e.record_id for e in entries} and not skips


def test_a_longer_lookback_finds_older_worklogs() -> None:
    h = make_harness(config={"created_lookback_days": 400})
    try:
        old = h.emulator.add_worklog("TEST-1", start=h.start_of(DAY), duration=600,
                                     created_at=datetime.now(UTC) - timedelta(days=300))
        assert [e.record_id for e in read(h)[0]] == [old]
    finally:
        h.close()


def test_one_search_per_author_and_each_worklog_reported_once(h: TrackerHarness) -> None:
    mine = {h.seed_record(work_date=DAY, seconds=600, author="veikus") for _ in range(3)}
    hers = h.seed_record(work_date=DAY, seconds=600, author="alice")
    h.emulator.add_user("bob")
    bobs = h.seed_record(work_date=DAY, seconds=600, author="bob")
    uid = h.stored(next(iter(mine)))["createdBy"]["self"].rsplit("/", 1)[1]
    before = h.server.log.count("POST", SEARCH)
    entries, _ = read(h, filters={"created_by": ["veikus", uid, "alice"]})
    assert h.server.log.count("POST", SEARCH) - before == 3  # veikus is asked for twice
    ids = [e.record_id for e in entries]
    assert sorted(ids) == sorted(mine | {hers}) and len(ids) == len(set(ids))
    before = h.server.log.count("POST", SEARCH)
    assert {e.record_id for e in read(h)[0]} == mine | {hers, bobs}
    assert h.server.log.count("POST", SEARCH) - before == 1


def test_page_and_per_page_go_in_the_query_at_the_largest_size() -> None:
    h = make_harness(max_per_page=5)  # the server gives fewer than asked: 3 pages of 12
    try:
        ids = {h.seed_record(work_date=DAY, seconds=60 * (i + 1)) for i in range(12)}
        h.server.log.clear()
        entries, _ = read(h)
        queries = [parse_qs(e.query) for e in h.server.log.entries if e.path == SEARCH]
        assert queries == [{"page": [str(n)], "perPage": [str(h.connector.page_size)]}
                           for n in (1, 2, 3)]
        assert h.connector.page_size == 100
        assert {e.record_id for e in entries} == ids
    finally:
        h.close()


def test_a_p1y_worklog_is_skipped_with_its_reason_and_the_page_goes_on(h: TrackerHarness) -> None:
    first = h.seed_record(work_date=DAY, seconds=600)
    p1y = h.seed_malformed(work_date=DAY)
    null = h.emulator.add_worklog("TEST-1", start=h.start_of(DAY), duration=None, raw=True)
    last = h.seed_record(work_date=DAY, seconds=600)
    h.emulator.add_worklog("TEST-1", start=h.start_of(WINDOW.end + timedelta(days=3)),
                           duration="P1Y", raw=True)  # dated outside: not reported
    items = list(h.connector.read(WINDOW, {}))
    assert [i.record_id for i in items] == [first, p1y, null, last]
    assert [type(i) for i in items] == [CanonicalEntry, Skip, Skip, CanonicalEntry]
    assert "P1Y" in items[1].reason and "years" in items[1].reason
    assert "no duration" in items[2].reason
    assert {items[1].connector, items[2].connector} == {"tracker"}


# --- durations and dates -----------------------------------------------------------------

def test_a_workday_written_comes_back_p1d_and_compares_equal(h: TrackerHarness) -> None:
    created = h.connector.create(draft(seconds=8 * 3600))
    week = h.connector.create(draft(seconds=5 * 8 * 3600, origin=Origin(source="K", record_id="2")))
    by_hand = h.emulator.add_worklog("TEST-1", start=h.start_of(DAY), duration="PT8H")
    assert [h.stored(i)["duration"] for i in (created.record_id, week.record_id, by_hand)] == \
        ["P1D", "P1W", "P1D"]
    entries = {e.record_id: e for e in read(h)[0]}
    fitted = h.connector.fit(draft(seconds=8 * 3600))
    read_back = entries[created.record_id]
    assert (read_back.task, read_back.work_date, read_back.seconds, read_back.comment) == \
        (fitted.task, fitted.work_date, fitted.seconds, fitted.comment)
    assert read_back.content_hash == created.content_hash  # no spurious change next sync
    assert entries[week.record_id].seconds == 144000 and entries[by_hand].seconds == 28800


def test_the_workday_length_comes_from_the_config() -> None:
    h = make_harness(workday_hours=7.5, config={"workday_hours": 7.5})
    try:
        created = h.connector.create(draft(seconds=27000))
        assert h.stored(created.record_id)["duration"] == "P1D"
        assert read(h)[0][0].seconds == 27000
    finally:
        h.close()


@pytest.mark.parametrize(("zone", "local", "day_start"), [
    ("Europe/Moscow", time(0, 30), "09:00"),       # 21:30 UTC the day before
    ("Europe/Moscow", time(2, 59, 59), "09:00"),
    ("Europe/Moscow", None, "00:00"),              # a date-only record at local midnight
    ("Pacific/Honolulu", time(23, 30), "09:00"),   # 09:30 UTC the day after
    ("Pacific/Honolulu", time(14, 0), "09:00"),
    ("Pacific/Honolulu", None, "23:59"),
])
def test_near_midnight_starts_keep_their_work_date(zone: str, local: time | None,
                                                   day_start: str) -> None:
    h = make_harness(config={"timezone": zone, "day_start": day_start})
    try:
        start = None if local is None else datetime.combine(DAY, local, tzinfo=ZoneInfo(zone))
        created = h.connector.create(draft(start=start))
        held = h.stored(created.record_id)["start"]
        assert held.endswith("+0000") and held[:10] != DAY.isoformat()  # UTC is another day
        entries, _ = read(h, DateWindow(DAY, DAY))
        assert [(e.record_id, e.work_date) for e in entries] == [(created.record_id, DAY)]
        assert entries[0].start == h.connector.fit(draft(start=start)).start
        assert h.connector.lookup(created.record_id, "TEST-1").work_date == DAY
    finally:
        h.close()


def test_fit_holds_every_second_and_a_start_on_the_work_date(h: TrackerHarness) -> None:
    fitted = h.connector.fit(draft(seconds=5445, comment="text \n"))
    assert (fitted.seconds, fitted.comment) == (5445, "text")
    assert fitted.start == datetime.combine(DAY, time(9), tzinfo=h.tz)
    assert CAPABILITIES.updatable == {"seconds", "comment"} and CAPABILITIES.keeps_start


# --- headers -----------------------------------------------------------------------------

@pytest.mark.parametrize(("scheme", "org"), [("OAuth", {"org_id": "7654321"}),
                                             ("Bearer", {"cloud_org_id": "bpf3crucp1v2"})])
def test_auth_scheme_and_organisation_header_follow_the_config(scheme: str, org: dict) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"login": "veikus", "display": "Artem Veikus"})

    config = TrackerConfig(type="tracker", base_url="https://api.tracker.yandex.net",
                           token_env="TRACKER_TOKEN", auth_scheme=scheme, **org)
    connector = TrackerConnector("t", config, TOKEN, transport=httpx.MockTransport(answer))
    assert connector.check() == "Artem Veikus (veikus)"
    [request] = seen
    assert str(request.url) == "https://api.tracker.yandex.net/v2/myself"
    assert request.headers["Authorization"] == f"{scheme} {TOKEN}"
    header, value = ("X-Org-ID", "7654321") if "org_id" in org else (
        "X-Cloud-Org-ID", "bpf3crucp1v2")
    assert request.headers[header] == value
    [other] = {"x-org-id", "x-cloud-org-id"} - {header.lower()}
    assert other not in request.headers  # exactly one organisation header


def test_an_iam_token_with_a_cloud_organisation_works_end_to_end() -> None:
    h = make_harness(org_id=None, cloud_org_id="bpf3crucp1v2", token_scheme="Bearer",
                     config={"auth_scheme": "Bearer"})
    try:
        assert h.connector.check() == "Artem Veikus (veikus)"
        created = h.connector.create(draft())
        assert [e.record_id for e in read(h)[0]] == [created.record_id]
        oauth = TrackerConnector("t", h.config.model_copy(update={"auth_scheme": "OAuth"}),
                                 TOKEN, retry=FAST_RETRY)
        with pytest.raises(AuthError) as info:
            oauth.check()
        assert TOKEN not in str(info.value)
        x_org = TrackerConnector("t", h.config.model_copy(
            update={"org_id": "bpf3crucp1v2", "cloud_org_id": None}), TOKEN, retry=FAST_RETRY)
        with pytest.raises(ForbiddenError):
            x_org.check()
        oauth.close()
        x_org.close()
    finally:
        h.close()


# --- look-ups and writes particular to Tracker -------------------------------------------

def test_lookup_and_find_copies_on_an_issue(h: TrackerHarness) -> None:
    created = h.connector.create(draft())
    bad = h.seed_malformed(work_date=DAY)
    assert h.connector.lookup(created.record_id, "TEST-1").origin == ORIGIN
    assert isinstance(h.connector.lookup(bad, "TEST-1"), Skip)
    assert h.connector.lookup(created.record_id, "TEST-2") is None  # not on that issue
    assert h.connector.lookup(created.record_id, "GONE-1") is None  # issue 404
    before = h.server.log.count()
    assert h.connector.find_copies(ORIGIN, None) == []
    assert h.server.log.count() == before  # nowhere to look without an issue
    assert h.connector.find_copies(ORIGIN, "GONE-1") == []


def test_update_sends_duration_and_comment_and_refuses_a_new_date_or_issue(
        h: TrackerHarness) -> None:
    created = h.connector.create(draft())
    updated = h.connector.update(created, draft(seconds=28800, comment="more"))
    assert (updated.seconds, updated.comment, updated.start) == (28800, "more", created.start)
    assert int(updated.version) > int(created.version)
    before = h.server.log.count("PATCH")
    for change in ({"work_date": DAY + timedelta(days=1)}, {"task": "TEST-2"}):
        with pytest.raises(BadRequestError, match="delete and create"):
            h.connector.update(updated, draft(**change))
    assert h.server.log.count("PATCH") == before


def test_writing_to_an_issue_that_does_not_exist_is_not_found(h: TrackerHarness) -> None:
    with pytest.raises(NotFoundError):
        h.connector.create(draft(task="GONE-1"))
    assert h.server.log.count("POST", "/v2/issues/GONE-1/worklog", status=404) == 1


def test_check_names_the_tokens_user(h: TrackerHarness) -> None:
    assert h.connector.check() == "Artem Veikus (veikus)"
