"""What ``bridge.engine.metrics`` counts, at each chokepoint, in this process.

Requests are counted by the HTTP chokepoint's observer against a loopback server with
injected faults; passes and actions by real passes against the demo's emulators, compared
with the pass's own JSON report. Every test starts from fresh metrics (:func:`reset`).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from test_daemon import TODAY

from bridge.cli.commands import run_passes
from bridge.cli.readiness import schedule_period, span
from bridge.config.loader import load_config
from bridge.config.models import RouteConfig
from bridge.demo.world import DemoWorld
from bridge.engine import metrics
from bridge.engine.runtime import Runtime
from bridge.engine.sync import RouteResult, run_route
from bridge.store.state import StateStore
from connectors.base import TransientError
from connectors.emulator import EmulatorServer
from connectors.http import HttpClient, RetryPolicy

FAST = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)
ROUTE = "kaiten-billing"


@pytest.fixture(autouse=True)
def fresh() -> metrics.Metrics:
    return metrics.reset()


def page() -> dict[tuple[str, frozenset], float]:
    """The current metrics, rendered and parsed back as Prometheus would read them."""
    text = metrics.current().render().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(name: str, **labels: str) -> float:
    return page().get((name, frozenset(labels.items())), 0.0)


def test_every_name_follows_the_prometheus_conventions() -> None:
    metrics.declare_routes(["r"])
    metrics.observe_request("api", 200, 0.1)
    metrics.observe_action("r", "create", "done")
    metrics.seed_last_success("r", 1.0)
    metrics.webhook_event("timelog:add", "accepted")
    families = {f.name: f.type for f in text_string_to_metric_families(
        metrics.current().render().decode())}
    assert families == {
        "timebridge_passes": "counter", "timebridge_actions": "counter",
        "timebridge_requests": "counter", "timebridge_rate_limited": "counter",
        "timebridge_request_duration_seconds": "histogram",
        "timebridge_last_success_timestamp_seconds": "gauge",
        "timebridge_route_held_skips": "counter", "timebridge_webhook_events": "counter"}
    names = {name for name, _ in page()}
    assert "timebridge_passes_total" in names and not any("_created" in n for n in names)
    # Declared routes show every pass outcome at 0 before their first pass.
    assert {value("timebridge_passes_total", route="r", outcome=o)
            for o in metrics.PASS_OUTCOMES} == {0.0}


def test_the_http_chokepoint_counts_every_attempt_by_api_and_status_class() -> None:
    async def ok(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    server = EmulatorServer(Starlette(routes=[Route("/ok", ok), Route("/missing", ok)]))
    server.faults.add("status", path="/ok", status=429, headers={"Retry-After": "0"})
    server.faults.add("status", path="/ok", status=503)
    server.faults.add("status", path="/missing", status=404, times=1)
    with server, HttpClient(connector="billing", base_url=server.base_url, headers={},
                            retry=FAST) as client:
        assert client.get_json("/ok") == {"ok": True}  # after a 429 and a 503
        with pytest.raises(Exception, match="404"):
            client.get_json("/missing")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with HttpClient(connector="kaiten", base_url=f"http://127.0.0.1:{closed}", headers={},
                    retry=FAST) as client, pytest.raises(TransientError):
        client.get_json("/anything")
    assert value("timebridge_requests_total", api="billing", status_class="2xx") == 1
    assert value("timebridge_requests_total", api="billing", status_class="4xx") == 2
    assert value("timebridge_requests_total", api="billing", status_class="5xx") == 1
    assert value("timebridge_rate_limited_total", api="billing") == 1
    assert value("timebridge_request_duration_seconds_count", api="billing") == 4
    assert value("timebridge_requests_total", api="kaiten", status_class="error") == \
        FAST.attempts
    assert value("timebridge_rate_limited_total", api="kaiten") == 0


def test_a_failing_observer_costs_no_request(monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors import http

    def broken(api: str, status: int | None, seconds: float) -> None:
        raise RuntimeError("observer bug")

    monkeypatch.setattr(http, "REQUEST_OBSERVERS", [broken, *http.REQUEST_OBSERVERS])

    async def ok(request: Request) -> JSONResponse:
        return JSONResponse([1])

    with EmulatorServer(Starlette(routes=[Route("/ok", ok)])) as server, \
            HttpClient(connector="api", base_url=server.base_url, headers={}) as client:
        assert client.get_json("/ok") == [1]
    assert value("timebridge_requests_total", api="api", status_class="2xx") == 1


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoWorld]:
    monkeypatch.setenv("TIMEBRIDGE_TODAY", TODAY.isoformat())
    world = DemoWorld(tmp_path, today=TODAY, days=10)
    yield world
    world.stop()


def sync(demo: DemoWorld, capsys: pytest.CaptureFixture[str], *, dry_run: bool = False,
         config: str = "m.toml") -> dict:
    """One in-process pass of ``kaiten-billing``; its JSON report's route entry."""
    loaded = load_config(demo.write_config(config, routes=[demo.route(ROUTE)]))
    run_passes(loaded, routes=None, dry_run=dry_run, allow_deletes=False, fmt="json")
    (route,) = json.loads(capsys.readouterr().out)["routes"]
    return route


