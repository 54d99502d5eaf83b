"""The Tracker mapper: examples from the documents, and round trips as properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.base import EntryDraft
from connectors.marker import split_marker
from connectors.model import CanonicalEntry, MappingError, Origin
from connectors.tracker import mapper
from connectors.tracker.mapper import TrackerMapping
from connectors.units import (
    format_tracker_datetime,
    normalise_tracker_duration,
    parse_tracker_datetime,
)

MOSCOW = TrackerMapping(connector="tracker", reference_source="YANDEX_TRACKER",
                        tz=ZoneInfo("Europe/Moscow"))
HONOLULU = TrackerMapping(connector="tracker", reference_source="YANDEX_TRACKER",
                          tz=ZoneInfo("Pacific/Honolulu"), day_start=time(23, 30))
ORIGIN = Origin(source="KAITEN", record_id="300149")
DOC_WORKLOG: dict[str, Any] = {
    "self": "https://api.tracker.yandex.net/v2/issues/TEST-324/worklog/1",
    "id": 1,
    "version": 1402121720882,
    "issue": {"self": "https://api.tracker.yandex.net/v2/issues/TEST-324",
              "id": "515ec9eae4b09cfa984e2047", "key": "TEST-324", "display": "important issue"},
    "comment": "important comment",
    "createdBy": {"self": "https://api.tracker.yandex.net/v2/users/1120000000014909",
                  "id": "veikus", "display": "Artem Veikus"},
    "updatedBy": {"self": "https://api.tracker.yandex.net/v2/users/1120000000014909",
                  "id": "veikus", "display": "Artem Veikus"},
    "createdAt": "2018-06-06T08:42:06.258+0000",
    "updatedAt": "2018-06-06T08:42:06.258+0000",
    "start": "2018-06-06T08:41:58.000+0000",
    "duration": "P3W",
}


def stored(body: dict[str, Any], task: str, workday_hours: float = 8) -> dict[str, Any]:
    """What Tracker answers for a created ``body``: normalised duration, start in UTC."""
    start = parse_tracker_datetime(body["start"]).astimezone(UTC)
    return {**DOC_WORKLOG, "id": "77", "issue": {**DOC_WORKLOG["issue"], "key": task},
            "comment": body["comment"], "start": format_tracker_datetime(start),
            "duration": normalise_tracker_duration(body["duration"], workday_hours)}


# --- examples ----------------------------------------------------------------------------

def test_the_documents_example_maps_to_an_original() -> None:
    entry = mapper.to_entry(DOC_WORKLOG, MOSCOW)
    assert entry == CanonicalEntry(
        connector="tracker", reference_source="YANDEX_TRACKER", record_id="1",
        origin=Origin(source="YANDEX_TRACKER", record_id="1"), task="TEST-324",
        author="veikus", work_date=date(2018, 6, 6),
        start=datetime(2018, 6, 6, 8, 41, 58, tzinfo=UTC),
        seconds=3 * 5 * 8 * 3600, comment="important comment", version="1402121720882")
    assert not entry.is_copy


def test_a_marked_comment_is_a_copy_and_the_marker_is_stripped() -> None:
    raw = {**DOC_WORKLOG, "comment": "Fixed login  [timebridge:KAITEN:300149] \n"}
    entry = mapper.to_entry(raw, MOSCOW)
    assert (entry.comment, entry.origin, entry.is_copy) == ("Fixed login", ORIGIN, True)


def test_only_the_last_marker_counts() -> None:
    text = "see [timebridge:OLD:1] and [x] [timebridge:KAITEN:300149]"
    assert split_marker(text) == ("see [timebridge:OLD:1] and [x]", ORIGIN)
    assert split_marker("[timebridge:OLD:1] in the middle") == (
        "[timebridge:OLD:1] in the middle", None)
    assert split_marker(None) == ("", None)


@pytest.mark.parametrize(("change", "reason"), [
    ({"duration": None}, "no duration"),
    ({"duration": "P1Y"}, "years"),
    ({"duration": "P1M"}, "years and months"),
    ({"duration": "PT0S"}, "longer than zero"),
    ({"duration": "three hours"}, "ISO 8601"),
    ({"duration": 3600}, "ISO 8601"),
    ({"start": "2018-02-30T10:00:00.000+0000"}, "no such date"),
    ({"start": "2018-06-06T08:41:58"}, "with an offset"),
    ({"start": None}, "start"),
    ({"issue": None}, "no issue key"),
    ({"issue": {"id": "515ec9eae4b09cfa984e2047"}}, "no issue key"),
    ({"id": None}, "without an id"),
    ({"comment": ["not", "text"]}, "comment"),
])
def test_unmappable_worklogs_raise_with_the_reason(change: dict, reason: str) -> None:
    with pytest.raises(MappingError, match=reason):
        mapper.to_entry({**DOC_WORKLOG, **change}, MOSCOW)


def test_a_worklog_that_is_not_an_object_raises() -> None:
    with pytest.raises(MappingError, match="not a JSON object"):
        mapper.to_entry(["a", "list"], MOSCOW)


@pytest.mark.parametrize(("start", "m", "day"), [
    ("2026-03-09T21:30:00.000+0000", MOSCOW, date(2026, 3, 10)),    # 00:30 in Moscow
    ("2026-03-10T20:59:59.999+0000", MOSCOW, date(2026, 3, 10)),    # 23:59 in Moscow
    ("2026-03-11T09:30:00.000+0000", HONOLULU, date(2026, 3, 10)),  # 23:30 in Honolulu
    ("2026-03-10T10:15:00.000+0000", HONOLULU, date(2026, 3, 10)),  # 00:15 in Honolulu
])
def test_the_work_date_is_the_starts_date_in_the_configured_zone(
        start: str, m: TrackerMapping, day: date) -> None:
    assert mapper.to_entry({**DOC_WORKLOG, "start": start}, m).work_date == day
    assert mapper.work_date_of({"start": start}, m) == day


def test_create_body_of_a_date_only_draft() -> None:
    draft = EntryDraft(origin=ORIGIN, task="TEST-1", work_date=date(2026, 11, 20),
                       seconds=28800, comment="Fixed login  ")
    assert mapper.create_body(draft, MOSCOW) == {
        "start": "2026-11-20T09:00:00.000+0300", "duration": "P1D",
        "comment": "Fixed login [timebridge:KAITEN:300149]"}
    assert mapper.create_body(draft, HONOLULU)["start"] == "2026-11-20T23:30:00.000-1000"
    assert mapper.update_body(draft.model_copy(update={"comment": " "}), MOSCOW) == {
        "duration": "P1D", "comment": "[timebridge:KAITEN:300149]"}


def test_fit_keeps_a_start_on_the_work_date_and_replaces_one_elsewhere() -> None:
    tz = MOSCOW.tz
    on_day = datetime(2026, 11, 20, 23, 59, 59, 999999, tzinfo=tz)
    draft = EntryDraft(origin=ORIGIN, task="TEST-1", work_date=date(2026, 11, 20),
                       start=on_day, seconds=5445, billable="bil_1")
    fitted = mapper.fit_draft(draft, MOSCOW)
    assert fitted.start == on_day.replace(microsecond=999000)
    assert (fitted.seconds, fitted.billable) == (5445, None)
    elsewhere = draft.model_copy(update={"start": on_day + timedelta(seconds=1)})
    assert mapper.fit_draft(elsewhere, MOSCOW).start == datetime(2026, 11, 20, 9, tzinfo=tz)


def test_an_origin_id_a_marker_cannot_hold_is_refused() -> None:
    with pytest.raises(MappingError, match="marker"):
        mapper.marker(Origin(source="SRC", record_id="a b]"))


# --- properties --------------------------------------------------------------------------

ZONES = st.sampled_from([ZoneInfo(z) for z in ("Europe/Moscow", "Pacific/Honolulu", "UTC",
                                               "Asia/Kathmandu", "America/St_Johns")])
SOURCES = st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True)
IDS = st.from_regex(r"[A-Za-z0-9_-]{1,24}", fullmatch=True)
ORIGINS = st.builds(Origin, source=SOURCES, record_id=IDS)
OLD_MARKERS = st.builds(lambda o: f"[timebridge:{o.source}:{o.record_id}]", ORIGINS)
TEXT = st.text(alphabet=st.one_of(st.characters(), st.sampled_from("[]: \n\t")), max_size=60)
COMMENTS = st.one_of(TEXT, st.builds("{}{}{}".format, TEXT, OLD_MARKERS, TEXT),
                     st.builds("{} {}  ".format, TEXT, OLD_MARKERS))
DAYS = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
PROPERTY = settings(max_examples=200, deadline=None)


@st.composite
def drafts(draw: st.DrawFn) -> EntryDraft:
    day = draw(DAYS)
    start = draw(st.one_of(st.none(), st.datetimes(
        min_value=datetime.combine(day, time()) - timedelta(days=1),
        max_value=datetime.combine(day, time()) + timedelta(days=2), timezones=ZONES)))
    return EntryDraft(origin=draw(ORIGINS), work_date=day, start=start,
                      task=draw(st.from_regex(r"[A-Z]{1,8}-[1-9][0-9]{0,5}", fullmatch=True)),
                      seconds=draw(st.integers(1, 4 * 5 * 8 * 3600)), comment=draw(COMMENTS))


_FALL_BACK = ZoneInfo("America/St_Johns")   # 01:00 on 2048-11-01 happens twice there


@PROPERTY
@given(drafts(), ZONES, st.sampled_from([8, 7.5, 6]), st.times())
@example(EntryDraft(origin=Origin(source="KAITEN", record_id="1"), task="ABC-1",
                    work_date=date(2048, 11, 1), seconds=3600, comment="x",
                    start=datetime(2048, 11, 1, 1, 0, fold=1, tzinfo=_FALL_BACK)),
         _FALL_BACK, 8, time(9))
def test_a_draft_written_and_read_back_is_the_fitted_draft(
        draft: EntryDraft, tz: ZoneInfo, workday_hours: float, day_start: time) -> None:
    m = TrackerMapping(connector="tracker", reference_source="YANDEX_TRACKER", tz=tz,
                       workday_hours=workday_hours, day_start=day_start)
    fitted = mapper.fit_draft(draft, m)
    body = mapper.create_body(draft, m)
    entry = mapper.to_entry(stored(body, draft.task, workday_hours), m)
    assert (entry.task, entry.work_date, entry.start, entry.seconds, entry.comment,
            entry.origin) == (fitted.task, fitted.work_date, fitted.start, fitted.seconds,
                              fitted.comment, fitted.origin)
    assert entry.work_date == draft.work_date and entry.is_copy
    assert mapper.fit_draft(fitted, m) == fitted


@PROPERTY
@given(COMMENTS, ORIGINS)
def test_the_marker_round_trips_for_any_comment(text: str, origin: Origin) -> None:
    comment = mapper.compose_comment(text, origin)
    assert comment.endswith(mapper.marker(origin))
    assert split_marker(comment) == (text.rstrip(), origin)


@PROPERTY
@given(st.fixed_dictionaries({
    "id": st.one_of(st.integers(), st.text(max_size=5), st.none(), st.booleans()),
    "issue": st.one_of(st.none(), st.fixed_dictionaries({"key": st.one_of(st.text(), st.none())})),
    "start": st.one_of(st.text(max_size=30), st.none(), st.just("2026-11-20T09:00:00.000+0300")),
    "duration": st.one_of(st.text(max_size=12), st.none(), st.integers(), st.just("PT1H")),
    "comment": st.one_of(st.none(), st.text(max_size=10), st.integers()),
}))
def test_any_worklog_maps_or_raises_a_mapping_error(raw: dict[str, Any]) -> None:
    try:
        entry = mapper.to_entry(raw, MOSCOW)
    except MappingError as error:
        assert str(error)
    else:
        assert entry.seconds > 0 and entry.task == raw["issue"]["key"]
