"""Where the real services may differ from their documents: the bridge is right, or loud.

Each test switches an emulator to a behaviour the documents leave open (a clamped page
size, a search that ignores ``page``, a capped search, an update body that ignores a
field, rate-limit resets in milliseconds) and runs real passes over HTTP against it.
"""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta

import harness_contracting
import harness_kaiten
import harness_tracker
import httpx
import pytest
from harness import TOKEN
from memory_connector import MemoryConnector

from bridge.engine.actions import Kind, RouteRules
from bridge.engine.sync import PassSpec, RouteResult, run_pass
from bridge.store.state import StateStore
from connectors.base import ConflictError, DateWindow, EntryDraft
from connectors.model import CanonicalEntry, Origin

WINDOW = DateWindow(date(2026, 11, 1), date(2026, 11, 30))
WRITES = (Kind.CREATE, Kind.UPDATE, Kind.DELETE)


def rules(source: str, source_ref: str, target, task: str) -> RouteRules:
    return RouteRules(name="r", source=source, source_ref=source_ref, window=WINDOW,
                      fit=target.fit, capabilities=target.capabilities, default_task=task)


def writes(result: RouteResult) -> list:
    return [o for o in result.outcomes if o.kind in WRITES]


# --- verified writes ----------------------------------------------------------------------

def test_an_ignored_patch_field_ends_as_a_replace_never_a_link_saying_synced() -> None:
    h = harness_kaiten.make_harness(patch_ignores_for_date=True)
    source = MemoryConnector("src", "SRC")
    store = StateStore("sqlite://")
    try:
        spec = PassSpec(source, h.connector, rules("src", "SRC", h.connector, h.task()))
        origin = source.records[source.add(task="T", work_date=date(2026, 11, 10),
                                           seconds=1800, comment="x")]
        first = run_pass(spec, store)
        assert [o.kind for o in writes(first)] == [Kind.CREATE] and not first.failed

        source.edit(origin.record_id, work_date=date(2026, 11, 12))
        second = run_pass(spec, store)
        (update,) = writes(second)
        assert update.kind is Kind.UPDATE and update.status == "done", update
        assert "did not store work_date" in update.reason and "replaced" in update.reason
        copies = [log for log in h.emulator.time_logs.values()
                  if (log["comment"] or "").endswith(f"[timebridge:SRC:{origin.record_id}]")]
        assert [c["for_date"] for c in copies] == ["2026-11-12"]   # one copy, on the new date
        assert "work_date" in store.fixed_fields("kaiten")
        link = store.link("r", f"SRC:{origin.record_id}")
        assert link.status == "linked" and link.target_record_id == str(copies[0]["id"])

        assert writes(run_pass(spec, store)) == []   # a second sync after a sync: nothing
        patches = h.server.log.count("PATCH")
        source.edit(origin.record_id, work_date=date(2026, 11, 14))
        fourth = run_pass(spec, store)
        # Learned: no PATCH is tried again for a date; the copy is replaced straight away.
        assert [o.kind for o in writes(fourth)] == [Kind.DELETE, Kind.CREATE]
        assert h.server.log.count("PATCH") == patches
        assert [log["for_date"] for log in h.emulator.time_logs.values()
                if (log["comment"] or "").endswith(f":{origin.record_id}]")] == ["2026-11-14"]
    finally:
        store.close()
        h.close()


def test_a_create_that_did_not_store_what_was_sent_is_a_conflict_and_linked_once() -> None:
    h = harness_contracting.ContractingHarness(page_size=None)
    source = MemoryConnector("src", "SRC")
    store = StateStore("sqlite://")
    real_create = h.connector.create

    def forgetful(draft: EntryDraft) -> CanonicalEntry:  # a server that drops the comment
        return real_create(draft.model_copy(update={"comment": ""}))

    h.connector.create = forgetful  # type: ignore[method-assign]
    try:
        spec = PassSpec(source, h.connector, rules("src", "SRC", h.connector, h.task()))
        origin = source.records[source.add(task="T", work_date=date(2026, 11, 10),
                                           seconds=600, comment="keep")]
        result = run_pass(spec, store)
        (outcome,) = [o for o in result.outcomes if o.action.kind is Kind.CREATE]
        assert outcome.kind is Kind.CONFLICT and "did not store comment" in outcome.reason
        assert store.link("r", f"SRC:{origin.record_id}").conflict == outcome.reason
        assert writes(run_pass(spec, store)) == []          # linked: never made twice
        assert len(h.emulator.entries) == 1
    finally:
        store.close()
        h.close()


# --- complete reads -----------------------------------------------------------------------

def _tracker_to_memory(**behaviour) -> tuple:
    h = harness_tracker.make_harness(**behaviour)
    target = MemoryConnector("tgt", "TGT")
    spec = PassSpec(h.connector, target, rules("tracker", "YANDEX_TRACKER", target, "T-1"))
    return h, target, spec


