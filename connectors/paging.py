"""Paging as small strategy classes: each API's way of walking a long list, provably to its end.

A paginator yields one list of raw records per page. Every page is fetched through
the connector's :class:`~connectors.http.HttpClient`, so rate limiting and retries
apply per page; reading is never a write, so every page request is sent as
idempotent (a Tracker search is a POST, yet safe to retry).

A read counts as complete only when it provably reached the end of the list
(INTERFACE.md). Every paginator therefore looks at every paging signal a server
may send, whether or not its API documents it: a ``Link: rel="next"`` header (its
URL is followed as given), ``X-Total-Pages`` and ``X-Total-Count``, and, in JSON
envelopes, cursors, ``links.next`` and page numbers with totals. It raises
:class:`~connectors.base.IncompleteReadError` at the first sign that the read
stopped short: a page that repeats an earlier one, a count that disagrees with
what was read, an empty page while the server says more exist, or paging fields
it does not understand. Where a server sends no signal at all, a page shorter
than asked proves the end only once the server is known to deliver pages longer
than that one (it may clamp the page size silently); until then one more page is
asked for, and an empty answer proves the end.
"""

from __future__ import annotations

import hashlib
import json as jsonlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from connectors.base import FatalError, IncompleteReadError
from connectors.http import HttpClient


class Paginator(Protocol):
    """Yields the records of ``method path`` one page at a time."""

    def pages(self, client: HttpClient, method: str, path: str, *, params: dict | None = None,
              json: Any = None) -> Iterator[list[dict]]: ...


@dataclass(frozen=True)
class HeaderSignals:
    """What a response's headers say about paging (None where a header is absent)."""

    next_url: str | None
    has_link: bool
    total_pages: int | None
    total_count: int | None

    @classmethod
    def of(cls, response: httpx.Response) -> HeaderSignals:
        """The paging headers of ``response``; a header that is not a number is ignored."""
        links = response.links if "link" in response.headers else {}
        return cls(next_url=links.get("next", {}).get("url") or None,
                   has_link="link" in response.headers,
                   total_pages=_count(response.headers.get("x-total-pages")),
                   total_count=_count(response.headers.get("x-total-count")))


#: Pages one read may take: a year's backfill of a large organisation fits (two million
#: Kaiten logs at 200 a page); a server whose list never ends is stopped there.
MAX_PAGES = 10_000


class Walk:
    """Bookkeeping of one read: the pages seen (to catch a repeat) and the records counted."""

    def __init__(self, client: HttpClient, method: str, path: str,
                 max_pages: int = MAX_PAGES) -> None:
        self.client, self.method, self.path = client, method, path
        self.max_pages = max_pages
        self.pages: dict[str, tuple[int, bool]] = {}  # fingerprint -> (page number, partial)
        self.count = 0
        self.number = 0
        self.linked = False  # an earlier page named its next page in a Link header

    def add(self, items: list[dict], partial: bool = False) -> tuple[int, bool] | None:
        """Count a page; the (number, partial) of an earlier identical page, if there was one.

        ``partial``: the page was not exactly as long as asked (see ``unpaged_ok``)."""
        self.number += 1
        if self.number > self.max_pages:
            raise self.incomplete(f"more than {self.max_pages} pages: the list does not end")
        if not items:
            return None
        print_ = _fingerprint(items)
        if print_ in self.pages:
            return self.pages[print_]
        self.pages[print_] = (self.number, partial)
        self.count += len(items)
        return None

    def incomplete(self, what: str) -> IncompleteReadError:
        where = httpx.URL(self.path).path or self.path  # never the query string
        return IncompleteReadError(
            self.client.redact(f"{self.method.upper()} {where} stopped short after "
                               f"{self.count} records on {self.number} pages: {what}"),
            connector=self.client.connector)

    def check_total(self, total: int | None) -> None:
        """At the end: a total the server announced must be what was read."""
        if total is not None and total != self.count:
            raise self.incomplete(f"the server said {total} records exist")


