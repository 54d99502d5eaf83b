"""The Kaiten mapper: raw time logs -> entries, drafts -> bodies, the comment marker."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import EntryDraft
from connectors.kaiten import mapper
from connectors.marker import split_marker
from connectors.model import MappingError, Origin
from connectors.units import Rounding

DOC_RECORD = {  # the fields of GET /time-logs (seed 000)
    "id": 7, "card_id": 1001, "user_id": 34, "role_id": -1, "author_id": 34, "updater_id": 34,
    "time_spent": 90, "for_date": "2025-12-24", "comment": None,
    "created": "2025-12-24T10:00:00.000Z", "updated": "2025-12-24T11:00:00.000Z",
    "role": {"id": -1, "name": "Employee"}, "user": {"id": 34}, "card": {"id": 1001},
}
TRACKER = Origin(source="YANDEX_TRACKER", record_id="300149")


def _entry(raw: dict):
    return mapper.to_entry(raw, connector="kaiten", reference_source="KAITEN")


def test_documented_record_maps_to_an_original() -> None:
    entry = _entry(DOC_RECORD)
    assert (entry.record_id, entry.task, entry.author) == ("7", "1001", "34")
    assert entry.work_date == date(2025, 12, 24) and entry.start is None
    assert entry.seconds == 5400 and entry.comment == ""
    assert entry.version == "2025-12-24T11:00:00.000Z"
    assert entry.origin == Origin(source="KAITEN", record_id="7") and not entry.is_copy


def test_marker_becomes_the_origin_and_is_stripped() -> None:
    entry = _entry({**DOC_RECORD, "comment": "Fixed login  [timebridge:YANDEX_TRACKER:300149]"})
    assert entry.origin == TRACKER and entry.comment == "Fixed login" and entry.is_copy


def test_only_a_marker_at_the_end_counts() -> None:
    entry = _entry({**DOC_RECORD, "comment": "see [timebridge:KAITEN:1] later"})
    assert entry.origin.record_id == "7" and entry.comment == "see [timebridge:KAITEN:1] later"


def test_utc_midnight_timestamp_for_date_is_that_date() -> None:
    assert _entry({**DOC_RECORD, "for_date": "2025-12-24T00:00:00.000Z"}).work_date == date(
        2025, 12, 24)


@pytest.mark.parametrize("change, reason", [
    ({"time_spent": None}, "time_spent"), ({"time_spent": 0}, "time_spent"),
    ({"time_spent": -5}, "time_spent"), ({"time_spent": "30"}, "time_spent"),
    ({"time_spent": 1.5}, "time_spent"), ({"time_spent": True}, "time_spent"),
    ({"for_date": "2025-02-30"}, "for_date"), ({"for_date": "garbage"}, "for_date"),
    ({"for_date": None}, "for_date"), ({"for_date": "2025-12-24T21:00:00.000Z"}, "for_date"),
    ({"card_id": None}, "card_id"), ({"id": None}, "without an id"),
    ({"comment": 5}, "comment"),
])
def test_unmappable_records_raise_with_the_reason(change, reason) -> None:
    with pytest.raises(MappingError, match=reason):
        _entry({**DOC_RECORD, **change})


def test_not_an_object_raises() -> None:
    with pytest.raises(MappingError, match="not a JSON object"):
        _entry(["id", 7])  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds, rounding, minutes", [
    (5445, Rounding.NEAREST, 91), (5445, Rounding.UP, 91), (5445, Rounding.DOWN, 90),
    (10, Rounding.NEAREST, 1), (10, Rounding.DOWN, 1), (5430, Rounding.NEAREST, 91),
])
def test_rounding_into_time_spent(seconds, rounding, minutes) -> None:
    draft = EntryDraft(origin=TRACKER, task="1001", work_date=date(2025, 12, 1), seconds=seconds)
    body = mapper.create_body(draft, role_id=-1, rounding=rounding)
    assert body["time_spent"] == minutes
    assert mapper.fit_draft(draft, rounding).seconds == minutes * 60


def test_create_body_has_the_documented_fields() -> None:
    draft = EntryDraft(origin=TRACKER, task="1001", work_date=date(2025, 12, 24), seconds=3600,
                       comment="Fixed login")
    assert mapper.create_body(draft, role_id=7, rounding=Rounding.NEAREST) == {
        "role_id": 7, "time_spent": 60, "for_date": "2025-12-24",
        "comment": "Fixed login [timebridge:YANDEX_TRACKER:300149]"}
    assert "role_id" not in mapper.update_body(draft, rounding=Rounding.NEAREST)


def test_long_comment_is_cut_with_an_ellipsis_and_keeps_the_marker() -> None:
    sent = mapper.compose_comment("é" * 5000, TRACKER)
    assert len(sent) == mapper.COMMENT_LIMIT
    assert sent.endswith("… [timebridge:YANDEX_TRACKER:300149]")
    assert split_marker(sent) == (mapper.fit_comment("é" * 5000, TRACKER), TRACKER)


@pytest.mark.parametrize("task", ["prj_aaaa", "", "-3", "0", "１２"])
def test_card_id_refuses_what_is_not_a_card(task) -> None:
    with pytest.raises(MappingError, match="not a Kaiten card id"):
        mapper.card_id(task)


# -- properties --------------------------------------------------------------------

ids = st.one_of(st.integers(1, 10**12).map(str),
                st.text(st.characters(exclude_characters="[]", exclude_categories=("Z", "C")),
                         min_size=1, max_size=30).filter(lambda s: s.strip() == s and s))
origins = st.builds(Origin, source=st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True),
                    record_id=ids.filter(lambda s: not any(c.isspace() for c in s)))
comments = st.one_of(
    st.text(max_size=200),
    st.text(alphabet="ab []:\n\t", max_size=60),
    st.builds(lambda a, o, b: f"{a}{mapper.marker(o)}{b}", st.text(max_size=30), origins,
              st.text(max_size=30)),
    st.builds(lambda a, o: f"{a} {mapper.marker(o)}", st.text(max_size=30), origins),
    st.text(min_size=4000, max_size=4200),
)
drafts = st.builds(
    EntryDraft, origin=origins, task=st.integers(1, 10**9).map(str),
    work_date=st.dates(date(1990, 1, 1), date(2100, 12, 31)), seconds=st.integers(1, 10**6),
    comment=comments)


@settings(max_examples=300, deadline=None)
@given(draft=drafts, rounding=st.sampled_from(list(Rounding)), log_id=st.integers(1, 10**9))
def test_draft_to_body_to_stored_to_entry_gives_the_fitted_draft(draft, rounding, log_id) -> None:
    body = mapper.create_body(draft, role_id=-1, rounding=rounding)
    assert len(body["comment"]) <= mapper.COMMENT_LIMIT
    # What Kaiten stores and answers for that body.
    stored = {**body, "id": log_id, "card_id": int(draft.task), "user_id": 34,
              "updated": "2025-12-24T11:00:00.000Z"}
    entry = _entry(stored)
    fitted = mapper.fit_draft(draft, rounding)
    assert entry.origin == draft.origin and entry.task == draft.task
    assert entry.work_date == draft.work_date
    assert entry.seconds == fitted.seconds and entry.seconds % 60 == 0
    assert abs(entry.seconds - draft.seconds) < 60 or draft.seconds < 60
    assert entry.comment == fitted.comment
    assert mapper.fit_draft(fitted, rounding) == fitted  # fitting is stable


@settings(max_examples=500, deadline=None)
@given(text=comments, origin=origins)
def test_marker_round_trip_for_any_comment(text, origin) -> None:
    sent = mapper.compose_comment(text, origin)
    assert sent.endswith(mapper.marker(origin)) and len(sent) <= mapper.COMMENT_LIMIT
    back, found = split_marker(sent)
    assert found == origin
    assert back == mapper.fit_comment(text, origin)
    if len(text.rstrip()) + len(mapper.marker(origin)) < mapper.COMMENT_LIMIT:
        assert back == text.rstrip()  # short enough: nothing but trailing space is lost
    else:
        assert back.endswith(mapper.ELLIPSIS)
