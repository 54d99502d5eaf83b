"""Every pass ends: a request has a deadline, a read a page bound, a pass a time bound,
and a signal is honoured while reading as well as while writing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

import pytest
from memory_connector import MemoryConnector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from bridge.actions import Kind, RouteRules
from bridge.model import CanonicalEntry, Origin
from bridge.state import StateStore
from bridge.sync import PassSpec, run_pass
from connectors.base import (
    DateWindow,
    EntryDraft,
    IncompleteReadError,
    TransientError,
    UnknownOutcomeError,
)
from connectors.emulator import EmulatorServer
from connectors.http import HttpClient, RetryPolicy
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


async def endless(request: Request) -> JSONResponse:
    """Always a full page of new records: a list that never ends."""
    offset, limit = int(request.query_params["offset"]), int(request.query_params["limit"])
    return JSONResponse([{"id": offset + i} for i in range(limit)])


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    app = Starlette(routes=[Route("/dribble", dribble, methods=["GET", "POST"]),
                            Route("/endless", endless)])
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
