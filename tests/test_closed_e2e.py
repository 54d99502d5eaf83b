"""Closed periods end to end: the real CLI over the emulators (``bridge.demo.world.DemoWorld``)
and a real SQLite store. No copy dated on or before ``closed_through`` is created,
changed or deleted, by sync, backfill or a webhook's narrow pass, whatever the source
does to its origin (an edit, a delete, a re-date out of or into the closed period);
what is held is listed as ``held`` in every report format and counted in ``status``.

Two routes from Kaiten: ``kaiten-billing`` (contracting changes every field in place)
and ``kaiten-tracker`` (Tracker cannot move a worklog to another date: a re-date there
is a replace, a delete and a create).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from e2e_helpers import (
    TODAY,
    People,
    Run,
    assert_exactly_once,
    backfill_args,
    check_report,
    cli,
    contracting_copies,
    days_ago,
    tracker_records,
)

from bridge.cli.hints import run_narrow
from bridge.config.loader import load_config
from bridge.demo.world import DemoWorld
from bridge.engine.runtime import Runtime
from bridge.store.state import StateStore

SMALL = 7                        # days of seeded work: days_ago(6) .. today
CLOSED = days_ago(4)             # closed: days_ago(6) .. days_ago(4)
IN_CLOSED, IN_OPEN = days_ago(5), days_ago(1)
REASON = f"period closed through {CLOSED.isoformat()}"
ROUTES = ("kaiten-billing", "kaiten-tracker")
WRITES = ("create", "update", "delete")


@pytest.fixture
def world(workdir: Path) -> Iterator[DemoWorld]:
    with DemoWorld(workdir, today=TODAY, days=SMALL) as w:
        yield w



def config(world: DemoWorld, through: date | None = CLOSED, *, on: str = "route",
           name: str = "closed.toml") -> Path:
    """A config of the two Kaiten routes, closed through ``through`` on each route, or on
    each target connector (``on="connector"``)."""
    routes = [{**world.route(r), **({"closed_through": through.isoformat()}
                                    if through and on == "route" else {})} for r in ROUTES]
    path = world.write_config(name, routes=routes)
    if through and on == "connector":
        text = path.read_text()
        for table in ("[connectors.billing]\n", "[connectors.tracker]\n"):
            assert table in text
            text = text.replace(table, f'{table}closed_through = "{through.isoformat()}"\n')
        path.write_text(text)
    return path


def copies(world: DemoWorld, route: str) -> dict[str, tuple]:
    """The copies of Kaiten origins ``route`` made: origin id -> (copy id, date, seconds)."""
    found = contracting_copies(world) if route == "kaiten-billing" else \
        tracker_records(world)[1]
    return {c.origin_id: (c.id, c.day, c.seconds) for c in found if c.source == "KAITEN"}


def acts(run: Run, route: str, origin: str) -> list[tuple[str, str]]:
    return [(a["action"], a["status"]) for a in run.route(route)["actions"]
            if a["origin"] == f"kaiten:{origin}"]


def held(run: Run, route: str) -> list[dict]:
    return [a for a in run.route(route)["actions"] if a["status"] == "held"]


def writes_of(world: DemoWorld) -> dict[str, int]:
    return {k: v for k, v in world.writes().items() if k in ("billing", "tracker")}


def assert_closed_untouched(run: Run) -> None:
    """Every write dated in the closed period is held, with the reason; nothing done there;
    the summary counts the held ones, and only there."""
    check_report(run.json, dry_run=run.json["dry_run"])
    for route in ROUTES:
        for a in run.route(route)["actions"]:
            if a["status"] == "held":
                assert a["reason"] == REASON and a["action"] in WRITES and a["error"] is None, a
            elif a["action"] in WRITES:
                assert date.fromisoformat(a["date"]) > CLOSED, a
        assert run.summary(route)["held"] == len(held(run, route))


@pytest.mark.parametrize("on", ["route", "connector"])
def test_sync_and_backfill_never_write_a_closed_period(world: DemoWorld, people: People,
                                                       on: str) -> None:
    card = world.cards["login"]
    closed = people.kaiten_add(card, 40, IN_CLOSED, "Closed month work")
    open_ = people.kaiten_add(card, 25, IN_OPEN, "Open month work")
    path = config(world, on=on)
    run = cli(path, *backfill_args(world), "--format", "json")
    assert run.code == 0, (run.stdout, run.stderr)
    assert_closed_untouched(run)
    for route in ROUTES:
        assert run.route(route)["notes"] == [
            f"{world.first_day}..{CLOSED} is closed through {CLOSED}: nothing there is written"]
        assert acts(run, route, closed) == [("create", "held")]
        assert acts(run, route, open_) == [("create", "done")]
        made = copies(world, route)
        assert closed not in made and open_ in made
        assert all(day > CLOSED for _, day, _ in made.values()), (route, made)
    # Held, not forgotten: the next sync lists it again and writes nothing at all.
    before = writes_of(world)
    again = cli(path, "sync", "--format", "json")
    assert again.code == 0 and writes_of(world) == before
    assert_closed_untouched(again)
    for route in ROUTES:
        assert not any(again.summary(route)[k] for k in WRITES)
        assert {a["origin"] for a in held(again, route)} == \
            {a["origin"] for a in held(run, route)}
    # Opened again (the key removed), the held creates are made: nothing was lost.
    reopened = cli(config(world, None, name="open.toml"), "sync", "--format", "json")
    assert reopened.code == 0 and not any(reopened.summary(r)["held"] for r in ROUTES)
    assert_exactly_once(world, ROUTES)


def test_source_edits_deletes_and_redates_of_closed_copies_are_held(
        world: DemoWorld, people: People) -> None:
    card = world.cards["login"]
    ids = {name: people.kaiten_add(card, 30, day, f"{name} work") for name, day in (
        ("edited", IN_CLOSED), ("deleted", IN_CLOSED), ("out", IN_CLOSED), ("into", IN_OPEN),
        ("control", IN_OPEN))}
    first = cli(config(world, None, name="open.toml"), *backfill_args(world), "--format", "json")
    assert first.code == 0, first.stdout
    path = config(world)
    before = {route: copies(world, route) for route in ROUTES}
    people.kaiten_edit(ids["edited"], time_spent=55)
    people.kaiten_delete(ids["deleted"])
    people.kaiten_edit(ids["out"], for_date=IN_OPEN)      # its copy would leave the closed month
    people.kaiten_edit(ids["into"], for_date=IN_CLOSED)   # its copy would enter it
    people.kaiten_edit(ids["control"], time_spent=45)

    planned = cli(path, "report", "--format", "json")     # a dry run shows the same holds
    run = cli(path, "sync", "--format", "json")
    assert run.code == 0, (run.stdout, run.stderr)
    assert_closed_untouched(run)
    for route in ROUTES:
        assert sorted((a["action"], a["origin"], a["status"]) for a in held(planned, route)) \
            == sorted((a["action"], a["origin"], a["status"]) for a in held(run, route))
        now = copies(world, route)
        for name in ("edited", "deleted", "out", "into"):
            assert now[ids[name]] == before[route][ids[name]], (route, name)
        assert now[ids["control"]][2] == 45 * 60
        assert acts(run, route, ids["control"]) == [("update", "done")]
        assert acts(run, route, ids["edited"]) == [("update", "held")]
        assert acts(run, route, ids["deleted"]) == [("delete", "held")]
    # In place on contracting; a replace (delete + create, held together) on Tracker.
    for name in ("out", "into"):
        assert acts(run, "kaiten-billing", ids[name]) == [("update", "held")]
        assert acts(run, "kaiten-tracker", ids[name]) == [("delete", "held"),
                                                          ("create", "held")]

    before_writes = writes_of(world)
    again = cli(path, "sync", "--format", "json")
    assert again.code == 0 and writes_of(world) == before_writes
    for route in ROUTES:
        assert again.summary(route)["held"] == run.summary(route)["held"] > 0

    status = cli(path, "status", "--format", "json")
    assert status.code == 0
    for r in status.json["routes"]:
        assert r["last_run"]["summary"]["held"] == again.summary(r["route"])["held"]
    table = cli(path, "status")
    rows = {line.split("│")[1].strip(): line for line in table.stdout.splitlines()
            if line.count("│") > 3 and "kaiten-" in line}
    assert " held " in table.stdout
    for route in ROUTES:
        cells = [c.strip() for c in rows[route].split("│")]
        assert cells[6] == str(again.summary(route)["held"]), cells   # the "held" column

    reopened = cli(config(world, None, name="open.toml"), "sync", "--format", "json")
    assert reopened.code == 0
    assert_exactly_once(world, ROUTES)


def test_held_actions_show_in_csv_table_and_html(world: DemoWorld, people: People) -> None:
    closed = people.kaiten_add(world.cards["login"], 40, IN_CLOSED, "Closed month work")
    path = config(world)
    rows = list(csv.DictReader(io.StringIO(cli(path, "report", "--format", "csv").stdout)))
    mine = [r for r in rows if r["origin"] == f"kaiten:{closed}"]
    assert [(r["route"], r["action"], r["status"], r["reason"]) for r in mine] == [
        (route, "create", "held", REASON) for route in ROUTES]
    table = cli(path, "report")
    assert table.code == 0
    assert "held" in table.stdout and REASON in table.stdout
    # report: each route's window (30 days), its closed part named
    assert f"note: {days_ago(30)}..{CLOSED} is closed through {CLOSED}" in table.stdout
    page = cli(path, "report", "--format", "html").stdout
    assert 'class="action held"' in page and REASON in page
    assert f"is closed through {CLOSED}: nothing there is written" in page


def test_a_backfill_of_a_wholly_closed_range_writes_nothing_and_says_so(
        world: DemoWorld) -> None:
    path = config(world)
    before = writes_of(world)
    run = cli(path, "backfill", "--from", world.first_day.isoformat(), "--to",
              CLOSED.isoformat(), "--format", "json")
    assert run.code == 0, (run.stdout, run.stderr)
    assert writes_of(world) == before, "a closed range was written"
    assert_closed_untouched(run)
    for route in ROUTES:
        assert run.route(route)["notes"] == [
            f"{world.first_day}..{CLOSED} is closed through {CLOSED}: nothing there is written"]
        # The range is read: what would be written there is listed, held.
        assert held(run, route) and not any(run.summary(route)[k] for k in WRITES)
        assert not copies(world, route)
    table = cli(path, "backfill", "--from", world.first_day.isoformat(), "--to",
                CLOSED.isoformat())
    assert f"note: {world.first_day}..{CLOSED} is closed through {CLOSED}: nothing there " \
        "is written" in table.stdout
    assert writes_of(world) == before


def test_a_webhooks_narrow_pass_holds_too(world: DemoWorld, people: People,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMEBRIDGE_TODAY", TODAY.isoformat())
    card = world.cards["login"]
    log_id = people.kaiten_add(card, 30, IN_CLOSED, "Closed month work")
    assert cli(config(world, None, name="open.toml"), "sync").code == 0
    copy = copies(world, "kaiten-billing")[log_id]
    people.kaiten_edit(log_id, time_spent=90)
    loaded = load_config(config(world))
    runtime, store = Runtime(loaded), StateStore(loaded.state_url)
    try:
        result = run_narrow(runtime, loaded.config.route("kaiten-billing"), card, store)
    finally:
        runtime.close()
        store.close()
    mine = [(o.kind.value, o.status, o.reason) for o in result.outcomes
            if o.action.origin.record_id == log_id]
    assert mine == [("update", "held", REASON)] and result.summary["held"] == 1
    assert copies(world, "kaiten-billing")[log_id] == copy


@pytest.mark.parametrize(("where", "value", "message"), [
    ("route", '"2026-02-30"', "closed_through: not a real date: '2026-02-30'"),
    ("route", '"31.10.2026"', 'closed_through: must be a date YYYY-MM-DD, such as '
                              '"2026-10-31" (got \'31.10.2026\')'),
    ("connector", "20261031", "closed_through: must be a date YYYY-MM-DD"),
    ("connector", "2026-10-31T12:00:00", "(got 2026-10-31T12:00:00)"),
])
def test_a_bad_closed_through_is_one_line_and_exit_2(world: DemoWorld, where: str, value: str,
                                                     message: str) -> None:
    path = config(world, date(2026, 10, 31), on=where)
    text = path.read_text().replace('closed_through = "2026-10-31"',
                                    f"closed_through = {value}", 1)
    path.write_text(text)
    run = cli(path, "check", "--offline")
    assert run.code == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("timebridge: error: "), run.stderr
    key = "routes[0] (kaiten-billing)." if where == "route" else "connectors.tracker."
    assert key + message in lines[0] or (key in lines[0] and message in lines[0]), lines[0]
    assert "Traceback" not in run.stderr + run.stdout
