"""Exactly once at each named crash point and fault, one test each (see also the state
machines in ``test_exactly_once``, which wander between them).

One route (``support.route``) driven through the real planner, executor and state store;
the process is KILLED before or after a write (:class:`memory_connector.Crash`), answers
are lost, writes fail, copies are invoiced. Tests named after bugs found by the state
machines and fixed since stay here as regression tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from memory_connector import CRASH_POINTS, all_attempts
from support.route import Route, kinds, writes_of

from bridge.engine.actions import Kind
from bridge.engine.sync import PassSpec, run_pass
from bridge.store.state import StateStore
from connectors.model import Origin


@pytest.fixture
def route(tmp_path) -> Iterator[Route]:
    """A route whose state store is a file, reopened after each kill (a restart)."""
    r = Route(f"sqlite:///{tmp_path / 'state.sqlite'}")
    yield r
    r.store.close()


# --- one crash point each ---------------------------------------------------------------------

def test_killed_after_the_intent_before_the_create(route: Route) -> None:
    a = route.add()
    route.killed("before_write")
    assert route.target.records == {}
    assert route.link(a).status == "intent"
    assert kinds(route.sync()) == [("create", "done")]
    (copy,) = route.copies(a)
    assert (copy.seconds, copy.task, copy.comment) == (5460, "T-1", "Fixed login")
    route.assert_stable()


def test_killed_after_the_create_before_the_link_is_adopted(route: Route) -> None:
    a = route.add()
    route.killed("after_write")
    assert len(route.copies(a)) == 1 and route.link(a).status == "intent"
    result = route.sync()
    assert kinds(result) == [], "the copy is adopted, not created again"
    assert len(route.copies(a)) == 1 and route.link(a).status == "linked"
    route.assert_stable()


def test_killed_between_two_actions(route: Route) -> None:
    a, b = route.add(), route.add(seconds=60)
    route.killed("before_write", skip=1)           # a created and linked, b not yet begun
    assert route.link(a).status == "linked" and len(route.copies(a)) == 1
    assert route.copies(b) == []
    result = route.sync()
    assert [(o.kind.value, str(o.action.origin)) for o in writes_of(result)] == \
        [("create", f"SRC:{b}")]
    assert len(route.copies(a)) == len(route.copies(b)) == 1
    route.assert_stable()


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_killed_at_an_update_or_a_delete(route: Route, point: str) -> None:
    a, b = route.add(), route.add()
    route.sync()
    route.source.edit(a, seconds=7200)
    route.source.remove(b)
    route.killed(point)              # the update of a
    route.killed(point)              # then the delete of b (or a's update again)
    route.sync()
    assert [c.seconds for c in route.copies(a)] == [7200] and route.copies(b) == []
    assert route.link(b) is None
    route.assert_stable()


def test_a_lost_create_answer_is_adopted_at_once(route: Route) -> None:
    a = route.add()
    route.target.lose_next_create_answer = True
    result = route.sync()
    assert kinds(result) == [("create", "done")] and result.error is None
    assert len(route.copies(a)) == 1 and route.link(a).status == "linked"
    assert route.target.writes == 1
    route.assert_stable()


def test_a_failed_create_is_tried_again_in_the_same_pass_and_made_once(route: Route) -> None:
    a = route.add()
    route.target.fail_next_write = True     # a 503: provably not applied
    assert kinds(route.sync()) == [("create", "done")]
    assert len(route.copies(a)) == 1 and route.link(a).status == "linked"
    assert route.target.writes == 1
    route.assert_stable()


def test_a_create_failing_every_attempt_is_left_to_the_next_pass(route: Route) -> None:
    a = route.add()
    route.target.fail_next_write, route.target.fail_times = True, all_attempts()
    assert kinds(route.sync()) == [("create", "failed")]
    assert route.copies(a) == [] and route.link(a).status == "intent"
    assert kinds(route.sync()) == [("create", "done")]
    assert len(route.copies(a)) == 1
    route.assert_stable()


@pytest.mark.parametrize(("point", "skip"), [("before_write", 0), ("after_write", 0),
                                             ("before_write", 1), ("after_write", 1)],
                         ids=["before-delete", "after-delete", "before-create", "after-create"])
def test_a_replace_killed_between_its_delete_and_its_create(route: Route, point: str,
                                                             skip: int) -> None:
    a = route.add(task="1")
    route.sync()
    route.source.edit(a, task="99")     # T-1 -> T-99: the target cannot move a record
    planned = [(o.kind.value, o.action.forget_link) for o in writes_of(
        run_pass(PassSpec(route.source, route.target, route.rules), route.store, dry_run=True))]
    assert planned == [("delete", False), ("create", False)]
    route.killed(point, skip=skip)
    assert len(route.copies(a)) <= 1
    route.sync()
    assert [c.task for c in route.copies(a)] == ["T-99"]
    assert route.link(a).status == "linked"
    route.assert_stable()


def test_a_lost_state_store_adopts_every_copy(tmp_path) -> None:
    path = tmp_path / "state.sqlite"
    route = Route(f"sqlite:///{path}")
    ids = [route.add(day=date(2026, 11, d), seconds=100 * d) for d in range(1, 8)]
    route.sync()
    route.source.edit(ids[0], seconds=9000)             # changed while the store is away
    before = dict(route.target.records)
    route.store.close()
    path.unlink()                                       # the state store is lost
    route.store = StateStore(f"sqlite:///{path}")
    result = route.sync()
    assert not [o for o in result.outcomes if o.action.kind is Kind.CREATE], "created twice"
    assert kinds(result) == [("update", "done")]        # only the copy that differs
    assert sorted(route.target.records) == sorted(before)
    assert all(len(route.copies(i)) == 1 and route.link(i).status == "linked" for i in ids)
    route.assert_stable()
    route.store.close()


def test_foreign_records_and_references_to_missing_origins_are_left_alone(route: Route) -> None:
    route.add()
    mine = route.target.add(task="T-1", work_date=date(2026, 11, 3), seconds=60)
    ghost = route.target.add(task="T-1", work_date=date(2026, 11, 3), seconds=60,
                             origin=Origin(source="SRC", record_id="404"))
    before = {k: route.target.records[k] for k in (mine, ghost)}
    route.sync()
    route.source.remove(next(iter(route.source.records)))
    route.sync()
    assert {k: route.target.records[k] for k in (mine, ghost)} == before
    assert route.target.log == [("create", "t3"), ("delete", "t3")]


def test_source_wins_recreates_a_copy_deleted_by_hand() -> None:
    route = Route(on_conflict="source-wins")
    a = route.add()
    route.sync()
    route.target.remove(route.copies(a)[0].record_id)
    result = route.sync()
    assert kinds(result) == [("create", "done")] and len(route.copies(a)) == 1
    assert route.link(a).status == "linked"
    route.assert_stable()


# --- bugs the state machines found, fixed since: regression tests -------------------------------

def test_replace_whose_delete_fails_does_not_create_a_second_copy(route: Route) -> None:
    a = route.add(task="1")
    route.sync()
    route.source.edit(a, task="99")
    route.target.fail_next_write = True              # the delete half: 503, not applied,
    route.target.fail_times = all_attempts()         # on every attempt of this pass
    route.sync()
    assert [c.task for c in route.copies(a)] == ["T-1"], "two copies, or none"
    route.sync()                                     # the replace is finished next time
    assert [c.task for c in route.copies(a)] == ["T-99"]
    route.assert_stable()


def test_replace_whose_delete_is_refused_does_not_create_a_second_copy(route: Route) -> None:
    a = route.add(task="1")
    route.sync()
    route.target.conflict_ids.add(route.copies(a)[0].record_id)   # invoiced
    route.source.edit(a, task="99")
    for _ in range(2):
        result = route.sync()
        assert ("conflict", "done") in [(o.kind.value, o.status) for o in result.outcomes]
        assert [c.task for c in route.copies(a)] == ["T-1"], "two copies, or none"


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_replace_killed_midway_while_the_origin_is_out_of_the_window(route: Route,
                                                                    point: str) -> None:
    a = route.add(task="1", day=date(2026, 11, 3))
    route.sync()
    route.source.edit(a, task="99", work_date=date(2026, 10, 20))   # moved and re-dated out
    route.killed(point)                                # at the delete half of the replace
    route.sync()
    assert [(c.task, c.work_date) for c in route.copies(a)] == [("T-99", date(2026, 10, 20))]
    route.assert_stable()


@pytest.mark.parametrize("how", ["recreate", "replace"])
def test_a_failed_create_out_of_the_window_is_tried_again(how: str) -> None:
    route = Route(on_conflict="source-wins")
    a = route.add(task="1", day=date(2026, 11, 3))
    route.sync()
    if how == "recreate":                  # the copy deleted by hand; source-wins re-creates
        route.target.remove(route.copies(a)[0].record_id)
        route.source.edit(a, work_date=date(2026, 10, 20))
    else:                                  # moved to another task: delete + create
        route.source.edit(a, task="99", work_date=date(2026, 10, 20))
    route.target.fail_next_write, route.target.fail_skip = True, (0 if how == "recreate" else 1)
    route.target.fail_times = all_attempts()
    assert ("create", "failed") in kinds(route.sync())
    route.sync()
    assert len(route.copies(a)) == 1, "the copy was never made again"
    route.assert_stable()


def test_a_target_read_failing_part_way_deletes_nothing() -> None:
    route = Route()
    a = route.add()
    route.sync()
    route.source.remove(a)
    route.target.fail_reads_after = 1                # the copy is read, then the read breaks
    result = route.sync()
    assert result.error and "target read failed part-way" in result.error
    assert len(route.copies(a)) == 1, "a pass whose read failed part-way deleted a copy"
    route.target.fail_reads_after = None
    route.sync()                                     # a whole read: now it is proved gone
    assert route.copies(a) == [] and route.link(a) is None


def test_lost_store_and_a_target_read_failing_part_way_create_nothing_twice() -> None:
    route = Route()
    ids = [route.add() for _ in range(3)]
    route.sync()
    route.store = StateStore("sqlite://")           # the state store is lost
    route.target.fail_reads_after = 1                # and the target read breaks after one
    route.sync()
    assert all(len(route.copies(i)) == 1 for i in ids), \
        [len(route.copies(i)) for i in ids]
    route.target.fail_reads_after = None
    assert not [o for o in route.sync().outcomes if o.action.kind is Kind.CREATE]
    assert all(route.link(i).status == "linked" for i in ids)
    route.assert_stable()


def test_an_invoiced_copy_moved_to_another_task_is_a_conflict_not_a_failure(
        route: Route) -> None:
    a = route.add(task="1")
    route.sync()
    route.target.conflict_ids.add(route.copies(a)[0].record_id)   # invoiced
    route.source.edit(a, task="99")                                # T-1 -> T-99: a replace
    result = route.sync()
    assert result.summary["conflict"] == 1
    assert result.summary["failed"] == 0, [(o.kind.value, o.error) for o in result.outcomes
                                           if o.status == "failed"]
    assert result.error is None and [c.task for c in route.copies(a)] == ["T-1"]


@pytest.mark.parametrize("how", ["invoiced", "killed"])
def test_a_waiting_replace_whose_origin_loses_its_target_task(tmp_path, how: str) -> None:
    route = Route(f"sqlite:///{tmp_path / 'state.sqlite'}", default_task=None)
    a = route.add(task="1")
    route.sync()
    route.source.edit(a, task="99")                  # T-1 -> T-99: a replace
    if how == "invoiced":                            # its delete is refused: it waits
        route.target.conflict_ids.add(route.copies(a)[0].record_id)
        route.sync()
    else:                                            # killed before its delete
        route.killed("before_write")
    route.source.edit(a, task="2")                   # no target task any more
    route.sync()                                     # once an AssertionError in execute.py
    assert [c.task for c in route.copies(a)] == ["T-1"]   # out of scope: kept as it is


def test_lost_store_and_an_origin_re_dated_into_the_window_create_nothing_twice() -> None:
    """The only copy lies outside the window when the store is lost: the route's first
    pass in the new store asks the target for copies anywhere (bridge.engine.forgotten)."""
    route = Route()
    a = route.add(day=date(2026, 11, 3))
    route.sync()
    route.source.edit(a, work_date=date(2026, 10, 20))   # the copy follows it out
    route.sync()
    assert route.copies(a)[0].work_date == date(2026, 10, 20)
    route.store = StateStore("sqlite://")                 # the state store is lost
    route.source.edit(a, work_date=date(2026, 11, 5))     # and the origin comes back
    route.sync()
    assert len(route.copies(a)) == 1, [c.work_date for c in route.copies(a)]
    assert route.copies(a)[0].work_date == date(2026, 11, 5)   # adopted, then re-dated
    assert route.sync().summary["create"] + route.sync().summary["update"] == 0
