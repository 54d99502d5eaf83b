"""The Yandex Tracker connector: issue worklogs through the shared HTTP chokepoint.

Endpoints (base ``{base_url}/v2``; ``Authorization: OAuth <token>`` or ``Bearer <token>``
and ``X-Org-ID`` or ``X-Cloud-Org-ID``, as configured):

* read: ``POST /worklog/_search`` with ``{"createdBy", "createdAt": {"from", "to"}}``,
  paged by ``page``/``perPage`` in the query string;
* write: ``POST /issues/{key}/worklog`` (201), ``PATCH`` (200) and ``DELETE`` (204)
  ``/issues/{key}/worklog/{id}``;
* look-ups: ``GET /issues/{key}/worklog`` (every worklog of the issue);
* who am I: ``GET /myself``.

Tracker searches worklogs by CREATION time, not by work date. A read therefore asks
for everything created from ``created_lookback_days`` before the window's first day
(00:00 in the configured zone) up to now, once per ``created_by`` author of the route
filter (or once unfiltered), and keeps the worklogs whose ``start`` falls in the
window on the zone's calendar. A worklog created before the look-back but re-dated
into the window is not seen; a longer ``created_lookback_days`` finds it. Read as a
TARGET, only the bridge's own copies matter, and the bridge's token created them, so
the search is narrowed to ``createdBy`` = the token's user (or ``copies_created_by``).

Tracker refuses to page a search past 10,000 items ("Request exceeds 10000 items
limit"). A search whose ``X-Total-Count`` is above the cap, or that the
server refuses so, is split in two halves of its ``createdAt`` range, again and
again, until every part fits; a worklog seen in two parts is reported once.

Assumptions where the documents are silent (each kept in one place):

* Paging: 1-based ``page`` and ``perPage`` go in the query string even for the POST
  search; a ``Link: rel="next"`` URL is followed as given, ``X-Total-Pages`` and
  ``X-Total-Count`` are honoured and checked, and without any of them the end is
  proved as :mod:`connectors.paging` says. No maximum ``perPage`` is documented for
  worklogs; :data:`PAGE_SIZE` is 100 (a server that clamps it is read correctly).
* ``PATCH`` is sent with ``If-Match: "<version>"`` as the official client sends it, so a
  worklog edited since it was read answers 412 (a conflict, never an overwrite).
* ``PATCH`` takes ``duration`` and ``comment`` only (the documented fields; ``start``
  is not documented as editable), so :data:`CAPABILITIES` ``updatable`` is
  ``seconds`` and ``comment``: a re-dated copy is deleted and created again, and a
  worklog cannot move to another issue (see :func:`connectors.tracker.mapper.update_body`).
  What the answer says was stored is checked against what was sent by the executor.
* ``GET /issues/{key}/worklog`` may be paged (the official client follows its
  ``Link`` header) or not: it is read with ``perPage`` like the search, to its proven
  end; 404 there means the issue is gone, and its worklogs with it.
* No comment length limit is documented, so none is applied.
* Durations use the configured ``workday_hours`` for ``P1D`` (``P1W`` = 5 days), the
  same as the Tracker organisation's setting; years and months are skipped.
* The search's upper bound "now" is this machine's clock plus :data:`CLOCK_SKEW` (one
  minute): nothing is created in the future, and a server clock a little ahead of
  ours must not hide a worklog created just now.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from connectors.base import (
    BadRequestError,
    Capabilities,
    DateWindow,
    EntryDraft,
    FatalError,
    ProbeResult,
    ProbeUses,
    ReadItem,
)
from connectors.display_names import each
from connectors.http_connector import HttpConnector
from connectors.model import CanonicalEntry, MappingError
from connectors.paging import PageNumberPaginator
from connectors.records import record_id_of
from connectors.tracker import mapper
from connectors.tracker import probe as tracker_probe
from connectors.tracker.config import TrackerConfig, TrackerFilter
from connectors.tracker.search import CappedSearch
from connectors.units import start_for_date

API_PATH = "/v2"
PAGE_SIZE = 100  # no documented maximum for worklogs: see the module docstring
CLOCK_SKEW = timedelta(minutes=1)  # allowance on the search's "now"
CAPABILITIES = Capabilities(
    updatable=frozenset({"seconds", "comment"}),
    keeps_start=True,
    granularity_seconds=1,
    comment_limit=None,
)


class TrackerConnector(HttpConnector, system="tracker", api_path=API_PATH,
                       capabilities=CAPABILITIES):
    """Yandex Tracker worklogs as canonical entries (see the module docstring for the API)."""

    page_size = PAGE_SIZE
    config: TrackerConfig

    def _prepare(self) -> None:
        self._map = mapper.TrackerMapping.from_config(self.name, self.config)
        # One paginator per endpoint: each remembers the page size its server delivers.
        self._search = CappedSearch(self._http, PageNumberPaginator(page_size=PAGE_SIZE))
        self._task_pages = PageNumberPaginator(page_size=PAGE_SIZE, unpaged_ok=True)
        self._login: str | None = None
        self._login_lock = threading.Lock()

    def auth_headers(self, token: str) -> dict[str, str]:
        """``Authorization: OAuth <token>`` or ``Bearer <token>`` (an IAM token), as configured."""
        return {"Authorization": f"{self.config.auth_scheme} {token}"}

    def account_headers(self) -> dict[str, str]:
        """``X-Org-ID`` (Tracker's own organisations) or ``X-Cloud-Org-ID`` (Yandex Cloud)."""
        if self.config.org_id is not None:
            return {"X-Org-ID": str(self.config.org_id)}
        return {"X-Cloud-Org-ID": str(self.config.cloud_org_id)}

    # -- reading ---------------------------------------------------------------------

    def read(self, window: DateWindow, filters: Mapping[str, Any]) -> Iterator[ReadItem]:
        """Stream the worklogs whose work date is in ``window`` (see the module docstring).

        One creation-time search per ``created_by`` author (or per author of the
        bridge's copies, read as a target), each paged and split below the search
        cap; a worklog is reported once however many searches return it.
        Unmappable worklogs come out as :class:`Skip` (unless their start dates them
        outside the window); a page that fails after retries raises, so the read is
        known incomplete.
        """
        chosen, copies_only = self._route_filter(TrackerFilter, filters)
        since, until = self.created_range(window)
        authors: list[str | None] = [*chosen.created_by] if chosen.created_by else [None]
        if copies_only:
            authors = list(self.config.copies_created_by or [self.login()])
        seen: set[str] = set()
        for author in authors:
            for raw in self._search.worklogs(author, since, until):
                record_id = record_id_of(raw)
                if record_id is not None:
                    if record_id in seen:
                        continue  # another author's search, or another part of the range
                    seen.add(record_id)
                item = self._item(raw)
                day = item.work_date if isinstance(item, CanonicalEntry) else \
                    mapper.work_date_of(raw, self._map)
                if day is None or day in window:
                    yield item

    def created_range(self, window: DateWindow) -> tuple[datetime, datetime]:
        """The creation times a read of ``window`` searches: from ``created_lookback_days``
        before its first day (00:00 in the zone) to now (plus :data:`CLOCK_SKEW`)."""
        since = start_for_date(window.start - timedelta(days=self.config.created_lookback_days),
                               self._map.tz, time(0, 0))
        return since, datetime.now(UTC) + CLOCK_SKEW

    @property
    def search_cap(self) -> int:
        """How many items one search may page through (lowered when the server names less)."""
        return self._search.cap

    def login(self) -> str:
        """The login of the token's user (``GET /myself``, asked once): author of the copies."""
        with self._login_lock:
            if self._login is None:
                user = self._http.get_json("/myself")
                login = user.get("login") if isinstance(user, dict) else None
                if not isinstance(login, str) or not login:
                    raise FatalError("GET /myself answered a user without a login",
                                     connector=self.name)
                self._login = login
            return self._login

    def check(self) -> str:
        """Prove the token and organisation work (``GET /myself``); returns who the token is."""
        user = self._http.get_json("/myself")
        if not isinstance(user, dict) or not (user.get("login") or user.get("display")):
            raise FatalError("GET /myself answered something that is not a user",
                             connector=self.name)
        login, display = user.get("login"), user.get("display")
        return f"{display} ({login})" if display and login else str(display or login)

    def probe(self, uses: ProbeUses) -> list[ProbeResult]:
        """``timebridge check``: how this Tracker behaves where the documents are silent."""
        return tracker_probe.probe(self, uses)

    # -- writing ---------------------------------------------------------------------

    def fit(self, draft: EntryDraft) -> EntryDraft:
        """The draft as Tracker will hold it: a start on the work date (to the millisecond)
        in the configured zone, every second of the duration, the comment's trailing
        whitespace gone, no billable."""
        return mapper.fit_draft(draft, self._map)

    def create(self, draft: EntryDraft) -> CanonicalEntry:
        """Add the worklog to issue ``draft.task``. A lost answer raises UnknownOutcomeError."""
        body = self._body(mapper.create_body, draft)
        raw = self._http.post_json(f"{self._issue_path(draft.task)}/worklog", body)
        return self._written(raw, f"POST {self._issue_path(draft.task)}/worklog")

    def update(self, current: CanonicalEntry, draft: EntryDraft) -> CanonicalEntry:
        """PATCH ``current`` to hold ``draft``'s duration and comment.

        Tracker cannot move a worklog to another issue or change its start, so a
        draft on another task or work date is refused (plan delete + create).
        """
        for field, old, new in (("task", current.task, draft.task),
                                ("work_date", current.work_date, draft.work_date)):
            if old != new:
                raise BadRequestError(
                    f"worklog {current.record_id} cannot change its {field} from {old} to "
                    f"{new}: Tracker only edits duration and comment (delete and create instead)",
                    connector=self.name)
        body = self._body(mapper.update_body, draft)
        path = self._record_path(current.task, current.record_id)
        # As the official client does: only the version this pass read may be changed, so
        # a hand edit made since is refused (412, a conflict) rather than overwritten.
        match = {"If-Match": f'"{current.version}"'} if current.version else None
        raw = self._http.send_json("PATCH", path, body, headers=match)
        return self._written(raw, f"PATCH {self._issue_path(current.task)}/worklog/{{id}}")

    def delete(self, entry: CanonicalEntry) -> None:
        """Delete the worklog; one already gone raises :class:`NotFoundError`."""
        self._http.send_json("DELETE", self._record_path(entry.task, entry.record_id))

    def display_names(self, kind: str, ids: list[str]) -> dict[str, str]:
        """Issue summaries (``kind`` "task": ``GET /issues/{key}``) or users' display
        names ("user": ``GET /users/{id}``), one request per id, for a report."""
        def summary(key: str) -> str | None:
            issue = self._http.get_json(self._issue_path(key))
            return issue.get("summary") if isinstance(issue, dict) else None

        def display(uid: str) -> str | None:
            user = self._http.get_json(f"/users/{quote(str(uid), safe='')}")
            return user.get("display") if isinstance(user, dict) else None

        fetch = {"task": summary, "user": display}.get(kind)
        return {} if fetch is None else each(self.name, kind, ids, fetch)

    # -- helpers ---------------------------------------------------------------------

    def _to_entry(self, raw: Any) -> CanonicalEntry:
        return mapper.to_entry(raw, self._map)

    def _task_records(self, task: str) -> list[Any]:
        """Every worklog of the issue, read to its proven end ([] when the issue is gone)."""
        return self._listed(lambda: self._task_pages.pages(self._http, "GET",
                                                           f"{self._issue_path(task)}/worklog"))

    @staticmethod
    def _issue_path(task: str) -> str:
        return f"/issues/{quote(str(task), safe='')}"

    def _record_path(self, task: str, record_id: str) -> str:
        # Escaped: an id is data from an API and must stay one path segment.
        return f"{self._issue_path(task)}/worklog/{quote(str(record_id), safe='')}"

    def _body(self, build: Any, draft: EntryDraft) -> dict[str, Any]:
        try:
            return build(draft, self._map)
        except MappingError as error:  # a day the zone skipped, an id a marker cannot hold
            raise BadRequestError(str(error), connector=self.name) from None
