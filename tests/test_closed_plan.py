"""Closed periods in the pure planner: every write touching a date on or before
``closed_through`` is held (listed, never done); scenarios, then a hypothesis property
over random worlds (``support.world``: the real pass, whose executor writes nothing held)."""

from __future__ import annotations

import dataclasses
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st
from support.world import ROUTE, World, days, records, rules

from bridge.engine.actions import Kind
from bridge.engine.closed import closed_note, effective, held_reason, touched
from connectors.base import DateWindow
from connectors.model import Origin

CLOSED = date(2026, 11, 10)
REASON = "period closed through 2026-11-10"
OPEN_DAY, CLOSED_DAY = date(2026, 11, 20), date(2026, 11, 5)
WRITES = (Kind.CREATE, Kind.UPDATE, Kind.DELETE)


class ClosedWorld(World):
    """A world whose route can be closed through a date (``closed_through``)."""

    def close(self, through: date | None = CLOSED, **kw) -> None:
        self.rules = dataclasses.replace(self.rules, closed_through=through, **kw)


def kinds(result) -> list[tuple[Kind, str | None]]:
    return [(a.kind, a.held) for a in result.actions]


def synced(*entries: tuple[date, str], **kw) -> tuple[ClosedWorld, list[str]]:
    """A world whose records were synced before the period was closed."""
    w = ClosedWorld(rules(**kw))
    ids = [w.add_source(day, 600, task) for day, task in entries]
    w.sync()
    w.close()
    return w, ids


def test_nothing_is_held_without_a_closed_period_and_the_reason_names_the_date() -> None:
    w = ClosedWorld(rules())
    w.add_source(CLOSED_DAY, 600)
    assert kinds(w.sync()) == [(Kind.CREATE, None)]
    assert held_reason(CLOSED) == REASON


def test_a_create_dated_in_the_closed_period_is_held_and_one_after_it_is_made() -> None:
    w = ClosedWorld(rules())
    w.close()
    closed, open_ = w.add_source(CLOSED_DAY, 600), w.add_source(OPEN_DAY, 600)
    edge = w.add_source(CLOSED, 600)   # on the closed date itself: closed
    result = w.sync()
    held = {a.origin.record_id: a.held for a in result.actions}
    assert held == {closed: REASON, open_: None, edge: REASON}
    assert not w.copies_of(closed) and not w.copies_of(edge) and w.copies_of(open_)
    # Held, not forgotten: the next pass lists it again, and still writes nothing.
    assert kinds(w.sync()) == [(Kind.CREATE, REASON), (Kind.CREATE, REASON)]


def test_an_edit_at_the_source_of_a_closed_copy_is_a_held_update() -> None:
    w, (a, b) = synced((CLOSED_DAY, "1"), (OPEN_DAY, "1"))
    before = w.copies_of(a)
    w.edit(w.source, a, seconds=1200)
    w.edit(w.source, b, seconds=1200)
    result = w.sync()
    assert sorted(kinds(result), key=str) == sorted([(Kind.UPDATE, REASON),
                                                     (Kind.UPDATE, None)], key=str)
    assert w.copies_of(a) == before and w.copies_of(b)[0].seconds == 1200


def test_a_redate_out_of_or_into_the_closed_period_is_held_both_ways() -> None:
    w, (out, into) = synced((CLOSED_DAY, "1"), (OPEN_DAY, "1"))
    w.edit(w.source, out, work_date=OPEN_DAY)     # the closed copy would move out
    w.edit(w.source, into, work_date=CLOSED_DAY)  # an open copy would move into it
    result = w.sync()
    assert kinds(result) == [(Kind.UPDATE, REASON), (Kind.UPDATE, REASON)]
    assert w.copies_of(out)[0].work_date == CLOSED_DAY
    assert w.copies_of(into)[0].work_date == OPEN_DAY


