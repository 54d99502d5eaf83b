"""Kaiten webhooks end to end, without the daemon's schedule: the Kaiten emulator sends
``timelog:*`` deliveries to a tiny local receiver that hands them to a real
:class:`~bridge.cli.hints.HintQueue`, whose narrow passes write to the contracting emulator.

Every world is first synced in full (the state the schedule leaves); after that no full
pass runs, so whatever changes is a narrow pass's doing. The emulators' request logs show
that a narrow pass asks only about its card; the state store's runs show how many narrow
passes ran and that none counts as a full pass. (The daemon's own HTTP listener and its
test are not here: this drives the queue the listener calls.)
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import stamina
from e2e_helpers import (
    TODAY,
    People,
    assert_exactly_once,
    cli,
    copy_counts,
    days_ago,
    route_state,
    wait_for,
)
from starlette.applications import Starlette

from bridge.cli.hints import HintQueue
from bridge.cli.listener import build_app
from bridge.cli.readiness import Readiness
from bridge.config.loader import LoadedConfig, load_config
from bridge.demo.world import DemoWorld
from bridge.engine.runtime import Runtime
from bridge.store.state import StateStore
from connectors.emulator import EmulatorServer, LoggedRequest

ROUTE = "kaiten-billing"
SECRET = "hook-secret-5d2a"
WAIT = 60          # seconds: a generous bound on every wait
SMALL = 7          # days of seeded work
ENTRIES = "/api/v1/time-entries"


@dataclass
class Hints:
    """A synced world, its hint queue and the receiver Kaiten's webhooks go to."""

    world: DemoWorld
    queue: HintQueue
    store: StateStore
    receiver: EmulatorServer
    people: People
    config: Path

    def settle(self) -> None:
        """Wait until every delivery was made and every narrow pass it started is done."""
        assert self.world.kaiten.webhooks.flush(WAIT), "deliveries still unsent"
        assert self.queue.wait_idle(WAIT), "narrow passes still running"

    def clear_logs(self) -> None:
        for server in self.world.servers.values():
            server.log.clear()

    def requests(self, system: str) -> list[LoggedRequest]:
        return list(self.world.servers[system].log.entries)

    def narrow_runs(self) -> list[tuple[str, str | None, dict]]:
        """(scope, error, summary) of each narrow run of the route, oldest first."""
        rows = sqlite3.connect(self.world.state_path).execute(
            "select scope, error, summary from runs where route = ? and scope is not null "
            "order by id", (ROUTE,)).fetchall()
        return [(scope, error, json.loads(summary)) for scope, error, summary in rows]

    def copy_of(self, log_id: str) -> dict[str, Any] | None:
        found = [e for e in self.world.contracting_entries()
                 if e["referenceSource"] == "KAITEN" and e["referenceId"] == log_id]
        assert len(found) <= 1, found
        return found[0] if found else None


def _receiver(queue: HintQueue, loaded: LoadedConfig, store: StateStore) -> Starlette:
    """The daemon's own listener app, its webhooks going to ``queue``."""
    readiness = Readiness(store, loaded.config.routes, 3)
    return build_app(readiness, SECRET, queue.on_kaiten_delivery)




@pytest.fixture
def make_hints(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable]:
    """``make_hints(route_changes=..., **queue_options)``: a world synced in full, then a
    queue fed by the Kaiten emulator's webhooks. ``route_changes`` may be a function of
    the world (to size a setting by what was seeded)."""
    monkeypatch.setenv("TIMEBRIDGE_TODAY", TODAY.isoformat())
    made: list[Callable[[], None]] = []

    def make(route_changes: Any = None, **options: Any) -> Hints:
        world = DemoWorld(workdir, today=TODAY, days=SMALL, kaiten_rate=1000)
        made.append(world.stop)
        changes = route_changes(world) if callable(route_changes) else route_changes or {}
        # The schedule is never run here; a daemon would not start before next year.
        route = {**world.route(ROUTE), "schedule": "0 0 1 1 *", **changes}
        config = world.write_config("hints.toml", routes=[route])
        first = cli(config, "sync", "--format", "json")
        assert first.code == 0, (first.stdout[-2000:], first.stderr)
        loaded = load_config(config)
        runtime, store, stop = Runtime(loaded), StateStore(loaded.state_url), threading.Event()
        queue = HintQueue(loaded, runtime, store, stop, **{"backoff": 0.05, **options})
        receiver = EmulatorServer(_receiver(queue, loaded, store)).start()
        people = People(world)

        def close() -> None:
            stop.set()
            queue.close(WAIT)
            receiver.stop()
            world.kaiten.webhooks.close()
            people.close()
            runtime.close()
            store.close()

        made.append(close)
        world.kaiten.webhooks.subscribe(f"{receiver.base_url}/webhooks/kaiten", secret=SECRET)
        return Hints(world, queue, store, receiver, people, config)

    yield make
    for close in reversed(made):
        close()


