"""Reads prove their end: each way a server may page (or misbehave) against each paginator.

One small server over real HTTP; its ``mode`` query parameter picks a paging behaviour
the API documents do not rule out. Each test asserts that the paginator either reads
every record exactly once or raises :class:`IncompleteReadError` naming what it saw.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.base import IncompleteReadError
from connectors.emulator import EmulatorServer
from connectors.http import HttpClient, RetryPolicy
from connectors.paging import HeaderSignals, OffsetPaginator, PageNumberPaginator
from connectors.paging_envelope import EnvelopePaginator

RECORDS = [{"id": i} for i in range(250)]
FAST = RetryPolicy(attempts=2, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)
BODIES: list[object] = []


def _slice(q, total: int) -> tuple[int, int]:
    if "offset" in q:
        return int(q["offset"]), int(q["limit"])
    per = int(q.get("perPage", 100))
    return (int(q.get("page", 1)) - 1) * per, per


async def array(request: Request) -> JSONResponse:
    """Bare arrays, by offset/limit or page/perPage, misbehaving as ``mode`` says."""
    q, headers = request.query_params, {}
    mode, total = q["mode"], int(q.get("total", len(RECORDS)))
    records = RECORDS[:total]
    if request.method == "POST":
        BODIES.append(json.loads(await request.body()))
    start, size = _slice(q, total)
    if mode == "clamp":
        size = min(size, 100)
    elif mode == "unpaged":
        start, size = 0, total
    elif mode == "ignores-offset":
        start = 0
    page = records[start:start + size]
    if mode == "count-lies":
        headers["X-Total-Count"] = str(total + 5)
    elif mode == "pages-lie":
        headers["X-Total-Pages"] = "9"
    elif mode == "link" and start + size < total:
        nxt = request.url.remove_query_params(["page", "perPage"]).include_query_params(
            page=start // size + 2, perPage=size)
        headers["Link"] = f'<{nxt}>; rel="next"'
    elif mode == "link":
        headers["Link"] = f'<{request.url}>; rel="self"'
    elif mode == "link-to-itself":
        headers["Link"] = f'<{request.url}>; rel="next"'
    return JSONResponse(page, headers=headers)


async def envelope(request: Request) -> JSONResponse:
    """``{"data": [...]}`` paged by page numbers, links, cursors or something unknown."""
    q = request.query_params
    mode, page = q["mode"], int(q.get("page", 1))
    per, last = 100, -(-len(RECORDS) // 100)
    data = RECORDS[(page - 1) * per: page * per]
    body: dict = {"data": data}
    if mode == "meta":
        body["meta"] = {"current_page": page, "last_page": last, "per_page": per,
                        "total": len(RECORDS)}
    elif mode == "links":
        nxt = str(request.url.include_query_params(page=page + 1)) if page < last else None
        body["links"] = {"next": nxt, "prev": None}
        body["meta"] = {"total": len(RECORDS)}
    elif mode == "meta-total-lies":
        body["meta"] = {"current_page": page, "last_page": last, "total": len(RECORDS) + 1}
    elif mode == "meta-ignores-page":
        body = {"data": RECORDS[:per], "meta": {"current_page": 1, "last_page": last}}
    elif mode == "unknown":
        body["pagination"] = {"next_page_token": "abc" if page < last else None}
    elif mode == "has-more":
        body["has_more"] = page < last
    elif mode == "rotating-cursor":   # a new cursor every time, the same page behind it
        body = {"data": RECORDS[:per], "meta": {"next_cursor": f"c{len(BODIES)}"}}
        BODIES.append(None)
    return JSONResponse(body)


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    app = Starlette(routes=[Route("/list", array, methods=["GET", "POST"]),
                            Route("/envelope", envelope)])
    with EmulatorServer(app) as running:
        yield running


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[HttpClient]:
    server.log.clear()
    BODIES.clear()
    with HttpClient(connector="test", base_url=server.base_url, headers={},
                    retry=FAST) as http:
        yield http


def read(pages: Iterator[list[dict]]) -> list[int]:
    return [record["id"] for page in pages for record in page]


def test_a_clamped_limit_is_detected_and_the_rest_read(client: HttpClient,
                                                       server: EmulatorServer) -> None:
    pager = OffsetPaginator(200)
    assert read(pager.pages(client, "GET", "/list", params={"mode": "clamp"})) == \
        [r["id"] for r in RECORDS]
    # 100 (short of 200: maybe the end, maybe a clamp), 100 more (a clamp), then 50 < 100.
    assert server.log.count("GET", "/list") == 3 and pager.known_size == 100
    server.log.clear()
    assert len(read(pager.pages(client, "GET", "/list", params={"mode": "clamp",
                                                                "total": 150}))) == 150
    assert server.log.count("GET", "/list") == 2  # what was learned needs no extra ask


def test_a_short_page_is_confirmed_by_an_empty_one_until_the_size_is_known(
        client: HttpClient, server: EmulatorServer) -> None:
    pager = OffsetPaginator(200)
    assert len(read(pager.pages(client, "GET", "/list", params={"mode": "ok", "total": 37}))) \
        == 37
    assert server.log.count("GET", "/list") == 2 and pager.known_size is None
    server.log.clear()
    assert len(read(pager.pages(client, "GET", "/list", params={"mode": "ok"}))) == 250
    assert server.log.count("GET", "/list") == 2 and pager.known_size == 200
    server.log.clear()
    assert len(read(pager.pages(client, "GET", "/list", params={"mode": "ok", "total": 37}))) \
        == 37
    assert server.log.count("GET", "/list") == 1  # 37 < 200, which the server delivers


def test_a_server_ignoring_offset_is_a_repeat_and_incomplete(client: HttpClient) -> None:
    with pytest.raises(IncompleteReadError, match="page 2 repeats page 1") as caught:
        read(OffsetPaginator(200).pages(client, "GET", "/list", params={"mode": "ignores-offset"}))
    assert "stopped short after 200 records" in str(caught.value)


@pytest.mark.parametrize("total", [37, 250])
def test_a_documented_unpaged_list_is_whole_when_the_server_ignores_paging(
        client: HttpClient, server: EmulatorServer, total: int) -> None:
    pager = OffsetPaginator(200, unpaged_ok=True)
    params = {"mode": "unpaged", "total": total}
    assert read(pager.pages(client, "GET", "/list", params=params)) == list(range(total))
    assert server.log.count("GET", "/list") == 2 and pager.ignores_paging
    server.log.clear()
    assert read(pager.pages(client, "GET", "/list", params=params)) == list(range(total))
    assert server.log.count("GET", "/list") == 1


def test_a_paged_list_whose_server_ignores_the_page_number_is_incomplete(
        client: HttpClient) -> None:
    with pytest.raises(IncompleteReadError, match="repeats"):
        read(PageNumberPaginator(100).pages(client, "GET", "/list",
                                            params={"mode": "unpaged", "total": 150}))


def test_a_count_that_disagrees_with_what_was_read_is_incomplete(client: HttpClient) -> None:
    with pytest.raises(IncompleteReadError, match="the server said 255 records exist"):
        read(PageNumberPaginator(100).pages(client, "GET", "/list", params={"mode": "count-lies"}))


def test_an_empty_page_while_more_pages_are_announced_is_incomplete(client: HttpClient) -> None:
    with pytest.raises(IncompleteReadError, match="page 4 is empty, yet the server said 9 pages"):
        read(PageNumberPaginator(100).pages(client, "GET", "/list", params={"mode": "pages-lie"}))


def test_a_link_header_is_followed_with_the_post_body_and_its_end_respected(
        client: HttpClient, server: EmulatorServer) -> None:
    seen: list[HeaderSignals] = []
    pages = PageNumberPaginator(100).pages(client, "POST", "/list", params={"mode": "link"},
                                           json={"q": 1}, on_page=seen.append)
    assert read(pages) == [r["id"] for r in RECORDS]
    assert server.log.count("POST", "/list") == 3 and BODIES == [{"q": 1}] * 3
    assert [bool(s.next_url) for s in seen] == [True, True, False]


@pytest.mark.parametrize("mode", ["meta", "links"])
def test_envelopes_paged_by_page_number_or_links_are_read_whole(
        client: HttpClient, server: EmulatorServer, mode: str) -> None:
    got = read(EnvelopePaginator().pages(client, "GET", "/envelope", params={"mode": mode}))
    assert got == [r["id"] for r in RECORDS] and server.log.count("GET", "/envelope") == 3
    assert all(f"mode={mode}" in e.query for e in server.log.entries)


@pytest.mark.parametrize(("mode", "said"), [
    ("unknown", "paging fields the bridge does not understand (pagination)"),
    ("has-more", "says more records exist but names no next page"),
    ("meta-total-lies", "the server said 251 records exist"),
    ("meta-ignores-page", "page 2 repeats page 1"),
    ("rotating-cursor", "page 2 repeats page 1"),
])
def test_envelopes_that_cannot_prove_their_end_are_incomplete(
        client: HttpClient, mode: str, said: str) -> None:
    with pytest.raises(IncompleteReadError, match=re.escape(said)):
        read(EnvelopePaginator().pages(client, "GET", "/envelope", params={"mode": mode}))


# --- property: never silently short ---------------------------------------------------------

def _server(total: int, clamp: int | None, signals: str, ignores_offset: bool):
    """A bare-array list of ``total`` records served by limit/offset, as ``signals`` says."""

    def handle(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        limit, offset = int(q["limit"]), 0 if ignores_offset else int(q["offset"])
        size = min(limit, clamp) if clamp else limit
        page = RECORDS_BIG[:total][offset:offset + size]
        headers = {}
        if "count" in signals:
            headers["X-Total-Count"] = str(total)
        if "pages" in signals:
            headers["X-Total-Pages"] = str(max(1, -(-total // size)))
        if "link" in signals and offset + size < total:
            nxt = request.url.copy_set_param("offset", str(offset + size))
            headers["Link"] = f'<{nxt}>; rel="next"'
        return httpx.Response(200, json=page, headers=headers)

    return httpx.MockTransport(handle)


RECORDS_BIG = [{"id": i} for i in range(600)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(total=st.integers(0, 600), clamp=st.one_of(st.none(), st.integers(1, 250)),
       signals=st.sampled_from(["", "count", "pages", "link", "link+count"]),
       ignores_offset=st.booleans(), unpaged_ok=st.booleans(), reads=st.integers(1, 3))
def test_a_read_is_whole_or_loud_never_silently_short(total: int, clamp: int | None,
                                                     signals: str, ignores_offset: bool,
                                                     unpaged_ok: bool, reads: int) -> None:
    # The one reading no client can tell apart: a list documented unpaged whose server
    # clamps the page AND ignores offset (no record past the first page can be reached by
    # anyone). Such a server is out of scope; every other one is read whole or refused.
    if unpaged_ok and ignores_offset and clamp is not None and clamp < min(total, 200):
        return
    pager = OffsetPaginator(200, unpaged_ok=unpaged_ok)
    transport = _server(total, clamp, signals, ignores_offset)
    with HttpClient(connector="prop", base_url="http://api.test", headers={}, retry=FAST,
                    transport=transport) as http:
        for _ in range(reads):  # what one read learned must not mislead the next
            try:
                got = read(pager.pages(http, "GET", "/list"))
            except IncompleteReadError:
                continue
            assert got == list(range(total)), (len(got), total)


def test_a_link_to_the_same_page_stops_at_the_first_repeat(client: HttpClient,
                                                           server: EmulatorServer) -> None:
    with pytest.raises(IncompleteReadError, match="page 2 repeats page 1"):
        read(PageNumberPaginator(100).pages(client, "GET", "/list",
                                            params={"mode": "link-to-itself"}))
    assert server.log.count("GET", "/list") == 2
