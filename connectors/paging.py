"""Paging as small strategy classes: each API's way of walking a long list.

A paginator yields one list of raw records per page. Every page is fetched
through the connector's :class:`~connectors.http.HttpClient`, so rate limiting
and retries apply per page; a page that still fails raises, so the caller knows
the read was incomplete. Reading is never a write, so every page request is
sent as idempotent (a Tracker search is a POST, yet safe to retry).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import httpx

from connectors.base import FatalError
from connectors.http import HttpClient

_CURSOR_PATHS = (("next",), ("nextCursor",), ("meta", "next_cursor"), ("meta", "nextCursor"),
                 ("links", "next"))


class Paginator(Protocol):
    """Yields the records of ``method path`` one page at a time."""

    def pages(self, client: HttpClient, method: str, path: str, *, params: dict | None = None,
              json: Any = None) -> Iterator[list[dict]]: ...


class OffsetPaginator:
    """Kaiten: ``limit``/``offset`` params, the answer is a bare JSON array.

    Stops at a page with fewer than ``page_size`` items (or an empty one).
    """

    def __init__(self, page_size: int = 200, limit_param: str = "limit",
                 offset_param: str = "offset") -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.page_size, self.limit_param, self.offset_param = page_size, limit_param, offset_param

    def pages(self, client: HttpClient, method: str, path: str, *, params: dict | None = None,
              json: Any = None) -> Iterator[list[dict]]:
        """Yield each non-empty page, in order."""
        offset = 0
        while True:
            query = {**(params or {}), self.limit_param: self.page_size, self.offset_param: offset}
            _, body = client.request_json(method, path, params=query, json=json, idempotent=True)
            page = _records(client, method, path, body)
            if page:
                yield page
            if len(page) < self.page_size:
                return
            offset += len(page)


class PageNumberPaginator:
    """Tracker: 1-based ``page`` and ``perPage`` in the query string, even for a POST.

    Stops by the ``X-Total-Pages`` header when present, else by a ``Link`` header
    (more while it has ``rel="next"``), else at a page with fewer than ``page_size`` items.
    """

    def __init__(self, page_size: int, page_param: str = "page",
                 per_page_param: str = "perPage") -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.page_size, self.page_param, self.per_page_param = page_size, page_param, per_page_param

    def pages(self, client: HttpClient, method: str, path: str, *, params: dict | None = None,
              json: Any = None) -> Iterator[list[dict]]:
        """Yield each non-empty page, in order."""
        page = 1
        while True:
            query = {**(params or {}), self.page_param: page, self.per_page_param: self.page_size}
            response, body = client.request_json(method, path, params=query, json=json,
                                                 idempotent=True)
            items = _records(client, method, path, body)
            if not items:
                return  # also guards against a total that overstates what is there
            yield items
            if not self._more(response, page, len(items)):
                return
            page += 1

    def _more(self, response: httpx.Response, page: int, count: int) -> bool:
        total = response.headers.get("x-total-pages", "").strip()
        if total.isdigit():
            return page < int(total)
        if "link" in response.headers:
            return "next" in response.links
        return count >= self.page_size


class LinkPaginator:
    """Contracting: records under ``items_key``; the next page by link or cursor.

    Follows a ``Link: <...>; rel="next"`` URL, else a cursor found in the body
    (``next``, ``nextCursor``, ``meta.next_cursor``, ``meta.nextCursor``,
    ``links.next``): a URL is followed, anything else is sent back as ``cursor=``
    with the original params. Stops when neither is present. Only links to the same
    origin are followed, so the token is never sent to another host.
    """

    def __init__(self, items_key: str = "data") -> None:
        self.items_key = items_key

    def pages(self, client: HttpClient, method: str, path: str, *, params: dict | None = None,
              json: Any = None) -> Iterator[list[dict]]:
        """Yield each non-empty page, in order."""
        target, query = path, dict(params or {})
        seen: set[str] = set()
        while True:
            response, body = client.request_json(method, target, params=query or None, json=json,
                                                 idempotent=True)
            items = body.get(self.items_key) if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise _shape_error(client, method, target, f"a page without a {self.items_key!r}"
                                   " list")
            items = _records(client, method, target, items)
            if items:
                yield items
            link = response.links.get("next", {}).get("url")
            step = link or _cursor(body)
            if not step:
                return
            if step in seen:  # a server that hands out the same page again would loop forever
                raise _shape_error(client, method, target, f"the same next page twice ({step})")
            seen.add(step)
            if link or step.startswith(("http://", "https://", "/", "?")):
                target, query = self._follow(client, method, response, step), {}
            else:
                target, query = path, {**(params or {}), "cursor": step}

    @staticmethod
    def _follow(client: HttpClient, method: str, response: httpx.Response, link: str) -> str:
        # Resolve against the page it came from: a base URL with a path prefix would
        # otherwise be applied twice to an absolute-path link.
        here = response.request.url
        url = here.join(link)
        if (url.scheme, url.host, url.port) != (here.scheme, here.host, here.port):
            raise _shape_error(client, method, here.path,
                               f"a next link to another host ({url.host}); not followed")
        return str(url)


def _cursor(body: dict) -> str | None:
    for keys in _CURSOR_PATHS:
        value: Any = body
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def _records(client: HttpClient, method: str, path: str, body: Any) -> list[dict]:
    if not isinstance(body, list):
        return _fail_shape(client, method, path, body)
    if not all(isinstance(item, dict) for item in body):
        raise _shape_error(client, method, path, "a list with items that are not JSON objects")
    return body


def _fail_shape(client: HttpClient, method: str, path: str, body: Any) -> list[dict]:
    kind = {dict: "a JSON object", str: "a string"}.get(type(body), type(body).__name__)
    raise _shape_error(client, method, path, f"{kind} where a list of records was expected")


def _shape_error(client: HttpClient, method: str, path: str, what: str) -> FatalError:
    where = httpx.URL(path).path or path  # the path only, never the query string
    return FatalError(client.redact(f"{method.upper()} {where} answered {what}"),
                      connector=client.connector)
