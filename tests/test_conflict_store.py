"""The state store's part of conflicts, one by one, on SQLite and on a real PostgreSQL:
since when a conflict waits and what differs, settling it for either side (recorded with
the change to the link), and the migration that brought these columns."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from support.stores import DAY, link_fields

from bridge.store import state
from bridge.store.conflicts import differences_json, parse_differences
from bridge.store.state import StateStore

DIFFERS = {"seconds": (4200, 3600), "comment": ("mine", "Fixed login")}




def test_a_conflict_keeps_when_it_was_first_seen_and_what_differs_now(
        store: StateStore) -> None:
    store.record_link("r", "KAITEN:1", **link_fields(1))
    before = datetime.now(UTC)
    store.set_conflict("r", "KAITEN:1", "the copy was edited in the target by hand", DIFFERS)
    (first,) = store.conflicts("r")
    assert before <= first.conflict_since <= datetime.now(UTC)
    assert first.conflict_since.tzinfo is not None
    assert parse_differences(first.conflict_differences) == {
        "seconds": {"origin": 3600, "copy": 4200},
        "comment": {"origin": "Fixed login", "copy": "mine"}}

    # Seen again by a later pass, the copy edited further: the first time stays.
    store.set_conflict("r", "KAITEN:1", "the copy was edited in the target by hand and its "
                       "origin changed too", {"seconds": (5000, 3600)})
    (again,) = store.conflicts("r")
    assert again.conflict_since == first.conflict_since
    assert parse_differences(again.conflict_differences) == {
        "seconds": {"origin": 3600, "copy": 5000}}

    # Settled by a sync (the link recorded anew): all of it goes; a new conflict is new.
    store.record_link("r", "KAITEN:1", **link_fields(1))
    link = store.link("r", "KAITEN:1")
    assert (link.conflict, link.conflict_since, link.conflict_differences) == (None,) * 3
    store.set_conflict("r", "KAITEN:1", "invoiced")
    (new,) = store.conflicts("r")
    assert new.conflict_since > first.conflict_since and new.conflict_differences is None


def test_keep_source_marks_the_link_ends_the_wait_and_is_recorded(store: StateStore) -> None:
    store.record_link("r", "KAITEN:1", **link_fields(1))
    store.record_link("other", "KAITEN:1", **link_fields(1))
    store.set_conflict("r", "KAITEN:1", "edited by hand", DIFFERS)
    store.set_conflict("other", "KAITEN:1", "edited by hand")
    link = store.conflicts("r")[0]
    store.keep_source("r", link, "rewritten at the next pass")
    after = store.link("r", "KAITEN:1")
    assert after.resolution == "source" and after.conflict is None
    assert after.conflict_since is None and after.target_record_id == "ent_1"
    assert [c.route for c in store.conflicts()] == ["other"]
    assert [(p.route, p.resolution) for p in store.pending_links("KAITEN:1")] == [
        ("other", None), ("r", "source")]
    (record,) = store.resolutions()
    assert (record.route, record.origin, record.keep, record.target_record_id,
            record.conflict, record.done) == ("r", "KAITEN:1", "source", "ent_1",
                                              "edited by hand", "rewritten at the next pass")
    assert record.conflict_since == link.conflict_since
    assert json.loads(record.differences)["seconds"] == {"origin": 3600, "copy": 4200}

    # The pass that rewrites the copy records the link: the resolution is carried out.
    store.record_link("r", "KAITEN:1", **link_fields(1, target_hash="t-new"))
    assert store.link("r", "KAITEN:1").resolution is None
    # A rewrite the target refused brings the conflict back to a person, unresolved.
    store.keep_source("other", store.conflicts("other")[0], "again")
    store.set_conflict("other", "KAITEN:1", "the target refused the change: invoiced")
    back = store.link("other", "KAITEN:1")
    assert back.resolution is None and back.conflict.startswith("the target refused")


def test_keep_target_records_both_sides_as_synced_and_is_recorded(store: StateStore) -> None:
    store.record_link("r", "KAITEN:1", **link_fields(1))
    store.set_conflict("r", "KAITEN:1", "edited by hand", DIFFERS)
    link = store.conflicts("r")[0]
    store.keep_target("r", link, link_fields(1, target_hash="t-hand", target_version="v9",
                                             source_hash="s-now"), "kept the copy")
    after = store.link("r", "KAITEN:1")
    assert (after.status, after.conflict, after.resolution, after.conflict_since) == (
        "linked", None, None, None)
    assert (after.target_hash, after.target_version, after.source_hash) == (
        "t-hand", "v9", "s-now")
    assert store.conflicts() == []
    (record,) = store.resolutions(origin="KAITEN:1")
    assert (record.keep, record.conflict, record.done) == ("target", "edited by hand",
                                                           "kept the copy")
    assert store.resolutions(route="nope") == []


def test_an_intent_clears_a_resolution_and_a_conflict(store: StateStore) -> None:
    """A replace turns the link into an intent: what it carries out is done with it."""
    store.record_link("r", "KAITEN:1", **link_fields(1))
    store.set_conflict("r", "KAITEN:1", "edited by hand", DIFFERS)
    store.keep_source("r", store.conflicts("r")[0], "rewrite")
    store.record_intent("r", "KAITEN:1", source_record_id="1", source_task="1001",
                        target_task="prj_b", work_date=DAY, replaces=("ent_1", "prj_a"))
    intent = store.link("r", "KAITEN:1")
    assert (intent.status, intent.resolution, intent.conflict) == ("intent", None, None)


def test_differences_json_is_none_for_none_and_odd_rows_read_as_nothing() -> None:
    assert differences_json(None) is None and differences_json({}) is None
    assert parse_differences(None) == {} and parse_differences("not json") == {}
    assert parse_differences("[1, 2]") == {} and parse_differences('{"a": 1}') == {}
    dated = differences_json({"work_date": ("2026-11-01", "2026-11-02")})
    assert parse_differences(dated) == {"work_date": {"origin": "2026-11-02",
                                                      "copy": "2026-11-01"}}


def test_a_version_4_store_is_migrated_keeping_its_conflicts(
        url: str, opened: Callable[[str], StateStore], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "MIGRATIONS", [m for m in state.MIGRATIONS if m[0] <= 4])
    old = opened(url)
    assert old.schema_version == 4
    old.close()
    engine = sa.create_engine(url)   # a conflict as timebridge before this version kept it
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "insert into links (route, origin, source_record_id, source_task, "
                "target_record_id, target_task, status, conflict) values "
                "('r', 'KAITEN:1', '1', '1001', 'ent_1', 'prj_a', 'linked', 'by hand')"))
    finally:
        engine.dispose()
    monkeypatch.undo()
    new = opened(url)
    assert new.schema_version == state.SCHEMA_VERSION
    (conflict,) = new.conflicts()
    assert conflict.conflict == "by hand" and conflict.conflict_since is None
    assert conflict.resolution is None and new.resolutions() == []
    new.set_conflict("r", "KAITEN:1", "by hand", DIFFERS)   # seen again: since now
    assert new.conflicts()[0].conflict_since is not None
