"""Re-checking a saved plan (bridge.engine.recheck) over in-memory connectors: a replace (a
delete and a create of one origin, where the target cannot move a copy in place) is
applied whole or not at all, and a fresh action the plan does not hold is never applied."""

from __future__ import annotations

from datetime import date

import pytest
from memory_connector import Crash, MemoryConnector

from bridge.cli.apply import finish
from bridge.engine.actions import RouteRules
from bridge.engine.recheck import Recheck, route_plan
from bridge.engine.saved_plan import RoutePlan
from bridge.engine.sync import PassSpec, RouteResult, run_pass
from bridge.store.state import StateStore
from connectors.base import DateWindow

ROUTE = "src-tgt"
WINDOW = DateWindow(date(2026, 11, 1), date(2026, 11, 30))


@pytest.fixture
def world() -> tuple[MemoryConnector, MemoryConnector, StateStore, RouteRules]:
    source = MemoryConnector("src", "SRC")
    # The task of a copy cannot change in place: a change of task is a replace.
    target = MemoryConnector("tgt", "TGT", updatable={"seconds", "comment"}, id_prefix="t")
    rules = RouteRules(name=ROUTE, source="src", source_ref="SRC", window=WINDOW,
                       fit=target.fit, capabilities=target.capabilities,
                       tasks={"1": "T-1", "2": "T-2"})
    store = StateStore("sqlite://")
    yield source, target, store, rules
    store.close()


def apply_plan(world: tuple, saved: RoutePlan) -> RouteResult:
    source, target, store, rules = world
    check = Recheck(saved)
    result = run_pass(PassSpec(source, target, rules, select=check), store)
    finish(result, saved, check, ("tgt", "TGT"))
    return result


def plan_now(world: tuple) -> RoutePlan:
    source, target, store, rules = world
    return route_plan(run_pass(PassSpec(source, target, rules), store, dry_run=True), "fp")


def shown(result: RouteResult) -> list[tuple[str, str, str]]:
    return [(o.kind.value, o.status, o.action.display_origin) for o in result.outcomes]


def test_a_replace_is_applied_whole_when_nothing_changed(world: tuple) -> None:
    source, target, store, _ = world
    moved = source.add(task="1", work_date=date(2026, 11, 10), seconds=3600)
    run_pass(PassSpec(*world[:2], world[3]), store)
    old_copy = next(iter(target.records))
    source.edit(moved, task="2")
    saved = plan_now(world)
    assert [(a.action, a.replace) for a in saved.actions] == [("delete", True),
                                                              ("create", False)]
    # Something the plan does not hold: a new origin (a sync would create its copy).
    late = source.add(task="1", work_date=date(2026, 11, 11), seconds=60)

    result = apply_plan(world, saved)
    assert shown(result) == [("delete", "done", f"src:{moved}"),
                             ("create", "done", f"src:{moved}")]
    assert old_copy not in target.records
    assert [(c.task, c.origin.record_id) for c in target.records.values()] == [("T-2", moved)]
    assert not target.copies_of(source.records[late].ref), "applied what the plan does not hold"
    writes = target.writes
    again = apply_plan(world, saved)
    assert {o.status for o in again.outcomes} == {"stale"}
    assert all(o.reason.startswith("already done") for o in again.outcomes)
    assert target.writes == writes


def test_a_replace_whose_origin_changed_is_stale_whole(world: tuple) -> None:
    source, target, store, _ = world
    moved = source.add(task="1", work_date=date(2026, 11, 10), seconds=3600)
    run_pass(PassSpec(*world[:2], world[3]), store)
    source.edit(moved, task="2")
    saved = plan_now(world)
    source.edit(moved, seconds=7200)
    writes = target.writes

    result = apply_plan(world, saved)
    assert shown(result) == [("delete", "stale", f"src:{moved}"),
                             ("create", "stale", f"src:{moved}")]
    assert all("changed since the plan" in o.reason for o in result.outcomes)
    assert result.summary["delete"] == result.summary["create"] == 0
    assert target.writes == writes
    assert [c.task for c in target.records.values()] == ["T-1"]


def test_an_update_whose_copy_is_gone_is_stale(world: tuple) -> None:
    source, target, store, _ = world
    rid = source.add(task="1", work_date=date(2026, 11, 10), seconds=3600)
    run_pass(PassSpec(*world[:2], world[3]), store)
    source.edit(rid, seconds=5400)
    saved = plan_now(world)
    assert [a.action for a in saved.actions] == ["update"]
    copy_id = saved.actions[0].copy.id
    target.remove(copy_id)

    result = apply_plan(world, saved)
    assert shown(result) == [("update", "stale", f"src:{rid}")]
    assert f"the copy {copy_id} is gone" in result.outcomes[0].reason
    assert not target.records


def test_a_replace_killed_between_its_delete_and_its_create_is_finished_by_applying_again(
        world: tuple) -> None:
    source, target, store, _ = world
    moved = source.add(task="1", work_date=date(2026, 11, 10), seconds=3600)
    run_pass(PassSpec(*world[:2], world[3]), store)
    source.edit(moved, task="2")
    saved = plan_now(world)
    target.crash_at = "after_write"   # the delete is applied; the process dies there
    with pytest.raises(Crash):
        apply_plan(world, saved)
    assert not target.records

    result = apply_plan(world, saved)
    assert [(o.kind.value, o.status) for o in result.outcomes] == [("delete", "stale"),
                                                                   ("create", "done")]
    assert result.outcomes[0].reason.startswith("already done")
    assert [(c.task, c.origin.record_id) for c in target.records.values()] == [("T-2", moved)]
    again = apply_plan(world, saved)
    assert {o.status for o in again.outcomes} == {"stale"}
    assert len(target.records) == 1


def test_the_plans_half_of_a_replace_is_never_applied_alone(world: tuple) -> None:
    """The plan holds a create; now the origin's old copy must go first (an unfinished
    replace the plan did not know): the create alone would leave two copies."""
    source, target, store, _ = world
    moved = source.add(task="1", work_date=date(2026, 11, 10), seconds=3600)
    run_pass(PassSpec(*world[:2], world[3]), store)
    source.edit(moved, task="2")
    saved = plan_now(world)
    only_create = RoutePlan(saved.route, saved.fingerprint, saved.start, saved.end, None,
                            tuple(a for a in saved.actions if a.action == "create"))
    result = apply_plan(world, only_create)
    assert [(o.kind.value, o.status) for o in result.outcomes] == [("create", "stale")]
    assert "decided differently now (delete" in result.outcomes[0].reason
    assert [c.task for c in target.records.values()] == ["T-1"]