def test_a_replace_is_held_whole_when_either_half_touches_the_closed_period() -> None:
    # The target cannot move a copy to another task: a task change is delete + create.
    w, (a, b, c) = synced((CLOSED_DAY, "1"), (OPEN_DAY, "1"), (CLOSED_DAY, "1"))
    w.edit(w.source, a, task="99")
    w.edit(w.source, b, task="99", work_date=CLOSED_DAY)   # the new half would be closed
    w.edit(w.source, c, task="99", work_date=OPEN_DAY)     # only the old half is closed
    result = w.sync()
    assert kinds(result) == [(Kind.DELETE, REASON), (Kind.CREATE, REASON)] * 3
    assert [(x.task, x.work_date) for rid in (a, b, c) for x in w.copies_of(rid)] == [
        ("T-1", CLOSED_DAY), ("T-1", OPEN_DAY), ("T-1", CLOSED_DAY)]


def test_a_replace_outside_the_closed_period_goes_ahead() -> None:
    w, (a,) = synced((OPEN_DAY, "1"))
    w.edit(w.source, a, task="99")
    assert kinds(w.sync()) == [(Kind.DELETE, None), (Kind.CREATE, None)]
    assert [c.task for c in w.copies_of(a)] == ["T-99"]


def test_an_interrupted_replace_is_not_finished_in_a_closed_period() -> None:
    # Killed between the delete and the create of a replace, then the period was closed:
    # finishing it would delete a closed copy, so neither half runs (never two copies).
    w, (a,) = synced((CLOSED_DAY, "1"))
    w.close(None)
    old = w.copies_of(a)[0]
    w.edit(w.source, a, task="99")
    link = w.links[f"KAITEN:{a}"]
    # as the executor leaves it, killed after the replace's intent and before its delete
    w.store.record_intent(ROUTE, link.origin, source_record_id=a, source_task=link.source_task,
                          target_task="T-99", work_date=link.work_date,
                          replaces=(old.record_id, old.task))
    w.close()
    result = w.sync()
    assert kinds(result) == [(Kind.DELETE, REASON), (Kind.CREATE, REASON)]
    assert w.copies_of(a) == [old]


def test_a_delete_of_a_closed_copy_is_held_and_not_counted_by_the_delete_brake() -> None:
    w, ids = synced(*[(CLOSED_DAY, "1")] * 3, (OPEN_DAY, "1"))
    for rid in ids[:3]:
        del w.source[rid]
    result = w.sync()
    # Three deletes of four copies would be refused; held ones are not deletes done.
    assert result.brake is None
    assert kinds(result) == [(Kind.DELETE, REASON)] * 3
    assert all(w.copies_of(rid) for rid in ids)


def test_a_source_wins_recreate_into_the_closed_period_is_held() -> None:
    w, (a, b) = synced((CLOSED_DAY, "1"), (OPEN_DAY, "1"), on_conflict="source-wins")
    for rid in (a, b):
        del w.target[w.copies_of(rid)[0].record_id]
    result = w.sync()
    assert sorted(kinds(result), key=str) == sorted([(Kind.CREATE, REASON),
                                                     (Kind.CREATE, None)], key=str)
    assert not w.copies_of(a) and w.copies_of(b)


def test_adopting_a_closed_copy_and_reporting_a_conflict_are_not_held() -> None:
    w = ClosedWorld(rules())
    w.close()
    a = w.add_source(CLOSED_DAY, 600)
    w.add_target(origin=Origin(source="KAITEN", record_id=a), task="T-1", day=CLOSED_DAY,
                 seconds=600)
    result = w.sync()
    assert [(x.kind, x.reason, x.held) for x in result.actions] == [
        (Kind.UNCHANGED, "adopted", None)]
    assert f"KAITEN:{a}" in w.links   # linked: a link is no write to the target
    w.edit(w.target, w.copies_of(a)[0].record_id, seconds=60)   # a hand edit
    assert kinds(w.sync()) == [(Kind.CONFLICT, None)]


