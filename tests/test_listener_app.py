"""The listener in this process, over real HTTP on loopback: the webhook endpoint's HTTP
side with a recording ``on_kaiten_delivery``, and ``/readyz``'s judgement with an
injected clock, a real SQLite store, and a store that hangs.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.waiting import free_port

from bridge.cli.listener import MAX_WEBHOOK_BYTES, SECRET_HEADER, Listener, start_listener
from bridge.cli.readiness import Readiness
from bridge.config.daemon import DaemonConfig
from bridge.config.models import RouteConfig
from bridge.engine import metrics
from bridge.store.state import StateError, StateStore

SECRET = "hook-secret-91ab"
EVENT = {"event": "timelog:update", "data": {"old": {"card_id": 7}, "new": {"card_id": 7}}}
DAY = date(2026, 11, 25)


class Clock:
    """A wall clock the test moves: real time at start, plus ``offset`` seconds."""

    def __init__(self) -> None:
        self.base, self.offset = time.time(), 0.0

    def __call__(self) -> float:
        return self.base + self.offset


def route(name: str, schedule: str) -> RouteConfig:
    return RouteConfig(name=name, source="kaiten", target="billing", schedule=schedule)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}") as opened:
        yield opened


@pytest.fixture
def serve() -> Iterator[Callable[..., tuple[str, Listener]]]:
    """Start a listener (``secret``, ``on_kaiten_delivery``, ``readiness``); stop it after."""
    started: list[Listener] = []

    def start(readiness: Readiness, *, secret: str | None = SECRET,
              deliver: Callable[[dict], None] | None = None,
              listen: str | None = None) -> tuple[str, Listener]:
        port = free_port()
        listen = listen or f"127.0.0.1:{port}"
        listener = start_listener(DaemonConfig(listen=listen), readiness, secret=secret,
                                  on_kaiten_delivery=deliver)
        started.append(listener)
        host = listen.rsplit(":", 1)[0]
        return f"http://{host}:{listener.port}", listener

    yield start
    for listener in started:
        listener.stop()


def post(base: str, content: Any, **kw: Any) -> httpx.Response:
    return httpx.post(base + "/webhooks/kaiten", content=content, timeout=10, **kw)


def test_a_delivery_reaches_the_callable_only_with_the_secret(
        store: StateStore, serve: Callable[..., tuple[str, Listener]],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="timebridge")
    caplog.set_level(logging.DEBUG, logger="uvicorn")
    got: list[dict] = []
    metrics.reset()
    base, _ = serve(Readiness(store, [], 3), deliver=got.append)
    body = httpx.Request("POST", "/", json=EVENT).content

    refused = [post(base, body), post(base, body, headers={SECRET_HEADER: "nope"}),
               post(base, body, params={"secret": SECRET + "x"}),
               post(base, body, headers={SECRET_HEADER: ""}, params={"secret": ""})]
    assert [r.status_code for r in refused] == [401] * 4 and got == []

    assert post(base, body, headers={SECRET_HEADER: SECRET}).status_code == 202
    assert post(base, body, params={"secret": SECRET}).status_code == 202
    assert got == [EVENT, EVENT]

    assert post(base, b"{broken", headers={SECRET_HEADER: SECRET}).status_code == 400
    assert post(base, b"\xff\xfe", headers={SECRET_HEADER: SECRET}).status_code == 400
    assert post(base, b"[1, 2]", headers={SECRET_HEADER: SECRET}).status_code == 400
    assert post(base, b"[" * 100_000, headers={SECRET_HEADER: SECRET}).status_code == 400
    big = b'{"pad": "' + b"x" * MAX_WEBHOOK_BYTES + b'"}'
    assert post(base, big, headers={SECRET_HEADER: SECRET}).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap holds while reading
        for _ in range(MAX_WEBHOOK_BYTES // 65536 + 2):
            yield b"x" * 65536

    assert post(base, chunks(), headers={SECRET_HEADER: SECRET}).status_code == 413
    assert len(got) == 2
    assert post(base, b'{"no": "event"}', headers={SECRET_HEADER: SECRET}).status_code == 202
    assert got[2] == {"no": "event"}
    counted = {tuple(sorted(s.labels.items())): s.value for f in text_string_to_metric_families(
        metrics.current().render().decode()) for s in f.samples
        if s.name == "timebridge_webhook_events_total"}
    assert counted == {
        (("event", "unknown"), ("outcome", "refused"), ("source", "kaiten")): 4,
        (("event", "timelog:update"), ("outcome", "accepted"), ("source", "kaiten")): 2,
        (("event", "unknown"), ("outcome", "invalid"), ("source", "kaiten")): 6,
        (("event", "other"), ("outcome", "accepted"), ("source", "kaiten")): 1}
    assert httpx.get(base + "/webhooks/kaiten").status_code == 405
    assert SECRET not in caplog.text
    assert len([r for r in caplog.records if "not JSON" in r.getMessage()]) == 3


def test_without_a_secret_webhooks_are_off(
        store: StateStore, serve: Callable[..., tuple[str, Listener]]) -> None:
    got: list[dict] = []
    base, _ = serve(Readiness(store, [], 3), secret=None, deliver=got.append)
    for kw in ({}, {"headers": {SECRET_HEADER: ""}}, {"params": {"secret": "anything"}}):
        answer = post(base, b"{}", **kw)
        assert answer.status_code == 404 and "webhooks are off" in answer.text
    assert got == []
    assert httpx.get(base + "/healthz").status_code == 200


def test_a_callable_that_fails_is_a_500_not_an_accepted_delivery(
        store: StateStore, serve: Callable[..., tuple[str, Listener]],
        caplog: pytest.LogCaptureFixture) -> None:
    def full(payload: dict) -> None:
        raise RuntimeError("queue full")

    metrics.reset()
    base, _ = serve(Readiness(store, [], 3), deliver=full)
    assert post(base, b"{}", headers={SECRET_HEADER: SECRET}).status_code == 500
    assert "the delivery could not be queued" in caplog.text
    text = metrics.current().render().decode()
    assert 'outcome="failed"' in text and 'outcome="accepted"' not in text


def test_stop_frees_the_port(store: StateStore,
                             serve: Callable[..., tuple[str, Listener]]) -> None:
    base, listener = serve(Readiness(store, [], 3))
    assert httpx.get(base + "/healthz").text == "ok\n"
    listener.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", listener.port))
    with pytest.raises(httpx.ConnectError):
        httpx.get(base + "/healthz", timeout=5)


def test_an_ipv6_listen_address(store: StateStore,
                                serve: Callable[..., tuple[str, Listener]]) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
            port = probe.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback here")
    base, _ = serve(Readiness(store, [], 3), listen=f"[::1]:{port}")
    assert httpx.get(base + "/healthz", timeout=10).status_code == 200


def finish(store: StateStore, name: str, *, error: str | None = None,
           interrupted: bool = False) -> None:
    run = store.start_run(name, DAY, DAY, False)
    store.finish_run(run, summary={}, error=error, failures=[], interrupted=interrupted)


def test_readyz_judges_each_route_by_its_last_good_pass(
        store: StateStore, serve: Callable[..., tuple[str, Listener]]) -> None:
    clock = Clock()
    readiness = Readiness(store, [route("fast", "every 30s"), route("slow", "*/15 * * * *")],
                          3, clock=clock)
    base, _ = serve(readiness)

    def readyz() -> tuple[int, list[str]]:
        answer = httpx.get(base + "/readyz", timeout=10)
        return answer.status_code, answer.text.splitlines()

    assert readyz() == (200, ["ready"])  # no pass yet: the start-up grace
    clock.offset = 100  # past 3 x 30 s: fast has had no good pass since the start
    assert readyz() == (503, ["not ready", "route fast: no good pass in the 100s since the "
                              "daemon started, more than 3 × its period of 30s (90s)"])
    finish(store, "fast")
    clock.offset = 0
    assert readyz() == (200, ["ready"])
    # Neither a route error nor an interrupted run is a good pass.
    finish(store, "fast", error="target read failed part-way")
    finish(store, "fast", interrupted=True)
    store.start_run("fast", DAY, DAY, False)  # running now
    good = store.last_good_runs(["fast"])["fast"].timestamp()
    clock.offset = good + 95 - clock.base
    status, lines = readyz()
    assert status == 503 and len(lines) == 2
    assert lines[1].startswith("route fast: last good pass ended ")
    assert lines[1].endswith(", 95s ago, more than 3 × its period of 30s (90s)")
    clock.offset = 3 * 900 + 5  # slow's 45 minutes since the start are up too
    assert [line.split(":")[0] for line in readyz()[1][1:]] == ["route fast", "route slow"]


def test_last_good_runs_on_postgres(postgres_schema: str) -> None:
    with StateStore(postgres_schema) as pg:
        finish(pg, "r")
        (good,) = pg.last_good_runs(["r", "never"]).values()
        finish(pg, "r", error="x")
        finish(pg, "r", interrupted=True)
        assert pg.last_good_runs(["r", "never"]) == {"r": good}


class HangingStore:
    """A store whose every question hangs until ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.asked = 0

    def last_good_runs(self, routes: list[str]) -> dict:
        self.asked += 1
        self.release.wait(30)
        return {}