@pytest.fixture
def hints(make_hints: Callable) -> Hints:
    return make_hints()


@pytest.fixture
def fast_retries() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3, cap=True):
        yield


def only_about_card(hints: Hints, card: int) -> None:
    """The bridge asked Kaiten about ``card`` only, and never read the billing window."""
    asked = [e for e in hints.requests("kaiten") if e.method == "GET"]  # people write
    assert asked, "the narrow pass asked Kaiten nothing"
    for e in asked:
        assert e.path == f"/api/latest/cards/{card}/time-logs" or (
            e.path == "/api/latest/time-logs" and f"card_ids={card}" in e.query), e
    for e in hints.requests("billing"):
        assert "dateFrom" not in e.query, e   # no read of the target's window


def test_a_log_added_in_kaiten_is_billed_by_one_narrow_pass_of_its_card(hints: Hints) -> None:
    world, card = hints.world, hints.world.cards["login"]
    before = hints.store.last_runs(full_only=True)[ROUTE]
    hints.clear_logs()
    log_id = hints.people.kaiten_add(card, 45, days_ago(1), "Webhook-fast billing")
    hints.settle()
    copy = hints.copy_of(log_id)
    assert copy is not None and copy["durationSeconds"] == 45 * 60
    assert copy["description"] == "Webhook-fast billing"
    assert_exactly_once(world, (ROUTE,))
    only_about_card(hints, card)
    assert [r[:2] for r in hints.narrow_runs()] == [(f"card {card}", None)]
    assert hints.narrow_runs()[0][2]["create"] == 1
    assert hints.store.last_runs(full_only=True)[ROUTE] == before   # no full pass since
    status = cli(hints.config, "status", "--format", "json").json["routes"][0]
    assert status["last_run"]["scope"] == f"card {card}"
    assert status["last_full_run"]["scope"] is None


def test_edits_and_a_removal_follow_and_the_delete_waits_for_the_card_look_up(
        hints: Hints) -> None:
    card = hints.world.cards["export"]
    log_id = hints.people.kaiten_add(card, 30, days_ago(2), "draft")
    hints.settle()
    hints.people.kaiten_edit(log_id, time_spent=50, comment="final")
    hints.settle()
    copy = hints.copy_of(log_id)
    assert (copy["durationSeconds"], copy["description"]) == (50 * 60, "final")
    hints.people.kaiten_edit(log_id, for_date=days_ago(40))   # re-dated out of the window
    hints.settle()
    assert hints.copy_of(log_id)["date"] == days_ago(40).isoformat()
    hints.people.kaiten_edit(log_id, for_date=days_ago(3))
    hints.settle()
    hints.clear_logs()
    hints.people.kaiten_delete(log_id)
    hints.settle()
    assert hints.copy_of(log_id) is None
    only_about_card(hints, card)
    looked = [e.at for e in hints.requests("kaiten")
              if e.path == f"/api/latest/cards/{card}/time-logs" and e.method == "GET"]
    deleted = [e.at for e in hints.requests("billing") if e.method == "DELETE"]
    assert len(deleted) == 1 and looked and min(looked) < deleted[0]
    assert_exactly_once(hints.world, (ROUTE,))


