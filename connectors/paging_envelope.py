"""Paging of JSON envelopes: ``{"data": [...], ...}`` with whatever paging the server chose.

The contracting API documents its list as one unpaged ``{"data": [...]}``. A real
server may page it anyway, in any of the common ways, so :class:`EnvelopePaginator`
understands each of them and follows the first it finds, in this order:

1. a ``Link: <url>; rel="next"`` header (the URL is followed as given);
2. ``links.next`` in the body (a URL; null on the last page);
3. a cursor: ``next``, ``nextCursor``, ``next_cursor``, ``meta.next_cursor`` or
   ``meta.nextCursor`` (a URL is followed, anything else is sent back as ``cursor=``);
4. page numbers: ``meta.current_page`` below ``meta.last_page`` asks ``page=N+1``.

A total (``meta.total``, ``total`` or ``X-Total-Count``) must equal what was read.
A field that looks like paging but is none of these (``pagination``, ``has_more``
without a way to the next page, ``meta.next_page_token``, ...) makes the read
incomplete: the records read may not be all there are, and nothing is proved from them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, TypeGuard

from connectors.http import HttpClient
from connectors.paging import MAX_PAGES, HeaderSignals, Walk, follow_link, shape_error

_CURSORS = (("links", "next"), ("next",), ("nextCursor",), ("next_cursor",),
            ("meta", "next_cursor"), ("meta", "nextCursor"))
# What the paginator understands, at the top level (besides the records) and in "meta".
_KNOWN_TOP = frozenset({"meta", "links", "next", "nextCursor", "next_cursor", "total",
                        "has_more", "hasMore", "prev", "previous"})
_KNOWN_META = frozenset({"current_page", "last_page", "per_page", "total", "from", "to",
                         "path", "links", "next_cursor", "nextCursor", "prev_cursor",
                         "prevCursor", "has_more", "hasMore"})
_PAGING_WORDS = re.compile(r"page|cursor|next|prev|more|total|count|offset|limit|token|"
                           r"continu|scroll|after|before|paginat|links", re.IGNORECASE)


class EnvelopePaginator:
    """Records under ``items_key`` in a JSON object; every paging form above is followed.

    Only links to the same host are followed, so the token never goes elsewhere.
    """

    def __init__(self, items_key: str = "data", *, max_pages: int = MAX_PAGES) -> None:
        self.items_key, self.max_pages = items_key, max_pages

    def pages(self, client: HttpClient, method: str, path: str, *, params: dict | None = None,
              json: Any = None) -> Iterator[list[dict]]:
        """Yield each non-empty page, in order, up to the proven end of the list."""
        walk = Walk(client, method, path, self.max_pages)
        target, query = path, dict(params or {})
        steps: set[str] = set()
        while True:
            response, body = client.request_json(method, target, params=query or None,
                                                 json=json, idempotent=True)
            items = body.get(self.items_key) if isinstance(body, dict) else None
            if not isinstance(items, list):  # a bad item is the connector's skip, not ours
                raise shape_error(client, method, target, f"a page without a {self.items_key!r}"
                                  " list of records")
            if unknown := self._unknown_fields(body):
                raise walk.incomplete(f"the answer has paging fields the bridge does not "
                                      f"understand ({', '.join(unknown)})")
            earlier = walk.add(items)
            if earlier is not None:
                raise walk.incomplete(f"page {walk.number} repeats page {earlier[0]}")
            if items:
                yield items
            signals = HeaderSignals.of(response)
            step, kind = _next_step(body, signals, walk)
            total = _total(body, signals)
            if step is None:
                walk.check_total(total)
                return
            if not items:
                raise walk.incomplete(f"page {walk.number} is empty, yet it names a next page")
            if step in steps:  # a server handing out the same next page would loop forever
                raise walk.incomplete(f"the same next page twice ({step})")
            steps.add(step)
            if kind == "url":
                target, query = follow_link(client, method, response, step), {}
            else:
                target, query = path, {**(params or {}), kind: step}

    def _unknown_fields(self, body: dict) -> list[str]:
        found = [k for k in body if k != self.items_key and k not in _KNOWN_TOP
                 and _PAGING_WORDS.search(k)]
        meta = body.get("meta")
        if isinstance(meta, dict):
            found += [f"meta.{k}" for k in meta if k not in _KNOWN_META and _PAGING_WORDS.search(k)]
        return found


def _next_step(body: dict, signals: HeaderSignals, walk: Walk) -> tuple[str | None, str]:
    """The next page as (value, kind): kind "url", "cursor" or "page"; (None, "") at the end."""
    if signals.next_url:
        return signals.next_url, "url"
    for keys in _CURSORS:
        value: Any = body
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            text = str(value)
            return text, "url" if text.startswith(("http://", "https://", "/", "?")) else "cursor"
    meta: dict = body["meta"] if isinstance(body.get("meta"), dict) else {}
    last = meta.get("last_page")
    if _number(last):
        current = meta["current_page"] if _number(meta.get("current_page")) else walk.number
        return (str(current + 1), "page") if current < last else (None, "")
    if body.get("has_more") is True or body.get("hasMore") is True or \
            meta.get("has_more") is True or meta.get("hasMore") is True:
        raise walk.incomplete("the answer says more records exist but names no next page")
    return None, ""


def _total(body: dict, signals: HeaderSignals) -> int | None:
    meta: dict = body["meta"] if isinstance(body.get("meta"), dict) else {}
    for value in (meta.get("total"), body.get("total"), signals.total_count):
        if _number(value):
            return value
    return None


def _number(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0

