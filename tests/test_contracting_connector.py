"""What is particular to the contracting connector, over real HTTP to its emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from harness import TOKEN
from harness_contracting import ContractingHarness, make_harness
from support.retry import FAST_RETRY

from connectors.base import (
    AuthError,
    BadRequestError,
    ConflictError,
    Connector,
    DateWindow,
    EntryDraft,
    ForbiddenError,
    NotFoundError,
    UnknownOutcomeError,
)
from connectors.contracting.client import ContractingConnector
from connectors.model import CanonicalEntry, Origin, Skip

MARCH = DateWindow(date(2026, 3, 1), date(2026, 3, 31))
KAITEN_123 = Origin(source="KAITEN", record_id="123")


@pytest.fixture
def h() -> Iterator[ContractingHarness]:
    harness = ContractingHarness(page_size=None)  # the documented, unpaged list
    yield harness
    harness.close()


def _draft(h: ContractingHarness, **changes: object) -> EntryDraft:
    fields = {"origin": KAITEN_123, "task": h.task(), "work_date": date(2026, 3, 2),
              "seconds": 5400, "comment": "Fixed login"}
    return EntryDraft(**{**fields, **changes})  # type: ignore[arg-type]


def _queries(h: ContractingHarness, path: str = "/api/v1/time-entries") -> list[dict]:
    """The query of every GET of ``path`` the connector sent, in order."""
    return [dict(r.url.params) for r in h.transport.requests
            if r.method == "GET" and r.url.path == path]


def _sent(h: ContractingHarness, method: str) -> int:
    return sum(r.method == method for r in h.transport.requests)


def test_capabilities_are_what_the_api_can_change_in_place(h: ContractingHarness) -> None:
    caps = h.connector.capabilities
    assert caps.updatable == {"task", "work_date", "seconds", "comment", "billable"}
    assert (caps.granularity_seconds, caps.keeps_start, caps.comment_limit) == (1, False, None)
    assert h.connector.reference_source == "CONTRACTING"


def test_reference_round_trip_from_a_kaiten_origin(h: ContractingHarness) -> None:
    created = h.connector.create(_draft(h))
    stored = h.stored(created.record_id)
    assert stored is not None
    assert (stored["referenceSource"], stored["referenceId"]) == ("KAITEN", "123")
    assert stored["description"] == "Fixed login"  # no marker in a contracting description
    assert created.origin == KAITEN_123 and created.is_copy
    [read] = list(h.connector.read(MARCH, {}))
    assert read == created


def test_put_replaces_the_whole_entry_and_keeps_reference_and_billable(
        h: ContractingHarness) -> None:
    billable = h.emulator.add_billable()
    created = h.connector.create(_draft(h, billable=billable))
    moved = _draft(h, task=h.other_task(), work_date=date(2026, 3, 9), seconds=61,
                   comment="Fixed login, really")
    updated = h.connector.update(created, moved)  # the draft names no billable
    stored = h.stored(created.record_id)
    assert stored is not None
    assert (stored["referenceSource"], stored["referenceId"], stored["billable"]) == (
        "KAITEN", "123", billable)
    assert (stored["project"], stored["date"], stored["durationSeconds"]) == (
        h.other_task(), "2026-03-09", 61)
    assert stored["description"] == "Fixed login, really"
    assert updated.origin == KAITEN_123 and updated.billable == billable
    assert updated.version != created.version


def test_update_with_a_billable_in_the_draft_moves_the_entry_to_it(h: ContractingHarness) -> None:
    old, new = h.emulator.add_billable(), h.emulator.add_billable()
    created = h.connector.create(_draft(h, billable=old))
    h.connector.update(created, _draft(h, billable=new))
    assert h.stored(created.record_id)["billable"] == new  # type: ignore[index]


def test_invoiced_entry_refuses_update_and_delete_with_conflict(h: ContractingHarness) -> None:
    billable = h.emulator.add_billable()
    created = h.connector.create(_draft(h, billable=billable))
    h.emulator.invoice(billable)
    before = h.stored(created.record_id)
    with pytest.raises(ConflictError, match="invoiced") as update_error:
        h.connector.update(created, _draft(h, seconds=60))
    with pytest.raises(ConflictError, match="invoiced"):
        h.connector.delete(created)
    assert update_error.value.status == 409
    assert h.stored(created.record_id) == before
    assert _sent(h, "PUT") == 1  # a refusal is not retried


def test_find_copies_asks_by_reference_and_returns_only_that_origin(h: ContractingHarness) -> None:
    mine = h.connector.create(_draft(h))
    h.connector.create(_draft(h, origin=Origin(source="KAITEN", record_id="124")))
    h.connector.create(_draft(h, origin=Origin(source="YANDEX_TRACKER", record_id="123")))
    h.seed_record(work_date=date(2026, 3, 2), seconds=60)
    assert h.connector.find_copies(KAITEN_123, None) == [mine]
    assert _queries(h)[-1] == {"referenceSource": "KAITEN", "referenceId": "123"}


def test_reference_source_narrowing_is_passed_to_the_server(h: ContractingHarness) -> None:
    kaiten = h.connector.create(_draft(h))
    h.connector.create(_draft(h, origin=Origin(source="YANDEX_TRACKER", record_id="9")))
    h.seed_record(work_date=date(2026, 3, 3), seconds=60)
    found = list(h.connector.read(MARCH, {"reference_source": "KAITEN"}))
    assert found == [kaiten]
    assert _queries(h)[-1] == {"dateFrom": "2026-03-01", "dateTo": "2026-03-31",
                               "referenceSource": "KAITEN"}


def test_project_filter_sends_one_query_per_project(h: ContractingHarness) -> None:
    third = h.emulator.add_project("Third")
    ids = {h.seed_record(work_date=date(2026, 3, 4), seconds=60, task=task)
           for task in (h.task(), h.other_task())}
    h.seed_record(work_date=date(2026, 3, 4), seconds=60, task=third)
    found = list(h.connector.read(MARCH, {"project_ids": [h.task(), h.other_task(), h.task()]}))
    assert {e.record_id for e in found} == ids
    assert [q.get("projectId") for q in _queries(h)] == [h.task(), h.other_task()]


def test_unknown_filter_key_is_refused_before_any_request(h: ContractingHarness) -> None:
    # A named connector error, as every connector method raises (config checks come first).
    with pytest.raises(BadRequestError, match="user_ids"):
        list(h.connector.read(MARCH, {"user_ids": [1]}))
    assert h.transport.requests == []


def test_link_paging_is_followed_to_the_last_page() -> None:
    h = ContractingHarness(page_size=3)
    try:
        ids = [h.seed_record(work_date=date(2026, 3, day), seconds=60 * day)
               for day in range(1, 9)]
        h.seed_malformed(work_date=date(2026, 3, 5))
        items = list(h.connector.read(MARCH, {}))
        assert sorted(i.record_id for i in items if isinstance(i, CanonicalEntry)) == sorted(ids)
        assert [i.reason for i in items if isinstance(i, Skip)] == [
            "durationSeconds must be a positive whole number, got None"]
        assert len(_queries(h)) == 3  # 9 records, 3 a page
    finally:
        h.close()


def test_impossible_date_is_a_skip_and_the_page_goes_on(h: ContractingHarness) -> None:
    bad = h.emulator.add_entry(project=h.task(), date="2026-02-30", duration_seconds=60)
    good = h.seed_record(work_date=date(2026, 3, 1), seconds=60)
    items = list(h.connector.read(DateWindow(date(2026, 2, 1), date(2026, 3, 31)), {}))
    skips = [i for i in items if isinstance(i, Skip)]
    assert [(s.record_id, "no such date" in s.reason) for s in skips] == [(bad, True)]
    assert [i.record_id for i in items if isinstance(i, CanonicalEntry)] == [good]


def test_tenant_and_bearer_headers_are_sent_and_check_names_the_tenant(
        h: ContractingHarness) -> None:
    assert h.connector.check() == f"tenant {h.config.tenant_id}"
    [sent] = h.transport.requests
    assert sent.headers["tenant-id"] == h.config.tenant_id
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    today = datetime.now(UTC).date().isoformat()
    assert dict(sent.url.params) == {"dateFrom": today, "dateTo": today}


def test_wrong_tenant_is_forbidden_and_wrong_token_is_auth_error(h: ContractingHarness) -> None:
    other = h.config.model_copy(update={"tenant_id": "tnt_other"})
    cases = ((other, TOKEN, ForbiddenError), (h.config, "tok-wrong-9d2e", AuthError))
    for config, token, error in cases:
        connector = ContractingConnector("billing", config, token, retry=FAST_RETRY)
        try:
            with pytest.raises(error) as raised:
                connector.check()
            assert token not in str(raised.value)
        finally:
            connector.close()


def test_lookup_finds_the_entry_by_id_and_none_once_deleted(h: ContractingHarness) -> None:
    created = h.connector.create(_draft(h))
    assert h.connector.lookup(created.record_id, h.task()) == created
    h.connector.delete(created)
    assert h.connector.lookup(created.record_id, h.task()) is None
    with pytest.raises(NotFoundError):
        h.connector.delete(created)
    assert len(_queries(h, f"/api/v1/time-entries/{created.record_id}")) == 2


def test_lost_create_answer_is_unknown_outcome_and_the_copy_is_found(h: ContractingHarness) -> None:
    h.server.faults.add("lost", method="POST", path="/api/v1/time-entries")
    with pytest.raises(UnknownOutcomeError):
        h.connector.create(_draft(h))
    assert _sent(h, "POST") == 1 and len(h.emulator.entries) == 1  # never re-sent blindly
    [adopted] = h.connector.find_copies(KAITEN_123, h.task())
    assert (adopted.seconds, adopted.comment) == (5400, "Fixed login")


def test_an_entry_answered_outside_the_window_is_dropped(h: ContractingHarness) -> None:
    inside = {"id": "tsh_in", "project": h.task(), "date": "2026-03-31", "durationSeconds": 60}
    outside = {**inside, "id": "tsh_out", "date": "2026-04-01"}
    h.server.faults.add("status", status=200, body=json.dumps({"data": [inside, outside]}))
    assert [e.record_id for e in h.connector.read(MARCH, {})] == ["tsh_in"]


def test_harness_pages_by_default_and_skips_author_tests() -> None:
    h = make_harness()
    try:
        assert isinstance(h.connector, Connector) and h.page_size == 50
        record = h.seed_record(work_date=date(2026, 3, 2), seconds=90, comment="c", author="x")
        assert h.stored(record)["durationSeconds"] == 90  # type: ignore[index]
        with pytest.raises(pytest.skip.Exception, match="no author"):
            h.authors()
    finally:
        h.close()


def test_find_copies_keeps_only_entries_that_really_carry_the_origin(
        h: ContractingHarness) -> None:
    # A server that ignored referenceId must not make someone else's entry ours.
    base = {"project": h.task(), "date": "2026-03-02", "durationSeconds": 60,
            "referenceSource": "KAITEN"}
    answer = {"data": [{**base, "id": "tsh_a", "referenceId": "123"},
                       {**base, "id": "tsh_b", "referenceId": "999"}]}
    h.server.faults.add("status", status=200, body=json.dumps(answer))
    assert [e.record_id for e in h.connector.find_copies(KAITEN_123, None)] == ["tsh_a"]
