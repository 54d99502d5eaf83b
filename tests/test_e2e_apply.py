"""End to end: plan, review, apply (``--save-plan``, ``timebridge apply``, ``stale``).

The real CLI over the three emulators of ``bridge.demo.world.DemoWorld``, as in test_e2e.py:
a plan saved by a dry run is applied later, exactly and only its actions, each re-checked
against the APIs first; what changed since is reported ``stale`` and not written.
Writes are counted at the emulators (their write requests), not taken from the report.
"""

from __future__ import annotations

import csv
import io
import json
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e_helpers import (
    TODAY,
    People,
    Run,
    actions,
    assert_exactly_once,
    backfill_args,
    cli,
    cli_process,
    copy_counts,
    killed_when,
    route_state,
)

from bridge.demo.world import DemoWorld

ROUTE = "kaiten-billing"
ENTRIES = "/api/v1/time-entries"
STATUSES = {"planned", "done", "failed", "held", "stale"}


@pytest.fixture
def world(workdir: Path) -> Iterator[DemoWorld]:
    with DemoWorld(workdir, today=TODAY, days=7) as w:
        yield w



@pytest.fixture
def synced(world: DemoWorld) -> DemoWorld:
    run = cli(world.config_path, *backfill_args(world), "--route", ROUTE, "--format", "json")
    assert run.code == 0, run.stderr
    return world


def save_plan(world: DemoWorld, *args: str, code: int = 0) -> tuple[Run, Path]:
    """``report --route kaiten-billing --save-plan`` over the world's days (or ``args``);
    the plan is saved whatever the dry run's exit code (``code``)."""
    path = world.folder / "plan.json"
    run = cli(world.config_path, *(args or ("report", "--from", world.first_day.isoformat(),
                                            "--to", world.today.isoformat())),
              "--route", ROUTE, "--save-plan", str(path), "--format", "json")
    assert run.code == code, run.stderr
    assert path.is_file()
    return run, path


def apply(world: DemoWorld, plan: Path, *args: str, fmt: str = "json") -> Run:
    return cli(world.config_path, "apply", str(plan), "--format", fmt, *args)


def by_origin(run: Run) -> dict[str, dict]:
    listed = actions(run, ROUTE)
    assert len({a["origin"] for a in listed}) == len(listed)
    return {a["origin"]: a for a in listed}


def not_skips(run: Run) -> list[dict]:
    return [a for a in actions(run, ROUTE) if a["action"] != "skip"]


def billing_writes(world: DemoWorld) -> int:
    return world.writes()["billing"]


def check_apply_report(run: Run, dry_run: bool = False) -> None:
    """INTERFACE.md's report shape; summaries count only what was done (stale: nothing)."""
    report = run.json
    assert report["dry_run"] is dry_run
    for route in report["routes"]:
        counted = {k: 0 for k in route["summary"]}
        for a in route["actions"]:
            assert a["status"] in STATUSES, a
            assert (a["error"] is not None) == (a["status"] == "failed"), a
            if a["status"] in ("failed", "held"):   # counted only under their own key
                counted[a["status"]] += 1
            elif a["status"] in ("done", "planned"):
                counted[a["action"]] += 1
        for key in counted.keys() - {"unchanged"}:
            assert route["summary"][key] == counted[key], (key, route["summary"])


# --- applying ---------------------------------------------------------------------------------


