"""The contracting emulator's paging schemes (``ContractingEmulator(paging=...)``).

The document's list is unpaged; real APIs page in many ways, and a client must be
proven against each rather than against the one it assumes. With a page size set:

* ``link``: a ``Link: <...>; rel="next"`` header whose URL carries ``cursor`` (an offset);
* ``cursor``: no header; ``{"data", "meta": {"next_cursor"}}``, an opaque string (null on
  the last page) that the client sends back as ``cursor=`` with the same filters;
* ``page-number``: Laravel-style ``page`` (1-based) and ``per_page`` (default and cap: the
  page size); ``{"data", "meta": {"current_page", "last_page", "per_page", "total",
  "from", "to"}, "links": {"first", "last", "prev", "next"}}``, absolute URLs keeping the
  query (``next`` null on the last page); a page past the last one is empty;
* ``page-number-meta``: the same without ``links``: the client must ask ``page=N`` itself;
* ``unknown``: ``{"data", "pagination": {"next_page_token"}}`` and ``page_token=``, a scheme
  no client can know: it must at least notice that it got only part of the list.

A malformed paging parameter is a 400 naming it; a parameter of another scheme is ignored.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

MODES = ("link", "cursor", "page-number", "page-number-meta", "unknown")
_NUMBER = re.compile(r"[0-9]+")
# The query parameter of each token scheme, and a prefix inside the token, so neither
# scheme takes the other's token (nor a bare offset).
_TOKENS = {"cursor": ("cursor", "c1:"), "unknown": ("page_token", "pt1:")}


def _token(mode: str, offset: int) -> str:
    raw = f"{_TOKENS[mode][1]}{offset}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(mode: str, token: str) -> int | None:
    """The offset a token of ``mode`` stands for, or None when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    prefix = _TOKENS[mode][1]
    rest = raw.removeprefix(prefix)
    return int(rest) if raw.startswith(prefix) and _NUMBER.fullmatch(rest) else None


def problems(query: Mapping[str, str], mode: str | None) -> dict[str, str | None]:
    """The problem (or None) of each paging parameter of ``query``; ``mode`` None: unpaged."""
    if mode in (None, "link"):  # the unpaged list validates (and ignores) the cursor too
        ok = _NUMBER.fullmatch(query.get("cursor", "0"))
        return {"cursor": None if ok else "must be a cursor from a Link header"}
    if mode in _TOKENS:
        name = _TOKENS[mode][0]
        known = name not in query or _offset(mode, query[name]) is not None
        return {name: None if known else "must be a token from an earlier page"}
    values = {name: query.get(name, "1") for name in ("page", "per_page")}
    return {name: None if _NUMBER.fullmatch(value) and int(value) >= 1
            else "must be a positive integer" for name, value in values.items()}


def paged(request: Request, found: list[dict[str, Any]], size: int, mode: str) -> JSONResponse:
    """The answer for one page of ``found`` (already filtered and sorted) under ``mode``.

    The query must have passed :func:`problems`.
    """
    query = request.query_params
    if mode in ("page-number", "page-number-meta"):
        return _numbered(request, found, size, links=mode == "page-number")
    if mode == "link":
        start = int(query.get("cursor", "0"))
    else:
        token = query.get(_TOKENS[mode][0])
        start = 0 if token is None else _offset(mode, token) or 0
    data, more = found[start:start + size], start + size < len(found)
    if mode == "link":
        url = request.url.include_query_params(cursor=str(start + size))
        return JSONResponse({"data": data}, headers={"Link": f'<{url}>; rel="next"'} if more
                            else {})
    token = _token(mode, start + size) if more else None
    if mode == "cursor":
        return JSONResponse({"data": data, "meta": {"next_cursor": token}})
    return JSONResponse({"data": data, "pagination": {"next_page_token": token}})


def _numbered(request: Request, found: list[dict[str, Any]], size: int, *,
              links: bool) -> JSONResponse:
    query = request.query_params
    number, per_page = int(query.get("page", "1")), min(int(query.get("per_page", size)), size)
    total = len(found)
    last, start = max(1, math.ceil(total / per_page)), (number - 1) * per_page
    data = found[start:start + per_page]
    meta = {"current_page": number, "last_page": last, "per_page": per_page, "total": total,
            "from": start + 1 if data else None, "to": start + len(data) if data else None}
    if not links:
        return JSONResponse({"data": data, "meta": meta})

    def url(page: int) -> str:
        return str(request.url.include_query_params(page=page))

    return JSONResponse({"data": data, "meta": meta, "links": {
        "first": url(1), "last": url(last), "prev": url(number - 1) if number > 1 else None,
        "next": url(number + 1) if number < last else None}})
