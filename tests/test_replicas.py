"""Replicas: several daemons on one PostgreSQL store share the work (INTERFACE.md).

Real daemon processes (``python -m bridge daemon``, JSON log lines on stderr) run
against the emulators of a :class:`~bridge.demo.world.DemoWorld` in this process, on a
PostgreSQL schema of their own. What happened is read from the emulators, the store's
``runs`` table and the daemons' logs: a route held elsewhere is a quiet skip (an INFO
line, no run, no failure in ``status``); two daemons run each route never twice at once
and bill every hour once; a replica killed with SIGKILL mid-pass loses its route to the
other at the other's next turn. On SQLite a second daemon refuses to start. Every wait
is bounded.
"""

from __future__ import annotations

import itertools
import json
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from e2e_helpers import REPO, ROUTES, TODAY, _env, assert_exactly_once, cli, copy_counts, wait_for

from bridge.cli import daemon as daemon_module
from bridge.config.loader import load_config
from bridge.demo.world import DemoWorld
from bridge.store.rate_budget import TABLE
from bridge.store.state import StateStore

ROUTE = "kaiten-billing"
ENTRIES = "/api/v1/time-entries"


class Daemon:
    """``timebridge daemon`` as a process, its JSON log in a file; killed if left running."""

    def __init__(self, config: Path, name: str) -> None:
        self.log_path = config.with_name(f"{name}.log")
        env = {**_env(TODAY), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bridge", "daemon", "--config", str(config)],
                stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=REPO)

    def records(self) -> list[dict[str, Any]]:
        """The daemon's log records so far (a line being written is left for later)."""
        found = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found

    def said(self, start: str, route: str = ROUTE) -> list[dict[str, Any]]:
        """Records of the daemon logger about ``route`` whose message goes on with ``start``."""
        return [r for r in self.records() if r["logger"] == "timebridge.daemon"
                and r["message"].startswith(f"route {route}{start}")]

    def passes(self, route: str = ROUTE) -> list[dict[str, Any]]:
        """The one line of each pass of ``route`` this daemon ran ("route R 2026-..")."""
        return self.said(f" {TODAY.year - 1}", route) + self.said(f" {TODAY.year}", route)

    def skips(self, route: str = ROUTE) -> list[dict[str, Any]]:
        return self.said(": held by another run", route)

    def stop(self) -> None:
        """SIGTERM; the daemon exits 0 within a generous bound."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0, self.log_path.read_text()

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class Runs:
    """The ``runs`` table of the store at ``url``."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)

    def __call__(self, route: str = ROUTE) -> list[sa.Row]:
        """(started_at, finished_at, error, interrupted) of each run of ``route``, in order."""
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("runs"):
                return []
            return list(conn.execute(sa.text(
                "select started_at, finished_at, error, interrupted from runs"
                " where route = :r order by id"), {"r": route}))

    def accounts(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(f"select account from {TABLE}")).scalars())


@pytest.fixture
def runs(postgres_schema: str) -> Iterator[Runs]:
    table = Runs(postgres_schema)
    yield table
    table.engine.dispose()


def config(world: DemoWorld, url: str, *, schedule: str, every_route: bool = False) -> Path:
    chosen = world.routes if every_route else [world.route(ROUTE)]
    return world.write_config("replicas.toml", routes=[{**r, "schedule": schedule}
                                                       for r in chosen], state_url=url)


def test_a_route_held_by_another_run_is_a_quiet_skip_for_the_daemon(
        tmp_path: Path, postgres_schema: str, runs: Runs) -> None:
    with DemoWorld(tmp_path, today=TODAY, days=5, state_url=postgres_schema) as world:
        path = config(world, postgres_schema, schedule="every 1s")
        with StateStore(postgres_schema) as store, Daemon(path, "daemon") as daemon:
            holding = store.lock_route(ROUTE)  # another replica, as far as the daemon knows
            holding.__enter__()
            try:
                wait_for(lambda: len(daemon.skips()) >= 2, 30, "two skipped turns")
                # Nothing was run or recorded: status shows no failure (exit 0) ...
                assert runs() == [] and copy_counts(world, ROUTE) == {}
                status = cli(path, "status", "--format", "json")
                assert status.code == 0, status.stderr
                assert status.json["routes"][0]["last_run"] is None
                # ... while a one-shot sync still says the route is held, and fails.
                sync = cli(path, "sync", "--format", "json")
                assert sync.code == 1
                assert sync.route(ROUTE)["error"] == f"route {ROUTE} is held by another run"
            finally:
                holding.__exit__(None, None, None)
            # Let go: the daemon's next turn runs the route.
            wait_for(lambda: daemon.passes(), 30, "a pass once the route is free")
            daemon.stop()
        assert_exactly_once(world, (ROUTE,))
    skips = daemon.skips()
    assert all(r["level"] == "INFO" for r in skips), skips
    assert not [r for r in daemon.records() if r["level"] in ("WARNING", "ERROR")]
    assert [r[2] for r in runs()] == [None] * len(runs())  # no run ended in an error
    assert cli(path, "status").code == 0


