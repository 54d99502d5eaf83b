"""End to end: the real CLI over the three emulators of ``bridge.demo.world.DemoWorld``.

Each test names the promise of INTERFACE.md it checks, drives ``timebridge`` in this
process (``typer.testing.CliRunner``) or as a real process where the process boundary
matters (stdout holding only the report, SIGKILL, two runs at once), and then checks what
the emulated systems hold: exactly one copy per in-scope origin on every route, holding
what the route says, and nothing written where nothing should be.

The world is small (a week of work) except where size matters (the SIGKILL tests).
"Today" is pinned with ``TIMEBRIDGE_TODAY``.
"""

from __future__ import annotations

import csv
import io
import json
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import stamina
from e2e_helpers import (
    REF,
    ROUTES,
    TODAY,
    People,
    Run,
    actions,
    assert_exactly_once,
    backfill_args,
    check_report,
    cli,
    cli_process,
    contracting_copies,
    copy_counts,
    days_ago,
    kaiten_records,
    killed_when,
    link_rows,
    route_state,
    start_cli_process,
    tracker_records,
    wait_for,
    wrote_nothing,
)

from bridge.demo.world import (
    CONTRACTING_PERSON_TOKEN,
    CONTRACTING_TOKEN,
    KAITEN_PERSON_TOKEN,
    KAITEN_TOKEN,
    TRACKER_PERSON_TOKEN,
    TRACKER_TOKEN,
    DemoWorld,
)

TOKENS = (KAITEN_TOKEN, TRACKER_TOKEN, CONTRACTING_TOKEN, KAITEN_PERSON_TOKEN,
          TRACKER_PERSON_TOKEN, CONTRACTING_PERSON_TOKEN)
ENTRIES = "/api/v1/time-entries"
SMALL = 7  # days of seeded work in most tests




@pytest.fixture
def world(workdir: Path) -> Iterator[DemoWorld]:
    with DemoWorld(workdir, today=TODAY, days=SMALL) as w:
        yield w


@pytest.fixture
def synced(world: DemoWorld) -> DemoWorld:
    """The world after a clean backfill of every route."""
    run = cli(world.config_path, *backfill_args(world), "--format", "json")
    assert run.code == 0, (run.stdout, run.stderr)
    return world



@pytest.fixture
def fast_retries() -> Iterator[None]:
    """Retries without their backoff waits (in this process only), at most 3 attempts."""
    with stamina.set_testing(True, attempts=3, cap=True):
        yield


def in_scope(world: DemoWorld, route: str) -> set[str]:
    originals = route_state(world, route)[0]
    return {i for i, r in originals.items() if world.first_day <= r.day <= world.today}


def writes_of(run: Run, route: str) -> list[tuple]:
    """What a run did or plans to do on ``route``, comparable between a dry and a real run."""
    return sorted((a["action"], a["origin"], a["task"], a["date"], a["seconds"])
                  for a in actions(run, route) if a["action"] in ("create", "update", "delete"))


def no_secrets(*runs: Run) -> None:
    for run in runs:
        for token in TOKENS:
            assert token not in run.stdout + run.stderr


# --- backfill, convergence --------------------------------------------------------------------


def test_backfill_makes_exactly_one_copy_per_origin_and_reports_it(world: DemoWorld) -> None:
    """A real process: stdout is only the JSON report, of INTERFACE.md's shape; every
    in-scope origin of every route gets one copy, holding the task, date and (rounded)
    duration the report shows."""
    run = cli_process(world.config_path, *backfill_args(world), "--format", "json")
    assert run.code == 0, run.stderr
    check_report(run.json, dry_run=False)
    no_secrets(run)
    assert [r["route"] for r in run.json["routes"]] == list(ROUTES)
    for name in ROUTES:
        route, source = run.route(name), name.split("-")[0]
        assert route["error"] is None
        assert (route["from"], route["to"]) == (world.first_day.isoformat(),
                                                world.today.isoformat())
        creates = actions(run, name, "create")
        expected = in_scope(world, name)
        assert len(expected) >= 10
        assert sorted(a["origin"] for a in creates) == sorted(f"{source}:{i}" for i in expected)
        assert route["summary"]["create"] == len(expected)
        assert [a["origin"] for a in actions(run, name, "skip")] == [
            f"{source}:{i}" for i in world.skipped[source]]
        copies = {c.id: c for c in route_state(world, name)[1]}
        for a in creates:
            held = copies[a["target_id"]]
            assert a["origin"] == f"{source}:{held.origin_id}"
            assert (held.task, held.day.isoformat(), held.seconds) == (
                a["task"], a["date"], a["seconds"])
    assert_exactly_once(world)

    # Each reference and each marker names one origin once.
    refs = Counter((e["referenceSource"], e["referenceId"]) for e in world.contracting_entries()
                   if e["referenceSource"])
    assert max(refs.values()) == 1
    for copies in (kaiten_records(world)[1], tracker_records(world)[1]):
        assert max(Counter((c.source, c.origin_id) for c in copies).values()) == 1

    # The unit rules, as reported and as held: Kaiten rounds to the nearest minute, the
    # others keep every second; P1D is 8 hours and P1W 5 workdays.
    special = world.tracker_special
    to_kaiten = {a["origin"]: a["seconds"] for a in actions(run, "tracker-kaiten", "create")}
    to_billing = {a["origin"]: a["seconds"] for a in actions(run, "tracker-billing", "create")}
    assert to_kaiten[f"tracker:{special['odd_seconds']}"] == 91 * 60      # PT1H30M45S
    assert to_billing[f"tracker:{special['odd_seconds']}"] == 5445
    assert to_kaiten[f"tracker:{special['one_day']}"] == 8 * 3600         # P1D
    assert to_billing[f"tracker:{special['one_week']}"] == 40 * 3600      # P1W
    assert all(s % 60 == 0 for s in to_kaiten.values())

    # Comments: brackets kept as text; the longest one trimmed to Kaiten's 4096 characters
    # with its marker whole.
    kaiten_copies = {c.origin_id: c for c in kaiten_records(world)[1]}
    assert kaiten_copies[special["brackets"]].comment == "Investigated [ERR-42] timeouts [draft]"
    long_log = world.kaiten.time_logs[int(kaiten_copies[special["long_comment"]].id)]
    marker = f"[timebridge:YANDEX_TRACKER:{special['long_comment']}]"
    assert len(long_log["comment"]) <= 4096 and long_log["comment"].endswith(" " + marker)
    tracker_copies = {c.origin_id: c for c in tracker_records(world)[1]}
    long_kaiten = str(world.kaiten_special["long_comment"])
    assert len(tracker_copies[long_kaiten].comment) == 4090  # Tracker has no limit

    # What people and other tools made is untouched.
    for entry_id in world.foreign_entries:
        assert world.contracting.entry(entry_id)["updatedAt"] == world.contracting.entry(
            entry_id)["createdAt"]


