"""End to end: ``timebridge explain`` and ``timebridge history`` over the three emulators.

An origin is copied (create), edited at its source (update), its copy corrected by hand
in the target (conflict) and the conflict settled (resolve): ``explain`` tells that story
in order, with the copy's fields before and after each step, beside the origin and the
copy as the systems show them now. ``history`` lists every write of a run, from the
state store alone (no token), in JSON and CSV, per route.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from audit_checks import assert_links_explained
from e2e_helpers import TODAY, Copy, People, backfill_args, cli, days_ago, route_state

from bridge.demo.world import DemoWorld
from bridge.report.history import CSV_COLUMNS
from bridge.store.events import WRITES
from bridge.store.state import StateStore

SMALL = 7
REPO = Path(__file__).resolve().parent.parent


def utc_day() -> str:
    return datetime.now(UTC).date().isoformat()


@pytest.fixture
def world(workdir: Path) -> Iterator[DemoWorld]:
    with DemoWorld(workdir, today=TODAY, days=SMALL) as w:
        yield w



def backfill(world: DemoWorld) -> dict:
    run = cli(world.config_path, *backfill_args(world), "--format", "json")
    assert run.code == 0, (run.stdout, run.stderr)
    return run.json


def first_origin(world: DemoWorld, route: str) -> str:
    originals = route_state(world, route)[0]
    return sorted((i for i, r in originals.items() if world.first_day <= r.day <= world.today),
                  key=int)[0]


def billing_copy(world: DemoWorld, origin: str) -> Copy:
    return next(c for c in route_state(world, "kaiten-billing")[1] if c.origin_id == origin)


def story_until_conflict(world: DemoWorld, people: People) -> tuple[str, Copy]:
    """Create (backfill), update (edited at the source), conflict (edited by hand)."""
    backfill(world)
    origin = first_origin(world, "kaiten-billing")
    entry = billing_copy(world, origin)
    people.kaiten_edit(origin, time_spent=entry.seconds // 60 + 5)
    assert cli(world.config_path, "sync", "--route", "kaiten-billing").code == 0
    people.contracting_edit(entry.id, description="Corrected by accounting")
    assert cli(world.config_path, "sync", "--route", "kaiten-billing").code == 0
    return origin, entry


def explained(world: DemoWorld, *args: str) -> dict:
    run = cli(world.config_path, "explain", *args, "--format", "json")
    assert run.code == 0, (run.stdout, run.stderr)
    return run.json


def test_explain_tells_create_update_conflict_and_keep_target_in_order(
        world: DemoWorld, people: People) -> None:
    origin, entry = story_until_conflict(world, people)
    assert cli(world.config_path, "resolve", f"kaiten:{origin}", "--keep", "target").code == 0

    doc = explained(world, f"KAITEN:{origin}", "--route", "kaiten-billing")
    assert (doc["origin"], doc["key"]) == (f"kaiten:{origin}", f"KAITEN:{origin}")
    assert doc["source"]["state"] == "found"
    assert doc["source"]["record"]["seconds"] == entry.seconds + 300   # as Kaiten has it now
    (route,) = doc["routes"]
    assert route["route"] == "kaiten-billing" and route["link"]["status"] == "linked"
    assert route["link"]["conflict"] is None and route["link"]["copy_id"] == entry.id
    assert route["copy"]["state"] == "found"
    assert route["copy"]["record"]["comment"] == "Corrected by accounting"
    assert route["copy"]["record"]["origin"] == f"kaiten:{origin}"

    events = doc["events"]
    assert [e["action"] for e in events] == ["create", "update", "conflict", "resolve"]
    assert {e["origin"] for e in events} == {f"kaiten:{origin}"}
    assert {e["copy_id"] for e in events} == {entry.id}
    create, update, conflict, resolve = events
    assert create["before"] is None
    assert (create["after"]["seconds"], create["after"]["comment"]) == (entry.seconds,
                                                                        entry.comment)
    assert update["before"] == create["after"]
    assert update["after"]["seconds"] == entry.seconds + 300
    assert update["changes"] == {"seconds": [entry.seconds, entry.seconds + 300]}
    assert conflict["before"] == update["after"]
    assert conflict["after"]["comment"] == "Corrected by accounting"
    assert "by hand" in conflict["reason"]
    assert conflict["changes"]["comment"] == ["Corrected by accounting", entry.comment]
    assert "keep target" in resolve["reason"] and resolve["run_id"] is None
    assert resolve["after"]["comment"] == "Corrected by accounting"
    assert len({create["run_id"], update["run_id"], conflict["run_id"]}) == 3
    times = [e["at"] for e in events]
    assert times == sorted(times)

    table = cli(world.config_path, "explain", f"kaiten:{origin}")
    assert table.code == 0, table.stderr
    for word in ("create", "update", "conflict", "resolve", entry.id, "kaiten-tracker",
                 "Corrected by accounting"):
        assert word in table.stdout
    # Without --route: every route whose source is Kaiten, each with its own copy.
    every = explained(world, f"kaiten:{origin}")
    assert [r["route"] for r in every["routes"]] == ["kaiten-billing", "kaiten-tracker"]
    assert Counter(e["route"] for e in every["events"])["kaiten-tracker"] >= 1


def test_explain_tells_keep_source_and_the_rewrite_that_followed(
        world: DemoWorld, people: People) -> None:
    origin, entry = story_until_conflict(world, people)
    assert cli(world.config_path, "resolve", f"kaiten:{origin}", "--keep", "source").code == 0
    assert cli(world.config_path, "sync", "--route", "kaiten-billing").code == 0

    events = explained(world, f"kaiten:{origin}", "--route", "kaiten-billing")["events"]
    assert [e["action"] for e in events] == ["create", "update", "conflict", "resolve",
                                             "update"]
    resolve, rewrite = events[3:]
    assert "keep source" in resolve["reason"]
    assert rewrite["before"]["comment"] == "Corrected by accounting"
    assert rewrite["after"]["comment"] == entry.comment
    assert "resolve --keep source" in rewrite["reason"]


def test_explain_errors_are_one_line_exit_2_and_a_failed_read_exits_1(
        world: DemoWorld) -> None:
    backfill(world)
    for bad, said in (("nosuch:1", "no connector is named 'nosuch'"),
                      ("kaiten", "write it as <connector>:<record id>")):
        run = cli(world.config_path, "explain", bad)
        assert run.code == 2 and run.stdout == "" and said in run.stderr
        assert run.stderr.count("\n") == 1
    wrong = cli(world.config_path, "explain", "kaiten:1", "--route", "tracker-billing")
    assert wrong.code == 2 and "tracker-billing" in wrong.stderr

    origin = first_origin(world, "kaiten-billing")
    world.servers["billing"].faults.add("status", status=500, times=1000)
    run = cli(world.config_path, "explain", f"kaiten:{origin}", "--route", "kaiten-billing",
              "--format", "json")
    assert run.code == 1, run.stderr
    (route,) = run.json["routes"]
    assert route["copy"]["state"] == "failed" and route["copy"]["error"]
    assert run.json["source"]["state"] == "found"          # what is known is still shown
    assert [e["action"] for e in run.json["events"]] == ["create"]


def no_token_config(world: DemoWorld) -> Path:
    """The world's config with every token replaced by a variable that is not set."""
    text = world.config_path.read_text()
    changed = re.sub(r'(?m)^token = ".*"$', 'token_env = "AUDIT_TEST_UNSET_TOKEN"', text)
    assert changed != text
    path = world.config_path.with_name("no-token.toml")
    path.write_text(changed)
    return path


