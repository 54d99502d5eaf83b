"""What the executor and ``resolve`` record: each link change together with its event.

:class:`Recorder` is the executor's side of the state store for one route and one run:
every method changes the link and records the event of that change in one transaction
(see :mod:`bridge.store.events`), so a pass killed between any two statements never leaves a
link change without its event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.engine.actions import ADOPTED, Action
from bridge.store.events import Note, changes_of, entry_fields, stored_differences

if TYPE_CHECKING:
    from bridge.store.schema import Link
    from bridge.store.state import StateStore
    from connectors.model import CanonicalEntry


class Recorder:
    """Link changes of one route's run (``run_id``), each with its audit event."""

    def __init__(self, store: StateStore | None, route: str, run_id: int | None) -> None:
        self._store, self.route, self.run_id = store, route, run_id

    @property
    def store(self) -> StateStore:
        """The store recorded in (None only for a dry run, which records nothing)."""
        assert self._store is not None, "a dry run records nothing"
        return self._store

    def linked(self, a: Action, copy: CanonicalEntry, action: str) -> None:
        """The copy of ``a``'s origin is recorded as synced after ``action``: a create or
        an update (what the target answered), an adopt or a confirm (as read)."""
        source = a.source
        assert source is not None
        before = entry_fields(a.copy) if action == "update" else None
        note = Note(action, a.reason, self.run_id, copy.record_id, before,
                    entry_fields(copy), changes_of(a.changes))
        self.store.record_link(
            self.route, str(a.origin), source_record_id=source.record_id,
            source_task=source.task, target_record_id=copy.record_id, target_task=copy.task,
            source_hash=source.content_hash, target_hash=copy.content_hash,
            source_version=source.version, target_version=copy.version,
            work_date=source.work_date, event=note)

    def kept(self, a: Action) -> None:
        """An unchanged action that records its link: an adopted copy, or a linked copy
        found equal to its origin again (the planner's "already equal")."""
        assert a.copy is not None
        self.linked(a, a.copy, "adopt" if a.reason == ADOPTED else "confirm")

    def removed(self, a: Action, action: str) -> None:
        """The link of ``a``'s origin goes: ``delete`` (its copy was deleted) or
        ``forget`` (origin and copy gone, or a copy deleted by hand made again)."""
        note = Note(action, a.reason, self.run_id, a.target_id, entry_fields(a.copy), None,
                    changes_of(a.changes) if action == "delete" else None)
        self.store.remove_link(self.route, str(a.origin), event=note)

    def replaced(self, a: Action) -> None:
        """The old copy of a replace (``a``: its delete half) is gone."""
        assert a.copy is not None
        note = Note("delete", a.reason, self.run_id, a.copy.record_id, entry_fields(a.copy),
                    None, changes_of(a.changes))
        self.store.replace_deleted(self.route, str(a.origin), a.copy.record_id, note)

    def conflict(self, a: Action, reason: str, changes: Any,
                 copy: CanonicalEntry | None = None) -> None:
        """A conflict of ``a``'s origin for a person: before is the copy as the bridge
        last recorded it, after the copy as found now (None: deleted by hand)."""
        copy = copy if copy is not None else a.copy
        key = str(a.origin)
        note = Note("conflict", reason, self.run_id, copy.record_id if copy else None,
                    self.store.last_fields(self.route, key), entry_fields(copy),
                    changes_of(changes))
        self.store.set_conflict(self.route, key, reason, changes, event=note)


def resolve_note(store: StateStore, route: str, link: Link, keep: str, done: str,
                 copy: CanonicalEntry | None = None) -> Note:
    """The event of a person's ``resolve --keep KEEP``: the conflict's differences, the
    copy as last recorded (before) and, keeping the target, as it is now (after)."""
    return Note("resolve", f"resolve --keep {keep}: {done}", None,
                copy.record_id if copy is not None else link.target_record_id,
                store.last_fields(route, link.origin), entry_fields(copy),
                stored_differences(link.conflict_differences))