def test_a_sync_right_after_plans_nothing_and_sends_no_write(synced: DemoWorld) -> None:
    world = synced
    before = world.writes()
    run = cli(world.config_path, "sync", "--format", "json")
    assert run.code == 0, run.stderr
    check_report(run.json, dry_run=False)
    for name in ROUTES:
        summary = run.summary(name)
        assert {k: summary[k] for k in ("create", "update", "delete", "failed", "conflict")} == \
            dict.fromkeys(("create", "update", "delete", "failed", "conflict"), 0), name
        assert summary["unchanged"] == len(in_scope(world, name))
        assert run.route(name)["error"] is None
    assert world.writes() == before


# --- the source changes -----------------------------------------------------------------------


def test_source_edits_deletes_adds_and_re_dating_follow_to_every_copy(
        synced: DemoWorld, people: People) -> None:
    world = synced
    kaiten = kaiten_records(world)[0]
    special = {str(v) for v in world.kaiten_special.values()}
    edited, moved, moved_out = [i for i in sorted(kaiten, key=int) if i not in special][:3]
    people.kaiten_edit(edited, time_spent=kaiten[edited].seconds // 60 + 15,
                       comment="More work than logged")
    new_day = days_ago(1) if kaiten[moved].day != days_ago(1) else days_ago(2)
    people.kaiten_edit(moved, for_date=new_day)
    people.kaiten_edit(moved_out, for_date=days_ago(45))  # out of every route's window
    gone = sorted(tracker_records(world)[0], key=int)[0]
    people.tracker_delete(gone)
    added = people.kaiten_add(world.cards["export"], 70, days_ago(1), "Found late")
    added_t = people.tracker_add("API-7", "PT1H10M5S", days_ago(2), "Logged late")
    odd = world.tracker_special["odd_seconds"]
    people.tracker_edit(odd, duration="PT1H30M50S")  # still 91 minutes for Kaiten

    run = cli(world.config_path, "sync", "--format", "json")
    assert run.code == 0, run.stderr
    check_report(run.json, dry_run=False)
    done = {name: sorted((a["action"], a["origin"]) for a in actions(run, name)
                         if a["action"] != "skip") for name in ROUTES}
    k = lambda i: f"kaiten:{i}"  # noqa: E731
    t = lambda i: f"tracker:{i}"  # noqa: E731
    assert done["kaiten-billing"] == sorted([("update", k(edited)), ("update", k(moved)),
                                             ("update", k(moved_out)), ("create", k(added))])
    # Tracker cannot re-date a worklog: a re-dated origin's copy is replaced.
    assert done["kaiten-tracker"] == sorted([
        ("update", k(edited)), ("delete", k(moved)), ("create", k(moved)),
        ("delete", k(moved_out)), ("create", k(moved_out)), ("create", k(added))])
    assert done["tracker-billing"] == sorted([("delete", t(gone)), ("create", t(added_t)),
                                              ("update", t(odd))])
    # Kaiten holds minutes: 5445 s and 5450 s are both 91 of them, so nothing to change.
    assert done["tracker-kaiten"] == sorted([("delete", t(gone)), ("create", t(added_t))])
    changes = {a["origin"]: a["changes"] for a in actions(run, "kaiten-billing", "update")}
    assert changes[k(edited)]["seconds"] == [kaiten[edited].seconds,
                                            kaiten[edited].seconds + 900]
    assert changes[k(moved)] == {"date": [kaiten[moved].day.isoformat(), new_day.isoformat()]}
    assert changes[k(moved_out)] == {"date": [kaiten[moved_out].day.isoformat(),
                                              days_ago(45).isoformat()]}
    late = {a["origin"]: a["seconds"] for a in actions(run, "tracker-kaiten", "create")}
    assert late[t(added_t)] == 70 * 60  # 4205 s to the nearest minute

    # Every copy holds what its origin now says, the re-dated one out of the window too.
    assert_exactly_once(world)
    for name in ("kaiten-billing", "kaiten-tracker"):
        copies = [c for c in route_state(world, name)[1] if c.origin_id == moved_out]
        assert [c.day for c in copies] == [days_ago(45)]
    for name in ("tracker-billing", "tracker-kaiten"):
        assert copy_counts(world, name)[gone] == 0

    before = world.writes()
    again = cli(world.config_path, "sync", "--format", "json")
    assert again.code == 0 and wrote_nothing(again)
    assert world.writes() == before


