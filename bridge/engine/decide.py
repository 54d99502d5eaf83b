"""What to do about one origin: create, adopt, update, conflict, delete, or nothing.

The per-origin half of the planner (:mod:`bridge.engine.plan` indexes the reads, asks for
look-ups and calls these). Pure functions of one origin's source record, its link
(what the last sync knew) and its copy as read or looked up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.engine.actions import ADOPTED, Action, CopyLookup, FieldValue, RouteRules, Seen
from bridge.vocab import ActionRole, Keep, Kind, LinkStatus, OnConflict
from connectors.base import EntryDraft
from connectors.model import CanonicalEntry, Origin, normalise_comment
from connectors.records import RECORD_ERRORS

if TYPE_CHECKING:  # the planner reads links' attributes only; it never touches the store
    from bridge.store.state import Link


def origin_of(key: str) -> Origin:
    """The origin an origin key ("SOURCE:ID") names."""
    source, record_id = key.split(":", 1)
    return Origin(source=source, record_id=record_id)


def decide(rules: RouteRules, key: str, source: CanonicalEntry, link: Link | None,
           found: CopyLookup) -> list[Action]:
    """An origin that exists: create, adopt, update, conflict, or nothing.

    A flat table of cases over (its copies, its target task, its link), first match
    wins; each case says in one line why. ``found``: its copies as read or looked up.
    """
    if found.seen is Seen.UNKNOWN:
        return []  # the copy's state is unknown (a failed read or look-up): decide nothing
    copies = found.copies
    copy = copies[0] if len(copies) == 1 else None
    # The link when it says the copy was synced (an intent's says only that a write began).
    linked = link if link is not None and link.status == LinkStatus.LINKED else None
    if copy is not None and linked is not None and in_step(source, copy, linked):
        return []  # the steady state, decided before building anything
    # An in-scope source is an original, so its origin is its own reference.
    act = _Maker(source.origin, rules.display(source.record_id), source)
    task = rules.target_task(source.task)

    # --- several copies, or no target task --------------------------------------------
    if len(copies) > 1:
        # The bridge makes one copy per origin: the others are someone's, a person picks.
        return [act(Kind.CONFLICT, f"{len(copies)} copies of this origin in the target; "
                    "a person must remove the extra ones", copy=copies[0])]
    if task is None and copy is not None and linked is None:
        return [act(Kind.UNCHANGED, ADOPTED, copy=copy, record_link=True)]  # kept as found
    if task is None and copy is None and link is None:
        return [new_origin(rules, source)]  # never copied, nowhere to go: its reported skip
    if task is None:
        return []  # out of scope now: the copy (or the lack of one) is kept as it is

    # --- no copy ------------------------------------------------------------------------
    if copy is None and linked is not None and not _source_wins(rules, linked):
        # A copy deleted by hand is a person's decision, unless the source wins.
        wanted = _fitted(rules, source, task)
        return [act(Kind.CONFLICT, "the copy was deleted in the target by hand",
                    changes=None if isinstance(wanted, str) else _all_of(wanted))]
    if copy is None and linked is not None:
        # The old link points at a copy that is gone: forget it as the create starts.
        return [new_origin(rules, source, task, forget_link=True,
                           reason="the copy was deleted in the target; recreated "
                                  f"({_why_source_wins(linked)})")]
    if copy is None:
        return [new_origin(rules, source, task)]  # new, or an intent whose create never landed

    # --- one copy, in scope: compare it with what its origin asks -----------------------
    wanted = _fitted(rules, source, task)
    if isinstance(wanted, str):
        return [act(Kind.SKIP, wanted, copy=copy)]  # the target cannot hold what it asks
    same = _same(copy, wanted)
    if linked is None and same:
        return [act(Kind.UNCHANGED, ADOPTED, copy=copy, record_link=True)]  # found, equal
    if linked is None:
        return _update(rules, act, copy, wanted, "adopted; the copy differs from its origin")
    if same:
        return [act(Kind.UNCHANGED, "already equal", copy=copy, record_link=True)]  # re-link
    target_changed = _changed(copy, linked.target_version, linked.target_hash)
    if target_changed and not _source_wins(rules, linked):
        # A hand edit of the copy is a person's decision, unless the source wins.
        both = " and its origin changed too" if _changed(source, linked.source_version,
                                                         linked.source_hash) else ""
        return [act(Kind.CONFLICT, f"the copy was edited in the target by hand{both}",
                    copy=copy, changes=differences(copy, wanted))]
    if linked.resolution == Keep.SOURCE:
        return _update(rules, act, copy, wanted,  # a person chose the origin's side
                       "rewritten from its origin (resolve --keep source)")
    if not target_changed:
        return _update(rules, act, copy, wanted, "changed in source")  # the usual update
    return _update(rules, act, copy, wanted,  # the route says the source wins
                   "overwrote a hand edit in the target (source-wins)")


def _source_wins(rules: RouteRules, link: Link) -> bool:
    """Whether a hand edit of this origin's copy is overwritten: the route says so, or a
    person settled its conflict for the source (``timebridge resolve --keep source``)."""
    return rules.on_conflict == OnConflict.SOURCE_WINS or link.resolution == Keep.SOURCE


def _why_source_wins(link: Link) -> str:
    return "resolve --keep source" if link.resolution == Keep.SOURCE else "source-wins"


def _all_of(wanted: EntryDraft) -> dict[str, tuple[FieldValue, FieldValue]]:
    """What differs from a copy that is gone: every field, the copy holding nothing."""
    return {"task": (None, wanted.task), "work_date": (None, wanted.work_date.isoformat()),
            "seconds": (None, wanted.seconds), "comment": (None, wanted.comment)}


def gone(rules: RouteRules, key: str, link: Link, found: CopyLookup) -> list[Action]:
    """An origin proved gone by a direct look-up: forget it, delete its copies, or wait.

    A table of cases like :func:`decide`'s, first match wins."""
    if found.seen is Seen.UNKNOWN:
        return []  # its copy's state is unknown: nothing is deleted on a guess
    act = _Maker(origin_of(key), rules.display(link.source_record_id), None)
    if found.seen is Seen.PROVED_GONE:
        return [act(Kind.UNCHANGED, "origin and copy both gone", forget_link=True)]
    if not rules.propagate_deletes:
        return []  # the route keeps copies of deleted origins: the link stays as it is
    return [act(Kind.DELETE, "deleted in source (proved by a direct look-up)", copy=c,
                forget_link=True) for c in found.copies]