def test_the_route_closes_through_the_later_of_its_date_and_its_targets() -> None:
    assert effective(None, None) is None
    assert effective(date(2026, 9, 30), None) == date(2026, 9, 30)
    assert effective(date(2026, 9, 30), date(2026, 10, 31)) == date(2026, 10, 31)
    assert effective(date(2026, 11, 30), date(2026, 10, 31)) == date(2026, 11, 30)


def test_a_closed_range_gets_one_note_naming_its_closed_part() -> None:
    october = DateWindow(date(2026, 10, 1), date(2026, 10, 31))
    both = DateWindow(date(2026, 10, 1), date(2026, 11, 15))
    assert closed_note(october, date(2026, 10, 31)) == \
        "2026-10-01..2026-10-31 is closed through 2026-10-31: nothing there is written"
    assert closed_note(both, date(2026, 10, 31)) == \
        "2026-10-01..2026-10-31 is closed through 2026-10-31: nothing there is written"
    assert closed_note(october, date(2026, 9, 30)) is None
    assert closed_note(october, None) is None


# --- the property ---------------------------------------------------------------------------

#: test_plan's edits, and moves to another task (a replace here) with or without a re-date.
moves = st.lists(st.tuples(st.sampled_from(["edit", "delete", "redate", "hand", "handdel",
                                            "foreign", "move", "move+redate"]),
                           st.integers(0, 30), st.integers(1, 40_000), days), max_size=12)


def closed_entries(w: World, through: date) -> dict:
    return {k: v for k, v in w.target.items() if v.work_date <= through}


@settings(max_examples=150, deadline=None)
@given(records, moves, days, st.sampled_from(["report", "source-wins"]), st.booleans())
def test_property_no_write_touches_a_closed_date_and_the_rest_converges(
        recs, changes, through, on_conflict, allow_deletes) -> None:
    """Over random worlds and edits (at the source and by hand in the target), with the
    period closed after a first sync: no action that is not held writes a date on or
    before ``closed_through``, every held action is a write, the target's closed entries
    never change, there are never two copies of an origin, and a sync right after a
    sync plans no write that is not held."""
    w = ClosedWorld(rules(on_conflict=on_conflict, allow_deletes=allow_deletes))
    for day, seconds, task, comment in recs:
        w.add_source(day, seconds, task, comment)
    w.sync()
    w.close(through)
    for what, pick, seconds, day in changes:
        src_ids, copy_ids = sorted(w.source), sorted(w.target)
        if what == "foreign":
            w.add_target(origin=None, task="T-1", day=day, seconds=seconds)
        elif what in ("edit", "delete", "redate", "move", "move+redate") and src_ids:
            rid = src_ids[pick % len(src_ids)]
            if what == "edit":
                w.edit(w.source, rid, seconds=seconds)
            elif what == "delete":
                del w.source[rid]
            elif what == "redate":
                w.edit(w.source, rid, work_date=day)
            else:
                task = "99" if w.source[rid].task != "99" else "1"
                w.edit(w.source, rid, task=task,
                       **({"work_date": day} if what == "move+redate" else {}))
        elif what in ("hand", "handdel") and copy_ids:
            rid = copy_ids[pick % len(copy_ids)]
            if what == "hand":
                w.edit(w.target, rid, seconds=seconds)
            else:
                del w.target[rid]
    frozen = closed_entries(w, through)
    for _ in range(2):
        result = w.sync()
        for a in result.actions:
            if a.held is not None:
                assert a.kind in WRITES and a.held == held_reason(through), a
            elif a.kind in WRITES:
                assert all(d > through for d in touched(a)), a
        assert closed_entries(w, through) == frozen, "a closed entry was written"
    assert not [a for a in result.actions if a.kind in WRITES and a.held is None
                and not a.refused], "a sync right after a sync must plan no write"
    for rid in w.source:
        assert len(w.copies_of(rid)) <= 1, "never two copies of one origin"

