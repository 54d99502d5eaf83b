"""The audit trail: every write the bridge makes to a target and every decision about a
link, with when, which run, why, and the copy's fields before and after.

Rows of the ``events`` table (schema v6). An event is always inserted in the same
transaction as the link change it describes: the store's ``record_link``,
``remove_link``, ``set_conflict``, ``keep_source``, ``keep_target`` and
``replace_deleted`` take it as ``event=``, so a kill can never keep a link change
without its event, nor an event without its change. Intents (the note made before a
create) are not events: the write they prepare is recorded when its outcome is linked,
by the same run, or as an ``adopt`` by the next one.

Actions: ``create``, ``update``, ``delete`` (writes to the target; the old copy of a
replace is a ``delete`` too), ``adopt`` (a copy found in the target taken as the
bridge's), ``confirm`` (a linked copy found equal to its origin again, linked anew),
``conflict`` (a hand edit or a refusal found; recorded when first seen and when what
differs changes, not at every pass that sees it again), ``resolve`` (a person's
``resolve --keep source|target``), ``forget`` (a link dropped: its origin and copy are
both gone, or its copy was deleted by hand and is made again).

Fields kept: task, date, seconds, comment, author, start: the canonical entry's, never
a token or a header.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bridge.store.schema import events, links
from bridge.vocab import LinkStatus

ACTIONS = ("create", "update", "delete", "adopt", "confirm", "conflict", "resolve", "forget")
#: The actions that wrote to a target (what ``history`` counts as a run's writes).
WRITES = ("create", "update", "delete")
FIELDS = ("task", "date", "seconds", "comment", "author", "start")
_FIELD_NAMES = {"work_date": "date"}   # the JSON report's names of changed fields


def entry_fields(entry: Any) -> dict[str, Any] | None:
    """The canonical fields of a copy or draft (``CanonicalEntry``/``EntryDraft``) as
    JSON-ready values; None for none. A draft has no author: null."""
    if entry is None:
        return None
    start = getattr(entry, "start", None)
    return {"task": entry.task, "date": entry.work_date.isoformat(), "seconds": entry.seconds,
            "comment": entry.comment or "", "author": getattr(entry, "author", None),
            "start": start.isoformat() if start is not None else None}


def changes_of(changes: Mapping[str, tuple[object, object]] | None) -> dict[str, list] | None:
    """``{field: (copy's value, origin's value)}`` (the planner's) as the report's
    ``{field: [old, new]}`` with people's field names; None for none."""
    if not changes:
        return None
    return {_FIELD_NAMES.get(k, k): [_plain(old), _plain(new)]
            for k, (old, new) in changes.items()}


def stored_differences(text: str | None) -> dict[str, list] | None:
    """A link's stored conflict differences ``{field: {"origin", "copy"}}`` as
    ``{field: [copy's value, origin's value]}``; None for none."""
    from bridge.store.conflicts import parse_differences

    found = parse_differences(text)
    if not found:
        return None
    return {_FIELD_NAMES.get(k, k): [v["copy"], v["origin"]] for k, v in found.items()}


def _plain(value: object) -> object:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


@dataclass(frozen=True)
class Note:
    """What an event says; the store adds where (route, origin) and when as it records
    the link change the note belongs to. ``copy_id`` None: the link's copy, if any."""

    action: str
    reason: str | None = None
    run_id: int | None = None
    copy_id: str | None = None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    changes: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Event:
    """One recorded event, as read back (``before``/``after``/``changes`` parsed)."""

    id: int
    recorded_at: datetime
    run_id: int | None
    route: str
    origin: str
    copy_id: str | None
    action: str
    reason: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changes: dict[str, Any] | None


def _dumps(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(dict(value), ensure_ascii=False,
                                                  sort_keys=True, default=str)


def _loads(text: str | None) -> dict[str, Any] | None:
    """Stored JSON back as a dict; None for none or for text that is not a JSON object
    (an odd row must not stop a listing)."""
    if not text:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def insert_events(conn: sa.Connection, route: str,
                  notes: Iterable[tuple[str, Note, str | None]]) -> None:
    """Insert events of ``route`` in the caller's transaction: (origin key, note, the
    link's copy id, used when the note names none)."""
    now = datetime.now(UTC)
    rows = [{"recorded_at": now, "run_id": note.run_id, "route": route, "origin": origin,
             "copy_id": note.copy_id if note.copy_id is not None else copy_id,
             "action": note.action, "reason": note.reason,
             "fields_before": _dumps(note.before), "fields_after": _dumps(note.after),
             "changes": _dumps(note.changes)}
            for origin, note, copy_id in notes]
    if rows:
        conn.execute(events.insert(), rows)


def _event(row: Any) -> Event:
    at = row.recorded_at
    return Event(row.id, at, row.run_id, row.route, row.origin, row.copy_id, row.action,
                 row.reason, _loads(row.fields_before), _loads(row.fields_after),
                 _loads(row.changes))


class AuditRecords:
    """Audit trail methods of :class:`bridge.store.state.StateStore` (mixed in; it uses the
    store's transactions)."""

    _tx: Any

    def events(self, *, routes: Iterable[str] | None = None, origin: str | None = None,
               start: datetime | None = None, end: datetime | None = None,
               run_id: int | None = None) -> list[Event]:
        """Recorded events, oldest first: of ``routes``, of one origin key, recorded in
        ``[start, end)`` and/or of one run."""
        stmt = sa.select(events).order_by(events.c.id)
        if routes is not None:
            stmt = stmt.where(events.c.route.in_(list(routes)))
        if origin is not None:
            stmt = stmt.where(events.c.origin == origin)
        if start is not None:
            stmt = stmt.where(events.c.recorded_at >= start)
        if end is not None:
            stmt = stmt.where(events.c.recorded_at < end)
        if run_id is not None:
            stmt = stmt.where(events.c.run_id == run_id)
        with self._tx() as conn:
            return [_event(row) for row in conn.execute(stmt)]

    def event_routes(self) -> set[str]:
        """Every route the audit trail names (routes since removed from the config too)."""
        with self._tx() as conn:
            return set(conn.execute(sa.select(events.c.route).distinct()).scalars())

    def last_fields(self, route: str, origin: str) -> dict[str, Any] | None:
        """The copy's fields as the latest event of ``origin`` that saw it left them (what
        the bridge last wrote or accepted); None when no event did."""
        stmt = (sa.select(events.c.fields_after)
                .where(events.c.route == route, events.c.origin == origin,
                       events.c.fields_after.is_not(None))
                .order_by(events.c.id.desc()).limit(1))
        with self._tx() as conn:
            return _loads(conn.execute(stmt).scalar())

    def replace_deleted(self, route: str, origin: str, copy_id: str, event: Note) -> None:
        """The old copy of a replace is gone: the intent stops naming it (the next pass
        has only the new copy to make or adopt), with ``event``, in one transaction."""
        with self._tx(write=True) as conn:
            conn.execute(links.update().where(
                links.c.route == route, links.c.origin == origin,
                links.c.status == LinkStatus.INTENT, links.c.replaces_record_id == copy_id
            ).values(
                    replaces_record_id=None, replaces_task=None))
            insert_events(conn, route, [(origin, event, copy_id)])
