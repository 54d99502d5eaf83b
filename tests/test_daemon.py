"""The daemon: scheduled passes, no overlap, and a clean stop on SIGTERM/SIGINT.

Process tests run ``run_daemon`` in a real child process (``sys.executable -c``) against
the emulators of a :class:`~bridge.demo.world.DemoWorld` running in this test process, and
read what happened from the emulators' state, the state store's ``runs`` table and the
daemon's log. In-process tests stand in a fake pass to pin down scheduling itself: routes run at
once, a slow route skips its due runs, a pass that raises does not stop the daemon, and
each pass takes "today" as it starts. Every wait is bounded.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from support.waiting import wait_until

from bridge.cli import daemon as daemon_module
from bridge.cli.commands import run_passes
from bridge.config.loader import load_config
from bridge.config.models import RouteConfig
from bridge.demo.world import DemoWorld
from bridge.engine.sync import RouteResult

TOKEN = "tok-daemon-7c1e"
TODAY = date(2026, 11, 25)
ROUTE = "kaiten-billing"
DAEMON = ("import logging, sys\n"
          "logging.basicConfig(level=logging.INFO, stream=sys.stderr,\n"
          "                    format='%(asctime)s %(levelname)s %(name)s %(message)s')\n"
          "from bridge.config.loader import load_config\n"
          "from bridge.cli.daemon import run_daemon\n"
          "sys.exit(run_daemon(load_config(sys.argv[1])))\n")



RunRow = tuple[datetime, datetime | None, bool, str | None]


class World:
    """A :class:`DemoWorld` (the three emulators, seeded) seen through one route,
    ``kaiten-billing``: Kaiten time logs copied to contracting entries."""

    def __init__(self, demo: DemoWorld, state: Path) -> None:
        self.demo = demo
        self.state = state

    def origins(self) -> set[str]:
        """The Kaiten logs in scope of the route (every seeded one is: spaces and dates)."""
        return {str(i) for i in self.demo.kaiten_logs}

    def add_log(self, minutes: int = 30) -> str:
        """A new log in scope, as a person would add it."""
        demo = self.demo
        log_id = demo.kaiten.add_time_log(
            card_id=demo.cards["login"], user_id=demo.kaiten_users["anna"], time_spent=minutes,
            for_date=(TODAY - timedelta(days=1)).isoformat(), comment=f"work {minutes}m")
        demo.kaiten_logs.append(log_id)
        return str(log_id)

    def copies(self) -> Counter[str]:
        """The route's copies in contracting, by the Kaiten log id they were made from."""
        return Counter(e["referenceId"] for e in self.demo.contracting_entries()
                       if e["referenceSource"] == "KAITEN"
                       and e["id"] not in self.demo.foreign_entries)

    def config(self, name: str = "daemon.toml", *, schedule: str = "every 2s",
               every_route: bool = False) -> Path:
        """``kaiten-billing`` alone, or all four demo routes (``every_route``), on ``schedule``."""
        chosen = self.demo.routes if every_route else [self.demo.route(ROUTE)]
        routes = [{**route, "schedule": schedule} for route in chosen]
        return self.demo.write_config(name, routes=routes, state_url=f"sqlite:///{self.state}")

    def slow_writes(self, delay: float) -> None:
        """Every create in contracting takes ``delay`` seconds longer."""
        self.demo.contracting_server.faults.add("latency", method="POST",
                                                path="/api/v1/time-entries", times=10**6,
                                                delay=delay)

    def runs(self, route: str = ROUTE) -> list[RunRow]:
        """(started, finished, interrupted, error) of each run of ``route``, oldest first."""
        if not self.state.exists():
            return []
        with sqlite3.connect(self.state, timeout=5) as conn:
            try:
                rows = conn.execute("select started_at, finished_at, interrupted, error from runs"
                                    " where route = ? order by id", (route,)).fetchall()
            except sqlite3.OperationalError:  # tables not created yet
                return []
        return [(datetime.fromisoformat(s), f and datetime.fromisoformat(f), bool(i), e)
                for s, f, i, e in rows]


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """Where the state store goes: in memory-backed /dev/shm when there is one.

    The store commits (fsyncs) twice per create; on a slow disk that alone would make a
    300-record backfill take ten seconds, which is not what these tests are about.
    """
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="timebridge-daemon-", dir=shm or tmp_path))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def make_world(tmp_path: Path, state_dir: Path) -> Iterator[Callable[..., World]]:
    worlds: list[DemoWorld] = []

    def make(**options: object) -> World:
        demo = DemoWorld(tmp_path, today=TODAY, days=10, **options)
        worlds.append(demo)
        return World(demo, state_dir / "state.sqlite")

    yield make
    for demo in worlds:
        demo.stop()