def test_a_hanging_store_makes_readyz_fail_quickly_and_only_once_at_a_time() -> None:
    hanging = HangingStore()
    readiness = Readiness(hanging, [route("r", "every 1m")], 3,  # type: ignore[arg-type]
                          timeout=0.2)
    try:
        assert readiness.check() == ["the state store did not answer within 0.2s"]
        assert readiness.check() == ["the state store did not answer within 0.2s"]
        assert hanging.asked == 1  # the second probe waited on the first question
        hanging.release.set()
        deadline = time.monotonic() + 10
        while readiness.check() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert readiness.check() == []
    finally:
        hanging.release.set()
        readiness.close()


def test_a_store_error_and_a_stopping_daemon_are_not_ready(
        caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def last_good_runs(self, routes: list[str]) -> dict:
            raise StateError("cannot read the state store at postgresql+psycopg://u@db-host/"
                             "tb: connection refused")

    stopping = threading.Event()
    readiness = Readiness(Broken(), [], 3, stopping=stopping)  # type: ignore[arg-type]
    caplog.set_level(logging.INFO, logger="timebridge")
    try:
        assert readiness.check() == ["the state store does not answer (the daemon's log "
                                     "says why)"]
        readiness.check()
        # Logged once, with the details the answer leaves out.
        (line,) = [r.getMessage() for r in caplog.records if "not ready" in r.getMessage()]
        assert "db-host" in line and "connection refused" in line
        stopping.set()
        assert readiness.check() == ["the daemon is stopping"]
    finally:
        readiness.close()


def test_a_question_hanging_on_a_dead_store_does_not_hold_up_the_exit() -> None:
    script = ("import threading\n"
              "from bridge.cli.readiness import Readiness\n"
              "class Dead:\n"
              "    def last_good_runs(self, routes):\n"
              "        threading.Event().wait()  # never answers\n"
              "print(Readiness(Dead(), [], 3, timeout=0.1).check())\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert "did not answer within 0.1s" in done.stdout