def test_a_plan_applied_after_one_origin_changed_applies_the_others_and_reports_it_stale(
        world: DemoWorld, people: People) -> None:
    planned_run, plan = save_plan(world)
    planned = by_origin(planned_run)
    creates = sorted(o for o, a in planned.items() if a["action"] == "create")
    assert len(creates) >= 5
    assert billing_writes(world) == 0, "a report writes nothing"
    changed = creates[2]
    people.kaiten_edit(changed.split(":")[1], time_spent=77)

    run = apply(world, plan)
    assert run.code == 0, run.stderr
    check_apply_report(run)
    applied = by_origin(run)
    assert set(applied) == set(planned), "apply lists exactly the plan's actions"
    assert applied[changed]["status"] == "stale"
    assert "changed since the plan" in applied[changed]["reason"]
    assert "re-plan" in applied[changed]["reason"]
    assert applied[changed]["seconds"] == planned[changed]["seconds"]  # as the plan had it
    others = [o for o in creates if o != changed]
    assert all(applied[o]["status"] == "done" and applied[o]["target_id"] for o in others)
    assert run.summary(ROUTE)["create"] == len(others)
    # Exactly the others were written, each once, as the plan showed them.
    assert billing_writes(world) == len(others)
    counts = copy_counts(world, ROUTE)
    assert counts[changed.split(":")[1]] == 0
    copies = {c.id: c for c in route_state(world, ROUTE)[1]}
    for o in others:
        held = copies[applied[o]["target_id"]]
        assert (held.task, held.day.isoformat(), held.seconds) == (
            planned[o]["task"], planned[o]["date"], planned[o]["seconds"])

    # Re-planning picks the changed one up, as it is now.
    sync = cli(world.config_path, "sync", "--route", ROUTE, "--format", "json")
    assert [(a["origin"], a["seconds"]) for a in actions(sync, ROUTE, "create")] == [
        (changed, 77 * 60)]


def test_applying_a_plan_twice_writes_nothing_the_second_time(world: DemoWorld) -> None:
    _, plan = save_plan(world)
    first = apply(world, plan)
    assert first.code == 0, first.stderr
    done = [a for a in actions(first, ROUTE) if a["action"] == "create"]
    assert done and all(a["status"] == "done" for a in done)
    after_first = world.writes()
    assert after_first["billing"] == len(done)

    second = apply(world, plan)
    assert second.code == 0, second.stderr
    check_apply_report(second)
    assert world.writes() == after_first, "the second apply wrote"
    again = {a["origin"]: a for a in actions(second, ROUTE, "create")}
    assert set(again) == {a["origin"] for a in done}
    for a in done:
        shown = again[a["origin"]]
        assert shown["status"] == "stale"
        assert shown["reason"].startswith("already done") and a["target_id"] in shown["reason"]
    assert second.summary(ROUTE)["create"] == 0
    assert max(copy_counts(world, ROUTE).values()) == 1

    # Re-checking costs what a dry run costs (both sides read once), not a look-up per action.
    def requests() -> int:
        return sum(server.log.count() for server in world.servers.values())

    before = requests()
    assert apply(world, plan).code == 0
    by_apply = requests() - before
    before = requests()
    dry = cli(world.config_path, "sync", "--dry-run", "--route", ROUTE, "--format", "json")
    assert dry.code == 0
    assert by_apply == requests() - before


@pytest.mark.postgres
def test_plan_and_apply_on_a_postgres_store(tmp_path: Path, postgres_schema: str) -> None:
    with DemoWorld(tmp_path, today=TODAY, days=7, state_url=postgres_schema) as world:
        people = People(world)
        try:
            planned_run, plan = save_plan(world)
            changed = sorted(a["origin"] for a in actions(planned_run, ROUTE, "create"))[0]
            people.kaiten_edit(changed.split(":")[1], comment="edited after the plan")
            run = apply(world, plan)
            assert run.code == 0, run.stderr
            statuses = {a["origin"]: a["status"] for a in actions(run, ROUTE, "create")}
            assert statuses.pop(changed) == "stale" and set(statuses.values()) == {"done"}
            writes = world.writes()
            assert apply(world, plan).code == 0
            assert world.writes() == writes
            assert max(copy_counts(world, ROUTE).values()) == 1
        finally:
            people.close()


def test_an_update_whose_copy_was_hand_edited_since_the_plan_is_stale(
        synced: DemoWorld, people: People) -> None:
    world = synced
    originals = sorted(route_state(world, ROUTE)[0], key=int)
    edited, touched = originals[0], originals[1]
    people.kaiten_edit(edited, comment="Reworded at the source")
    people.kaiten_edit(touched, time_spent=99)
    planned_run, plan = save_plan(world, "sync", "--dry-run")
    planned = by_origin(planned_run)
    assert {planned[f"kaiten:{o}"]["action"] for o in (edited, touched)} == {"update"}
    copy_of = {c.origin_id: c for c in route_state(world, ROUTE)[1]}
    people.contracting_edit(copy_of[edited].id, description="fixed by hand in billing")
    before = billing_writes(world)

    run = apply(world, plan)
    assert run.code == 0, run.stderr
    check_apply_report(run)
    applied = by_origin(run)
    stale = applied[f"kaiten:{edited}"]
    assert stale["status"] == "stale"
    assert f"the copy {copy_of[edited].id} was changed in the target" in stale["reason"]
    assert applied[f"kaiten:{touched}"]["status"] == "done"
    assert billing_writes(world) == before + 1
    assert world.contracting.entry(copy_of[edited].id)["description"] == \
        "fixed by hand in billing"
    assert world.contracting.entry(copy_of[touched].id)["durationSeconds"] == 99 * 60