def test_a_read_stopped_short_is_reported_and_deletes_nothing() -> None:
    h, target, spec = _tracker_to_memory()
    store = StateStore("sqlite://")
    try:
        ids = [h.seed_record(work_date=date(2026, 11, 1 + i % 28), seconds=600)
               for i in range(130)]
        assert len(writes(run_pass(spec, store))) == 130
        h.emulator.search_paging = "ignore-page"   # from now on, page 2 is page 1 again
        h.emulator._worklogs.pop(int(ids[-1]))    # deleted in Tracker, on the second page
        result = run_pass(spec, store)
        assert result.failed and "stopped short" in result.error
        assert "page 2 repeats page 1" in result.error
        assert writes(result) == [] and len(target.records) == 130
        h.emulator.search_paging = "headers"       # the server pages again: now it goes
        after = run_pass(spec, store)
        assert [o.kind for o in writes(after)] == [Kind.DELETE] and not after.failed
    finally:
        store.close()
        h.close()


def test_a_target_with_unknown_paging_is_reported_and_nothing_is_deleted() -> None:
    h = harness_contracting.ContractingHarness(page_size=5)
    source = MemoryConnector("src", "SRC")
    store = StateStore("sqlite://")
    try:
        spec = PassSpec(source, h.connector, rules("src", "SRC", h.connector, h.task()))
        made = [source.add(task="T", work_date=date(2026, 11, 1 + i), seconds=600)
                for i in range(12)]
        assert len(writes(run_pass(spec, store))) == 12
        h.emulator.paging = "unknown"
        source.remove(made[0])
        result = run_pass(spec, store)
        assert result.failed and "does not understand (pagination)" in result.error
        assert writes(result) == [] and len(h.emulator.entries) == 12
    finally:
        store.close()
        h.close()


def test_the_tracker_issue_list_is_followed_to_a_worklog_on_page_3() -> None:
    h = harness_tracker.make_harness(default_per_page=5, max_per_page=5)
    try:
        ids = [h.seed_record(work_date=date(2026, 11, 3), seconds=600) for _ in range(12)]
        found = h.connector.lookup(ids[-1], h.task())          # on page 3 of 5-per-page
        assert isinstance(found, CanonicalEntry) and found.record_id == ids[-1]
        assert h.server.log.count("GET", "/v2/issues/TEST-1/worklog") == 3
        copy = h.connector.create(EntryDraft(Origin(source="SRC", record_id="9"), h.task(),
                                             date(2026, 11, 4), seconds=60))
        assert [c.record_id for c in h.connector.find_copies(
            Origin(source="SRC", record_id="9"), h.task())] == [copy.record_id]
        assert h.connector.lookup("999999", h.task()) is None   # proved gone: every page read
    finally:
        h.close()


@pytest.mark.parametrize("cap_mode", ["page", "total"])
def test_a_search_over_the_cap_completes_by_splitting(cap_mode: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="timebridge.tracker")
    h = harness_tracker.make_harness(items_cap=60, cap_mode=cap_mode, max_per_page=20)
    try:
        ids = {h.seed_record(work_date=date(2026, 11, 1 + i % 28), seconds=600)
               for i in range(250)}
        got = [i.record_id for i in h.connector.read(WINDOW, {})]
        assert sorted(got) == sorted(ids)                       # every one, each once
        assert h.connector.search_cap == 60 and "splitting a worklog search" in caplog.text
        refused = h.server.log.count("POST", "/v2/worklog/_search", status=400)
        assert refused >= 1
    finally:
        h.close()


def test_a_tracker_target_is_read_through_the_bridges_own_copies() -> None:
    h = harness_tracker.make_harness()
    try:
        mine = h.connector.create(EntryDraft(Origin(source="SRC", record_id="1"), h.task(),
                                             date(2026, 11, 4), seconds=60))
        h.seed_record(work_date=date(2026, 11, 4), seconds=600, author="alice")
        got = [i.record_id for i in h.connector.read(WINDOW, {"bridge_copies": True})]
        assert got == [mine.record_id]   # alice's worklog is not searched at all
    finally:
        h.close()


# --- rate limits ----------------------------------------------------------------------------

def test_x_ratelimit_reset_in_milliseconds_waits_the_right_time(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="timebridge.http")
    h = harness_kaiten.make_harness(rate=5, reset_unit="ms")
    try:
        rid = h.seed_record(work_date=date(2026, 11, 3), seconds=60)
        began = time.monotonic()
        for _ in range(15):                       # paced at 1000/s: the server holds it back
            assert h.connector.lookup(rid, h.task()) is not None
        elapsed = time.monotonic() - began
        # Its "Remaining: 0" answers pause the pacer until the reset, before any 429.
        assert h.server.log.count(status=429) <= 1 and elapsed >= 1.5
        # 15 asks at 5/s take about 3 s; a reset read as seconds would wait for ages.
        assert elapsed < 8 and "instead" not in caplog.text
    finally:
        h.close()