class Daemon:
    """``run_daemon`` in a child process, its log in a file; killed if a test leaves it."""

    def __init__(self, config: Path) -> None:
        self.log_path = config.with_suffix(".log")
        env = {**os.environ, "TIMEBRIDGE_TODAY": TODAY.isoformat(), "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", DAEMON, str(config)],
                                         stdout=log, stderr=subprocess.STDOUT, env=env)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def stop(self, sig: int = signal.SIGTERM, within: float = 5.0) -> float:
        """Send ``sig``; assert the daemon exits 0 within ``within`` s; return how long it took."""
        began = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"daemon still running {within}s after {sig!r}:\n"
                                 + self.log()) from None
        assert code == 0, self.log()
        return time.monotonic() - began

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


def test_scheduled_passes_pick_up_new_records(make_world: Callable[..., World]) -> None:
    world = make_world()
    # All four demo routes: two read Kaiten through one connector, two write to contracting
    # through another, all at once, over one state store.
    with Daemon(world.config(schedule="every 2s", every_route=True)) as daemon:
        wait_until(lambda: set(world.copies()) == world.origins(), 15, "the start-up pass")
        new = world.add_log(minutes=45)  # after the first pass: only a scheduled run sees it
        wait_until(lambda: world.copies()[new] == 1, 6, "a scheduled pass to copy it")
        wait_until(lambda: len(world.runs()) >= 3, 6, "a third run of the route")
        daemon.stop()
    assert world.copies() == Counter(dict.fromkeys(world.origins(), 1))
    firsts = []
    for route in world.demo.routes:
        rows = world.runs(route["name"])
        # No route failed; the last run may have been cut short by the stop, and says so.
        assert len(rows) >= 2 and all(f is not None and (e is None or i) for _, f, i, e in rows)
        firsts.append(rows[0])
    assert any(a[0] < b[1] and b[0] < a[1] for a, b in itertools.combinations(firsts, 2)), \
        "no two routes ran at once"
    assert f"route {ROUTE} " in daemon.log() and "create=1 " in daemon.log()
    assert "Traceback" not in daemon.log()


