"""The audit trail in the state store, on SQLite and on a real PostgreSQL: each link
change is recorded with its event in one transaction (neither without the other), the
queries ``history`` and ``explain`` use, and the migration from schema version 5."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from support.stores import DAY, link_fields

from bridge.store import events as audit
from bridge.store import state
from bridge.store.events import Note
from bridge.store.state import StateError, StateStore

COPY = {"task": "prj_a", "date": "2026-11-20", "seconds": 3600, "comment": "Fixed login",
        "author": "bridge", "start": None}




def test_a_link_is_recorded_with_its_event_and_read_back(store: StateStore) -> None:
    before = datetime.now(UTC)
    store.record_link("r", "KAITEN:1", **link_fields(), event=Note(
        "create", "new in source", 7, "ent_1", None, COPY, {"seconds": [None, 3600]}))
    (event,) = store.events()
    assert (event.route, event.origin, event.copy_id, event.action, event.run_id) == (
        "r", "KAITEN:1", "ent_1", "create", 7)
    assert event.before is None and event.after == COPY
    assert event.changes == {"seconds": [None, 3600]} and event.reason == "new in source"
    assert event.recorded_at.tzinfo is not None and event.recorded_at >= before
    assert store.last_fields("r", "KAITEN:1") == COPY


def test_removing_a_link_records_its_copy_with_the_event(store: StateStore) -> None:
    store.record_link("r", "KAITEN:1", **link_fields())
    store.remove_link("r", "KAITEN:1", event=Note("delete", "deleted in source", 8))
    assert store.link("r", "KAITEN:1") is None
    (event,) = store.events()
    assert (event.action, event.copy_id) == ("delete", "ent_1")   # the link's copy
    store.remove_link("r", "KAITEN:1")   # nothing left: no event without a change
    assert len(store.events()) == 1


def test_a_conflict_is_recorded_when_new_or_changed_not_each_time_it_is_seen(
        store: StateStore) -> None:
    store.record_link("r", "KAITEN:1", **link_fields())
    for differs in ({"seconds": (4200, 3600)}, {"seconds": (4200, 3600)},
                    {"seconds": (4800, 3600)}):
        store.set_conflict("r", "KAITEN:1", "edited by hand", differs,
                           event=Note("conflict", "edited by hand", 9))
    assert [(e.action, e.copy_id) for e in store.events()] == [("conflict", "ent_1")] * 2
    store.set_conflict("r", "KAITEN:2", "nothing linked", event=Note("conflict"))
    assert len(store.events()) == 2   # no link, nothing marked, nothing recorded


def test_resolutions_are_recorded_with_their_events(store: StateStore) -> None:
    store.record_link("r", "KAITEN:1", **link_fields())
    store.record_link("r", "KAITEN:2", **link_fields(2))
    store.set_conflict("r", "KAITEN:1", "edited by hand")
    store.set_conflict("r", "KAITEN:2", "edited by hand")
    store.keep_source("r", store.link("r", "KAITEN:1"), "rewritten",
                      Note("resolve", "resolve --keep source"))
    store.keep_target("r", store.link("r", "KAITEN:2"), link_fields(2, target_hash="t9"),
                      "kept", Note("resolve", "resolve --keep target", after=COPY))
    assert [(e.origin, e.action, e.copy_id, e.run_id) for e in store.events()] == [
        ("KAITEN:1", "resolve", "ent_1", None), ("KAITEN:2", "resolve", "ent_2", None)]
    assert len(store.resolutions()) == 2


def test_a_replaced_copy_gone_is_recorded_and_the_intent_stops_naming_it(
        store: StateStore) -> None:
    store.record_link("r", "KAITEN:1", **link_fields())
    store.record_intent("r", "KAITEN:1", source_record_id="1", source_task="1001",
                        target_task="prj_b", work_date=DAY, replaces=("ent_1", "prj_a"))
    store.replace_deleted("r", "KAITEN:1", "ent_1", Note("delete", "task changed", 3,
                                                         before=COPY))
    link = store.link("r", "KAITEN:1")
    assert link.status == "intent" and link.replaces_record_id is None
    (event,) = store.events()
    assert (event.action, event.copy_id, event.before) == ("delete", "ent_1", COPY)


def test_events_are_chosen_by_route_origin_days_and_run(store: StateStore) -> None:
    for n, route in ((1, "a"), (2, "b"), (3, "a")):
        store.record_link(route, f"KAITEN:{n}", **link_fields(n),
                          event=Note("create", run_id=n))
    now = datetime.now(UTC)
    assert [e.origin for e in store.events(routes=["a"])] == ["KAITEN:1", "KAITEN:3"]
    assert [e.origin for e in store.events(origin="KAITEN:2")] == ["KAITEN:2"]
    assert [e.origin for e in store.events(run_id=3)] == ["KAITEN:3"]
    assert len(store.events(start=now - timedelta(hours=1), end=now + timedelta(hours=1))) == 3
    assert store.events(start=now + timedelta(hours=1)) == []
    assert store.events(end=now - timedelta(hours=1)) == []
    assert store.event_routes() == {"a", "b"}


def test_a_failed_event_leaves_no_link_change(store: StateStore,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    store.record_link("r", "KAITEN:1", **link_fields())

    def broken(conn: sa.Connection, route: str, notes: object) -> None:
        list(notes)  # type: ignore[call-overload]
        raise sa.exc.OperationalError("insert into events", {}, Exception("disk full"))

    monkeypatch.setattr(state, "insert_events", broken)
    with pytest.raises(StateError, match="disk full"):
        store.record_link("r", "KAITEN:2", **link_fields(2), event=Note("create"))
    with pytest.raises(StateError, match="disk full"):
        store.remove_link("r", "KAITEN:1", event=Note("delete"))
    with pytest.raises(StateError, match="disk full"):
        store.set_conflict("r", "KAITEN:1", "edited by hand", event=Note("conflict"))
    monkeypatch.undo()
    assert store.link("r", "KAITEN:2") is None          # the link change rolled back
    kept = store.link("r", "KAITEN:1")
    assert kept is not None and kept.conflict is None
    assert store.events() == []


def test_odd_stored_json_reads_as_nothing(url: str, store: StateStore) -> None:
    store.record_link("r", "KAITEN:1", **link_fields(), event=Note("create", after=COPY))
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("update events set fields_after = 'not json', "
                                 "changes = '[1]'"))
    finally:
        engine.dispose()
    (event,) = store.events()
    assert event.after is None and event.changes is None


def test_a_version_5_store_is_migrated_keeping_its_links_and_resolutions(
        url: str, opened: Callable[[str], StateStore], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "MIGRATIONS", [m for m in state.MIGRATIONS if m[0] <= 5])
    old = opened(url)
    assert old.schema_version == 5
    old.record_link("r", "KAITEN:1", **link_fields())
    old.set_conflict("r", "KAITEN:1", "edited by hand")
    old.keep_source("r", old.link("r", "KAITEN:1"), "rewritten")
    old.close()
    monkeypatch.undo()
    new = opened(url)
    assert new.schema_version == state.SCHEMA_VERSION == 6
    link = new.link("r", "KAITEN:1")
    assert link.target_record_id == "ent_1" and link.resolution == "source"
    assert len(new.resolutions()) == 1 and new.events() == []
    new.record_link("r", "KAITEN:1", **link_fields(), event=Note("update", run_id=1))
    assert [e.action for e in new.events()] == ["update"]


def test_fields_and_changes_are_kept_json_ready() -> None:
    assert audit.entry_fields(None) is None
    assert audit.changes_of({"work_date": ("2026-11-20", "2026-11-21"),
                             "seconds": (60, 120)}) == {
        "date": ["2026-11-20", "2026-11-21"], "seconds": [60, 120]}
    assert audit.changes_of(None) is None and audit.stored_differences(None) is None
    assert audit.stored_differences('{"seconds": {"origin": 60, "copy": 120}}') == {
        "seconds": [120, 60]}