def test_a_window_of_dates_far_apart_is_still_one_search() -> None:
    h = harness_tracker.make_harness()
    try:
        h.seed_record(work_date=WINDOW.start, seconds=600)
        h.seed_record(work_date=WINDOW.start + timedelta(days=29), seconds=600)
        assert len(list(h.connector.read(WINDOW, {}))) == 2
        assert h.server.log.count("POST", "/v2/worklog/_search") == 1
    finally:
        h.close()


def test_tracker_429s_are_waited_out_and_every_look_up_answered() -> None:
    h = harness_tracker.make_harness(rate=5)   # the connector itself is not paced here
    try:
        rid = h.seed_record(work_date=date(2026, 11, 3), seconds=600)
        for _ in range(8):   # a burst of 5 goes through, then the server says wait
            assert h.connector.lookup(rid, h.task()) is not None
        assert h.server.log.count(status=429) >= 1
    finally:
        h.close()


def test_a_tracker_copy_edited_since_it_was_read_is_refused_not_overwritten() -> None:
    h = harness_tracker.make_harness()
    try:
        copy = h.connector.create(EntryDraft(Origin(source="SRC", record_id="1"), h.task(),
                                             date(2026, 11, 4), seconds=600, comment="bridge"))
        _hand_edit(h, copy.record_id)
        with pytest.raises(ConflictError, match="412"):
            h.connector.update(copy, EntryDraft(copy.origin, h.task(), copy.work_date,
                                                seconds=1200, comment="bridge"))
        assert h.stored(copy.record_id)["comment"].startswith("a person's edit")
        fresh = h.connector.lookup(copy.record_id, h.task())   # read again: now it goes
        assert h.connector.update(fresh, EntryDraft(copy.origin, h.task(), copy.work_date,
                                                    seconds=1200, comment="bridge")).seconds == 1200
    finally:
        h.close()


def _hand_edit(h, worklog_id: str) -> None:
    """A person edits the worklog in Tracker (its version moves on)."""
    response = httpx.patch(f"{h.server.base_url}/v2/issues/{h.task()}/worklog/{worklog_id}",
                           json={"comment": "a person's edit"},
                           headers={"Authorization": f"OAuth {TOKEN}",
                                    "X-Org-ID": h.emulator.org_id})
    response.raise_for_status()


def test_a_kaiten_target_is_read_through_its_own_logs_even_without_admin_rights() -> None:
    # A token that may read and change only its own logs (403 for anyone else's): the
    # target read asks only for the bridge's user, and every change stays within its logs.
    h = harness_kaiten.make_harness(own_logs_only=True)
    source = MemoryConnector("src", "SRC")
    store = StateStore("sqlite://")
    try:
        h.seed_record(work_date=date(2026, 11, 5), seconds=600, author=h.authors()[1])
        # What the runtime gives a route into Kaiten (bridge.engine.runtime.Runtime.target_filters).
        spec = PassSpec(source, h.connector, rules("src", "SRC", h.connector, h.task()),
                        target_filters={"bridge_copies": True})
        ids = [source.add(task="T", work_date=date(2026, 11, 1 + i), seconds=600)
               for i in range(6)]   # one delete in six stays under the delete brake
        first = run_pass(spec, store)
        assert [o.kind for o in writes(first)] == [Kind.CREATE] * 6 and not first.failed
        assert writes(run_pass(spec, store)) == []
        source.remove(ids[0])
        third = run_pass(spec, store)
        assert [o.kind for o in writes(third)] == [Kind.DELETE] and not third.failed
        assert h.server.log.count(status=403) == 0
        assert len(h.emulator.time_logs) == 6   # five copies and the other user's log
    finally:
        store.close()
        h.close()


def test_an_update_that_lost_the_reference_is_a_conflict_and_nothing_is_learned() -> None:
    h = harness_contracting.ContractingHarness(page_size=None)
    source = MemoryConnector("src", "SRC")
    store = StateStore("sqlite://")
    real_update = h.connector.update

    def forgetful(current: CanonicalEntry, draft: EntryDraft) -> CanonicalEntry:
        stored = real_update(current, draft)        # the server dropped the reference
        return stored.model_copy(update={"origin": stored.ref})

    h.connector.update = forgetful  # type: ignore[method-assign]
    try:
        spec = PassSpec(source, h.connector, rules("src", "SRC", h.connector, h.task()))
        rid = source.add(task="T", work_date=date(2026, 11, 10), seconds=600)
        run_pass(spec, store)
        source.edit(rid, seconds=1200)
        result = run_pass(spec, store)
        assert writes(result) == []
        (outcome,) = [o for o in result.outcomes if o.kind is Kind.CONFLICT]
        assert outcome.kind is Kind.CONFLICT and "did not store origin" in outcome.reason
        assert store.fixed_fields("billing") == {} and len(h.emulator.entries) == 1
        assert store.link("r", f"SRC:{rid}").conflict == outcome.reason
    finally:
        store.close()
        h.close()