def test_a_hand_edited_copy_is_a_reported_conflict_and_left_alone(
        synced: DemoWorld, people: People) -> None:
    world = synced
    origin = sorted(in_scope(world, "kaiten-billing"), key=int)[0]
    entry = next(c for c in route_state(world, "kaiten-billing")[1] if c.origin_id == origin)
    people.contracting_edit(entry.id, durationSeconds=entry.seconds + 600,
                            description="Corrected by accounting")
    worklog = next(c for c in route_state(world, "kaiten-tracker")[1] if c.origin_id == origin)
    people.tracker_edit(worklog.id, duration="PT9H")
    removed = sorted(in_scope(world, "tracker-billing"), key=int)[0]
    removed_entry = next(c for c in route_state(world, "tracker-billing")[1]
                         if c.origin_id == removed)
    assert people.contracting.delete(f"/time-entries/{removed_entry.id}").status_code == 204
    before = world.writes()

    run = cli(world.config_path, "sync", "--format", "json")
    assert run.code == 0, run.stderr  # a reported conflict is not a failure
    check_report(run.json, dry_run=False)
    for name in ("kaiten-billing", "kaiten-tracker"):
        conflicts = actions(run, name, "conflict")
        assert [a["origin"] for a in conflicts] == [f"kaiten:{origin}"], name
        assert "by hand" in conflicts[0]["reason"]
        assert run.summary(name)["conflict"] == 1
    # A copy deleted by hand is not made again behind the person's back.
    conflicts = actions(run, "tracker-billing", "conflict")
    assert [a["origin"] for a in conflicts] == [f"tracker:{removed}"]
    assert "deleted" in conflicts[0]["reason"]
    assert copy_counts(world, "tracker-billing")[removed] == 0
    assert world.writes() == before
    assert world.contracting.entry(entry.id)["durationSeconds"] == entry.seconds + 600
    assert world.contracting.entry(entry.id)["description"] == "Corrected by accounting"
    assert world.tracker.get_worklog(worklog.id)["duration"] == "P1DT1H"

    status = cli(world.config_path, "status", "--format", "json")
    assert status.code == 0, status.stderr
    by_route = {r["route"]: r for r in status.json["routes"]}
    for name in ("kaiten-billing", "kaiten-tracker"):
        waiting = by_route[name]["conflicts"]
        assert len(waiting) == 1 and waiting[0]["origin"].endswith(f":{origin}")
        assert waiting[0]["reason"]
        assert by_route[name]["last_run"]["summary"]["conflict"] == 1
    assert [c["origin"].split(":")[-1] for c in by_route["tracker-billing"]["conflicts"]] == [
        removed]
    assert by_route["tracker-kaiten"]["conflicts"] == []

    again = cli(world.config_path, "sync", "--format", "json")
    assert world.contracting.entry(entry.id)["durationSeconds"] == entry.seconds + 600
    assert [a["origin"] for a in actions(again, "kaiten-billing", "conflict")] == [
        f"kaiten:{origin}"]


# --- dry runs ---------------------------------------------------------------------------------


def test_dry_runs_and_report_write_nothing_and_list_what_the_next_sync_does(
        synced: DemoWorld, people: People) -> None:
    world = synced
    kaiten = sorted(in_scope(world, "kaiten-billing"), key=int)
    people.kaiten_edit(kaiten[0], time_spent=333)
    people.kaiten_delete(kaiten[1])
    people.kaiten_add(world.cards["login"], 25, days_ago(0), "Fresh")
    people.tracker_add("WEB-102", "PT2H30M15S", days_ago(3), "Fresh in Tracker")
    links, before = link_rows(world), world.writes()

    dry = cli(world.config_path, "sync", "--dry-run", "--format", "json")
    back = cli(world.config_path, *backfill_args(world), "--dry-run", "--format", "json")
    report = cli(world.config_path, "report", "--format", "json")
    for run in (dry, back, report):
        assert run.code == 0, run.stderr
        check_report(run.json, dry_run=True)
    assert world.writes() == before
    assert link_rows(world) == links
    planned = {name: writes_of(dry, name) for name in ROUTES}
    assert {name: writes_of(report, name) for name in ROUTES} == planned
    assert all(planned.values())
    csv_run = cli(world.config_path, "report", "--format", "csv")
    assert csv_run.code == 0, csv_run.stderr
    rows = list(csv.DictReader(io.StringIO(csv_run.stdout)))
    assert list(rows[0]) == ["route", "action", "status", "origin", "target_id", "task", "date",
                             "seconds", "reason", "error"]
    assert sorted((r["route"], r["action"], r["origin"]) for r in rows
                  if r["action"] in ("create", "update", "delete")) == sorted(
        (name, w[0], w[1]) for name in ROUTES for w in planned[name])
    saved = world.folder / "report.json"
    to_file = cli(world.config_path, "report", "--format", "json", "--output", str(saved))
    assert to_file.code == 0 and to_file.stdout == ""
    assert json.loads(saved.read_text())["routes"] == report.json["routes"]
    assert world.writes() == before and link_rows(world) == links

    real = cli(world.config_path, "sync", "--format", "json")
    assert real.code == 0, real.stderr
    assert {name: writes_of(real, name) for name in ROUTES} == planned
    # ... and those are all the writes it sent, one request each.
    sent = {name: world.writes()[name] - before[name] for name in before}
    by_target = Counter()
    for name in ROUTES:
        by_target[name.split("-")[1]] += len(planned[name])
    assert sent == {"kaiten": by_target["kaiten"], "tracker": by_target["tracker"],
                    "billing": by_target["billing"]}
    assert_exactly_once(world)


