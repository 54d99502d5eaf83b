"""The Kaiten connector: card time logs through the shared HTTP chokepoint.

Endpoints (base ``{base_url}/api/latest``, ``Authorization: Bearer <token>``):

* read: ``GET /time-logs?from&to`` (``to`` inclusive) with the route's
  ``user_ids``/``space_ids``/``board_ids``/``card_ids`` comma-separated, paged by
  ``limit`` (200, the maximum) and ``offset``; the answer is a bare JSON array;
* write: ``POST /cards/{card}/time-logs``, ``PATCH`` and ``DELETE
  /cards/{card}/time-logs/{id}``;
* look-ups: ``GET /cards/{card}/time-logs`` (all of one card's logs);
* who am I: ``GET /users/current``;
* names for a report (:mod:`connectors.display_names`): ``GET /cards/{card}`` (its
  ``title``) and the documented user list ``GET /users`` (``full_name``), read by
  ``limit``/``offset`` pages of 100 until every wanted user is found (at most 5 pages).

Assumptions where the documents are silent (each kept in one place):

* ``PATCH`` takes ``time_spent``, ``for_date`` and ``comment`` (and ``role_id``,
  which is never sent so a hand-set role is kept); a log cannot move to another
  card, so ``task`` is not in :data:`CAPABILITIES` ``updatable`` (see
  :func:`connectors.kaiten.mapper.update_body`).
* ``GET /cards/{card}/time-logs`` is documented without paging. It is read like the
  timesheet all the same (``limit``/``offset``, every paging header looked at, the
  end proved; see :mod:`connectors.paging`), so a server that pages it silently is
  read to its end; one that ignores the parameters answers the whole list twice,
  which proves it whole. 404 there means the card is gone, so its logs are too.
* The timesheet's ``limit`` may be clamped below 200 without a word: a short page
  proves the end only once the server is known to deliver longer pages.
* The 4096-character comment limit counts Unicode code points, marker included
  (:data:`connectors.kaiten.mapper.COMMENT_LIMIT`).
* ``for_date`` is ``YYYY-MM-DD``; a UTC-midnight timestamp form is read as that
  date (:data:`connectors.kaiten.mapper._MIDNIGHT`).
* The list is stable while paged (ordered by id); a record seen twice because
  the list shifted between pages is reported once.
* A log made by ``POST`` belongs to the token's user (no user is sent), so a target
  read asks only for that user's logs (``user_ids``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from connectors.base import (
    BadRequestError,
    Capabilities,
    DateWindow,
    EntryDraft,
    FatalError,
    FeatureUnavailableError,
    ProbeResult,
    ProbeUses,
    ReadItem,
)
from connectors.display_names import clean, each
from connectors.http_connector import HttpConnector
from connectors.kaiten import mapper
from connectors.kaiten import probe as kaiten_probe
from connectors.kaiten.config import KaitenConfig, KaitenFilter
from connectors.model import CanonicalEntry, MappingError
from connectors.paging import OffsetPaginator

API_PATH = "/api/latest"
PAGE_SIZE = 200  # the documented maximum of GET /time-logs
USER_PAGE, USER_PAGES = 100, 5  # names of people: GET /users, at most 500 users looked at
CAPABILITIES = Capabilities(
    updatable=frozenset({"seconds", "comment", "work_date"}),
    keeps_start=False,
    granularity_seconds=mapper.GRANULARITY,
    comment_limit=mapper.COMMENT_LIMIT,
)


class KaitenConnector(HttpConnector, system="kaiten", api_path=API_PATH,
                      capabilities=CAPABILITIES):
    """Kaiten card time logs as canonical entries (see the module docstring for the API)."""

    config: KaitenConfig

    def _prepare(self) -> None:
        # One paginator per endpoint: each remembers the page size its server delivers.
        self._pages = OffsetPaginator(page_size=PAGE_SIZE)
        self._task_pages = OffsetPaginator(page_size=PAGE_SIZE, unpaged_ok=True)
        self._user_id: int | None = None
        self._user_lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------

    def read(self, window: DateWindow, filters: Mapping[str, Any]) -> Iterator[ReadItem]:
        """Stream the time logs dated in ``window`` that pass ``filters`` (a KaitenFilter dict).

        The filters go to the server; unmappable logs come out as :class:`Skip`;
        a page that fails after retries raises, so the read is known incomplete.
        Read as a target (``bridge_copies``), only the logs of the token's own user
        (or ``copies_user_ids``) are asked for: the bridge's copies are theirs, and a
        token that may not read other people's logs still reads its own.
        """
        chosen, copies_only = self._route_filter(KaitenFilter, filters)
        if copies_only:
            chosen = chosen.model_copy(update={
                "user_ids": list(self.config.copies_user_ids or [self.user_id()])})
        params = {"from": window.start.isoformat(), "to": window.end.isoformat(),
                  **chosen.query()}
        seen: set[str] = set()
        for page in self._pages.pages(self._http, "GET", "/time-logs", params=params):
            for raw in page:
                item = self._item(raw)
                key = item.record_id if item.record_id is not None else ""
                if key and key in seen:
                    continue  # offset paging over a list that grew: already reported
                seen.add(key)
                yield item

    def user_id(self) -> int:
        """The id of the token's user (``GET /users/current``, asked once): owner of the copies."""
        with self._user_lock:
            if self._user_id is None:
                user = self._current_user()
                if not isinstance(user.get("id"), int) or isinstance(user.get("id"), bool):
                    raise FatalError("GET /users/current answered a user without an id",
                                     connector=self.name)
                self._user_id = user["id"]
            return self._user_id

    def check(self) -> str:
        """Prove the token works (``GET /users/current``); returns who it belongs to."""
        user = self._current_user()
        name = user.get("full_name") or user.get("username") or "unknown user"
        email = f" <{user['email']}>" if user.get("email") else ""
        return f"{name}{email} (user id {user.get('id')})"

    def probe(self, uses: ProbeUses) -> list[ProbeResult]:
        """``timebridge check``: how this Kaiten behaves where the documents are silent."""
        return kaiten_probe.probe(self, uses, PAGE_SIZE)

    # -- writing ---------------------------------------------------------------------

    def fit(self, draft: EntryDraft) -> EntryDraft:
        """The draft as Kaiten will hold it: whole minutes by the configured rounding,
        the comment trimmed to fit the limit with its marker, no start, no billable."""
        return mapper.fit_draft(draft, self.config.rounding)

    def create(self, draft: EntryDraft) -> CanonicalEntry:
        """Add the log to card ``draft.task``. A lost answer raises UnknownOutcomeError."""
        card = self._card(draft.task)
        body = mapper.create_body(draft, role_id=self.config.role_id,
                                  rounding=self.config.rounding)
        with self._tariff(card, "create a time log"):
            raw = self._http.post_json(f"/cards/{card}/time-logs", body)
        return self._written(raw, f"POST /cards/{card}/time-logs")

    def update(self, current: CanonicalEntry, draft: EntryDraft) -> CanonicalEntry:
        """PATCH ``current`` to hold ``draft``'s minutes, date and comment (same card only)."""
        card = self._card(current.task)
        if draft.task != current.task:
            raise BadRequestError(
                f"time log {current.record_id} cannot move from card {current.task} to "
                f"{draft.task}: Kaiten has no such update (delete and create instead)",
                connector=self.name)
        body = mapper.update_body(draft, rounding=self.config.rounding)
        with self._tariff(card, f"update time log {current.record_id}"):
            raw = self._http.send_json(
                "PATCH", self._record_path(card, current.record_id), body)
        return self._written(raw, f"PATCH /cards/{card}/time-logs/{{id}}")

    def delete(self, entry: CanonicalEntry) -> None:
        """Delete the log; one already gone raises :class:`NotFoundError`."""
        card = self._card(entry.task)
        with self._tariff(card, f"delete time log {entry.record_id}"):
            self._http.send_json("DELETE", self._record_path(card, entry.record_id))

    def display_names(self, kind: str, ids: list[str]) -> dict[str, str]:
        """Card titles (``kind`` "task") or users' full names ("user"), for a report."""
        if kind == "task":
            return each(self.name, kind, ids, self._card_title)
        if kind != "user":
            return {}
        wanted, names = set(ids), {}
        for page in range(USER_PAGES):
            users = self._http.get_json("/users", {"limit": USER_PAGE, "offset": page * USER_PAGE})
            if not isinstance(users, list):
                break
            for user in users:
                if isinstance(user, dict) and str(user.get("id")) in wanted:
                    name = clean(user.get("full_name")) or clean(user.get("username"))
                    if name:
                        names[str(user["id"])] = name
            if len(users) < USER_PAGE or wanted <= names.keys():
                break
        return names

    def _card_title(self, task: str) -> str | None:
        card = self._http.get_json(f"/cards/{self._card(task)}")
        return card.get("title") if isinstance(card, dict) else None

    # -- helpers ---------------------------------------------------------------------

    def _to_entry(self, raw: Any) -> CanonicalEntry:
        return mapper.to_entry(raw, connector=self.name, reference_source=self.reference_source)

    def _current_user(self) -> dict[str, Any]:
        user = self._http.get_json("/users/current")
        if not isinstance(user, dict):
            raise FatalError("GET /users/current answered something that is not a user",
                             connector=self.name)
        return user

    def _task_records(self, task: str) -> list[Any]:
        """Every log of the card, read to its proven end ([] when the card is gone)."""
        card = self._card(task)
        return self._listed(lambda: self._task_pages.pages(self._http, "GET",
                                                           f"/cards/{card}/time-logs"))

    @staticmethod
    def _record_path(card: int, record_id: str) -> str:
        # Escaped: an id is data from an API, and "77/../../cards/1002/..." must stay one id.
        return f"/cards/{card}/time-logs/{quote(str(record_id), safe='')}"

    def _card(self, task: str) -> int:
        try:
            return mapper.card_id(task)
        except MappingError as error:
            raise BadRequestError(str(error), connector=self.name) from None

    @contextmanager
    def _tariff(self, card: int, what: str) -> Iterator[None]:
        """Re-word a 402 so the report names the card; it fails this record only."""
        try:
            yield
        except FeatureUnavailableError as error:
            raise FeatureUnavailableError(
                f"cannot {what} on card {card}: time tracking is not included in the tariff "
                "of the card's space (Kaiten answered 402)",
                connector=self.name, status=error.status) from None