def test_forged_events_change_nothing(hints: Hints) -> None:
    world = hints.world
    log = world.kaiten_time_logs()[0]                       # exists, and is billed
    copy = hints.copy_of(str(log["id"]))
    assert copy is not None
    hints.clear_logs()
    forged = [
        {"event": "timelog:remove", "data": {"old": log}},           # it was not removed
        {"event": "timelog:update", "data": {**log, "time_spent": 999, "comment": "pay me"}},
        {"event": "timelog:add", "data": {"card_id": 987654, "id": 1, "time_spent": 600}},
        {"event": "timelog:add", "data": {**log, "id": 424242, "card_id": log["card_id"]}},
    ]
    for payload in forged:
        hints.queue.on_kaiten_delivery(payload)
    hints.settle()
    assert hints.requests("billing") == []   # the truth read showed nothing to do
    assert hints.copy_of(str(log["id"])) == copy
    assert_exactly_once(world, (ROUTE,))
    assert all(error is None for _, error, _ in hints.narrow_runs())


def test_duplicated_late_and_out_of_order_deliveries_converge(hints: Hints) -> None:
    world, hooks = hints.world, hints.world.kaiten.webhooks
    hooks.hold, hooks.duplicate = True, True
    login, export = world.cards["login"], world.cards["export"]
    first = hints.people.kaiten_add(login, 15, days_ago(1), "one")
    hints.people.kaiten_edit(first, time_spent=25)
    second = hints.people.kaiten_add(export, 60, days_ago(2), "two")
    hints.people.kaiten_delete(second)
    gone = next(r for r in route_state(world, ROUTE)[0].values() if r.task == str(export))
    hints.people.kaiten_delete(gone.id)
    hooks.hold = False
    assert hooks.release("reverse") == 10   # five events, each twice, newest first
    hints.settle()
    assert hints.copy_of(first)["durationSeconds"] == 25 * 60
    assert hints.copy_of(second) is None and hints.copy_of(gone.id) is None
    assert_exactly_once(world, (ROUTE,))
    # The same deliveries once more, long after: nothing left to do.
    before = world.servers["billing"].log.writes()
    for delivery in hooks.deliveries():
        hints.queue.on_kaiten_delivery(delivery.payload)
    hints.settle()
    assert world.servers["billing"].log.writes() == before


def test_an_event_for_a_card_outside_the_filter_does_nothing(hints: Hints) -> None:
    world = hints.world
    leads = world.cards["leads"]          # the Sales space: not in the route's space_ids
    log_id = world.kaiten.add_time_log(card_id=leads, user_id=world.kaiten_users["anna"],
                                       time_spent=60, for_date=days_ago(1).isoformat())
    hints.clear_logs()
    world.kaiten.webhooks.emit("timelog:add", world.kaiten.get_time_log(log_id))
    hints.settle()
    assert hints.requests("billing") == []
    assert hints.copy_of(str(log_id)) is None
    only_about_card(hints, leads)


def test_a_card_outside_the_card_ids_filter_asks_nothing_at_all(make_hints: Callable) -> None:
    hints = make_hints(lambda world: {"filter": {"card_ids": [world.cards["login"]]}})
    export = hints.world.cards["export"]
    hints.clear_logs()
    hints.people.kaiten_add(export, 30, days_ago(1), "not this route's card")
    hints.settle()
    assert [e for e in hints.requests("kaiten") if e.method == "GET"] == []
    assert hints.requests("billing") == [] and hints.narrow_runs() == []


def test_narrow_deletes_share_the_brake_until_the_next_full_pass(make_hints: Callable) -> None:
    def one_and_a_half_deletes(world: DemoWorld) -> dict:
        originals = [r for r in route_state(world, ROUTE)[0].values()
                     if world.first_day <= r.day <= world.today]
        return {"max_delete_share": 1.5 / len(originals)}

    hints = make_hints(one_and_a_half_deletes)
    originals = list(route_state(hints.world, ROUTE)[0].values())
    first = next(r for r in originals if r.task == str(hints.world.cards["login"]))
    second = next(r for r in originals if r.task == str(hints.world.cards["incident"]))
    hints.people.kaiten_delete(first.id)
    hints.settle()
    assert hints.copy_of(first.id) is None       # one delete: within the share
    hints.people.kaiten_delete(second.id)
    hints.settle()
    assert hints.copy_of(second.id) is not None  # a second one since the full pass: refused
    error = hints.narrow_runs()[-1][1]
    assert "refused 1 deletes (1 more since the last full pass)" in error
    allowed = cli(hints.config, "sync", "--allow-deletes", "--format", "json")
    assert allowed.code == 0 and hints.copy_of(second.id) is None