def test_a_dry_backfill_of_a_fresh_world_writes_nothing(world: DemoWorld) -> None:
    run = cli_process(world.config_path, *backfill_args(world), "--dry-run", "--format", "json")
    assert run.code == 0, run.stderr
    check_report(run.json, dry_run=True)
    for name in ROUTES:
        assert run.summary(name)["create"] == len(in_scope(world, name))
        assert {a["status"] for a in actions(run, name)} == {"planned"}
    assert world.writes() == dict.fromkeys(world.servers, 0)
    assert all(not links for links in link_rows(world).values())


# --- no echo, no double billing ---------------------------------------------------------------


def test_an_hour_logged_in_kaiten_is_billed_once_and_never_comes_back(
        synced: DemoWorld, people: People) -> None:
    world = synced
    hour = people.kaiten_add(world.cards["login"], 60, days_ago(0), "One billable hour")
    for _ in range(2):  # and again: nothing echoes on a later pass either
        run = cli(world.config_path, "sync", "--format", "json")
        assert run.code == 0, run.stderr

    entries = world.contracting_entries()
    billed = [e for e in entries if (e["referenceSource"], e["referenceId"]) == ("KAITEN", hour)]
    assert len(billed) == 1 and billed[0]["durationSeconds"] == 3600
    copy = [c for c in tracker_records(world)[1] if (c.source, c.origin_id) == ("KAITEN", hour)]
    assert len(copy) == 1  # carried to Tracker ...
    assert not [e for e in entries if e["referenceSource"] == "YANDEX_TRACKER"
                and e["referenceId"] == copy[0].id]  # ... and not billed from there again
    assert not [c for c in kaiten_records(world)[1] if c.origin_id == copy[0].id]  # nor back

    # The same for everything: no bill of a copy, no copy of a copy.
    tracker_originals, tracker_copies = tracker_records(world)
    kaiten_originals, kaiten_copies = kaiten_records(world)
    assert {c.origin_id for c in contracting_copies(world) if c.source == "YANDEX_TRACKER"} <= \
        set(tracker_originals)
    assert {c.origin_id for c in contracting_copies(world) if c.source == "KAITEN"} <= \
        set(kaiten_originals)
    assert {c.origin_id for c in kaiten_copies} <= set(tracker_originals)
    assert {c.origin_id for c in tracker_copies} <= set(kaiten_originals)
    hours = sum(r.seconds for r in kaiten_originals.values()) + sum(
        r.seconds for r in tracker_originals.values())
    assert sum(c.seconds for c in contracting_copies(world)) == hours
    assert_exactly_once(world)


# --- faults -----------------------------------------------------------------------------------


def test_lost_answers_and_5xx_bursts_still_leave_one_copy_per_origin(
        world: DemoWorld, fast_retries: None) -> None:
    billing, tracker, kaiten = (world.contracting_server.faults, world.tracker_server.faults,
                                world.kaiten_server.faults)
    billing.add("lost", method="POST", path=ENTRIES, times=3)         # applied, answer lost
    billing.add("status", status=503, method="POST", path=ENTRIES, times=2)  # not applied
    billing.add("html", method="GET", path=ENTRIES, times=1)          # a read burst, retried
    billing.add("empty", method="GET", path=ENTRIES, times=1)
    tracker.add("lost", method="POST", path="/v2/issues/*/worklog", times=2)
    tracker.add("html", method="POST", path="/v2/issues/*/worklog", times=2)
    kaiten.add("lost", method="POST", path="/api/latest/cards/*/time-logs", times=2)
    kaiten.add("status", status=500, method="GET", path="/api/latest/time-logs", times=1)
    kaiten.add("broken", method="GET", path="/api/latest/time-logs", times=1)

    first = cli(world.config_path, *backfill_args(world), "--format", "json")
    # Settled within the run: a lost answer is found by origin and adopted; a 5xx or an
    # HTML page after sending is looked for by origin and, provably absent, sent again.
    assert first.code == 0, (first.stderr, first.stdout[-3000:])
    check_report(first.json, dry_run=False)
    assert not [a for name in ROUTES for a in actions(first, name) if a["status"] == "failed"]
    assert all(r["error"] is None for r in first.json["routes"])
    assert_exactly_once(world)
    assert billing.pending() == tracker.pending() == kaiten.pending() == 0   # all were met
    second = cli(world.config_path, "sync", "--format", "json")
    assert second.code == 0 and wrote_nothing(second)


def test_routes_on_different_apis_run_at_the_same_time(world: DemoWorld) -> None:
    """Each route's first read is slow (0.5 s): run one after the other, the last route
    would start seconds after the first; run together, all start within that first read."""
    for server in world.servers.values():
        server.faults.add("latency", method="*", delay=0.5, times=4)
    run = cli(world.config_path, *backfill_args(world), "--format", "json")
    assert run.code == 0, run.stderr
    firsts = [server.log.entries[0].at for server in world.servers.values()]
    lasts = [server.log.entries[-1].at for server in world.servers.values()]
    # Every API was being read before any of them had finished its first (slow) answer
    # plus a little: sequential routes would put a whole route's run between them.
    assert max(firsts) - min(firsts) < 0.5, firsts
    assert min(lasts) > max(firsts)
    assert_exactly_once(world)


