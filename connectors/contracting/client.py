"""The contracting (billing) API connector.

Talks to ``{base_url}/api/v1`` with ``Authorization: Bearer <token>`` and a
``tenant-id`` header, only through :class:`connectors.http.HttpClient`.

Documented (seeds/002): ``GET /time-entries`` with ``dateFrom``/``dateTo``
(inclusive), ``projectId``, ``billableId``, ``referenceSource``, ``referenceId``;
the list is under ``data``. Everything else is ASSUMED from the usual REST
conventions of such an API, and each assumption lives in one place here:

* ``POST /time-entries`` with ``{projectId, date, durationSeconds, description,
  referenceSource, referenceId, billableId}`` answers 201 ``{"data": entry}``
  (body built in :func:`connectors.contracting.mapper.create_body`);
* ``PUT /time-entries/{id}`` REPLACES the entry (a field left out is erased), so
  the full body is always sent, the reference and the billable included; the
  entry's current billable is kept when the draft names none. 200 ``{"data": entry}``;
* ``DELETE /time-entries/{id}`` answers 204; ``GET /time-entries/{id}`` answers
  ``{"data": entry}`` or 404 when the entry is gone (404 is the proof of deletion);
* an entry on an invoiced billable refuses PUT/DELETE with 409, which the chokepoint
  turns into :class:`ConflictError` and which is left to propagate (a reported
  conflict, not a crash);
* the list is not paged in the document; it is read with an
  :class:`~connectors.paging_envelope.EnvelopePaginator`, which follows a
  ``Link: rel="next"`` header, ``links.next``, a cursor or page numbers with totals
  if the API sends them, checks every total, and calls a read with paging fields it
  does not understand incomplete. No page-size parameter is sent (none is documented);
* ``description`` is sent verbatim (an empty comment as ``""``) and read back
  verbatim: the reference fields, not a comment marker, say where a copy came from;
  entries carry no author and no start time, so ``author`` and ``start`` are None;
* an entry with only one of ``referenceSource``/``referenceId`` set is an original;
  a numeric ``referenceId`` is read as its string; ``expand`` is never sent, but an
  expanded ``project``/``billable`` object is read by its ``id``;
* errors come as ``{"message", "errors"}``: 400/422 for validation (BadRequestError),
  401 for a bad token, 400 for a missing ``tenant-id`` and 403 for a tenant the token
  may not use (ForbiddenError);
* a report's project names come from ``GET /time-entries?projectId=..&expand=project``
  (documented), the expanded ``project`` object's ``name`` (assumed: its fields are not
  documented); a project with no entry yet is shown by its id;
* ``check()`` lists today's entries: the API has no documented "who am I", so it
  proves the token and the tenant and answers ``tenant <tenant_id>``;
* every request of the process to one ``base_url`` shares one rate limiter
  (``requests_per_second``, unlimited when unset; a 429 pauses them all), and with
  ``rate_budgets`` every process on one state store shares it.

Risk of the assumed ``GET /time-entries/{id}``: if the real API had no such route,
every look-up would answer 404 and every copy would look deleted at its origin; the
reconciler's ``max_delete_share`` brake is what stops that from deleting copies.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from connectors.base import (
    Capabilities,
    DateWindow,
    EntryDraft,
    FatalError,
    NotFoundError,
    ProbeResult,
    ProbeUses,
    ReadItem,
)
from connectors.contracting import mapper
from connectors.contracting import probe as contracting_probe
from connectors.contracting.config import REFERENCE_FILTER, ContractingConfig, ContractingFilter
from connectors.display_names import each
from connectors.http_connector import HttpConnector
from connectors.model import CanonicalEntry, Origin, Skip
from connectors.paging_envelope import EnvelopePaginator

API_PATH = "/api/v1"
ENTRIES = "/time-entries"
CAPABILITIES = Capabilities(
    updatable=frozenset({"task", "work_date", "seconds", "comment", "billable"}),
    keeps_start=False,
    granularity_seconds=1,
    comment_limit=None,
)


class ContractingConnector(HttpConnector, system="contracting", api_path=API_PATH,
                           capabilities=CAPABILITIES):
    """:class:`connectors.base.Connector` for the contracting API's time entries."""

    config: ContractingConfig

    def _prepare(self) -> None:
        self._pages = EnvelopePaginator(items_key="data")

    def account_headers(self) -> dict[str, str]:
        """The ``tenant-id`` header every request carries."""
        return {"tenant-id": self.config.tenant_id}

    def rate_key(self, token: str) -> str:
        """Every request of the process to one ``base_url`` shares one budget, whatever
        the tenant or token (see the module docstring)."""
        return f"contracting {self.config.base_url}"

    # --- reading -------------------------------------------------------------------------

    def read(self, window: DateWindow, filters: Mapping[str, Any]) -> Iterator[ReadItem]:
        """Entries dated in ``window``: one list query per ``project_ids`` entry (or one).

        ``filters`` holds the route's :class:`ContractingFilter` keys, plus
        ``reference_source`` to ask the server only for copies made from that source.
        """
        route_filter, reference = self._route_filter(ContractingFilter, filters,
                                                     narrowing=REFERENCE_FILTER)
        params = {"dateFrom": window.start.isoformat(), "dateTo": window.end.isoformat()}
        if reference:
            params["referenceSource"] = str(reference)
        # dict.fromkeys: a project listed twice must not be read (and yielded) twice.
        projects: list[str | None] = list(dict.fromkeys(route_filter.project_ids)) or [None]
        for project in projects:
            query = params if project is None else {**params, "projectId": project}
            for page in self._pages.pages(self._http, "GET", ENTRIES, params=query):
                for raw in page:
                    item = self._item(raw)
                    # The server filters by date; an entry it let through anyway is not ours.
                    if isinstance(item, Skip) or item.work_date in window:
                        yield item

    def lookup(self, record_id: str, task: str) -> ReadItem | None:
        """The entry by id (``task`` is not needed here); None when the API says 404."""
        try:
            body = self._http.get_json(self._record_path(record_id))
        except NotFoundError:
            return None
        return self._item(mapper.unwrap(body))

    def find_copies(self, origin: Origin, task: str | None) -> list[CanonicalEntry]:
        """Entries whose ``referenceSource``/``referenceId`` is ``origin`` (``task`` unused)."""
        params = {"referenceSource": origin.source, "referenceId": origin.record_id}
        found = []
        for page in self._pages.pages(self._http, "GET", ENTRIES, params=params):
            for raw in page:
                item = self._item(raw)
                if isinstance(item, CanonicalEntry) and item.origin == origin:
                    found.append(item)
        return found

    # --- writing -------------------------------------------------------------------------

    def fit(self, draft: EntryDraft) -> EntryDraft:
        """The draft as the API holds it (seconds unchanged, no start time). Pure."""
        return mapper.fit_draft(draft)

    def create(self, draft: EntryDraft) -> CanonicalEntry:
        """``POST /time-entries``; a lost answer raises :class:`UnknownOutcomeError`."""
        answer = self._http.post_json(ENTRIES, mapper.create_body(draft))
        return self._written(mapper.unwrap(answer), f"POST {ENTRIES}")

    def update(self, current: CanonicalEntry, draft: EntryDraft) -> CanonicalEntry:
        """``PUT`` the whole entry; the reference and the current billable are kept."""
        body = mapper.update_body(draft, billable=current.billable)
        answer = self._http.send_json("PUT", self._record_path(current.record_id), body)
        return self._written(mapper.unwrap(answer), f"PUT {ENTRIES}/{{id}}")

    def delete(self, entry: CanonicalEntry) -> None:
        """``DELETE`` the entry; :class:`NotFoundError` when already gone, 409 -> ConflictError."""
        self._http.send_json("DELETE", self._record_path(entry.record_id))

    # --- the rest ------------------------------------------------------------------------

    def check(self) -> str:
        """List today's entries to prove the token and the tenant; ``tenant <id>``."""
        today = datetime.now(UTC).date().isoformat()
        body = self._http.get_json(ENTRIES, params={"dateFrom": today, "dateTo": today})
        if not isinstance(mapper.unwrap(body), list):
            raise FatalError(f"GET {ENTRIES} answered without a 'data' list", connector=self.name)
        return f"tenant {self.config.tenant_id}"

    def probe(self, uses: ProbeUses) -> list[ProbeResult]:
        """``timebridge check``: how this API behaves where the documents are silent."""
        return contracting_probe.probe(self, uses)

    def display_names(self, kind: str, ids: list[str]) -> dict[str, str]:
        """Project names (``kind`` "task"), for a report: the documented ``expand=project``
        of one project's entries, first page only; a project without entries keeps its id.
        Entries carry no user, so there are no user names."""
        def project(project_id: str) -> str | None:
            body = self._http.get_json(ENTRIES, {"projectId": project_id, "expand": "project"})
            data = body.get("data") if isinstance(body, dict) else None
            for raw in data if isinstance(data, list) else ():
                expanded = raw.get("project") if isinstance(raw, dict) else None
                if isinstance(expanded, dict) and str(expanded.get("id")) == project_id:
                    return expanded.get("name")
            return None

        return each(self.name, kind, ids, project) if kind == "task" else {}

    @staticmethod
    def _record_path(record_id: str) -> str:
        return f"{ENTRIES}/{quote(str(record_id), safe='')}"

    def _to_entry(self, raw: Any) -> CanonicalEntry:
        return mapper.to_entry(raw, connector=self.name, reference_source=self.reference_source)