def test_a_delete_is_applied_only_while_its_copy_is_as_planned(
        synced: DemoWorld, people: People) -> None:
    world = synced
    originals = sorted(route_state(world, ROUTE)[0], key=int)
    gone = originals[0]
    people.kaiten_delete(gone)
    planned_run, plan = save_plan(world, "sync", "--dry-run")
    assert [a["origin"] for a in actions(planned_run, ROUTE, "delete")] == [f"kaiten:{gone}"]

    dry = apply(world, plan, "--dry-run")
    assert dry.code == 0, dry.stderr
    check_apply_report(dry, dry_run=True)
    assert [(a["action"], a["status"]) for a in not_skips(dry)] == [("delete", "planned")]
    assert copy_counts(world, ROUTE)[gone] == 1, "apply --dry-run wrote"

    run = apply(world, plan)
    assert run.code == 0, run.stderr
    assert [(a["action"], a["status"]) for a in not_skips(run)] == [("delete", "done")]
    assert copy_counts(world, ROUTE)[gone] == 0
    again = apply(world, plan)
    assert [(a["status"], a["reason"].split(":")[0]) for a in not_skips(again)] == [
        ("stale", "already done")]


def test_a_target_read_that_stops_short_applies_nothing_blind(
        world: DemoWorld, fast_retries_short: None) -> None:
    _, plan = save_plan(world)
    world.contracting_server.faults.add("status", status=503, method="GET", path=ENTRIES,
                                        times=1000)
    run = apply(world, plan)
    assert run.code == 1, run.stderr
    check_apply_report(run)
    creates = actions(run, ROUTE, "create")
    assert creates and all(a["status"] == "failed" and "not re-checked" in a["error"]
                           for a in creates)
    assert billing_writes(world) == 0


@pytest.fixture
def fast_retries_short() -> Iterator[None]:
    import stamina

    with stamina.set_testing(True, attempts=2, cap=True):
        yield


def test_a_held_action_in_a_plan_is_never_applied(world: DemoWorld) -> None:
    """Closed periods mark actions ``held``: a plan keeps the mark, and apply shows the
    action held and writes nothing for it."""
    _, plan = save_plan(world)
    saved = json.loads(plan.read_text())
    creates = [a for a in saved["routes"][0]["actions"] if a["action"] == "create"]
    creates[0].update(status="held", held="period closed through 2026-10-31")
    plan.write_text(json.dumps(saved))
    run = apply(world, plan)
    assert run.code == 0, run.stderr
    check_apply_report(run)
    shown = by_origin(run)[creates[0]["origin"]]
    assert (shown["status"], shown["reason"]) == ("held", "period closed through 2026-10-31")
    assert copy_counts(world, ROUTE)[creates[0]["source"]["id"]] == 0
    assert run.summary(ROUTE)["create"] == billing_writes(world) == len(creates) - 1


