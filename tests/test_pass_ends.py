"""Every pass ends: a request has a deadline, a read a page bound, a pass a time bound,
and a signal is honoured while reading as well as while writing."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

import harness_kaiten
import pytest
from memory_connector import MemoryConnector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from bridge.engine.actions import Kind, RouteRules
from bridge.engine.sync import PassSpec, run_pass
from bridge.store.state import StateStore
from connectors.base import (
    DateWindow,
    EntryDraft,
    IncompleteReadError,
    StoppedError,
    TransientError,
    UnknownOutcomeError,
)
from connectors.bounded_net import stoppable
from connectors.emulator import EmulatorServer
from connectors.http import HttpClient, RetryPolicy
from connectors.model import CanonicalEntry, Origin
from connectors.paging import OffsetPaginator

WINDOW = DateWindow(date(2026, 11, 1), date(2026, 11, 30))
FAST = RetryPolicy(attempts=2, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)


async def dribble(request: Request) -> StreamingResponse:
    """A byte every 0.2 s: each read is quick, the answer never ends in time."""
    async def body():
        yield b"["
        for _ in range(100):
            await asyncio.sleep(0.2)
            yield b" "
        yield b"]"
    return StreamingResponse(body(), media_type="application/json")


async def silent(request: Request) -> JSONResponse:
    """Answers after a minute: a request in flight when a signal comes."""
    await asyncio.sleep(60)
    return JSONResponse([])


async def endless(request: Request) -> JSONResponse:
    """Always a full page of new records: a list that never ends."""
    offset, limit = int(request.query_params["offset"]), int(request.query_params["limit"])
    return JSONResponse([{"id": offset + i} for i in range(limit)])


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    app = Starlette(routes=[Route("/dribble", dribble, methods=["GET", "POST"]),
                            Route("/endless", endless),
                            Route("/silent", silent, methods=["GET", "POST"])])
    with EmulatorServer(app) as running:
        yield running


def test_a_server_dribbling_bytes_cannot_hold_a_request_past_its_deadline(
        server: EmulatorServer) -> None:
    with HttpClient(connector="slow", base_url=server.base_url, headers={}, retry=FAST,
                    timeout=5, deadline=0.6) as http:
        began = time.monotonic()
        with pytest.raises(TransientError, match=r"took longer than 0\.6s in all"):
            http.get_json("/dribble")
        assert time.monotonic() - began < 4   # two attempts, each cut at its deadline
        with pytest.raises(UnknownOutcomeError, match="not re-sent"):
            http.post_json("/dribble", {"x": 1})   # sent, so maybe applied: never re-sent


@pytest.fixture
def header_dribbler() -> Iterator[str]:
    """A raw TCP server that sends its status line, then one header byte every 0.1 s."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                    while not done.is_set():
                        conn.sendall(b"X")
                        time.sleep(0.1)
                except OSError:
                    pass   # the client gave up and closed: what the test wants

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    done.set()
    thread.join(5)
    listener.close()


def test_a_server_dribbling_its_headers_cannot_hold_a_request_past_its_deadline(
        header_dribbler: str) -> None:
    with HttpClient(connector="slow", base_url=header_dribbler, headers={}, retry=FAST,
                    timeout=5, deadline=0.6) as http:
        began = time.monotonic()
        with pytest.raises(TransientError, match=r"took longer than 0\.6s in all"):
            http.get_json("/x")
        assert time.monotonic() - began < 4   # two attempts, each cut at its deadline


def test_a_stop_ends_a_read_in_flight_but_never_abandons_a_write(server) -> None:
    stop = threading.Event()
    with HttpClient(connector="slow", base_url=server.base_url, headers={}, retry=FAST,
                    timeout=120, deadline=1.5) as http, stoppable(stop):
        threading.Timer(0.3, stop.set).start()
        began = time.monotonic()
        with pytest.raises(StoppedError, match="pass was interrupted"):
            http.get_json("/silent")
        assert time.monotonic() - began < 1.2   # not the 1.5 s deadline, not the 60 s answer
        began = time.monotonic()
        # A write in flight is left to finish (or to its deadline): abandoning it would
        # make its outcome unknown for nothing.
        with pytest.raises(UnknownOutcomeError, match=r"took longer than 1\.5s"):
            http.post_json("/silent", {"x": 1})
        assert time.monotonic() - began >= 1.4


