"""``timebridge check`` for Kaiten: does the API behave as the connector assumes?

Probes, none of which writes: the timesheet's paging (is ``limit`` 200 honoured or
clamped?), the unit of ``X-RateLimit-Reset``, whether the token's user may read what
each source route's filter asks for, and a card's list of logs. The update body
(``PATCH`` with ``for_date``) cannot be probed without writing: every update's answer
is checked instead (:mod:`bridge.engine.verify`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from connectors.base import ForbiddenError, ProbeResult, ProbeUses
from connectors.kaiten.config import KaitenFilter
from connectors.probing import failed, guarded, note, ok, paging_headers, reset_unit

if TYPE_CHECKING:
    from connectors.kaiten.client import KaitenConnector


def probe(conn: KaitenConnector, uses: ProbeUses, page_size: int) -> list[ProbeResult]:
    """One result per probe, in a fixed order."""
    window = {"from": uses.window.start.isoformat(), "to": uses.window.end.isoformat()}
    seen: dict[str, Any] = {}
    # Paging is probed as the first source route reads (a non-admin may read only that).
    no_filter: Mapping[str, Any] = {}
    first = _filtered(window, next(iter(uses.source_filters.values()), no_filter))
    results = [guarded("timesheet paging", lambda: _timesheet(conn, first, page_size, seen))]
    if "reset" in seen:
        results.append(_reset(seen["reset"]))
    for route, filters in uses.source_filters.items():
        results.append(guarded(f"route {route}", partial(_route, conn, window, route, filters)))
    card = next(iter(uses.tasks), None) or seen.get("card")
    if card is not None:
        results.append(guarded("card time logs", lambda: _card(conn, str(card), page_size)))
    results.append(note("update body", "not probed (it would write): every update's answer is "
                        "compared with what was sent; a field Kaiten ignores is remembered and "
                        "such copies are replaced instead"))
    return results


def _timesheet(conn: KaitenConnector, window: dict, size: int, seen: dict) -> ProbeResult:
    name = "timesheet paging"
    response, first = conn._http.request_json("GET", "/time-logs",
                                              params={**window, "limit": size, "offset": 0})
    seen["reset"] = reset_unit(response)
    if not isinstance(first, list):
        return failed(name, "GET /time-logs answered something that is not a list; every "
                      "read of this connector will fail")
    if first and isinstance(first[0], dict):
        seen["card"] = first[0].get("card_id")
    headers = paging_headers(response)
    extra = f"; paging headers {headers} are followed" if headers else ""
    if len(first) >= size:
        return ok(name, f"limit {size} is honoured{extra}")
    if not first:
        return ok(name, "no time logs in the window to probe paging with; a short page is "
                  "proved the end by one more request")
    _, second = conn._http.request_json("GET", "/time-logs", params={
        **window, "limit": size, "offset": len(first)})
    if not second:
        return ok(name, f"{len(first)} time logs in the window; the end is proved by an empty "
                  f"next page{extra}")
    if _ids(second) == _ids(first):
        return failed(name, "the timesheet ignores offset: a read longer than one page stops "
                      "as incomplete, and nothing is deleted from it")
    return note(name, f"the server clamps limit to {len(first)} (documented maximum {size}); "
                "the bridge pages by the size it gets and proves the end with one more request")


def _reset(unit: str | None) -> ProbeResult:
    name = "rate-limit headers"
    if unit is None:
        return note(name, "no X-RateLimit-Reset header: after a 429 the bridge backs off and "
                    "asks again")
    if unit == "epoch seconds":
        return ok(name, "X-RateLimit-Reset is a UTC epoch in seconds, as documented")
    return note(name, f"X-RateLimit-Reset is given in {unit} (documented: epoch seconds); the "
                "bridge reads either unit")


def _route(conn: KaitenConnector, window: dict, route: str,
           filters: Mapping[str, Any]) -> ProbeResult:
    name = f"route {route}"
    try:
        conn._http.request_json("GET", "/time-logs", params={**_filtered(window, filters),
                                                              "limit": 1, "offset": 0})
    except ForbiddenError:
        return failed(name, "the token's user may not read the time logs this route's filter "
                      "asks for (403): its reads will fail until the user gets that access or "
                      "the filter names only what the user may see")
    return ok(name, "the token's user may read the time logs this route's filter asks for")


def _filtered(window: dict, filters: Mapping[str, Any]) -> dict:
    """The timesheet query of a route: its window and its filter, as the connector sends it."""
    return {**window, **KaitenFilter.model_validate(filters).query()}


def _card(conn: KaitenConnector, card: str, size: int) -> ProbeResult:
    name = "card time logs"
    response, logs = conn._http.request_json("GET", f"/cards/{card}/time-logs",
                                             params={"limit": size, "offset": 0})
    if not isinstance(logs, list):
        return failed(name, f"GET /cards/{card}/time-logs answered something that is not a "
                      "list: look-ups fail, so nothing can be proved deleted")
    headers = paging_headers(response)
    if headers:
        return note(name, f"card {card}'s list is paged ({headers}; documented unpaged); "
                    "the bridge follows it to its end")
    return ok(name, f"card {card}'s list answered {len(logs)} logs; it is read to its proven end")


def _ids(items: list) -> list:
    return [i.get("id") if isinstance(i, dict) else i for i in items]