def test_a_slow_route_never_overlaps_itself(make_world: Callable[..., World]) -> None:
    world = make_world()
    # Every pass reads the target once; 1.2 s per read makes each pass outlast its 1 s period.
    world.demo.contracting_server.faults.add("latency", method="GET",
                                             path="/api/v1/time-entries", times=1000, delay=1.2)
    with Daemon(world.config(schedule="every 1s")) as daemon:
        wait_until(lambda: len([r for r in world.runs() if r[1]]) >= 3, 15, "three runs")
        daemon.stop()
    runs = world.runs()
    for (_, finished, _, _), (started, *_) in itertools.pairwise(runs):
        assert finished is not None and started >= finished, runs
    assert "previous pass still running; skipped" in daemon.log()
    assert world.copies() == Counter(dict.fromkeys(world.origins(), 1))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_backfill_stops_cleanly_and_loses_nothing(
        make_world: Callable[..., World], sig: int, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world(bulk_kaiten=300)
    origins = world.origins()
    # ~30 creates a second: the start-up pass would take over ten seconds; it is stopped at ~1.
    world.slow_writes(0.03)
    with Daemon(world.config(schedule="every 1h")) as daemon:
        wait_until(lambda: sum(world.copies().values()) >= 15, 15, "the backfill to be under way")
        took = daemon.stop(sig)
    made = world.copies()
    assert took < 3, daemon.log()
    assert 15 <= sum(made.values()) < len(origins), "the pass was not stopped part-way"
    assert set(made.values()) == {1}
    ((_, finished, interrupted, _),) = world.runs()
    assert finished is not None and interrupted, "the interrupted run is recorded"
    # The next run (full speed) makes the rest, once each, and the one after plans nothing.
    world.demo.contracting_server.faults.clear()
    loaded = load_config(world.config())
    monkeypatch.setenv("TIMEBRIDGE_TODAY", TODAY.isoformat())
    assert run_passes(loaded, routes=None, dry_run=False, allow_deletes=False, fmt="json") == 0
    capsys.readouterr()
    assert world.copies() == Counter(dict.fromkeys(origins, 1))
    assert run_passes(loaded, routes=None, dry_run=True, allow_deletes=False, fmt="json") == 0
    summary = json.loads(capsys.readouterr().out)["routes"][0]["summary"]
    assert summary["create"] == summary["update"] == summary["delete"] == 0
    assert summary["unchanged"] == len(origins)


# --- scheduling itself, in this process, with a fake pass ------------------------------------


def offline_config(tmp_path: Path, state_url: str = "sqlite:///state.sqlite") -> Path:
    """Two routes, one each way, on hosts never contacted (the pass is faked)."""
    path = tmp_path / "offline.toml"
    conn = f'base_url = "http://127.0.0.1:9", token = "{TOKEN}"'
    path.write_text(f"""
state = {{url = "{state_url}"}}
[connectors]
kaiten = {{type = "kaiten", {conn}}}
billing = {{type = "contracting", tenant_id = "tnt_x", {conn}}}
[[routes]]
name = "slow"
source = "kaiten"
target = "billing"
schedule = "every 1s"
default_task = "prj_x"
[[routes]]
name = "buggy"
source = "billing"
target = "kaiten"
schedule = "every 1s"
default_task = 1001
""", encoding="utf-8")
    return path


@dataclass
class Call:
    route: str
    window: object
    kwargs: dict
    began: float
    ended: float = float("inf")


def test_scheduling_overlap_errors_and_today_in_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[Call] = []

    def fake_run_route(runtime, route, window, store, **kwargs) -> RouteResult:
        call = Call(route.name, window, kwargs, time.monotonic())
        calls.append(call)
        try:
            if route.name == "buggy" and len([c for c in calls if c.route == "buggy"]) == 1:
                raise RuntimeError("boom")  # a bug in the first pass of this route
            kwargs["stop"].wait(1.5 if route.name == "slow" else 0.1)
            return RouteResult(route.name, window, kwargs["dry_run"])
        finally:
            call.ended = time.monotonic()

    monkeypatch.setattr(daemon_module, "run_route", fake_run_route)
    monkeypatch.setenv("TIMEBRIDGE_TODAY", TODAY.isoformat())
    tomorrow = TODAY + timedelta(days=1)
    switched: list[float] = []

    def next_day() -> None:  # passes that start after this must use the new "today"
        os.environ["TIMEBRIDGE_TODAY"] = tomorrow.isoformat()
        switched.append(time.monotonic())

    stop = threading.Event()
    timers = [threading.Timer(1.3, next_day), threading.Timer(3.2, stop.set)]
    caplog.set_level(logging.INFO, logger="timebridge.daemon")
    loaded = load_config(offline_config(tmp_path))
    began = time.monotonic()
    for timer in timers:
        timer.start()
    try:
        assert daemon_module.run_daemon(loaded, stop=stop) == 0
    finally:
        for timer in timers:
            timer.cancel()
    assert time.monotonic() - began < 3.2 + 1.5, "the stop did not reach the running pass"
    finished = len(calls)
    time.sleep(0.3)
    assert len(calls) == finished and all(c.ended < float("inf") for c in calls)

    slow = [c for c in calls if c.route == "slow"]
    buggy = [c for c in calls if c.route == "buggy"]
    assert len(slow) >= 2 and len(buggy) >= 3, calls
    assert all(b.began >= a.ended for a, b in itertools.pairwise(slow)), slow
    assert any(b.began < slow[0].ended for b in buggy[1:]), "routes did not run at once"
    for call in calls:
        assert call.kwargs["dry_run"] is False and call.kwargs["allow_deletes"] is False
        assert call.kwargs["stop"].is_set()
        end = tomorrow if call.began > switched[0] else TODAY
        assert (call.window.start, call.window.end) == (end - timedelta(days=30), end), call
    text = caplog.text
    assert "route slow: previous pass still running; skipped" in text
    (bug,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    # The traceback: as exc_info, or as the redacted exc_text once the redacting log
    # filter (installed by any earlier in-process CLI run) has seen the record.
    traceback = bug.exc_text or (logging.Formatter().formatException(bug.exc_info)
                                 if bug.exc_info else "")
    assert "route buggy" in bug.getMessage() and "RuntimeError" in traceback, traceback
    assert "boom" in caplog.text
    assert "route buggy " in text and "create=0" in text  # the one line of a later pass


def test_a_state_store_that_cannot_open_is_exit_1_with_one_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "file").write_text("not a folder")
    loaded = load_config(offline_config(tmp_path, "sqlite:///file/state.sqlite"))
    caplog.set_level(logging.INFO, logger="timebridge.daemon")
    assert daemon_module.run_daemon(loaded) == 1
    (line,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "cannot start the daemon: cannot open the state store" in line.getMessage()
    assert line.exc_info is None and not line.exc_text


def test_triggers_follow_the_schedule() -> None:
    def trigger(schedule: str) -> object:
        return daemon_module.trigger_for(RouteConfig(name="r", source="a", target="b",
                                                     schedule=schedule))

    every = trigger("every 30s")
    assert isinstance(every, IntervalTrigger) and every.interval == timedelta(seconds=30)
    cron = trigger("*/15 * * * *")
    assert isinstance(cron, CronTrigger) and str(cron.timezone) == "UTC"
    start = datetime(2026, 11, 25, 10, 1, tzinfo=cron.timezone)
    assert cron.get_next_fire_time(None, start) == start.replace(minute=15)
