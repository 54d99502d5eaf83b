"""The daemon's listener over real HTTP: /healthz, /readyz, /metrics and Kaiten webhooks.

Daemons run as real child processes (``tests/test_daemon.py``'s :class:`Daemon`) against
the emulators of a :class:`~bridge.demo.world.DemoWorld`, with ``[daemon] listen`` on a free
loopback port; what /metrics says is compared with what the emulators answered and the
state store recorded. Which ports a daemon listens on is read from ``/proc``. Every wait
is on a condition, with a generous deadline.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.waiting import free_port
from support.waiting import wait_until as _wait_until
from test_daemon import ROUTE, TODAY, Daemon, World

from bridge.cli import daemon as daemon_module
from bridge.cli.listener import MAX_WEBHOOK_BYTES, SECRET_HEADER
from bridge.config.loader import load_config
from bridge.demo.world import DemoWorld

SECRET = "wh-secret-5f1d0c"
SECRET_ENV = "TIMEBRIDGE_TEST_WEBHOOK_SECRET"


def wait_until(daemon: Daemon, check: Callable[[], object], timeout: float, what: str) -> None:
    """Wait for ``check`` (generously); on a timeout, say so with the daemon's log."""
    try:
        _wait_until(check, timeout, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the daemon's log:\n{daemon.log()}") from None



def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (its socket inodes in /proc/net/tcp*)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a /metrics page, by (name, labels); parsed by prometheus-client."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(page: dict, name: str, **labels: str) -> float:
    return page.get((name, frozenset(labels.items())), 0.0)


def total(page: dict, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(v for (n, ls), v in page.items()
               if n == name and set(labels.items()) <= set(ls))


class Probe:
    """HTTP to one daemon's listener."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, timeout=10)

    def answers(self, path: str, status: int) -> bool:
        try:
            return self.get(path).status_code == status
        except httpx.TransportError:
            return False

    def metrics(self) -> dict:
        response = self.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return samples(response.text)

    def webhook(self, body: bytes | dict, *, header: str | None = None,
                query: str | None = None) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(self.base + "/webhooks/kaiten", content=content, timeout=10,
                          headers={SECRET_HEADER: header} if header is not None else {},
                          params={"secret": query} if query is not None else None)


def with_listener(config: Path, port: int, **keys: object) -> Path:
    """``config`` with a ``[daemon]`` table listening on ``port``, plus ``keys``."""
    lines = [f'listen = "127.0.0.1:{port}"'] + [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    config.write_text(config.read_text() + "\n[daemon]\n" + "\n".join(lines) + "\n")
    return config


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv(SECRET_ENV, SECRET)  # the daemon processes inherit it
    demo = DemoWorld(tmp_path, today=TODAY, days=10)
    try:
        yield World(demo, tmp_path / "state.sqlite")
    finally:
        demo.stop()


def finished_runs(world: World, route: str = ROUTE) -> list[dict]:
    """The summaries of the finished runs of ``route``."""
    with sqlite3.connect(world.state, timeout=5) as conn:
        rows = conn.execute("select summary from runs where route = ? and finished_at is not "
                            "null order by id", (route,)).fetchall()
    return [json.loads(s) for (s,) in rows]


def test_a_daemon_serves_probes_metrics_and_webhooks(world: World) -> None:
    port = free_port()
    config = with_listener(world.config(schedule="every 1h"), port,
                           webhook_secret_env=SECRET_ENV)
    probe = Probe(port)
    with Daemon(config) as daemon:
        wait_until(daemon, lambda: probe.answers("/healthz", 200), 30, "/healthz")
        wait_until(daemon, lambda: world.runs() and world.runs()[0][1], 30, "the first pass")
        ready = probe.get("/readyz")
        assert (ready.status_code, ready.text) == (200, "ready\n")
        assert listening_ports(daemon.proc.pid) == {port}

        # /metrics says what the pass did: the store's summary, the emulators' logs.
        (summary,) = finished_runs(world)
        page = probe.metrics()
        assert all(name.startswith("timebridge_") for name, _ in page)
        assert summary["create"] == len(world.origins()) > 0
        assert value(page, "timebridge_actions_total", route=ROUTE, kind="create",
                     status="done") == summary["create"]
        assert value(page, "timebridge_actions_total", route=ROUTE, kind="skip",
                     status="done") == summary["skip"]
        assert total(page, "timebridge_actions_total", status="failed") == 0
        assert value(page, "timebridge_passes_total", route=ROUTE, outcome="ok") == 1
        assert value(page, "timebridge_passes_total", route=ROUTE, outcome="failed") == 0
        for api, server in (("kaiten", world.demo.kaiten_server),
                            ("billing", world.demo.contracting_server)):
            answered = server.log.count()
            assert answered > 0
            assert value(page, "timebridge_requests_total", api=api,
                         status_class="2xx") == answered
            assert value(page, "timebridge_request_duration_seconds_count",
                         api=api) == answered
        assert value(page, "timebridge_last_success_timestamp_seconds", route=ROUTE) > 0

        # Webhooks: the secret by header or query, else 401; broken bodies refused.
        event = {"event": "timelog:add", "data": {"card_id": world.demo.cards["login"]}}
        assert probe.webhook(event).status_code == 401
        assert probe.webhook(event, header="wrong").status_code == 401
        assert probe.webhook(event, query=SECRET[:-1]).status_code == 401
        assert probe.webhook(event, header=SECRET).status_code == 202
        assert probe.webhook(event, query=SECRET).status_code == 202
        assert probe.webhook(b"{not json", header=SECRET).status_code == 400
        assert probe.webhook(b"x" * (MAX_WEBHOOK_BYTES + 1), header=SECRET).status_code == 413
        page = probe.metrics()
        hooks = "timebridge_webhook_events_total"
        assert value(page, hooks, source="kaiten", event="unknown", outcome="refused") == 3
        assert value(page, hooks, source="kaiten", event="timelog:add",
                     outcome="accepted") == 2
        assert value(page, hooks, source="kaiten", event="unknown", outcome="invalid") == 2
        took = daemon.stop()
    assert took < 5
    with socket.socket() as sock:  # the port is free again
        sock.bind(("127.0.0.1", port))
    log = daemon.log()
    assert SECRET not in log and "Traceback" not in log
    assert f"listening on http://127.0.0.1:{port}" in log


def test_readyz_names_the_route_whose_good_pass_is_too_old(world: World) -> None:
    demo = world.demo
    port = free_port()
    # kaiten-billing is fine and hourly; tracker-billing runs every second, and fails
    # (Tracker refuses the token) until the fault is cleared.
    failing = "tracker-billing"
    routes = [{**demo.route(ROUTE), "schedule": "every 1h"},
              {**demo.route(failing), "schedule": "every 1s"}]
    demo.tracker_server.faults.add("status", status=401, times=10**6,
                                   body='{"errors": {}, "errorMessages": ["no"]}')
    config = with_listener(demo.write_config("stale.toml", routes=routes,
                                             state_url=f"sqlite:///{world.state}"),
                           port, ready_max_age=1)
    probe = Probe(port)
    with Daemon(config) as daemon:
        wait_until(daemon, lambda: probe.answers("/readyz", 503), 30, "/readyz to fail")
        reasons = probe.get("/readyz").text.splitlines()
        assert reasons[0] == "not ready"
        assert len(reasons) == 2 and reasons[1].startswith(f"route {failing}: no good pass in "
                                                           "the "), reasons
        assert "more than 1 × its period of 1s" in reasons[1]
        assert probe.answers("/healthz", 200)
        page = probe.metrics()
        assert value(page, "timebridge_passes_total", route=failing, outcome="failed") >= 1
        assert value(page, "timebridge_passes_total", route=failing, outcome="ok") == 0
        assert value(page, "timebridge_requests_total", api="tracker",
                     status_class="4xx") >= 1

        demo.tracker_server.faults.clear()  # the next pass of the route is good
        wait_until(daemon, lambda: probe.answers("/readyz", 200), 30, "/readyz to pass again")
        assert value(probe.metrics(), "timebridge_passes_total", route=failing,
                     outcome="ok") >= 1
        daemon.stop(within=15)  # promptness is the first test's; this one runs every second
    assert "not ready: route tracker-billing: no good pass" in daemon.log()
    assert "ready again" in daemon.log()


@pytest.fixture
def pg_role(postgres_url: str) -> Iterator[tuple[str, str]]:
    """A login role owning a fresh schema: (role, SQLAlchemy URL of the store)."""
    role = schema = f"tb_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'create role "{role}" login')
        admin.execute(f'create schema "{schema}" authorization "{role}"')
    host = postgres_url.split("@", 1)[1]
    try:
        yield role, f"postgresql+psycopg://{role}@{host}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                          "where usename = %s", (role,))
            admin.execute(f'drop schema "{schema}" cascade')
            admin.execute(f'drop owned by "{role}"')
            admin.execute(f'drop role "{role}"')


@pytest.mark.postgres
def test_readyz_fails_while_the_state_store_is_unreachable(
        world: World, postgres_url: str, pg_role: tuple[str, str]) -> None:
    role, url = pg_role
    port = free_port()
    routes = [{**world.demo.route(ROUTE), "schedule": "every 1h"}]
    config = with_listener(world.demo.write_config("pg.toml", routes=routes, state_url=url),
                           port)
    probe = Probe(port)

    def cut_off(login: bool) -> None:
        """Let the daemon's role in or not, and drop its connections when not."""
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'alter role "{role}" {"login" if login else "nologin"}')
            if not login:
                admin.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                              "where usename = %s", (role,))

    with Daemon(config) as daemon:
        wait_until(daemon, lambda: world.copies() and probe.answers("/readyz", 200), 30,
                   "the first pass and /readyz")
        cut_off(login=False)
        try:
            wait_until(daemon, lambda: probe.answers("/readyz", 503), 30, "/readyz to fail")
            body = probe.get("/readyz").text
            assert "the state store does not answer" in body
            assert role not in body  # the store's address stays in the log
            assert probe.answers("/healthz", 200)
        finally:
            cut_off(login=True)
        wait_until(daemon, lambda: probe.answers("/readyz", 200), 30, "/readyz to pass again")
        daemon.stop(within=15)
    assert "not ready: cannot read the state store" in daemon.log()