def test_a_signal_during_one_long_request_ends_the_pass_at_once() -> None:
    kaiten = harness_kaiten.make_harness()
    target = MemoryConnector("tgt", "TGT")
    kaiten.seed_record(work_date=date(2026, 11, 3), seconds=600)
    kaiten.server.faults.add("latency", method="GET", path="*/time-logs", delay=60, times=5)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    rules = RouteRules(name="r", source="kaiten", source_ref="KAITEN", window=WINDOW,
                       fit=target.fit, capabilities=target.capabilities, default_task="P")
    store = StateStore("sqlite://")
    began = time.monotonic()
    try:
        result = run_pass(PassSpec(kaiten.connector, target, rules), store, stop=stop)
        took = time.monotonic() - began
    finally:
        store.close()
        kaiten.close()
    assert took < 5, took
    assert result.interrupted and "interrupted by a signal" in result.error
    assert "read failed part-way" in result.error and target.records == {}


def test_a_list_that_never_ends_stops_at_the_page_bound(server: EmulatorServer) -> None:
    with HttpClient(connector="endless", base_url=server.base_url, headers={},
                    retry=FAST) as http:
        pager = OffsetPaginator(50, max_pages=7)
        with pytest.raises(IncompleteReadError, match="more than 7 pages: the list does not"):
            for _ in pager.pages(http, "GET", "/endless"):
                pass
        assert server.log.count("GET", "/endless") == 8


class EndlessSource(MemoryConnector):
    """A source whose read never ends (a server paging for ever, too fast to see)."""

    def read(self, window: DateWindow, filters: Mapping[str, Any]) -> Iterator[CanonicalEntry]:
        n = 0
        while True:
            n += 1
            yield CanonicalEntry(connector=self.name, reference_source=self.reference_source,
                                 record_id=str(n), origin=Origin(source="SRC", record_id=str(n)),
                                 task="T", work_date=date(2026, 11, 5), seconds=60)


def _rules(target: MemoryConnector) -> RouteRules:
    return RouteRules(name="r", source="src", source_ref="SRC", window=WINDOW, fit=target.fit,
                      capabilities=target.capabilities, default_task="P", allow_deletes=True)


def test_a_signal_stops_a_read_that_would_never_end_and_nothing_is_written() -> None:
    source, target = EndlessSource("src", "SRC"), MemoryConnector("tgt", "TGT")
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    store = StateStore("sqlite://")
    try:
        result = run_pass(PassSpec(source, target, _rules(target)), store, stop=stop)
    finally:
        store.close()
    assert result.interrupted and "interrupted by a signal" in result.error
    assert target.records == {}


def test_a_pass_past_its_time_bound_stops_and_the_next_one_finishes() -> None:
    source, target = MemoryConnector("src", "SRC"), MemoryConnector("tgt", "TGT")
    for i in range(30):
        source.add(task="T", work_date=date(2026, 11, 1 + i % 28), seconds=600)
    real_create = target.create

    def slow_create(draft: EntryDraft) -> CanonicalEntry:
        time.sleep(0.05)
        return real_create(draft)

    target.create = slow_create  # type: ignore[method-assign]
    store = StateStore("sqlite://")
    try:
        first = run_pass(PassSpec(source, target, _rules(target)), store, max_seconds=0.5)
        assert first.interrupted and "ran longer than its bound of 0.5s" in first.error
        assert 0 < len(target.records) < 30
        second = run_pass(PassSpec(source, target, _rules(target)), store)
        assert second.error is None and len(target.records) == 30
        assert not any(o.kind is Kind.DELETE for o in second.outcomes)
    finally:
        store.close()