class _ArrayPaginator:
    """Bare JSON arrays paged by query parameters; see the module docstring for the end rule.

    ``unpaged_ok``: the API documents this list as unpaged. A first page that is not
    exactly as long as asked and comes back again unchanged then means the server
    ignores the paging parameters and gave the whole list at once; on a paged list
    (or after a page exactly as long as asked) it is a repeat.
    What a read proved is remembered across reads (one paginator per endpoint): the
    page size the server delivers, or that it ignores paging, so later reads need no
    extra request to prove their end.
    """

    def __init__(self, page_size: int, *, unpaged_ok: bool = False,
                 max_pages: int = MAX_PAGES) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.page_size, self.unpaged_ok, self.max_pages = page_size, unpaged_ok, max_pages
        self.known_size: int | None = None  # the page size the server is known to deliver
        self.ignores_paging = False  # proved: this (unpaged) list comes whole at once

    def _query(self, params: dict | None, number: int, offset: int) -> dict:
        raise NotImplementedError

    def pages(self, client: HttpClient, method: str, path: str, *, params: dict | None = None,
              json: Any = None,
              on_page: Callable[[HeaderSignals], None] | None = None) -> Iterator[list[dict]]:
        """Yield each non-empty page, in order, up to the proven end of the list.

        ``on_page`` sees each page's paging headers before its records are yielded
        (it may raise to stop the read, as a search over its cap does).
        """
        walk = Walk(client, method, path, self.max_pages)
        query: dict | None
        target, query = path, self._query(params, 1, 0)
        short_before: int | None = None  # length of the short page a confirming ask follows
        total: int | None = None
        while True:
            response, body = client.request_json(method, target, params=query, json=json,
                                                 idempotent=True)
            items = _records(client, method, target, body)
            signals = HeaderSignals.of(response)
            if on_page is not None:
                on_page(signals)
            total = signals.total_count if signals.total_count is not None else total
            short = 0 < len(items) < self.page_size
            earlier = walk.add(items, len(items) != self.page_size)
            if earlier is not None:
                if self.unpaged_ok and earlier[1] and earlier[0] == 1:
                    self.ignores_paging = True  # later reads need one request each
                    return  # the server ignores paging: its first answer was the whole list
                raise walk.incomplete(f"page {walk.number} repeats page {earlier[0]} "
                                      "(the server ignores the paging parameters)")
            if short_before is not None and items:
                self.known_size = short_before  # a short page was followed by more: a clamp
            if len(items) >= self.page_size:
                self.known_size = max(self.known_size or 0, len(items))
            if items:
                yield items
            more = self._more(walk, signals, items, total)
            if not more:
                walk.check_total(total)
                return
            short_before = len(items) if short and signals == _NO_SIGNALS else None
            if signals.next_url:
                target, query = follow_link(client, method, response, signals.next_url), None
            else:
                target, query = path, self._query(params, walk.number + 1, walk.count)

    def _more(self, walk: Walk, signals: HeaderSignals, items: list[dict],
              total: int | None) -> bool:
        if signals.next_url:
            walk.linked = True
            return True
        if signals.has_link or walk.linked:
            # A Link header without rel="next", or none after pages that had one: a
            # server paging by Link says the end by leaving "next" (or the header) out.
            return False
        if signals.total_pages is not None:
            if walk.number < signals.total_pages and not items:
                raise walk.incomplete(f"page {walk.number} is empty, yet the server "
                                      f"said {signals.total_pages} pages exist")
            return walk.number < signals.total_pages
        if total is not None:
            if walk.count < total and not items:
                raise walk.incomplete(f"page {walk.number} is empty, yet the server "
                                      f"said {total} records exist")
            return walk.count < total
        if not items or self.ignores_paging:
            return False
        if len(items) >= self.page_size:
            return True
        # Short of what was asked: the end, unless the server may have cut the page.
        return self.known_size is None or len(items) >= self.known_size


_NO_SIGNALS = HeaderSignals(None, False, None, None)


class OffsetPaginator(_ArrayPaginator):
    """Kaiten: ``limit``/``offset`` parameters, the answer a bare JSON array."""

    def __init__(self, page_size: int = 200, limit_param: str = "limit",
                 offset_param: str = "offset", *, unpaged_ok: bool = False,
                 max_pages: int = MAX_PAGES) -> None:
        super().__init__(page_size, unpaged_ok=unpaged_ok, max_pages=max_pages)
        self.limit_param, self.offset_param = limit_param, offset_param

    def _query(self, params: dict | None, number: int, offset: int) -> dict:
        return {**(params or {}), self.limit_param: self.page_size, self.offset_param: offset}


class PageNumberPaginator(_ArrayPaginator):
    """Tracker: 1-based ``page`` and ``perPage`` in the query string, even for a POST."""

    def __init__(self, page_size: int, page_param: str = "page",
                 per_page_param: str = "perPage", *, unpaged_ok: bool = False,
                 max_pages: int = MAX_PAGES) -> None:
        super().__init__(page_size, unpaged_ok=unpaged_ok, max_pages=max_pages)
        self.page_param, self.per_page_param = page_param, per_page_param

    def _query(self, params: dict | None, number: int, offset: int) -> dict:
        return {**(params or {}), self.page_param: number, self.per_page_param: self.page_size}


def distinct(pages: Iterator[list[Any]], record_id_of: Callable[[Any], str | None],
             ) -> list[Any]:
    """Every record of ``pages`` once, in order: a list that shifted between two pages
    shows a record twice (a record without an id is always kept)."""
    found: dict[object, Any] = {}
    for page in pages:
        for raw in page:
            found.setdefault(record_id_of(raw) or id(raw), raw)
    return list(found.values())


def follow_link(client: HttpClient, method: str, response: httpx.Response, link: str) -> str:
    """The absolute URL of a next link, which must stay on the same host (the token goes along)."""
    # Resolve against the page it came from: a base URL with a path prefix would
    # otherwise be applied twice to an absolute-path link.
    here = response.request.url
    url = here.join(link)
    if (url.scheme, url.host, url.port) != (here.scheme, here.host, here.port):
        raise shape_error(client, method, here.path,
                          f"a next link to another host ({url.host}); not followed")
    return str(url)


def _count(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


def _fingerprint(items: list[Any]) -> str:
    ids = [item.get("id") if isinstance(item, dict) else None for item in items]
    if all(isinstance(i, int | str) and not isinstance(i, bool) for i in ids):
        text = jsonlib.dumps(ids)
    else:
        text = jsonlib.dumps(items, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _records(client: HttpClient, method: str, path: str, body: Any) -> list[Any]:
    """The records of a page. An item that is not a JSON object is passed on: the
    connector reports it as a skip, so one bad item never fails the whole read."""
    if not isinstance(body, list):
        names: dict[type, str] = {dict: "a JSON object", str: "a string"}
        kind = names.get(type(body), type(body).__name__)
        raise shape_error(client, method, path, f"{kind} where a list of records was expected")
    return body


def shape_error(client: HttpClient, method: str, path: str, what: str) -> FatalError:
    """The error for an answer of the wrong shape (the path only, never the query string)."""
    where = httpx.URL(path).path or path
    return FatalError(client.redact(f"{method.upper()} {where} answered {what}"),
                      connector=client.connector)

