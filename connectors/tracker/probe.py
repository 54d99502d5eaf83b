"""``timebridge check`` for Tracker: does the API behave as the connector assumes?

Probes, none of which writes: how the worklog search pages (headers, is ``page``
honoured, is the look-back above the 10,000-item cap), how an issue's worklog list
pages, and whose worklogs a target read searches (the bridge's own copies). The
update body (``PATCH`` with duration and comment) cannot be probed without writing:
every update's answer is checked instead (:mod:`bridge.engine.verify`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from connectors.base import NotFoundError, ProbeResult, ProbeUses
from connectors.probing import failed, guarded, note, ok, paging_headers
from connectors.units import format_tracker_datetime

if TYPE_CHECKING:
    from connectors.tracker.client import TrackerConnector


def probe(conn: TrackerConnector, uses: ProbeUses) -> list[ProbeResult]:
    """One result per probe, in a fixed order."""
    seen: dict[str, str] = {}
    results = [guarded("search paging", lambda: _search(conn, uses, seen))]
    key = next(iter(uses.tasks), None) or seen.get("issue")
    if key is not None:
        results.append(guarded("issue worklogs", lambda: _issue(conn, key)))
    results.append(guarded("copies' author", lambda: ok(
        "copies' author", "read as a target, only worklogs created by "
        f"{', '.join(conn.config.copies_created_by or [conn.login()])} are searched (the "
        "bridge's copies)")))
    results.append(note("update body", "not probed (it would write): every update's answer is "
                        "compared with what was sent; a field Tracker ignores is remembered and "
                        "such copies are replaced instead"))
    return results


def _page(conn: TrackerConnector, body: dict, page: int) -> tuple:
    return conn._http.request_json("POST", "/worklog/_search", params={"page": page,
                                   "perPage": 1}, json=body, idempotent=True)


def _search(conn: TrackerConnector, uses: ProbeUses, seen: dict) -> ProbeResult:
    name = "search paging"
    since, until = conn.created_range(uses.window)
    body = {"createdAt": {"from": format_tracker_datetime(since),
                          "to": format_tracker_datetime(until)}}
    response, first = _page(conn, body, 1)
    if not isinstance(first, list):
        return failed(name, "the search answered something that is not a list; every read of "
                      "this connector will fail")
    if first and isinstance(first[0], dict) and isinstance(first[0].get("issue"), dict):
        seen["issue"] = str(first[0]["issue"].get("key"))
    total = response.headers.get("x-total-count", "").strip()
    count = f"; {total} worklogs in the look-back" if total.isdigit() else ""
    if total.isdigit() and int(total) > conn.search_cap:
        count += f", above the {conn.search_cap}-item cap: searches are split by createdAt"
    if len(first) == 1:
        _, second = _page(conn, body, 2)
        if isinstance(second, list) and second and isinstance(second[0], dict) and \
                isinstance(first[0], dict) and second[0].get("id") == first[0].get("id"):
            return failed(name, "the search ignores page: a read longer than one page stops "
                          "as incomplete, and nothing is deleted from it")
    headers = paging_headers(response)
    if headers:
        return ok(name, f"the search pages with {headers}{count}")
    return note(name, "the search answers no paging headers; the bridge proves the end of "
                f"each search with one more page{count}")


def _issue(conn: TrackerConnector, key: str) -> ProbeResult:
    name = "issue worklogs"
    path = f"/issues/{quote(key, safe='')}/worklog"
    try:
        response, logs = conn._http.request_json("GET", path, params={"page": 1, "perPage": 1})
    except NotFoundError:
        return note(name, f"issue {key} does not exist (404); its worklogs cannot be probed")
    if not isinstance(logs, list):
        return failed(name, f"GET /issues/{key}/worklog answered something that is not a list: "
                      "look-ups fail, so nothing can be proved deleted")
    headers = paging_headers(response)
    if headers:
        return ok(name, f"issue {key}'s worklogs are paged with {headers}; followed to the end")
    return ok(name, f"issue {key}'s worklogs answered without paging headers; read to their "
              "proven end")