def test_a_kaiten_answering_429_is_waited_out_and_still_copied_once(workdir: Path) -> None:
    """The config paces Kaiten far above what the API allows: its answers' X-RateLimit
    headers, and its 429s (here also a burst of injected ones, since the headers alone
    mostly hold the bridge back before a 429), hold the bridge back until the limit
    resets; nothing fails."""
    with DemoWorld(workdir, today=TODAY, days=SMALL, kaiten_rate=8) as world:
        fast = world.write_config("fast.toml", kaiten_rps=1000)
        world.kaiten_server.faults.add(
            "status", method="POST", status=429, times=3, body='{"message": "Too many"}',
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()))})
        run = cli(fast, *backfill_args(world, "--route", "tracker-kaiten"), "--format", "json")
        assert run.code == 0, run.stderr
        assert world.kaiten_server.log.count(status=429) > 0
        assert run.summary("tracker-kaiten")["create"] == len(in_scope(world, "tracker-kaiten"))
        assert_exactly_once(world, ("tracker-kaiten",))


@pytest.mark.parametrize("part_way", [False, True], ids=["every-page", "after-a-page"])
def test_a_target_read_that_fails_deletes_nothing(synced: DemoWorld, people: People,
                                                  fast_retries: None, part_way: bool) -> None:
    world = synced
    copies = sorted(route_state(world, "kaiten-billing")[1], key=lambda c: (c.day, c.id))
    doomed = copies[0].origin_id  # its copy comes on the first page of the target's list
    people.kaiten_delete(doomed)
    if part_way:
        world.contracting.page_size = 5
        world.contracting_server.faults.add("latency", method="GET", path=ENTRIES, times=1)
    world.contracting_server.faults.add("status", status=503, method="GET", path=ENTRIES,
                                        times=1000)

    run = cli(world.config_path, "sync", "--route", "kaiten-billing", "--format", "json")
    assert run.code == 1, run.stderr
    check_report(run.json, dry_run=False)
    route = run.route("kaiten-billing")
    assert "target read failed part-way" in route["error"]
    assert route["summary"]["delete"] == 0 and not actions(run, "kaiten-billing", "delete")
    assert world.contracting_server.log.count("DELETE") == 0
    assert copy_counts(world, "kaiten-billing")[doomed] == 1

    world.contracting_server.faults.clear()  # the API is back: now the delete goes through
    after = cli(world.config_path, "sync", "--route", "kaiten-billing", "--format", "json")
    assert after.code == 0, after.stderr
    assert [a["origin"] for a in actions(after, "kaiten-billing", "delete")] == [
        f"kaiten:{doomed}"]
    assert copy_counts(world, "kaiten-billing")[doomed] == 0


def test_a_lost_state_store_and_a_failing_target_read_create_nothing_twice(
        synced: DemoWorld, fast_retries: None) -> None:
    world = synced
    world.reset_state()
    world.contracting_server.faults.add("status", status=503, method="GET", path=ENTRIES,
                                        times=1000)
    run = cli(world.config_path, "sync", "--route", "kaiten-billing", "--format", "json")
    assert run.code == 1 and "target read failed" in run.route("kaiten-billing")["error"]
    assert max(copy_counts(world, "kaiten-billing").values()) == 1, "copies made twice"


