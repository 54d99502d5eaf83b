"""``timebridge check`` for the contracting API: does it behave as the connector assumes?

Probes, none of which writes: how the list pages (documented: not at all), and that
``GET /time-entries/{id}`` exists (assumed; it is how a deletion is proved). The
write bodies cannot be probed without writing: every answer is checked instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.base import IncompleteReadError, NotFoundError, ProbeResult, ProbeUses
from connectors.paging_envelope import EnvelopePaginator
from connectors.probing import failed, guarded, note, ok

if TYPE_CHECKING:
    from connectors.contracting.client import ContractingConnector

_MISSING_ID = "tsh_timebridgeprobe0000000000"
_PAGES = 3  # enough to see the paging followed; a check never reads a whole tenant


def probe(conn: ContractingConnector, uses: ProbeUses) -> list[ProbeResult]:
    """One result per probe, in a fixed order."""
    seen: dict[str, str] = {}
    return [guarded("list paging", lambda: _list(conn, uses, seen)),
            guarded("GET /time-entries/{id}", lambda: _by_id(conn, seen.get("id"))),
            note("write bodies", "not probed (they would write): every create and update "
                 "answer is compared with what was sent")]


def _list(conn: ContractingConnector, uses: ProbeUses, seen: dict) -> ProbeResult:
    name = "list paging"
    params = {"dateFrom": uses.window.start.isoformat(), "dateTo": uses.window.end.isoformat()}
    count, pages = 0, 0
    try:
        for page in EnvelopePaginator("data").pages(conn._http, "GET", "/time-entries",
                                                     params=params):
            pages += 1
            count += len(page)
            if isinstance(page[0], dict):
                seen.setdefault("id", str(page[0].get("id")))
            if pages >= _PAGES:
                return note(name, "the list is paged (documented unpaged); the bridge follows "
                            "its next pages and checks its totals")
    except IncompleteReadError as exc:
        return failed(name, f"{exc}; every read of this connector will stop as incomplete "
                      "and nothing will be deleted from it")
    if pages > 1:
        return note(name, f"the list is paged (documented unpaged): {count} entries on {pages} "
                    "pages, followed to the end")
    return ok(name, f"unpaged, as documented ({count} entries in the window)")


def _by_id(conn: ContractingConnector, known: str | None) -> ProbeResult:
    name = "GET /time-entries/{id}"
    entry_id = known or _MISSING_ID
    try:
        body = conn._http.get_json(f"/time-entries/{entry_id}")
    except NotFoundError:
        if known is None:
            return note(name, "no entry in the window to probe with; an unknown id answers "
                        "404, as a deletion proof expects")
        return failed(name, f"entry {known}, which the list shows, answers 404 by id: the "
                      "bridge cannot prove deletions; set propagate_deletes = false on the "
                      "routes into this connector (the delete brake holds meanwhile)")
    if known is None:
        return failed(name, f"an id that cannot exist ({_MISSING_ID}) answered 200: a look-up "
                      "cannot tell a deleted entry from a live one")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or str(data.get("id")) != known:
        return failed(name, "answered something other than the entry asked for: deletions "
                      "cannot be proved")
    return ok(name, "an entry is answered by its id, so a 404 proves a deletion")