def test_two_replicas_share_the_routes_and_bill_every_hour_once(
        tmp_path: Path, postgres_schema: str, runs: Runs) -> None:
    with DemoWorld(tmp_path, today=TODAY, days=5, state_url=postgres_schema) as world:
        path = config(world, postgres_schema, schedule="every 1s", every_route=True)
        # Reads of uneven length (as real ones are), so that a route's turn falls now to
        # one replica, now to the other, whatever the phase of their schedules: passes
        # much shorter than the offset of two schedules would each go to the earlier one.
        for server in world.servers.values():
            server.faults.add("slow", method="GET", delay=0.05, jitter=0.6, times=10**6)
        with Daemon(path, "one") as one, Daemon(path, "two") as two:
            def turns(route: str) -> int:
                return len([r for r in runs(route) if r[1] is not None])

            wait_for(lambda: all(turns(r) >= 3 for r in ROUTES), 60, "three passes each")
            new = world.kaiten.add_time_log(   # logged while both replicas run
                card_id=world.cards["login"], user_id=world.kaiten_users["anna"],
                time_spent=25, for_date=TODAY.isoformat(), comment="while replicated")
            seen = {r: turns(r) for r in ROUTES}
            wait_for(lambda: all(turns(r) >= seen[r] + 2 for r in ROUTES), 60,
                     "two more passes of each route")
            one.stop()
            two.stop()
        assert copy_counts(world, ROUTE)[str(new)] == 1
        assert_exactly_once(world)
    for route in ROUTES:
        rows = runs(route)
        for earlier, later in itertools.pairwise(rows):
            assert earlier[1] is not None and earlier[1] <= later[0], \
                f"{route}: two passes overlapped: {earlier} {later}"
        # None failed; a pass cut short by the stop says so, and only that.
        assert all(error is None or interrupted for _, _, error, interrupted in rows), rows
    ran = [sum(len(d.passes(r)) for r in ROUTES) for d in (one, two)]
    assert min(ran) >= 1, f"one replica did all the work: {ran}"
    for daemon in (one, two):
        assert not [r for r in daemon.records() if r["level"] == "ERROR"]
    # Kaiten's budget (the one rate-limited API here) was kept in the store, in one row.
    (kaiten,) = runs.accounts()
    assert kaiten.startswith(f"kaiten:{world.kaiten_server.base_url}:")


def test_a_killed_replicas_route_is_taken_over_at_the_next_turn(
        tmp_path: Path, postgres_schema: str, runs: Runs) -> None:
    with DemoWorld(tmp_path, today=TODAY, days=5, state_url=postgres_schema) as world:
        path = config(world, postgres_schema, schedule="every 2s")
        # The first replica's first three creates are answered, the next ones hang: it is
        # killed in the middle of its pass, with writes in flight (never applied: they
        # hang until the emulator stops, after the test).
        writes = world.contracting_server.faults
        writes.add("latency", method="POST", path=ENTRIES, delay=0.0, times=3)
        hung = writes.add("latency", method="POST", path=ENTRIES, delay=600.0, times=10**6)
        with ExitStack() as daemons:
            first = daemons.enter_context(Daemon(path, "first"))
            wait_for(lambda: hung.times < 10**6, 60, "the first replica's writes to hang")
            second = daemons.enter_context(Daemon(path, "second"))
            wait_for(lambda: second.skips(), 60, "the second replica to find the route held")
            made = sum(copy_counts(world, ROUTE).values())
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(timeout=10)
            killed = datetime.now(UTC)
            writes.clear()
            wait_for(lambda: second.passes(), 60, "the second replica to run the route")
            second.stop()
        assert_exactly_once(world, (ROUTE,))
        assert 0 < made < sum(copy_counts(world, ROUTE).values()), "not killed mid-pass"
    rows = runs()
    # The killed pass never finished; the next one did, without an error.
    assert rows[0][1] is None and rows[-1][1] is not None and rows[-1][2] is None, rows
    # Its next turn (every 2 s) after the kill found the route free: at most the turn
    # under way while the dead session was being ended was still skipped.
    after = [r for r in second.skips()
             if datetime.fromisoformat(r["ts"].replace("Z", "+00:00")) > killed]
    assert len(after) <= 1, after


def test_an_sqlite_store_takes_one_daemon(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with DemoWorld(tmp_path, today=TODAY, days=2) as world:
        path = config(world, world.state_url, schedule="every 1h")
        with Daemon(path, "first") as first:
            wait_for(lambda: any(r["message"].startswith("daemon started")
                                 for r in first.records()), 60, "the first daemon")
            caplog.set_level(logging.INFO, logger="timebridge.daemon")
            assert daemon_module.run_daemon(load_config(path)) == 1
            (line,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert line.getMessage().startswith(
                f"cannot start the daemon: another daemon (pid {first.proc.pid}) already "
                "runs on the SQLite state store")
            assert "use PostgreSQL" in line.getMessage()
            first.stop()
        # Gone with its process: the next daemon starts (and stops at once, as asked).
        stop = threading.Event()
        stop.set()
        monkeypatch.setenv("TIMEBRIDGE_TODAY", TODAY.isoformat())
        assert daemon_module.run_daemon(load_config(path), stop=stop) == 0
