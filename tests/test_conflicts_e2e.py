"""End to end: ``timebridge conflicts`` and ``timebridge resolve`` over the three emulators.

A person edits a copy by hand in the target; the next sync reports a conflict and leaves
the copy alone. ``conflicts`` lists it with what differs on each side and since when;
``resolve`` settles it for the target (the hand edit becomes the agreed state: the next
sync plans nothing) or for the source (the copy is rewritten, at the next sync or at once
with ``--now``). Each check reads what the emulated systems hold and what the store says.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from e2e_helpers import (
    TODAY,
    Copy,
    People,
    actions,
    assert_exactly_once,
    backfill_args,
    check_report,
    cli,
    copy_counts,
    route_state,
    wrote_nothing,
)

from bridge.demo.world import DemoWorld
from bridge.report.render import hours
from bridge.store.state import StateStore

SMALL = 7


@pytest.fixture
def world(workdir: Path) -> Iterator[DemoWorld]:
    with DemoWorld(workdir, today=TODAY, days=SMALL) as w:
        run = cli(w.config_path, *backfill_args(w), "--format", "json")
        assert run.code == 0, (run.stdout, run.stderr)
        yield w



def first_origin(world: DemoWorld, route: str) -> str:
    originals = route_state(world, route)[0]
    return sorted((i for i, r in originals.items() if world.first_day <= r.day <= world.today),
                  key=int)[0]


def billing_copy(world: DemoWorld, origin: str, route: str = "kaiten-billing") -> Copy:
    return next(c for c in route_state(world, route)[1] if c.origin_id == origin)


def hand_edited(world: DemoWorld, people: People) -> tuple[str, Copy]:
    """A Kaiten origin whose billing entry accounting corrected by hand, then a sync that
    found the conflict: (origin id, the copy as the bridge made it)."""
    origin = first_origin(world, "kaiten-billing")
    entry = billing_copy(world, origin)
    people.contracting_edit(entry.id, durationSeconds=entry.seconds + 600,
                            description="Corrected by accounting")
    run = cli(world.config_path, "sync", "--route", "kaiten-billing", "--format", "json")
    assert run.code == 0, run.stderr
    assert [a["origin"] for a in actions(run, "kaiten-billing", "conflict")] == [
        f"kaiten:{origin}"]
    return origin, entry


def requests(world: DemoWorld) -> dict[str, int]:
    """Every request each emulator answered so far (reads too)."""
    return {name: server.log.count() for name, server in world.servers.items()}


def waiting(world: DemoWorld, *args: str) -> list[dict]:
    run = cli(world.config_path, "conflicts", "--format", "json", *args)
    assert run.code == 0, run.stderr
    assert set(run.json) == {"conflicts"}
    return run.json["conflicts"]


def test_conflicts_lists_both_sides_and_since_when_in_every_format(
        world: DemoWorld, people: People) -> None:
    origin, entry = hand_edited(world, people)
    asked = requests(world)
    (conflict,) = waiting(world)
    assert requests(world) == asked      # from the state store only: no API asked
    assert set(conflict) == {"route", "origin", "target_id", "date", "reason", "since",
                             "differences"}
    assert (conflict["route"], conflict["origin"], conflict["target_id"], conflict["date"]) == (
        "kaiten-billing", f"kaiten:{origin}", entry.id, entry.day.isoformat())
    assert "by hand" in conflict["reason"]
    assert conflict["differences"] == {
        "seconds": {"origin": entry.seconds, "copy": entry.seconds + 600},
        "comment": {"origin": entry.comment, "copy": "Corrected by accounting"}}
    since = datetime.fromisoformat(conflict["since"])
    assert since.tzinfo is not None

    # Seen again by the next sync: still one conflict, waiting since the first time.
    again = cli(world.config_path, "sync", "--format", "json")
    assert again.code == 0 and wrote_nothing(again)
    assert [c["since"] for c in waiting(world)] == [conflict["since"]]
    assert waiting(world, "--route", "tracker-billing") == []
    assert len(waiting(world, "--route", "tracker-billing", "--route", "kaiten-billing")) == 1

    as_csv = cli(world.config_path, "conflicts", "--format", "csv")
    assert as_csv.code == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["route"], r["origin"], r["target_id"], r["field"], r["origin_value"],
             r["copy_value"], r["since"]) for r in rows] == [
        ("kaiten-billing", f"kaiten:{origin}", entry.id, "comment", entry.comment,
         "Corrected by accounting", conflict["since"]),
        ("kaiten-billing", f"kaiten:{origin}", entry.id, "seconds", str(entry.seconds),
         str(entry.seconds + 600), conflict["since"])]

    table = cli(world.config_path, "conflicts")
    assert table.code == 0, table.stderr
    assert f"kaiten:{origin}" in table.stdout and entry.id in table.stdout
    assert "copy 'Corrected by" in table.stdout
    assert (f"duration: origin {hours(entry.seconds)}, copy {hours(entry.seconds + 600)}"
            in table.stdout)
    assert conflict["since"][:10] in table.stdout
    empty = cli(world.config_path, "conflicts", "--route", "tracker-kaiten")
    assert "No conflicts waiting." in empty.stdout


def test_keep_target_ends_the_conflict_and_the_next_sync_plans_nothing(
        world: DemoWorld, people: People) -> None:
    origin, entry = hand_edited(world, people)
    before = world.writes()
    run = cli(world.config_path, "resolve", f"kaiten:{origin}", "--keep", "target")
    assert run.code == 0, run.stderr
    assert run.stdout.count("\n") == 1
    assert f"kaiten:{origin} on route kaiten-billing: kept the copy {entry.id}" in run.stdout
    assert world.writes() == before          # it writes to no system
    assert waiting(world) == []

    nxt = cli(world.config_path, "sync", "--format", "json")
    assert nxt.code == 0, nxt.stderr
    check_report(nxt.json, dry_run=False)
    assert wrote_nothing(nxt) and nxt.summary("kaiten-billing")["conflict"] == 0
    assert world.writes() == before
    held = world.contracting.entry(entry.id)
    assert (held["durationSeconds"], held["description"]) == (entry.seconds + 600,
                                                              "Corrected by accounting")
    with StateStore(world.resolved_state_url) as store:
        (record,) = store.resolutions()
        assert (record.route, record.origin, record.keep, record.target_record_id) == (
            "kaiten-billing", f"KAITEN:{origin}", "target", entry.id)
        assert "by hand" in record.conflict and record.resolved_at is not None

    # The origin changes again: its copy follows it as usual.
    people.kaiten_edit(origin, time_spent=entry.seconds // 60 + 5)
    follow = cli(world.config_path, "sync", "--route", "kaiten-billing", "--format", "json")
    assert [(a["action"], a["status"]) for a in actions(follow, "kaiten-billing")
            if a["origin"] == f"kaiten:{origin}"] == [("update", "done")]
    assert wrote_nothing(follow) is False and follow.summary("kaiten-billing")["update"] == 1
    assert world.contracting.entry(entry.id)["durationSeconds"] == entry.seconds + 300


def test_keep_source_rewrites_the_copy_at_the_next_sync(world: DemoWorld,
                                                        people: People) -> None:
    origin, entry = hand_edited(world, people)
    before, asked = world.writes(), requests(world)
    run = cli(world.config_path, "resolve", f"KAITEN:{origin}", "--keep", "source")
    assert run.code == 0, run.stderr
    assert requests(world) == asked      # recorded in the store; no API asked
    assert run.stdout.strip() == (f"kaiten:{origin} on route kaiten-billing: the copy "
                                  f"{entry.id} is rewritten from its origin at the next pass")
    assert world.writes() == before and waiting(world) == []

    nxt = cli(world.config_path, "sync", "--format", "json")
    assert nxt.code == 0, nxt.stderr
    check_report(nxt.json, dry_run=False)
    (update,) = [a for a in actions(nxt, "kaiten-billing") if a["action"] != "skip"]
    assert (update["action"], update["status"], update["origin"], update["target_id"]) == (
        "update", "done", f"kaiten:{origin}", entry.id)
    assert "resolve --keep source" in update["reason"]
    held = world.contracting.entry(entry.id)
    assert (held["durationSeconds"], held["description"]) == (entry.seconds, entry.comment)
    assert_exactly_once(world)
    assert wrote_nothing(cli(world.config_path, "sync", "--format", "json"))
    with StateStore(world.resolved_state_url) as store:
        assert [(r.keep, r.origin) for r in store.resolutions()] == [
            ("source", f"KAITEN:{origin}")]
        assert store.link("kaiten-billing", f"KAITEN:{origin}").resolution is None


def test_keep_source_now_rewrites_at_once_through_a_narrow_pass(world: DemoWorld,
                                                                people: People) -> None:
    origin, entry = hand_edited(world, people)
    run = cli(world.config_path, "resolve", f"kaiten:{origin}", "--keep", "source", "--now")
    assert run.code == 0, run.stderr
    assert run.stdout.count("\n") == 1
    assert f"kaiten:{origin} on route kaiten-billing: update done (copy {entry.id})" \
        in run.stdout
    held = world.contracting.entry(entry.id)
    assert (held["durationSeconds"], held["description"]) == (entry.seconds, entry.comment)
    assert waiting(world) == []
    status = cli(world.config_path, "status", "--format", "json")
    last = {r["route"]: r for r in status.json["routes"]}["kaiten-billing"]["last_run"]
    assert last["scope"] == f"origin kaiten:{origin}" and last["summary"]["update"] == 1
    assert wrote_nothing(cli(world.config_path, "sync", "--format", "json"))


def test_keep_source_now_makes_a_copy_deleted_by_hand_again(world: DemoWorld,
                                                           people: People) -> None:
    origin = first_origin(world, "tracker-billing")
    entry = billing_copy(world, origin, "tracker-billing")
    assert people.contracting.delete(f"/time-entries/{entry.id}").status_code == 204
    cli(world.config_path, "sync", "--route", "tracker-billing")
    (conflict,) = waiting(world)
    assert "deleted" in conflict["reason"] and conflict["origin"] == f"tracker:{origin}"
    assert conflict["differences"]["seconds"] == {"origin": entry.seconds, "copy": None}

    # Keeping the target would keep a copy that is gone: refused, nothing changed.
    refused = cli(world.config_path, "resolve", f"tracker:{origin}", "--keep", "target")
    assert refused.code == 1 and "gone from the target" in refused.stderr
    assert len(waiting(world)) == 1

    run = cli(world.config_path, "resolve", f"tracker:{origin}", "--keep", "source", "--now")
    assert run.code == 0, run.stderr
    assert "create done" in run.stdout
    assert copy_counts(world, "tracker-billing")[origin] == 1
    assert_exactly_once(world)
    assert wrote_nothing(cli(world.config_path, "sync", "--format", "json"))


def test_keep_target_of_an_origin_gone_from_its_source_is_refused(world: DemoWorld,
                                                                  people: People) -> None:
    origin, _entry = hand_edited(world, people)
    people.kaiten_delete(origin)
    run = cli(world.config_path, "resolve", f"kaiten:{origin}", "--keep", "target")
    assert run.code == 1 and run.stdout == ""
    assert "gone from its source" in run.stderr and "nothing was changed" in run.stderr
    assert len(waiting(world)) == 1
    with StateStore(world.resolved_state_url) as store:
        assert store.resolutions() == []


def test_resolve_errors_are_one_line_and_change_nothing(world: DemoWorld,
                                                       people: People) -> None:
    origin = first_origin(world, "kaiten-billing")
    # Hand edits of the same Kaiten origin's copies on two routes.
    entry = billing_copy(world, origin)
    people.contracting_edit(entry.id, description="Corrected by accounting")
    worklog = billing_copy(world, origin, "kaiten-tracker")
    people.tracker_edit(worklog.id, duration="PT9H")
    cli(world.config_path, "sync")
    assert {c["route"] for c in waiting(world)} == {"kaiten-billing", "kaiten-tracker"}
    before = world.writes()

    def refused(*args: str, code: int = 2) -> str:
        run = cli(world.config_path, "resolve", *args)
        assert run.code == code, (args, run.stdout, run.stderr)
        assert run.stdout == "" and run.stderr.count("\n") == 1, run.stderr
        assert "Traceback" not in run.stderr
        return run.stderr

    assert "no connector is named 'nosuch'" in refused("nosuch:1", "--keep", "source")
    assert "write it as <connector>:<record id>" in refused("kaiten", "--keep", "source")
    other = sorted(route_state(world, "kaiten-billing")[0], key=int)[-1]
    assert f"kaiten:{other} has no conflict waiting" in refused(f"kaiten:{other}",
                                                               "--keep", "target")
    ambiguous = refused(f"kaiten:{origin}", "--keep", "source")
    assert "kaiten-billing, kaiten-tracker" in ambiguous and "--route" in ambiguous
    assert "no route named 'nope'" in refused(f"kaiten:{origin}", "--keep", "source",
                                             "--route", "nope")
    assert "has no conflict waiting on route tracker-billing" in refused(
        f"kaiten:{origin}", "--keep", "source", "--route", "tracker-billing")
    assert "--now goes with --keep source" in refused(f"kaiten:{origin}", "--keep", "target",
                                                      "--now", "--route", "kaiten-billing")
    cli_bad = cli(world.config_path, "resolve", f"kaiten:{origin}", "--keep", "both")
    assert cli_bad.code == 2
    assert "no route named 'nope'" in cli(world.config_path, "conflicts", "--route",
                                          "nope").stderr
    # A route held by another run: exit 1, nothing recorded.
    with StateStore(world.resolved_state_url) as store, store.lock_route("kaiten-billing"):
        assert "held by another run" in refused(f"kaiten:{origin}", "--keep", "source",
                                                "--route", "kaiten-billing", code=1)
    assert world.writes() == before and len(waiting(world)) == 2

    # Settled on one route with --route; the other still waits.
    run = cli(world.config_path, "resolve", f"kaiten:{origin}", "--keep", "target",
              "--route", "kaiten-tracker")
    assert run.code == 0, run.stderr
    assert [c["route"] for c in waiting(world)] == ["kaiten-billing"]
    ok = cli(world.config_path, "resolve", f"kaiten:{origin}", "--keep", "source")
    assert ok.code == 0, ok.stderr   # the only one left: no --route needed
    assert world.writes() == before and waiting(world) == []


def test_conflicts_and_resolve_have_their_documented_options() -> None:
    from typer.testing import CliRunner

    from bridge.cli.app import app

    for command, options in (("conflicts", ["--route", "--format", "--config"]),
                             ("resolve", ["ORIGIN", "--keep", "--route", "--now", "--config"])):
        result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0
        for option in options:
            assert option in result.stdout, f"{command} lacks {option}"


@pytest.mark.postgres
def test_the_whole_story_on_postgres(workdir: Path, postgres_schema: str) -> None:
    """On a PostgreSQL store: listed with since when, kept for the target on one route and
    rewritten at once for the source on the other; then nothing left to do."""
    with DemoWorld(workdir, today=TODAY, days=5, state_url=postgres_schema) as world:
        assert cli(world.config_path, *backfill_args(world)).code == 0
        people = People(world)
        try:
            origin = first_origin(world, "kaiten-billing")
            entry = billing_copy(world, origin)
            people.contracting_edit(entry.id, description="Corrected by accounting")
            worklog = billing_copy(world, origin, "kaiten-tracker")
            people.tracker_edit(worklog.id, duration="PT9H")
        finally:
            people.close()
        assert cli(world.config_path, "sync").code == 0
        listed = waiting(world)
        assert [(c["route"], c["origin"]) for c in listed] == [
            ("kaiten-billing", f"kaiten:{origin}"), ("kaiten-tracker", f"kaiten:{origin}")]
        assert all(datetime.fromisoformat(c["since"]).tzinfo for c in listed)
        assert listed[0]["differences"]["comment"]["copy"] == "Corrected by accounting"

        kept = cli(world.config_path, "resolve", f"kaiten:{origin}", "--keep", "target",
                   "--route", "kaiten-tracker")
        assert kept.code == 0, kept.stderr
        now = cli(world.config_path, "resolve", f"kaiten:{origin}", "--keep", "source", "--now")
        assert now.code == 0, now.stderr
        assert world.contracting.entry(entry.id)["description"] == entry.comment
        assert world.tracker.get_worklog(worklog.id)["duration"] == "P1DT1H"   # kept
        assert waiting(world) == []
        assert wrote_nothing(cli(world.config_path, "sync", "--format", "json"))
        with StateStore(world.resolved_state_url) as store:
            assert sorted((r.route, r.keep) for r in store.resolutions()) == [
                ("kaiten-billing", "source"), ("kaiten-tracker", "target")]


def test_keep_source_now_never_writes_a_closed_period(world: DemoWorld,
                                                      people: People) -> None:
    """The month of the hand-edited copy was closed after the conflict: ``resolve --keep
    source --now`` goes through the planner like every pass, so the rewrite is held, the
    copy keeps the hand edit, and the resolution waits until the period reopens."""
    origin, entry = hand_edited(world, people)
    corrected = world.contracting.entry(entry.id)
    text = world.config_path.read_text()
    table = "[connectors.billing]\n"
    closed = world.config_path.with_name("closed.toml")
    closed.write_text(text.replace(table, f'{table}closed_through = "{world.today}"\n'))
    run = cli(closed, "resolve", f"kaiten:{origin}", "--keep", "source", "--now")
    assert "held" in run.stdout + run.stderr, (run.stdout, run.stderr)
    assert world.contracting.entry(entry.id) == corrected      # not written
    later = cli(closed, "sync", "--route", "kaiten-billing", "--format", "json")
    assert [a["status"] for a in actions(later, "kaiten-billing", "update")] == ["held"]
    assert world.contracting.entry(entry.id) == corrected
    reopened = cli(world.config_path, "sync", "--route", "kaiten-billing", "--format", "json")
    assert [a["status"] for a in actions(reopened, "kaiten-billing", "update")] == ["done"]
    rewritten = world.contracting.entry(entry.id)
    assert (rewritten["durationSeconds"], rewritten["description"]) == (entry.seconds,
                                                                        entry.comment)