def history(config: Path, *args: str) -> subprocess.CompletedProcess:
    """``history`` as a process with no token variable set at all."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TIMEBRIDGE_", "AUDIT_TEST_"))}
    env["COLUMNS"] = "200"   # the table as wide as a wide terminal
    return subprocess.run([sys.executable, "-m", "bridge", "history", "-c", str(config),
                           *args], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=60)


def test_history_lists_every_write_of_a_run_in_json_and_csv_without_a_token(
        world: DemoWorld, people: People) -> None:
    first = utc_day()
    report = backfill(world)
    days = ["--from", first, "--to", utc_day()]
    wrote = {r["route"]: sum(r["summary"][k] for k in WRITES) for r in report["routes"]}
    assert sum(wrote.values()) > 0
    config = no_token_config(world)

    run = history(config, *days, "--format", "json")
    assert run.returncode == 0, run.stderr
    events = json.loads(run.stdout)["events"]
    writes = Counter(e["route"] for e in events if e["action"] in WRITES)
    assert writes == Counter({k: v for k, v in wrote.items() if v})
    assert all(e["run_id"] is not None and e["after"] is not None for e in events)
    assert len({(e["route"], e["run_id"]) for e in events}) == len(writes)  # one run a route

    as_csv = history(config, *days, "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert list(rows[0]) == CSV_COLUMNS and len(rows) == len(events)
    assert [(r["id"], r["action"], r["origin"], r["seconds_after"]) for r in rows] == [
        (str(e["id"]), e["action"], e["origin"], str(e["after"]["seconds"])) for e in events]

    # A later run's update is listed too; a route filter keeps that route's events only.
    origin = first_origin(world, "kaiten-billing")
    people.kaiten_edit(origin, time_spent=billing_copy(world, origin).seconds // 60 + 1)
    assert cli(world.config_path, "sync", "--route", "kaiten-billing").code == 0
    only = history(config, *days, "--format", "json", "--route", "kaiten-billing")
    assert only.returncode == 0, only.stderr
    mine = json.loads(only.stdout)["events"]
    assert {e["route"] for e in mine} == {"kaiten-billing"}
    assert [e["action"] for e in mine if e["action"] in WRITES] == \
        ["create"] * wrote["kaiten-billing"] + ["update"]

    out = world.config_path.with_name("audit.csv")
    saved = history(config, *days, "--format", "csv", "--output", str(out))
    assert saved.returncode == 0 and saved.stdout == ""
    assert len(list(csv.DictReader(io.StringIO(out.read_text())))) == len(events) + 1
    table = history(config, *days)
    assert table.returncode == 0 and f"kaiten:{origin}" in table.stdout


def test_history_bad_input_is_one_line_and_no_store_is_created(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text((REPO / "config.example.toml").read_text())
    for args, said in ((["--from", "2026-13-01", "--to", "2026-12-01"], "--from"),
                       (["--from", "2026-12-02", "--to", "2026-12-01"], "after --to"),
                       (["--from", "2026-12-01", "--to", "2026-12-01", "--route", "nope"],
                        "no route named 'nope'")):
        run = history(config, *args)
        assert run.returncode == 2, run.stderr
        assert run.stdout == "" and said in run.stderr and run.stderr.count("\n") == 1
    empty = history(config, "--from", "2026-12-01", "--to", "2026-12-01", "--format", "json")
    assert empty.returncode == 0 and empty.stdout.strip().startswith('{\n  "events": []')
    assert "no state store at" in empty.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]   # nothing created


def test_every_write_of_a_sync_has_its_event_updates_deletes_and_replaces_too(
        world: DemoWorld, people: People) -> None:
    backfill(world)
    first, second, third = sorted(route_state(world, "kaiten-billing")[0], key=int)[:3]
    people.kaiten_edit(first, time_spent=90)            # an update on both routes
    people.kaiten_delete(second)                        # a delete on both routes
    # Re-dated: contracting moves the entry, Tracker cannot (a delete and a create).
    people.kaiten_edit(third, for_date=days_ago(1) if route_state(
        world, "kaiten-billing")[0][third].day != days_ago(1) else days_ago(2))
    sync = cli(world.config_path, "sync", "--format", "json")
    assert sync.code == 0, sync.stderr
    assert sync.summary("kaiten-tracker")["delete"] >= 2    # the delete and the replace's

    with StateStore(world.resolved_state_url) as store:
        runs = {route: run.id for route, run in store.last_runs().items()}
    day = utc_day()
    listed = cli(world.config_path, "history", "--from", day, "--to", day, "--format", "json")
    assert listed.code == 0, listed.stderr
    for route in ("kaiten-billing", "kaiten-tracker"):
        mine = [e for e in listed.json["events"]
                if e["route"] == route and e["run_id"] == runs[route]]
        wrote = Counter(e["action"] for e in mine if e["action"] in WRITES)
        summary = sync.summary(route)
        assert wrote == Counter({k: summary[k] for k in WRITES if summary[k]}), route
        deleted = [e for e in mine if e["action"] == "delete"]
        assert all(e["before"] is not None and e["after"] is None for e in deleted)
    assert_links_explained(world)


def test_adopted_copies_and_forgotten_links_are_recorded(world: DemoWorld,
                                                         people: People) -> None:
    backfill(world)
    origin = first_origin(world, "kaiten-billing")
    entry = billing_copy(world, origin)
    # Origin and copy both gone (the copy deleted by hand): the link is forgotten.
    people.kaiten_delete(origin)
    assert people.contracting.delete(f"/time-entries/{entry.id}").status_code == 204
    assert cli(world.config_path, "sync", "--route", "kaiten-billing").code == 0
    (forget,) = [e for e in explained(world, f"kaiten:{origin}",
                                      "--route", "kaiten-billing")["events"]
                 if e["action"] != "create"]
    assert (forget["action"], forget["copy_id"]) == ("forget", entry.id)
    assert "both gone" in forget["reason"]

    # The state store lost: the next sync adopts every copy, each with its event.
    assert world.state_path is not None
    world.state_path.unlink()
    sync = cli(world.config_path, "sync", "--route", "kaiten-billing", "--format", "json")
    assert sync.code == 0 and sync.summary("kaiten-billing")["create"] == 0, sync.stderr
    with StateStore(world.resolved_state_url) as store:
        links = store.links("kaiten-billing")
        adopted = store.events(routes=["kaiten-billing"])
    assert links and [e.action for e in adopted] == ["adopt"] * len(links)
    assert {e.origin: e.copy_id for e in adopted} == {
        o: link.target_record_id for o, link in links.items()}
    assert all(e.before is None and e.after is not None for e in adopted)
    assert_links_explained(world)
