"""The contracting mapper: the document's entry, unmappable records, and round trips."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import EntryDraft
from connectors.contracting.emulator import stored_entry, validate_body
from connectors.contracting.mapper import create_body, fit_draft, to_entry, update_body
from connectors.model import MappingError, Origin

EXAMPLE = {
    "id": "tsh_8f4d4gk1p9h2x0s7v3n5c1a9", "project": "prj_8f4d4gk1p9h2x0s7v3n5c1a9",
    "billable": "bil_eym9hcqlh1m7v3d36blf0vfx", "date": "2023-10-05", "durationSeconds": 3600,
    "createdAt": "2023-10-05T14:48:00.000Z", "updatedAt": "2023-10-05T14:48:00.000Z",
    "description": "Implemented authentication flow.", "referenceSource": "JIRA",
    "referenceId": "PROJ-123",
}
STAMP = "2026-01-01T00:00:00.000Z"


def _map(**changes: Any) -> Any:
    raw = {**EXAMPLE, **changes}
    return to_entry({k: v for k, v in raw.items() if v is not ...},
                          connector="billing", reference_source="CONTRACTING")


def test_document_example_maps_every_field() -> None:
    entry = _map()
    assert (entry.connector, entry.record_id) == ("billing", EXAMPLE["id"])
    assert entry.task == EXAMPLE["project"] and entry.billable == EXAMPLE["billable"]
    assert entry.work_date == date(2023, 10, 5) and entry.seconds == 3600
    assert entry.comment == "Implemented authentication flow."
    assert entry.version == "2023-10-05T14:48:00.000Z"
    assert entry.author is None and entry.start is None
    assert entry.origin == Origin(source="JIRA", record_id="PROJ-123") and entry.is_copy


@pytest.mark.parametrize("changes", [
    {"referenceSource": None, "referenceId": None}, {"referenceSource": None},
    {"referenceId": ""}, {"referenceSource": ..., "referenceId": ...},
])
def test_without_a_whole_reference_the_entry_is_its_own_origin(changes: dict[str, Any]) -> None:
    entry = _map(**changes)
    assert entry.origin == Origin(source="CONTRACTING", record_id=EXAMPLE["id"])
    assert not entry.is_copy


def test_expanded_project_and_billable_give_their_ids_and_floats_their_seconds() -> None:
    entry = _map(project={"id": "prj_x", "name": "X"}, billable={"id": "bil_y"},
                 durationSeconds=5400.0, description=None, referenceId=42)
    assert (entry.task, entry.billable, entry.seconds) == ("prj_x", "bil_y", 5400)
    assert entry.comment == "" and entry.origin == Origin(source="JIRA", record_id="42")


@pytest.mark.parametrize("changes, reason", [
    ({"durationSeconds": None}, "durationSeconds"), ({"durationSeconds": 0}, "durationSeconds"),
    ({"durationSeconds": -60}, "durationSeconds"), ({"durationSeconds": "3600"}, "durationSeconds"),
    ({"durationSeconds": 1.5}, "durationSeconds"), ({"durationSeconds": True}, "durationSeconds"),
    ({"date": "2026-02-30"}, "no such date"), ({"date": "05.10.2023"}, "YYYY-MM-DD"),
    ({"date": None}, "YYYY-MM-DD"), ({"project": None}, "no project"),
    ({"project": ""}, "no project"), ({"project": ...}, "no project"),
    ({"project": ["prj"]}, "project"), ({"id": ...}, "without an id"),
    ({"id": ""}, "without an id"),
    ({"description": 7}, "description"), ({"referenceSource": {"a": 1}}, "referenceSource"),
])
def test_unmappable_records_raise_mapping_error_with_reason(changes: dict[str, Any],
                                                            reason: str) -> None:
    with pytest.raises(MappingError, match=reason):
        _map(**changes)


def test_a_record_that_is_not_an_object_is_unmappable() -> None:
    with pytest.raises(MappingError, match="not a JSON object"):
        to_entry(["tsh_1"], connector="billing", reference_source="CONTRACTING")


def _draft(**changes: Any) -> EntryDraft:
    fields = {"origin": Origin(source="KAITEN", record_id="123"), "task": "prj_a",
              "work_date": date(2026, 3, 2), "seconds": 61, "comment": "x"}
    return EntryDraft(**{**fields, **changes})


def test_body_always_carries_every_field_so_a_put_erases_nothing() -> None:
    body = update_body(_draft())
    assert create_body(_draft()) == body == {
        "projectId": "prj_a", "date": "2026-03-02", "durationSeconds": 61, "description": "x",
        "referenceSource": "KAITEN", "referenceId": "123", "billableId": None}


def test_body_keeps_the_given_billable_unless_the_draft_names_one() -> None:
    assert update_body(_draft(), billable="bil_old")["billableId"] == "bil_old"
    assert update_body(_draft(billable="bil_new"), billable="bil_old")["billableId"] == (
        "bil_new")


def test_fit_drops_the_start_and_keeps_seconds_to_the_second() -> None:
    draft = _draft(start=datetime(2026, 3, 2, 9, tzinfo=UTC), seconds=3601)
    fitted = fit_draft(draft)
    assert fitted.start is None and fitted.seconds == 3601
    assert fit_draft(fitted) == fitted


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
_ID = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)
_COMMENTS = st.one_of(
    _TEXT,
    st.builds(lambda a, b: f"{a} [timebridge:KAITEN:{b}] {a}", _TEXT, st.integers(1, 10**9)),
    st.builds(lambda a: f"{a} [timebridge:YANDEX_TRACKER:300149]", _TEXT),
    st.builds(lambda a, b: f"[{a}]] [[{b}", _TEXT, _TEXT),
)
_DRAFTS = st.builds(
    EntryDraft,
    origin=st.builds(Origin, source=st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True),
                     record_id=_ID),
    task=_ID, work_date=st.dates(date(1900, 1, 1), date(2999, 12, 31)),
    start=st.none() | st.datetimes(timezones=st.just(UTC)),
    seconds=st.integers(1, 10**7), comment=_COMMENTS, billable=st.none() | _ID,
)


@given(draft=_DRAFTS)
def test_draft_to_body_to_stored_entry_maps_back_to_the_fitted_draft(draft: EntryDraft) -> None:
    body = create_body(draft)
    assert validate_body(body) == {}  # what we send is what the API accepts
    raw = stored_entry("tsh_roundtrip", body, created=STAMP, updated=STAMP)
    entry = to_entry(raw, connector="billing", reference_source="CONTRACTING")
    fitted = fit_draft(draft)
    assert entry.origin == fitted.origin
    assert (entry.task, entry.work_date, entry.start) == (fitted.task, fitted.work_date, None)
    assert (entry.seconds, entry.comment, entry.billable) == (
        fitted.seconds, fitted.comment, fitted.billable)


@given(comment=_COMMENTS)
def test_description_is_verbatim_and_never_read_as_a_marker(comment: str) -> None:
    entry = _map(description=comment, referenceSource=None, referenceId=None)
    assert entry.comment == comment
    assert entry.origin == Origin(source="CONTRACTING", record_id=EXAMPLE["id"])