def test_the_delete_brake_refuses_mass_deletes_until_allowed(synced: DemoWorld) -> None:
    world = synced
    originals = sorted(in_scope(world, "kaiten-billing"), key=int)
    gone = originals[: len(originals) * 3 // 4]
    with world.kaiten._lock:  # most of the source vanishes (a wrong filter, a bad import)
        for log_id in gone:
            del world.kaiten.time_logs[int(log_id)]

    run = cli(world.config_path, "sync", "--route", "kaiten-billing", "--format", "json")
    assert run.code == 1, run.stderr
    check_report(run.json, dry_run=False)
    route = run.route("kaiten-billing")
    assert "refused" in route["error"] and "--allow-deletes" in route["error"]
    assert route["summary"]["delete"] == 0 and route["summary"]["failed"] == len(gone)
    assert world.contracting_server.log.count("DELETE") == 0
    assert all(copy_counts(world, "kaiten-billing")[i] == 1 for i in gone)

    allowed = cli(world.config_path, "sync", "--route", "kaiten-billing", "--allow-deletes",
                  "--format", "json")
    assert allowed.code == 0, allowed.stderr
    assert allowed.summary("kaiten-billing")["delete"] == len(gone)
    assert sorted(a["origin"] for a in actions(allowed, "kaiten-billing", "delete")) == sorted(
        f"kaiten:{i}" for i in gone)
    assert_exactly_once(world, ("kaiten-billing",))
    assert all(copy_counts(world, "kaiten-billing")[i] == 0 for i in gone)


def test_a_lost_state_store_adopts_every_copy_and_creates_nothing(synced: DemoWorld) -> None:
    """The SQLite file is deleted: the next sync finds every copy by its reference or
    marker, records it, and creates nothing (no write request at all)."""
    world = synced
    world.reset_state()
    assert not world.state_path.exists()
    before = world.writes()
    run = cli(world.config_path, "sync", "--format", "json")
    assert run.code == 0, run.stderr
    check_report(run.json, dry_run=False)
    for name in ROUTES:
        assert run.summary(name)["create"] == 0, name
        assert wrote_nothing(run)
        source = REF[name.split("-")[0]]
        assert set(link_rows(world)[name]) == {f"{source}:{i}" for i in in_scope(world, name)}
    assert world.writes() == before
    assert_exactly_once(world)
    again = cli(world.config_path, "sync", "--format", "json")
    assert again.code == 0 and wrote_nothing(again)


def test_a_lost_state_store_updates_only_the_copies_that_differ(synced: DemoWorld,
                                                                people: People) -> None:
    world = synced
    edited = sorted(in_scope(world, "kaiten-billing"), key=int)[-1]
    people.kaiten_edit(edited, time_spent=7)
    world.reset_state()
    run = cli(world.config_path, "sync", "--format", "json")
    assert run.code == 0, run.stderr
    check_report(run.json, dry_run=False)
    for name in ROUTES:
        expected = [("update", f"kaiten:{edited}")] if name.startswith("kaiten") else []
        assert [(a["action"], a["origin"]) for a in actions(run, name)
                if a["action"] != "skip"] == expected, name
    assert_exactly_once(world)
    again = cli(world.config_path, "sync", "--format", "json")
    assert again.code == 0 and wrote_nothing(again)


def test_copies_on_an_invoiced_billable_refuse_changes_as_conflicts(synced: DemoWorld,
                                                                   people: People) -> None:
    world = synced
    world.contracting.invoice(world.billable)  # accounting invoiced the period
    edited = sorted(in_scope(world, "kaiten-billing"), key=int)[0]
    people.kaiten_edit(edited, time_spent=11)
    entry = next(c for c in route_state(world, "kaiten-billing")[1] if c.origin_id == edited)
    run = cli(world.config_path, "sync", "--route", "kaiten-billing", "--format", "json")
    assert run.code == 0, run.stderr  # a conflict for a person, not a failure
    conflicts = actions(run, "kaiten-billing", "conflict")
    assert [a["origin"] for a in conflicts] == [f"kaiten:{edited}"]
    assert "refused" in conflicts[0]["reason"]
    assert world.contracting.entry(entry.id)["durationSeconds"] == entry.seconds
    status = cli(world.config_path, "status", "--format", "json")
    waiting = {r["route"]: r["conflicts"] for r in status.json["routes"]}["kaiten-billing"]
    assert [c["origin"] for c in waiting] == [f"kaiten:{edited}"]   # the report's spelling


# --- killed, and run again --------------------------------------------------------------------


def _settled(count: Callable[[], int]) -> int:
    """``count()`` once it stays the same for a while (requests in flight have landed)."""
    last = count()
    while True:
        time.sleep(0.2)
        now = count()
        if now == last:
            return now
        last = now


def _killed_backfill(world: DemoWorld, route: str, server_name: str, post_path: str,
                     kill_after: int) -> None:
    """Start a backfill of ``route`` as a process, SIGKILL it once ``kill_after`` creates
    reached the target, run the backfill again; exactly once, nothing lost."""
    expected = in_scope(world, route)
    server = world.servers[server_name]
    code = killed_when(world.config_path, backfill_args(world, "--route", route),
                       lambda: server.log.count("POST", post_path) >= kill_after,
                       "the first creates")
    assert code == -signal.SIGKILL, "the backfill ended before it could be killed"
    made = _settled(lambda: sum(copy_counts(world, route).values()))  # a write was in flight
    assert kill_after <= made < len(expected)  # killed midway

    rerun = cli_process(world.config_path, *backfill_args(world, "--route", route),
                        "--format", "json")
    assert rerun.code == 0, rerun.stderr
    assert rerun.summary(route)["create"] == len(expected) - made
    assert_exactly_once(world, (route,))
    assert set(copy_counts(world, route)) == expected
    again = cli(world.config_path, "sync", "--route", route, "--format", "json")
    assert again.code == 0 and wrote_nothing(again)
    # The pace of requests_per_second kept every process under Kaiten's limit.
    assert world.kaiten_server.log.count(status=429) == 0


@pytest.mark.slow
def test_a_backfill_killed_midway_on_sqlite_resumes_exactly_once(tmp_path: Path) -> None:
    with DemoWorld(tmp_path, today=TODAY, days=10, bulk_kaiten=50) as world:
        # Slow writes, so the kill lands among them (a write may be in flight).
        world.contracting_server.faults.add("latency", method="POST", path=ENTRIES,
                                            delay=0.03, times=10_000)
        _killed_backfill(world, "kaiten-billing", "billing", ENTRIES, kill_after=12)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_backfill_killed_midway_on_postgres_resumes_exactly_once(
        tmp_path: Path, postgres_schema: str) -> None:
    # Kaiten as the target at its real pace limit paces the backfill.
    with DemoWorld(tmp_path, today=TODAY, days=10, bulk_tracker=40, kaiten_rate=25,
                   state_url=postgres_schema) as world:
        _killed_backfill(world, "tracker-kaiten", "kaiten", "/api/latest/cards/*/time-logs",
                         kill_after=10)


def test_a_backfill_stopped_by_sigterm_keeps_what_it_did_and_exits_1(world: DemoWorld) -> None:
    """SIGTERM: the write in flight finishes, the report is printed, exit 1; run again to
    finish, exactly once."""
    world.contracting_server.faults.add("latency", method="POST", path=ENTRIES, delay=0.05,
                                        times=10_000)
    proc = start_cli_process(world.config_path,
                             *backfill_args(world, "--route", "kaiten-billing"),
                             "--format", "json")
    try:
        wait_for(lambda: world.contracting_server.log.count("POST", ENTRIES) >= 3
                 or proc.poll() is not None, what="the first creates")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    stopped = Run(proc.returncode, out, err)
    assert stopped.code == 1, err
    check_report(stopped.json, dry_run=False)
    route = stopped.route("kaiten-billing")
    assert "interrupted" in route["error"]
    done = [a["origin"] for a in actions(stopped, "kaiten-billing", "create")
            if a["status"] == "done"]
    assert 3 <= len(done) < len(in_scope(world, "kaiten-billing"))
    assert sorted(f"kaiten:{i}" for i in copy_counts(world, "kaiten-billing")) == sorted(done)
    assert "Traceback" not in err

    world.contracting_server.faults.clear()
    rest = cli(world.config_path, *backfill_args(world, "--route", "kaiten-billing"),
               "--format", "json")
    assert rest.code == 0, rest.stderr
    assert rest.summary("kaiten-billing")["create"] == len(in_scope(world, "kaiten-billing")) - \
        len(done)
    assert_exactly_once(world, ("kaiten-billing",))


# --- PostgreSQL: the same promises, and one run per route at a time ---------------------------


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres",
                                                           marks=pytest.mark.postgres)])