def test_passes_and_actions_count_what_the_pass_reported(
        demo: DemoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    report = sync(demo, capsys, dry_run=True)
    assert report["summary"]["create"] > 0
    counted = {name for name, _ in page()}
    assert not counted & {"timebridge_passes_total", "timebridge_actions_total"}, \
        "a dry run was counted as a pass"

    first = sync(demo, capsys)["summary"]
    assert value("timebridge_actions_total", route=ROUTE, kind="create",
                 status="done") == first["create"] > 0
    assert value("timebridge_actions_total", route=ROUTE, kind="skip",
                 status="done") == first["skip"]
    assert value("timebridge_passes_total", route=ROUTE, outcome="ok") == 1
    stamp = value("timebridge_last_success_timestamp_seconds", route=ROUTE)
    assert abs(stamp - datetime.now(UTC).timestamp()) < 600

    # A failed create counts as failed, and the pass as partial (still a good pass).
    demo.kaiten.add_time_log(card_id=demo.cards["login"], user_id=demo.kaiten_users["anna"],
                             time_spent=30, for_date=(TODAY - timedelta(days=1)).isoformat(),
                             comment="more work")
    demo.contracting_server.faults.add("status", method="POST", path="/api/v1/time-entries",
                                       status=422, times=10**6,
                                       body='{"error": {"message": "refused"}}')
    second = sync(demo, capsys)["summary"]
    assert second["failed"] == 1 and second["create"] == 0
    assert value("timebridge_actions_total", route=ROUTE, kind="create",
                 status="failed") == 1
    assert value("timebridge_actions_total", route=ROUTE, kind="create",
                 status="done") == first["create"]
    assert value("timebridge_passes_total", route=ROUTE, outcome="partial") == 1


def test_a_held_route_and_a_route_that_cannot_start_are_counted(
        demo: DemoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    loaded = load_config(demo.write_config("h.toml", routes=[demo.route(ROUTE)]))
    route = loaded.config.route(ROUTE)
    runtime = Runtime(loaded)
    window = runtime.window(route, TODAY)
    with StateStore(loaded.state_url) as store, StateStore(loaded.state_url) as other:
        with other.lock_route(ROUTE):  # another run holds the route
            result = run_route(runtime, route, window, store)
        assert result.error == f"route {ROUTE} is held by another run"
        assert value("timebridge_passes_total", route=ROUTE, outcome="held") == 1
        demo.kaiten_server.faults.add("status", status=401, times=10**6)
        assert run_route(runtime, route, window, store).error is not None
    runtime.close()
    assert value("timebridge_passes_total", route=ROUTE, outcome="failed") == 1
    assert value("timebridge_passes_total", route=ROUTE, outcome="ok") == 0
    assert value("timebridge_last_success_timestamp_seconds", route=ROUTE) == 0


def test_pass_outcomes() -> None:
    def result(**kw: object) -> RouteResult:
        outcomes = [SimpleNamespace(status=s) for s in kw.pop("statuses", ())]
        return RouteResult("r", None, False, outcomes=outcomes, **kw)  # type: ignore[arg-type]

    assert metrics.pass_outcome(result()) == "ok"
    assert metrics.pass_outcome(result(statuses=["done", "failed"])) == "partial"
    assert metrics.pass_outcome(result(error="source read failed")) == "failed"
    assert metrics.pass_outcome(result(error="interrupted", interrupted=True)) == "interrupted"
    assert metrics.pass_outcome(result(error="held"), held=True) == "held"
    assert set(metrics.GOOD_OUTCOMES) == {"ok", "partial"}


def test_hooks_for_the_scheduler_and_the_webhook_path() -> None:
    metrics.held_skip("r")
    metrics.held_skip("r")
    metrics.webhook_event("timelog:update", "acted")
    metrics.webhook_event("card:add", "ignored")      # a real event, not a time log
    metrics.webhook_event("x" * 500, "ignored")       # whatever a sender makes up
    metrics.webhook_event(None, "refused")
    assert value("timebridge_route_held_skips_total", route="r") == 2
    hooks = "timebridge_webhook_events_total"
    assert value(hooks, source="kaiten", event="timelog:update", outcome="acted") == 1
    assert value(hooks, source="kaiten", event="other", outcome="ignored") == 2
    assert value(hooks, source="kaiten", event="unknown", outcome="refused") == 1


def test_the_last_success_gauge_only_moves_forward() -> None:
    metrics.seed_last_success("r", 200.0)
    metrics.seed_last_success("r", 100.0)  # an older pass (another replica's, say)
    assert value("timebridge_last_success_timestamp_seconds", route="r") == 200.0
    metrics.observe_pass(RouteResult("r", None, False), finished_at=300.0)  # type: ignore
    assert value("timebridge_last_success_timestamp_seconds", route="r") == 300.0


@pytest.mark.parametrize(("schedule", "seconds"), [
    ("every 30s", 30), ("every 2h", 7200), ("*/15 * * * *", 900), ("0 * * * *", 3600),
    ("0 9 * * 1-5", 3 * 86400),   # weekdays: the weekend is the longest gap
    ("30 2 1 * *", 31 * 86400),   # monthly: the longest month
])
def test_a_schedules_period(schedule: str, seconds: float) -> None:
    route = RouteConfig(name="r", source="a", target="b", schedule=schedule)
    now = datetime(2026, 11, 25, 10, 7, tzinfo=UTC)  # a Wednesday
    assert schedule_period(route, now) == seconds


def test_durations_for_a_person() -> None:
    assert [span(s) for s in (0.4, 90, 119, 120, 5400, 2 * 86400 + 3600)] == \
        ["0s", "90s", "119s", "2m", "90m", "2d"]
