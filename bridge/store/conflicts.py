"""The state store's part of settling conflicts one by one (``timebridge resolve``).

A waiting conflict is a link whose ``conflict`` is set, with since when it waits
(``conflict_since``) and what differs (``conflict_differences``, see
:func:`differences_json`). Settling one is recorded in the ``resolutions`` table (what,
when, which side kept), in the same transaction as the change to the link, so a
resolve killed half way either did all of it or nothing:

* keep target: the link is recorded as synced with both sides as they are now
  (:meth:`ConflictRecords.keep_target`); the next pass finds both in step;
* keep source: the link gets ``resolution = "source"``
  (:meth:`ConflictRecords.keep_source`); the next pass that decides the origin rewrites
  the copy from it instead of reporting the conflict, and recording the link then
  clears the resolution.

:class:`ConflictRecords` is mixed into :class:`bridge.store.state.StateStore` (it uses the
store's transactions and link loading); it knows rows, nothing of any API.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bridge.store.events import Note, insert_events
from bridge.store.schema import Link, links, resolutions
from bridge.vocab import Keep

KEEPS: tuple[str, ...] = tuple(k.value for k in Keep)


def differences_json(differences: Mapping[str, tuple[object, object]] | None) -> str | None:
    """``{field: (copy's value, origin's value)}`` (as :func:`bridge.engine.decide.differences`
    gives it) as the stored JSON ``{field: {"origin": .., "copy": ..}}``; None for none."""
    if not differences:
        return None
    return json.dumps({name: {"origin": new, "copy": old}
                       for name, (old, new) in differences.items()},
                      ensure_ascii=False, sort_keys=True, default=str)


def parse_differences(text: str | None) -> dict[str, dict[str, Any]]:
    """The stored differences as ``{field: {"origin": .., "copy": ..}}`` ({} for none or
    for text that is not such JSON: an odd row must not stop a listing)."""
    if not text:
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): {"origin": v.get("origin"), "copy": v.get("copy")}
            for k, v in found.items() if isinstance(v, dict)}


@dataclass(frozen=True)
class Resolution:
    """One settled conflict: which side was kept, when, and what the conflict was."""

    id: int
    route: str
    origin: str
    keep: str
    resolved_at: datetime
    target_record_id: str | None
    conflict: str | None
    differences: str | None
    conflict_since: datetime | None
    done: str


class ConflictRecords:
    """Conflict and resolution methods of :class:`bridge.store.state.StateStore`."""

    # Provided by StateStore: _tx (a transaction), _links (links of a query), _upsert.
    _tx: Any
    _links: Any
    _upsert: Any

    def keep_source(self, route: str, link: Link, done: str, event: Note | None = None) -> None:
        """Settle the conflict of ``link`` for its origin: the next pass that decides it
        rewrites the copy (``resolution = "source"``); the conflict no longer waits.
        ``event``: its audit event, recorded in the same transaction."""
        with self._tx(write=True) as conn:
            conn.execute(links.update().where(links.c.route == route,
                                              links.c.origin == link.origin)
                         .values(resolution=Keep.SOURCE, conflict=None, conflict_since=None,
                                 conflict_differences=None))
            conn.execute(resolutions.insert().values(_record(route, link, Keep.SOURCE, done)))
            if event is not None:
                insert_events(conn, route, [(link.origin, event, link.target_record_id)])

    def keep_target(self, route: str, link: Link, row: dict[str, Any], done: str,
                    event: Note | None = None) -> None:
        """Settle the conflict of ``link`` for its copy: record the link as synced with
        ``row`` (the keywords of ``StateStore.record_link``: both sides as they are now),
        which clears the conflict and any resolution. ``event``: its audit event, recorded
        in the same transaction."""
        from bridge.store.state import LINK_UPDATE, _link_values  # the store's own link rows

        values = _link_values(route, datetime.now(UTC), origin=link.origin, **row)
        with self._tx(write=True) as conn:
            conn.execute(self._upsert(LINK_UPDATE), [values])
            conn.execute(resolutions.insert().values(_record(route, link, Keep.TARGET, done)))
            if event is not None:
                insert_events(conn, route, [(link.origin, event, row["target_record_id"])])

    def resolutions(self, route: str | None = None,
                    origin: str | None = None) -> list[Resolution]:
        """Settled conflicts, oldest first; of one route and/or one origin key."""
        stmt = sa.select(resolutions).order_by(resolutions.c.id)
        if route is not None:
            stmt = stmt.where(resolutions.c.route == route)
        if origin is not None:
            stmt = stmt.where(resolutions.c.origin == origin)
        with self._tx() as conn:
            return [Resolution(**row._asdict()) for row in conn.execute(stmt)]

    def pending_links(self, origin: str) -> list[Link]:
        """The links of ``origin`` on every route that wait for a person (a conflict) or
        for a pass (a resolution to carry out), by route."""
        where = sa.and_(links.c.origin == origin, sa.or_(links.c.conflict.is_not(None),
                                                          links.c.resolution.is_not(None)))
        return self._links(where, links.c.route)


def _record(route: str, link: Link, keep: str, done: str) -> dict[str, Any]:
    if keep not in KEEPS:
        raise ValueError(f"keep must be one of {KEEPS}, not {keep!r}")
    return {"route": route, "origin": link.origin, "keep": keep,
            "resolved_at": datetime.now(UTC), "target_record_id": link.target_record_id,
            "conflict": link.conflict, "differences": link.conflict_differences,
            "conflict_since": link.conflict_since, "done": done}