def in_step(source: CanonicalEntry, copy: CanonicalEntry, link: Link) -> bool:
    """Neither the origin nor its one copy changed since the link was recorded, and no
    person asked for the copy to be rewritten (a resolution waits to be carried out)."""
    return (link.resolution is None
            and not _changed(source, link.source_version, link.source_hash)
            and not _changed(copy, link.target_version, link.target_hash))


def new_origin(rules: RouteRules, source: CanonicalEntry, task: str | None = None, *,
               reason: str = "new in source", forget_link: bool = False) -> Action:
    """The create of an origin without a copy, or why it is skipped (no target task, a
    copy the target cannot hold). ``task``: its target task, looked up when None.
    ``forget_link``: a stale link (its copy deleted by hand) goes as the create starts."""
    if task is None:
        task = rules.target_task(source.task)
    shown = rules.display(source.record_id)
    if task is None:
        return Action(Kind.SKIP, source.origin, shown,
                      f"no target task for source task {source.task} "
                      "(add a row to [routes.tasks] or set default_task)", source,
                      source_task=source.task)
    draft = _fitted(rules, source, task)
    if isinstance(draft, str):
        return Action(Kind.SKIP, source.origin, shown, draft, source, source_task=source.task)
    # Positional: a backfill makes a million of these (keywords cost more to bind).
    return Action(Kind.CREATE, source.origin, shown, reason, source, None, draft, None,
                  False, forget_link, source.task)