def test_backfill_converges_and_a_second_run_of_the_route_is_refused(
        workdir: Path, request: pytest.FixtureRequest, store: str) -> None:
    """On each state store: one process backfills slowly; a second one started meanwhile
    reports the route as held (exit 1) and writes nothing; the first finishes; all
    converges."""
    url = request.getfixturevalue("postgres_schema") if store == "postgres" else None
    with DemoWorld(workdir, today=TODAY, days=5, state_url=url) as world:
        # Long enough that the first run's concurrent creates are still in flight while
        # the second process starts and reads.
        world.contracting_server.faults.add("latency", method="POST", path=ENTRIES,
                                            delay=5.0, times=10_000)
        first = start_cli_process(world.config_path,
                                  *backfill_args(world, "--route", "kaiten-billing"),
                                  "--format", "json")
        try:
            # Its first create has arrived: it holds the route (taken before any read).
            wait_for(lambda: world.contracting_server.log.count("POST", ENTRIES) >= 1
                     or first.poll() is not None, what="the first run's first create")
            second = cli_process(world.config_path,
                                 *backfill_args(world, "--route", "kaiten-billing"),
                                 "--format", "json")
            assert second.code == 1, second.stderr
            assert second.route("kaiten-billing")["error"] == \
                "route kaiten-billing is held by another run"
            assert second.summary("kaiten-billing")["create"] == 0
            world.contracting_server.faults.clear()
            out, err = first.communicate(timeout=60)
        finally:
            if first.poll() is None:
                first.kill()
                first.communicate()
        assert first.returncode == 0, err
        assert Run(0, out, err).summary("kaiten-billing")["create"] == len(
            in_scope(world, "kaiten-billing"))

        rest = cli(world.config_path, *backfill_args(world), "--format", "json")
        assert rest.code == 0, rest.stderr
        assert rest.summary("kaiten-billing")["create"] == 0
        assert_exactly_once(world)
        before = world.writes()
        converged = cli(world.config_path, "sync", "--format", "json")
        assert converged.code == 0 and wrote_nothing(converged)
        assert world.writes() == before


# --- exit codes -------------------------------------------------------------------------------


def test_exit_code_0_when_all_is_done_and_1_for_a_402_card(world: DemoWorld) -> None:
    """A Tracker issue mapped to a card of the Sales space, which has no time tracking:
    its worklogs fail with Kaiten's 402 (named in the error), the rest are copied."""
    routes = [dict(r) for r in world.routes if r["name"] == "tracker-kaiten"]
    routes[0]["tasks"] = {**routes[0]["tasks"], "OPS-3": world.cards["leads"]}
    config = world.write_config("tariff.toml", routes=routes)
    run = cli_process(config, *backfill_args(world), "--format", "json")
    assert run.code == 1, run.stderr
    check_report(run.json, dry_run=False)
    failed = [a for a in actions(run, "tracker-kaiten") if a["status"] == "failed"]
    ops = {i for i, r in tracker_records(world)[0].items() if r.task == "OPS-3"}
    assert sorted(a["origin"] for a in failed) == sorted(f"tracker:{i}" for i in ops)
    assert all("402" in a["error"] and "tariff" in a["error"] for a in failed)
    assert run.summary("tracker-kaiten")["create"] == len(in_scope(world, "tracker-kaiten")) - \
        len(ops)
    assert run.route("tracker-kaiten")["error"] is None
    no_secrets(run)

    clean = cli(world.config_path, *backfill_args(world, "--route", "kaiten-billing"))
    assert clean.code == 0, clean.stderr


def test_exit_code_1_for_a_rejected_write_and_0_once_it_is_accepted(world: DemoWorld) -> None:
    world.contracting_server.faults.add(
        "status", status=400, method="POST", path=ENTRIES, times=1,
        body='{"message": "invalid time entry", "errors": {"date": ["is closed"]}}')
    run = cli(world.config_path, *backfill_args(world, "--route", "tracker-billing"),
              "--format", "json")
    assert run.code == 1, run.stderr
    assert run.summary("tracker-billing")["failed"] == 1
    failed = [a for a in actions(run, "tracker-billing") if a["status"] == "failed"]
    assert "400" in failed[0]["error"] and "is closed" in failed[0]["error"]
    assert run.summary("tracker-billing")["create"] == len(in_scope(world,
                                                                    "tracker-billing")) - 1
    retry = cli(world.config_path, *backfill_args(world, "--route", "tracker-billing"),
                "--format", "json")
    assert retry.code == 0 and retry.summary("tracker-billing")["create"] == 1
    assert_exactly_once(world, ("tracker-billing",))