def test_the_delete_brake_still_holds_for_a_plans_deletes(synced: DemoWorld) -> None:
    world = synced
    originals = sorted(route_state(world, ROUTE)[0], key=int)
    gone = originals[: len(originals) * 3 // 4]
    with world.kaiten._lock:  # most of the source vanishes
        for log_id in gone:
            del world.kaiten.time_logs[int(log_id)]
    _, plan = save_plan(world, "sync", "--dry-run", code=1)   # the brake, as a dry run
    assert {a["refused"] for a in json.loads(plan.read_text())["routes"][0]["actions"]
            if a["action"] == "delete"} == {True}
    run = apply(world, plan)
    assert run.code == 1, run.stderr
    assert "refused" in run.route(ROUTE)["error"]
    deletes = actions(run, ROUTE, "delete")
    assert len(deletes) == len(gone)
    assert all(a["status"] == "failed" and "brake" in a["error"] for a in deletes)
    assert world.contracting_server.log.count("DELETE") == 0
    allowed = apply(world, plan, "--allow-deletes")
    assert allowed.code == 0, allowed.stderr
    assert {a["status"] for a in actions(allowed, ROUTE, "delete")} == {"done"}
    assert not any(copy_counts(world, ROUTE)[o] for o in gone)


def test_an_apply_killed_midway_finishes_exactly_once_when_applied_again(
        tmp_path: Path) -> None:
    """SIGKILL among the writes (one may be in flight, its link not recorded): applying
    the plan again writes the rest, each origin once, and reports the ones made before as
    already done."""
    with DemoWorld(tmp_path, today=TODAY, days=10, bulk_kaiten=40) as world:
        _, plan = save_plan(world)
        planned = {a["origin"] for a in json.loads(plan.read_text())["routes"][0]["actions"]
                   if a["action"] == "create"}
        # Slow writes, so the kill lands among them.
        world.contracting_server.faults.add("latency", method="POST", path=ENTRIES,
                                            delay=0.03, times=10_000)
        code = killed_when(world.config_path, ["apply", str(plan)],
                           lambda: world.contracting_server.log.count("POST", ENTRIES) >= 10,
                           "the first creates")
        assert code == -signal.SIGKILL, "the apply ended before it could be killed"
        made = settled(lambda: sum(copy_counts(world, ROUTE).values()))
        assert 10 <= made < len(planned)

        again = cli_process(world.config_path, "apply", str(plan), "--format", "json")
        assert again.code == 0, again.stderr
        creates = {a["origin"]: a for a in actions(again, ROUTE, "create")}
        assert set(creates) == planned
        done = [o for o, a in creates.items() if a["status"] == "done"]
        assert len(done) == len(planned) - made
        assert all(a["reason"].startswith("already done") for o, a in creates.items()
                   if o not in done)
        assert_exactly_once(world, (ROUTE,))
        assert {f"kaiten:{o}" for o in copy_counts(world, ROUTE)} == planned
        writes = world.writes()
        assert cli(world.config_path, "apply", str(plan)).code == 0
        assert world.writes() == writes


def settled(count: Callable[[], int]) -> int:
    """``count()`` once it stays the same for a while (requests in flight have landed)."""
    last = count()
    while True:
        time.sleep(0.2)
        now = count()
        if now == last:
            return now
        last = now


# --- the report formats -----------------------------------------------------------------------


def test_the_report_formats_show_the_plans_actions(world: DemoWorld, people: People) -> None:
    planned_run, plan = save_plan(world)
    planned = by_origin(planned_run)
    changed = sorted(o for o, a in planned.items() if a["action"] == "create")[0]
    people.kaiten_edit(changed.split(":")[1], time_spent=5)

    rows = list(csv.DictReader(io.StringIO(apply(world, plan, "--dry-run", fmt="csv").stdout)))
    assert {r["origin"] for r in rows} == set(planned)
    assert {r["origin"]: r["status"] for r in rows}[changed] == "stale"
    assert {r["status"] for r in rows if r["origin"] != changed} == {"planned"}

    table = apply(world, plan, fmt="table")
    assert table.code == 0, table.stderr
    assert "stale" in table.stdout and changed in table.stdout
    assert "changed since the plan" in table.stdout
    assert all(o in table.stdout for o in planned)

    # The plan file itself: each action with what it was decided on, and no secret.
    saved = json.loads(plan.read_text())
    text = plan.read_text()
    assert saved["timebridge_plan"] == 1
    [route] = saved["routes"]
    assert route["route"] == ROUTE and route["fingerprint"].startswith("sha256:")
    create = next(a for a in route["actions"] if a["origin"] == changed)
    assert create["origin_key"] == changed.replace("kaiten", "KAITEN")
    assert create["source"]["hash"] and create["source"]["version"]
    assert create["holds"]["task"] == planned[changed]["task"]
    for token in ("kaiten-token", "tracker-token", "contracting-token"):
        assert token not in text
    assert "token" not in text


# --- refusals -----------------------------------------------------------------------------------


def refused(run: Run, *words: str) -> None:
    assert run.code == 2, (run.code, run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("timebridge: error:"), run.stderr
    assert all(w in lines[0] for w in words), lines[0]
    assert run.stdout == ""


def test_a_plan_for_routes_that_changed_is_refused(world: DemoWorld) -> None:
    _, plan = save_plan(world)
    routes = world.default_routes()
    # What does not change a plan's meaning (when a route runs) is not a change.
    routes[0]["schedule"] = "every 5m"
    world.write_config(routes=routes)
    dry = apply(world, plan, "--dry-run")
    assert dry.code == 0, dry.stderr

    routes[0]["tasks"] = {**routes[0]["tasks"], "424242": routes[0]["default_task"]}
    world.write_config(routes=routes)
    refused(apply(world, plan), "route 'kaiten-billing' changed", "re-plan")
    routes = world.default_routes()
    routes[0]["description"] = "{comment} ({origin})"
    world.write_config(routes=routes)
    refused(apply(world, plan), "changed since the plan")
    world.write_config(routes=[r for r in world.default_routes() if r["name"] != ROUTE])
    refused(apply(world, plan), "not in the config")
    assert billing_writes(world) == 0


def test_a_plan_older_than_the_limit_is_refused_unless_allowed(world: DemoWorld) -> None:
    _, plan = save_plan(world)
    saved = json.loads(plan.read_text())
    saved["made_at"] = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    plan.write_text(json.dumps(saved))
    refused(apply(world, plan), "older than the limit of 24.0h", "--max-age")
    refused(apply(world, plan, "--max-age", "12h"), "older than the limit of 12.0h")
    refused(apply(world, plan, "--max-age", "soon"), "--max-age")
    assert billing_writes(world) == 0
    saved["made_at"] = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    plan.write_text(json.dumps(saved))
    refused(apply(world, plan, "--max-age", "2d"), "in the future")
    saved["made_at"] = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    plan.write_text(json.dumps(saved))
    run = apply(world, plan, "--max-age", "2d")
    assert run.code == 0, run.stderr
    assert billing_writes(world) == len(actions(run, ROUTE, "create")) > 0


@pytest.mark.parametrize("content, words", [
    ("{not json", ("not a plan", "not JSON")),
    ('{"dry_run": true, "routes": []}', ("not a plan", "timebridge_plan")),
    ('[1, 2]', ("not a plan",)),
    ('{"timebridge_plan": 99, "made_at": "2026-01-01T00:00:00+00:00", "made_by": "x", '
     '"routes": []}', ("version 99",)),
    ('{"timebridge_plan": 1, "made_at": "yesterday", "made_by": "x", "routes": []}',
     ("made_at",)),
])
def test_a_file_that_is_not_a_plan_is_refused(world: DemoWorld, content: str,
                                              words: tuple[str, ...]) -> None:
    path = world.folder / "bad.json"
    path.write_text(content)
    refused(apply(world, path), *words)


def test_a_plan_with_a_broken_action_is_refused(world: DemoWorld) -> None:
    _, plan = save_plan(world)
    saved = json.loads(plan.read_text())
    saved["routes"][0]["actions"][1]["holds"]["seconds"] = "lots"
    plan.write_text(json.dumps(saved))
    refused(apply(world, plan), "actions[1].holds.seconds")
    refused(apply(world, world.folder / "missing.json"), "no such file")


def test_save_plan_needs_a_dry_run(world: DemoWorld) -> None:
    path = world.folder / "plan.json"
    refused(cli(world.config_path, "sync", "--save-plan", str(path)), "--save-plan needs --dry-run")
    refused(cli(world.config_path, *backfill_args(world), "--save-plan", str(path)),
            "--save-plan needs --dry-run")
    refused(cli(world.config_path, "report", "--save-plan", str(world.folder / "no" / "p.json")),
            "--save-plan", "does not exist")
    refused(cli(world.config_path, "report", "--save-plan", str(world.config_path)),
            "the config file")
    assert not path.exists()
    assert sum(world.writes().values()) == 0
