"""An in-memory :class:`connectors.base.Connector` with fault hooks, for exactly-once tests.

A :class:`MemoryConnector` is a dict of :class:`CanonicalEntry` by record id. It can be a
route's source or its target. Tests drive it directly:

* hand edits: :meth:`add`, :meth:`edit`, :meth:`remove` (versions bump as a real API's do);
  :meth:`add_malformed` adds a record no mapper could read: ``read`` and ``lookup``
  give it as a :class:`Skip` with its reason, as the real connectors do;
* faults, each consumed or cleared by the test:

  - ``fail_reads_after``: ``read`` raises :class:`TransientError` after yielding that many
    records (a read that failed part-way);
  - ``lose_next_create_answer``: the next create is applied, then
    :class:`UnknownOutcomeError` is raised (a timeout after sending);
  - ``fail_next_write``: the next create/update/delete (after ``fail_skip`` attempts let
    through) raises :class:`TransientError` without being applied, and so do the
    ``fail_times - 1`` attempts after it (the executor tries a write again within a pass);
  - ``conflict_ids``: update/delete of these records raise :class:`ConflictError`
    (an invoiced entry);
  - ``crash_at`` (``"before_write"`` / ``"after_write"``), with ``crash_skip`` write
    attempts let through first: the process is KILLED at that write. :class:`Crash` is a
    :class:`BaseException`, so nothing in the bridge catches it; the executor has already
    recorded its intent when a write is called, so ``before_write`` is "after the intent,
    before the write" and ``after_write`` is "the write is applied, its answer is never
    processed".

``writes`` counts the writes applied; ``log`` lists them as ``(kind, record id)``;
``violations`` lists requests a real API would refuse that the bridge should never send
(an in-place update of a field the capabilities say cannot change in place).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from connectors.base import (
    BadRequestError,
    Capabilities,
    ConflictError,
    DateWindow,
    EntryDraft,
    NotFoundError,
    ReadItem,
    TransientError,
    UnknownOutcomeError,
)
from connectors.model import CanonicalEntry, Origin, Skip, normalise_comment
from connectors.units import fit_seconds

CRASH_POINTS = ("before_write", "after_write")
_DRAFT_FIELDS = ("task", "work_date", "start", "seconds", "comment", "billable")


class Crash(BaseException):
    """The process was killed here. A BaseException, so no ``except Exception`` stops it."""


class MemoryConnector:
    """A connector whose system is a dict; usable as a route's source or target."""

    def __init__(self, name: str, reference_source: str, *, granularity: int = 1,
                 comment_limit: int | None = None,
                 updatable: frozenset[str] | set[str] = frozenset({"seconds", "comment"}),
                 keeps_start: bool = False, id_prefix: str = "") -> None:
        self.name = name
        self.reference_source = reference_source
        self.capabilities = Capabilities(updatable=frozenset(updatable), keeps_start=keeps_start,
                                         granularity_seconds=granularity,
                                         comment_limit=comment_limit)
        self.records: dict[str, CanonicalEntry] = {}
        self.malformed: dict[str, tuple[date, str | None, str]] = {}  # (date, author, why)
        self._ids = itertools.count(1)
        self._prefix = id_prefix
        self.writes = 0
        self.log: list[tuple[str, str]] = []
        self.violations: list[str] = []
        self.closed = False
        # fault hooks
        self.fail_reads_after: int | None = None
        self.lose_next_create_answer = False
        self.fail_next_write = False
        self.fail_skip = 0
        self.fail_times = 1
        self.conflict_ids: set[str] = set()
        self.crash_at: str | None = None
        self.crash_skip = 0

    # --- the test's side ----------------------------------------------------------------

    def clear_faults(self) -> None:
        """No fault armed any more (invoiced records stay invoiced)."""
        self.fail_reads_after = None
        self.lose_next_create_answer = False
        self.fail_next_write = False
        self.fail_skip = 0
        self.fail_times = 1
        self.crash_at = None
        self.crash_skip = 0

    def _new_id(self) -> str:
        return f"{self._prefix}{next(self._ids)}"

    def add(self, *, task: str, work_date: date, seconds: int, comment: str = "",
            origin: Origin | None = None, author: str | None = None) -> str:
        """A record made by a person (``origin`` None: an original, else a reference)."""
        rid = self._new_id()
        self.records[rid] = CanonicalEntry(
            connector=self.name, reference_source=self.reference_source, record_id=rid,
            origin=origin or Origin(source=self.reference_source, record_id=rid), task=task,
            author=author, work_date=work_date, seconds=seconds, comment=comment, version="1")
        return rid

    def add_malformed(self, *, work_date: date, author: str | None = None,
                      reason: str = "duration is null") -> str:
        """A record the system holds but no mapper could read (a null duration, ``P1Y``)."""
        rid = self._new_id()
        self.malformed[rid] = (work_date, author, reason)
        return rid

    def _skip(self, record_id: str) -> Skip:
        return Skip(connector=self.name, record_id=record_id,
                    reason=self.malformed[record_id][2])

    def edit(self, record_id: str, **changes: Any) -> CanonicalEntry:
        """A hand edit: the record changes and its version goes up."""
        old = self.records[record_id]
        new = old.model_copy(update={**changes, "version": str(int(old.version or "0") + 1)})
        self.records[record_id] = new
        return new

    def remove(self, record_id: str) -> None:
        """A hand delete."""
        del self.records[record_id]

    def copies_of(self, origin: Origin) -> list[CanonicalEntry]:
        return [e for e in self.records.values() if e.origin == origin]

    # --- faults -------------------------------------------------------------------------

    def _before_write(self, kind: str, record_id: str | None) -> bool:
        """Faults of one write attempt; True when the process dies right after this write."""
        crash_here = False
        if self.crash_at in CRASH_POINTS:
            if self.crash_skip > 0:
                self.crash_skip -= 1
            else:
                point, self.crash_at = self.crash_at, None
                if point == "before_write":
                    raise Crash(f"killed before {kind} {record_id or ''}".rstrip())
                crash_here = True
        if self.fail_next_write:
            if self.fail_skip > 0:
                self.fail_skip -= 1
            else:
                self.fail_times -= 1
                self.fail_next_write = self.fail_times > 0
                raise TransientError(f"{kind} failed with 503 (not applied)",
                                     connector=self.name, status=503)
        if record_id is not None and record_id in self.conflict_ids:
            raise ConflictError(f"{kind} of {record_id}: the entry is invoiced",
                                connector=self.name, status=409)
        return crash_here

    def _after_write(self, kind: str, record_id: str, crash_here: bool) -> None:
        self.writes += 1
        self.log.append((kind, record_id))
        if crash_here:
            raise Crash(f"killed after {kind} {record_id}")

    # --- the Connector protocol ---------------------------------------------------------

    def read(self, window: DateWindow, filters: Mapping[str, Any]) -> Iterator[ReadItem]:
        author = filters.get("author")
        chosen: list[ReadItem] = [
            e for e in self.records.values()
            if e.work_date in window and (author is None or e.author == author)]
        # an unreadable record is listed like any other, and read as a skip with its reason
        chosen += [self._skip(rid) for rid, (day, who, _) in self.malformed.items()
                   if day in window and (author is None or who == author)]
        chosen.sort(key=lambda e: (len(e.record_id or ""), e.record_id or ""))
        for count, entry in enumerate(chosen):
            if self.fail_reads_after is not None and count >= self.fail_reads_after:
                raise TransientError(f"page after {count} records failed with 502",
                                     connector=self.name, status=502)
            yield entry
        if self.fail_reads_after is not None and len(chosen) <= self.fail_reads_after:
            # the failure comes with the next page, even when this one was the last
            raise TransientError(f"page after {len(chosen)} records failed with 502",
                                 connector=self.name, status=502)

    def fit(self, draft: EntryDraft) -> EntryDraft:
        caps = self.capabilities
        comment = normalise_comment(draft.comment)
        if caps.comment_limit is not None:
            comment = comment[:caps.comment_limit]
        return draft.model_copy(update={
            "seconds": fit_seconds(draft.seconds, caps.granularity_seconds),
            "comment": comment,
            "start": draft.start if caps.keeps_start else None})

    def _hold(self, record_id: str, draft: EntryDraft, version: str) -> CanonicalEntry:
        held = self.fit(draft)
        return CanonicalEntry(
            connector=self.name, reference_source=self.reference_source, record_id=record_id,
            origin=draft.origin, task=held.task, work_date=held.work_date, start=held.start,
            seconds=held.seconds, comment=held.comment, version=version,
            billable=held.billable)

    def create(self, draft: EntryDraft) -> CanonicalEntry:
        crash = self._before_write("create", None)
        rid = self._new_id()
        entry = self._hold(rid, draft, "1")
        self.records[rid] = entry
        self._after_write("create", rid, crash)
        if self.lose_next_create_answer:
            self.lose_next_create_answer = False
            raise UnknownOutcomeError("create timed out after sending", connector=self.name)
        return entry

    def update(self, current: CanonicalEntry, draft: EntryDraft) -> CanonicalEntry:
        rid = current.record_id
        crash = self._before_write("update", rid)
        old = self.records.get(rid)
        if old is None:
            raise NotFoundError(f"update of {rid}: no such record", connector=self.name,
                                status=404)
        if draft.origin != old.origin:
            self.violations.append(f"update of {rid} changes its origin")
            raise BadRequestError(f"update of {rid} changes its origin", connector=self.name)
        wanted = self.fit(draft)
        fixed = [name for name in _DRAFT_FIELDS
                 if name not in self.capabilities.updatable
                 and _held(old, name) != _held(wanted, name)]
        if fixed:
            self.violations.append(f"update of {rid} changes {', '.join(fixed)} in place")
            raise BadRequestError(f"{', '.join(fixed)} cannot be changed in place",
                                  connector=self.name, status=400)
        entry = self._hold(rid, draft, str(int(old.version or "0") + 1))
        self.records[rid] = entry
        self._after_write("update", rid, crash)
        return entry

    def delete(self, entry: CanonicalEntry) -> None:
        rid = entry.record_id
        crash = self._before_write("delete", rid)
        if rid not in self.records:
            raise NotFoundError(f"delete of {rid}: no such record", connector=self.name,
                                status=404)
        del self.records[rid]
        self._after_write("delete", rid, crash)

    def lookup(self, record_id: str, task: str) -> ReadItem | None:
        if record_id in self.malformed:
            return self._skip(record_id)
        return self.records.get(record_id)

    def find_copies(self, origin: Origin, task: str | None) -> list[CanonicalEntry]:
        return sorted(self.copies_of(origin), key=lambda e: (len(e.record_id), e.record_id))

    def check(self) -> str:
        return f"{self.name} (in memory)"

    def close(self) -> None:
        self.closed = True


def _held(entry: CanonicalEntry | EntryDraft, name: str) -> object:
    value = getattr(entry, name)
    return normalise_comment(value) if name == "comment" else value


def all_attempts() -> int:
    """How many times the executor tries one write within a pass (``fail_times`` to make
    a write fail for the whole pass)."""
    import bridge.engine.settle

    return len(bridge.engine.settle.RETRY_WAITS) + 1