def test_exit_code_1_for_a_rejected_token_or_a_host_down_and_the_rest_is_done(
        world: DemoWorld, fast_retries: None) -> None:
    check = cli(world.config_path, "check")
    assert check.code == 0, check.stderr
    names = [line.split(":")[0] for line in check.stdout.splitlines()[1:]]
    assert list(dict.fromkeys(names)) == ["kaiten", "tracker", "billing"]
    # Each connector: its token first ("NAME: ok (who)"), then one line per probe.
    assert {x.split(":")[0] for x in check.stdout.splitlines() if ": ok (" in x
            and x.index(": ok (") == len(x.split(":")[0])} == {"kaiten", "tracker", "billing"}

    wrong = world.folder / "wrong-token.toml"
    wrong.write_text(world.config_text().replace(KAITEN_TOKEN, "revoked-token-5f1e"))
    run = cli_process(wrong, *backfill_args(world), "--format", "json")
    assert run.code == 1, run.stderr
    check_report(run.json, dry_run=False)
    for name in ROUTES:
        error = run.route(name)["error"]
        if "kaiten" in name:
            assert error and "401" in error, (name, error)
        else:
            assert error is None and run.summary(name)["create"] > 0, (name, error)
    assert "revoked-token-5f1e" not in run.stdout + run.stderr
    assert kaiten_records(world)[1] == []  # nothing reached Kaiten with a rejected token

    world.tracker_server.stop()  # the host is unreachable now
    down = cli(world.config_path, "sync", "--format", "json")
    assert down.code == 1
    for name in ROUTES:
        error = down.route(name)["error"]
        assert ("cannot reach" in error) if "tracker" in name else error is None, (name, error)
    assert "Traceback" not in down.stderr


@pytest.mark.parametrize("args", [
    ["sync", "--route", "nope"],
    ["backfill", "--from", "2026-02-30", "--to", "2026-03-01"],
    ["backfill", "--from", "2026-03-02", "--to", "2026-03-01"],
    ["report", "--from", "2026-03-01"],
    ["sync", "--format", "yaml"],
    ["sync", "--bogus"],
], ids=["unknown-route", "bad-date", "reversed-range", "half-range", "bad-format",
        "bad-option"])
def test_exit_code_2_for_bad_usage_reads_and_writes_nothing(world: DemoWorld,
                                                            args: list[str]) -> None:
    run = cli(world.config_path, *args)
    assert run.code == 2, (run.stdout, run.stderr)
    assert sum(len(s.log.entries) for s in world.servers.values()) == 0
    assert not world.state_path.exists()


def test_exit_code_2_for_a_bad_config_reads_and_writes_nothing(world: DemoWorld) -> None:
    text = world.config_text().replace('rounding = "nearest"', 'rounding = "round"', 1)
    assert 'rounding = "round"' in text
    bad = world.folder / "bad.toml"
    bad.write_text(text)
    run = cli_process(bad, "sync")
    assert run.code == 2
    assert run.stderr.count("\n") == 1 and "rounding" in run.stderr
    typo = world.folder / "typo.toml"
    typo.write_text(world.config_text().replace("window_days", "windows_days", 1))
    assert "windows_days" in typo.read_text()
    assert cli(typo, "sync").code == 2
    assert sum(len(s.log.entries) for s in world.servers.values()) == 0
    assert not world.state_path.exists()


def test_route_option_repeats_and_runs_only_those_routes(synced: DemoWorld) -> None:
    run = cli(synced.config_path, "sync", "-r", "tracker-kaiten", "--route", "kaiten-billing",
              "--format", "json")
    assert run.code == 0, run.stderr
    assert [r["route"] for r in run.json["routes"]] == ["kaiten-billing", "tracker-kaiten"]


def test_status_after_runs_shows_each_route(synced: DemoWorld) -> None:
    table = cli(synced.config_path, "status")
    assert table.code == 0, table.stderr
    assert all(name in table.stdout for name in ROUTES)
    status = cli(synced.config_path, "status", "--format", "json")
    assert status.code == 0, status.stderr
    runs = {r["route"]: r["last_run"] for r in status.json["routes"]}
    assert set(runs) == set(ROUTES)
    for name, run in runs.items():
        assert run["error"] is None and run["finished_at"] and not run["dry_run"]
        assert run["summary"]["create"] == len(in_scope(synced, name))
    with sqlite3.connect(synced.state_path) as db:
        assert db.execute("select count(*) from runs").fetchone()[0] == len(ROUTES)


def test_a_backfill_in_chunks_makes_what_one_window_makes(workdir: Path) -> None:
    """Over the emulators, a backfill chunked every two days (several chunks per route,
    origins spread over all of them) reports and copies exactly what an unchunked one does,
    and a sync right after plans nothing."""
    runs = []
    for chunk_days in (0, 2):
        folder = workdir / f"chunks-{chunk_days}"
        folder.mkdir()
        with DemoWorld(folder, today=TODAY, days=SMALL) as world:
            text = world.config_path.read_text()
            world.config_path.write_text(text.replace(
                'schedule = "', f'chunk_days = {chunk_days}\nschedule = "'))
            run = cli(world.config_path, *backfill_args(world), "--format", "json")
            assert run.code == 0, (run.stdout, run.stderr)
            assert_exactly_once(world)
            again = cli(world.config_path, "sync", "--format", "json")
            assert again.code == 0 and wrote_nothing(again), again.stdout
            runs.append(({n: run.summary(n) for n in ROUTES},
                         {n: writes_of(run, n) for n in ROUTES}))
    assert runs[0] == runs[1]