def test_a_held_route_is_tried_again_and_then_served(make_hints: Callable,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    hints = make_hints(retries=4, backoff=0.5)
    other = StateStore(hints.store.url.render_as_string(hide_password=False))
    try:
        with caplog.at_level(logging.INFO, logger="timebridge.hints"):
            with other.lock_route(ROUTE):    # another run (a replica, a manual sync)
                log_id = hints.people.kaiten_add(hints.world.cards["login"], 20, days_ago(1),
                                                 "held for a while")
                wait_for(lambda: "is held by another run; the narrow pass" in caplog.text,
                         WAIT, "the narrow pass to find the route held")
                assert hints.copy_of(log_id) is None
            hints.settle()
    finally:
        other.close()
    assert hints.copy_of(log_id) is not None
    assert len(hints.narrow_runs()) == 1       # a held try records no run


def test_a_route_held_too_long_is_left_to_the_schedule(make_hints: Callable,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    hints = make_hints(retries=1, backoff=0.01)
    other = StateStore(hints.store.url.render_as_string(hide_password=False))
    try:
        with caplog.at_level(logging.INFO, logger="timebridge.hints"), other.lock_route(ROUTE):
            log_id = hints.people.kaiten_add(hints.world.cards["login"], 20, days_ago(1), "x")
            hints.settle()
    finally:
        other.close()
    assert "still held by another run after 2 tries" in caplog.text
    assert hints.copy_of(log_id) is None and hints.narrow_runs() == []
    assert cli(hints.config, "sync", "--format", "json").code == 0   # the schedule's turn
    assert hints.copy_of(log_id) is not None


def test_a_failed_copy_look_up_creates_nothing_and_the_next_hint_creates_one(
        hints: Hints, fast_retries: None) -> None:
    billing = hints.world.servers["billing"].faults
    billing.add("status", status=503, method="GET", path=ENTRIES, times=100)
    log_id = hints.people.kaiten_add(hints.world.cards["login"], 35, days_ago(1), "retry me")
    hints.settle()
    assert hints.copy_of(log_id) is None
    assert "looking up the copies of kaiten:" in hints.narrow_runs()[-1][1]
    billing.clear()
    hints.people.kaiten_edit(log_id, comment="retry me, again")
    hints.settle()
    assert hints.copy_of(log_id)["description"] == "retry me, again"
    assert_exactly_once(hints.world, (ROUTE,))


def test_a_lost_create_answer_is_adopted_never_sent_twice(hints: Hints,
                                                          fast_retries: None) -> None:
    hints.world.servers["billing"].faults.add("lost", method="POST", path=ENTRIES, times=1)
    log_id = hints.people.kaiten_add(hints.world.cards["incident"], 40, days_ago(1), "lost")
    hints.settle()
    hints.queue.on_kaiten_delivery({"event": "timelog:update", "data": hints.world.kaiten
                                    .get_time_log(int(log_id))})
    hints.settle()
    assert copy_counts(hints.world, ROUTE)[log_id] == 1
    assert_exactly_once(hints.world, (ROUTE,))
    second = cli(hints.config, "sync", "--format", "json")
    assert second.code == 0 and not any(second.summary(ROUTE)[k] for k in
                                        ("create", "update", "delete", "failed"))


def test_status_names_a_narrow_run_and_never_hides_a_failed_full_pass_behind_it() -> None:
    from rich.console import Console

    from bridge.cli.status import print_status

    narrow = {"from": "2026-11-01", "to": "2026-11-30", "scope": "card 1001",
              "started_at": "2026-11-30T10:00:00+00:00",
              "finished_at": "2026-11-30T10:00:01+00:00", "dry_run": False,
              "summary": {"create": 1}, "error": None, "failures": [], "interrupted": False}
    full = {**narrow, "scope": None, "error": "source read failed part-way",
            "started_at": "2026-11-30T09:45:00+00:00"}
    console = Console(width=200, record=True)
    print_status({"routes": [{"route": ROUTE, "last_run": narrow, "last_full_run": full,
                              "conflicts": []}]}, console)
    shown = console.export_text()
    assert "card 1001 in 2026-11-01 .. 2026-11-30" in shown
    assert (f"{ROUTE}: the last full pass (started 2026-11-30T09:45:00+00:00) failed: "
            "source read failed part-way") in shown