class _Maker:
    """Builds actions of one origin without repeating its identity each time."""

    def __init__(self, origin: Origin, shown: str, source: CanonicalEntry | None) -> None:
        self.origin, self.shown, self.source = origin, shown, source
        self.task = source.task if source is not None else None

    def __call__(self, kind: Kind, reason: str, *, copy: CanonicalEntry | None = None,
                 draft: EntryDraft | None = None,
                 changes: dict[str, tuple[FieldValue, FieldValue]] | None = None,
                 record_link: bool = False, forget_link: bool = False,
                 replacement: EntryDraft | None = None,
                 role: ActionRole = ActionRole.PLAIN) -> Action:
        return Action(kind, self.origin, self.shown, reason, self.source, copy, draft,
                      changes, record_link, forget_link, self.task, False, replacement,
                      None, role)


def _fitted(rules: RouteRules, source: CanonicalEntry, task: str) -> EntryDraft | str:
    """What the copy of ``source`` holds in the target's terms, or why it cannot be made.

    One origin the target cannot hold (an id no marker can carry, a date its zone cannot
    place) is that origin's reported skip, never the whole pass's failure.
    """
    try:
        return rules.fit(_draft(rules, source, task))
    except RECORD_ERRORS as error:
        return f"cannot be copied to the target: {error}"


def _update(rules: RouteRules, act: _Maker, copy: CanonicalEntry, wanted: EntryDraft,
            reason: str) -> list[Action]:
    changes = differences(copy, wanted)
    movable = rules.capabilities.updatable
    if any(name not in movable for name in changes):
        # The target cannot change these in place: a delete and a create, one origin.
        what = ", ".join(sorted(n for n in changes if n not in movable))
        return [act(Kind.DELETE, f"{reason}; {what} cannot be changed in place", copy=copy,
                    changes=changes, replacement=wanted, role=ActionRole.REPLACE_DELETE),
                act(Kind.CREATE, f"{reason}; replaces the deleted copy", draft=wanted,
                    changes=changes, role=ActionRole.REPLACE_CREATE)]
    return [act(Kind.UPDATE, reason, copy=copy, draft=wanted, changes=changes)]


def _draft(rules: RouteRules, source: CanonicalEntry, task: str) -> EntryDraft:
    if rules.description == "{comment}":  # the default template, a million times over
        comment = source.comment
    else:
        comment = rules.description.format_map({
            "comment": source.comment, "author": source.author or "", "task": source.task,
            "date": source.work_date.isoformat(), "origin": rules.display(source.record_id)})
    if not task:
        raise ValueError("the target task is empty")
    # Every other value comes from a validated entry (or the route's config): not checked
    # again, once per create of a backfill.
    return EntryDraft.trusted(source.origin, task, source.work_date, source.start,
                              source.seconds, comment or "", rules.billable)


def _same(copy: CanonicalEntry, wanted: EntryDraft) -> bool:
    return not differences(copy, wanted)


def differences(copy: CanonicalEntry,
                wanted: EntryDraft) -> dict[str, tuple[FieldValue, FieldValue]]:
    """Fields where the copy differs from what it should hold, as (old, new), compared in
    the target's terms (``wanted`` is fitted): task, work date, seconds, the comment."""
    changes: dict[str, tuple[FieldValue, FieldValue]] = {}
    if copy.task != wanted.task:
        changes["task"] = (copy.task, wanted.task)
    if copy.work_date != wanted.work_date:
        changes["work_date"] = (copy.work_date.isoformat(), wanted.work_date.isoformat())
    if copy.seconds != wanted.seconds:
        changes["seconds"] = (copy.seconds, wanted.seconds)
    if normalise_comment(copy.comment) != normalise_comment(wanted.comment):
        changes["comment"] = (copy.comment, wanted.comment)
    return changes


def source_steady(source: CanonicalEntry, link: Link) -> bool:
    """Whether ``source`` is linked to a copy and unchanged since the link was recorded."""
    return link.status == LinkStatus.LINKED and not _changed(source, link.source_version,
                                                    link.source_hash)


def _changed(entry: CanonicalEntry, version: str | None, content_hash: str | None) -> bool:
    """Changed since the last sync? The system's own version is the fast path."""
    if version is not None and entry.version == version:
        return False
    return entry.content_hash != content_hash