def test_a_daemon_without_a_daemon_table_opens_no_port(world: World) -> None:
    with Daemon(world.config(schedule="every 1h")) as daemon:
        wait_until(daemon, lambda: world.runs() and world.runs()[0][1], 30, "the first pass")
        assert listening_ports(daemon.proc.pid) == set()
        daemon.stop()
    assert "listening on" not in daemon.log()


def test_a_port_in_use_stops_the_daemon_before_any_pass(
        world: World, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMEBRIDGE_TODAY", TODAY.isoformat())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = with_listener(world.config(schedule="every 1h"), port)
        caplog.set_level(logging.INFO, logger="timebridge")
        stop = threading.Event()
        assert daemon_module.run_daemon(load_config(config), stop=stop) == 1
    (line,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.getMessage() == (f"cannot start the daemon: cannot listen on "
                                 f"127.0.0.1:{port}: Address already in use")
    assert world.runs() == [] and not world.copies()



def test_a_kaiten_webhook_to_the_daemon_bills_the_new_log_before_any_scheduled_pass(
        world: World) -> None:
    """The whole path: Kaiten's emulator posts ``timelog:add`` to the daemon's listener
    (the secret as a query parameter), the hint queue runs a narrow pass of that card, and
    the copy is in the contracting API though the next scheduled pass is an hour away."""
    from datetime import timedelta

    from e2e_helpers import People

    port = free_port()
    config = with_listener(world.config(schedule="every 1h"), port,
                           webhook_secret_env=SECRET_ENV)
    probe = Probe(port)
    with Daemon(config) as daemon:
        wait_until(daemon, lambda: world.runs() and world.runs()[0][1], 30, "the first pass")
        hooks = world.demo.kaiten.webhooks
        hooks.duplicate = True    # every delivery arrives twice
        hooks.subscribe(f"{probe.base}/webhooks/kaiten", secret=SECRET)
        card = world.demo.cards["login"]
        began = time.monotonic()
        log_id = People(world.demo).kaiten_add(card, 25, TODAY - timedelta(days=1),
                                               "billed within seconds")

        def copies() -> list[dict]:
            return [e for e in world.demo.contracting_entries()
                    if e["referenceSource"] == "KAITEN" and e["referenceId"] == log_id]
        wait_until(daemon, copies, 30, "the copy made by the webhook's narrow pass")
        print(f"webhook -> copy in the target: {time.monotonic() - began:.2f} s")
        assert hooks.flush(30), "deliveries still unsent"

        # A forged removal of a log that exists, and an old add arriving late: the narrow
        # passes read the card and find it as it is, so the copy stays, once.
        forged = {"event": "timelog:remove", "data": {"id": int(log_id), "card_id": card}}
        late = {"event": "timelog:add", "data": {"id": int(log_id), "card_id": card}}
        for body in (forged, late):
            assert probe.webhook(body, header=SECRET).status_code == 202

        def acted() -> float:
            return total(probe.metrics(), "timebridge_webhook_events_total", outcome="acted")
        wait_until(daemon, lambda: acted() >= 2, 30, "the narrow passes of the late events")
        wait_until(daemon, lambda: not [r for r in world.runs() if not r[1]], 30,
                   "no narrow pass still running")
        finished = [r for r in world.runs() if r[1]]
        daemon.stop()
    (copy,) = copies()
    assert copy["durationSeconds"] == 25 * 60 and copy["description"] == "billed within seconds"
    with sqlite3.connect(world.state, timeout=5) as conn:
        scopes = [s for (s,) in conn.execute("select scope from runs where route = ? "
                                              "order by id", (ROUTE,))]
        summaries = [json.loads(s) for (s,) in conn.execute(
            "select summary from runs where route = ? and scope is not null", (ROUTE,))]
    # The start-up pass, then only narrow passes of that card: none scheduled since.
    assert scopes[0] is None and set(scopes[1:]) == {f"card {card}"}
    assert len(finished) == len(scopes)
    assert sum(s.get("create", 0) for s in summaries) == 1     # billed once, never twice
    assert sum(s.get("delete", 0) for s in summaries) == 0     # the forged removal did nothing
