"""What to do about one origin: create, adopt, update, conflict, delete, or nothing.

The per-origin half of the planner (:mod:`bridge.plan` indexes the reads, asks for
look-ups and calls these). Pure functions of one origin's source record, its link
(what the last sync knew) and its copy as read or looked up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.actions import Action, Kind, RouteRules, make_action
from bridge.model import CanonicalEntry, Origin, normalise_comment
from connectors.base import EntryDraft
from connectors.records import RECORD_ERRORS

if TYPE_CHECKING:  # the planner reads links' attributes only; it never touches the store
    from bridge.state import Link

#: The state of a copy nobody could find out (a failed read or look-up): decide nothing.
MISSING = object()


def origin_of(key: str) -> Origin:
    """The origin an origin key ("SOURCE:ID") names."""
    source, record_id = key.split(":", 1)
    return Origin(source=source, record_id=record_id)


def decide(rules: RouteRules, key: str, source: CanonicalEntry, link: Link | None,
            found: object) -> list[Action]:
    """An origin that exists: create, adopt, update, conflict, or nothing."""
    if found is MISSING:
        return []  # the copy's state is unknown (failed read or look-up): decide nothing
    copies: list[CanonicalEntry] = found if isinstance(found, list) else (
        [found] if isinstance(found, CanonicalEntry) else [])
    if (len(copies) == 1 and link is not None and link.status == "linked"
            and in_step(source, copies[0], link)):
        return []  # the steady state, decided before building anything
    # An in-scope source is an original, so its origin is its own reference.
    act = _Maker(source.origin, rules.display(source.record_id), source)
    task = rules.target_task(source.task)
    if len(copies) > 1:
        return [act(Kind.CONFLICT, f"{len(copies)} copies of this origin in the target; "
                    "a person must remove the extra ones", copy=copies[0])]
    copy = copies[0] if copies else None
    if task is None:
        if copy is not None and (link is None or link.status != "linked"):
            return [act(Kind.UNCHANGED, "adopted", copy=copy, record_link=True)]
        if copy is None and link is None:
            return [new_origin(rules, source)]   # its skip: no target task
        return []  # out of scope now: the copy is kept as it is
    if copy is None:
        if link is not None and link.status == "linked":
            if not _source_wins(rules, link):
                wanted = _fitted(rules, source, task)
                return [act(Kind.CONFLICT, "the copy was deleted in the target by hand",
                            changes=None if isinstance(wanted, str) else _all_of(wanted))]
            # The old link points at a copy that is gone: forget it as the create starts.
            return [new_origin(rules, source, task, forget_link=True,
                               reason="the copy was deleted in the target; recreated "
                                      f"({_why_source_wins(link)})")]
        return [new_origin(rules, source, task)]
    wanted = _fitted(rules, source, task)
    if isinstance(wanted, str):
        return [act(Kind.SKIP, wanted, copy=copy)]
    same = _same(copy, wanted)
    if link is None or link.status != "linked":
        if same:
            return [act(Kind.UNCHANGED, "adopted", copy=copy, record_link=True)]
        return _update(rules, act, copy, wanted, "adopted; the copy differs from its origin")
    source_changed = _changed(source, link.source_version, link.source_hash)
    target_changed = _changed(copy, link.target_version, link.target_hash)
    if same:
        return [act(Kind.UNCHANGED, "already equal", copy=copy, record_link=True)]
    if target_changed and not _source_wins(rules, link):
        both = " and its origin changed too" if source_changed else ""
        return [act(Kind.CONFLICT, f"the copy was edited in the target by hand{both}",
                    copy=copy, changes=differences(copy, wanted))]
    if link.resolution == "source":
        reason = "rewritten from its origin (resolve --keep source)"
    else:
        reason = "changed in source" if not target_changed else \
            "overwrote a hand edit in the target (source-wins)"
    return _update(rules, act, copy, wanted, reason)


def _source_wins(rules: RouteRules, link: Link) -> bool:
    """Whether a hand edit of this origin's copy is overwritten: the route says so, or a
    person settled its conflict for the source (``timebridge resolve --keep source``)."""
    return rules.on_conflict == "source-wins" or link.resolution == "source"


def _why_source_wins(link: Link) -> str:
    return "resolve --keep source" if link.resolution == "source" else "source-wins"


def _all_of(wanted: EntryDraft) -> dict[str, tuple[object, object]]:
    """What differs from a copy that is gone: every field, the copy holding nothing."""
    return {"task": (None, wanted.task), "work_date": (None, wanted.work_date.isoformat()),
            "seconds": (None, wanted.seconds), "comment": (None, wanted.comment)}


def gone(rules: RouteRules, key: str, link: Link, found: object) -> list[Action]:
    """An origin proved gone by a direct look-up."""
    origin = origin_of(key)
    act = _Maker(origin, rules.display(link.source_record_id), None)
    if found is MISSING:
        return []
    copies = found if isinstance(found, list) else ([found] if found is not None else [])
    if not copies:
        return [act(Kind.UNCHANGED, "origin and copy both gone", forget_link=True)]
    if not rules.propagate_deletes:
        return []
    return [act(Kind.DELETE, "deleted in source (proved by a direct look-up)", copy=c,
                forget_link=True) for c in copies]


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
        return make_action(Kind.SKIP, source.origin, shown,
                           f"no target task for source task {source.task} "
                           "(add a row to [routes.tasks] or set default_task)", source, None,
                           None, None, False, False, source.task, False, None)
    draft = _fitted(rules, source, task)
    if isinstance(draft, str):
        return make_action(Kind.SKIP, source.origin, shown, draft, source, None, None, None,
                           False, False, source.task, False, None)
    return make_action(Kind.CREATE, source.origin, shown, reason, source, None, draft,
                       None, False, forget_link, source.task, False, None)


class _Maker:
    """Builds actions of one origin without repeating its identity each time."""

    def __init__(self, origin: Origin, shown: str, source: CanonicalEntry | None) -> None:
        self.origin, self.shown, self.source = origin, shown, source
        self.task = source.task if source is not None else None

    def __call__(self, kind: Kind, reason: str, *, copy: CanonicalEntry | None = None,
                 draft: EntryDraft | None = None,
                 changes: dict[str, tuple[object, object]] | None = None,
                 record_link: bool = False, forget_link: bool = False,
                 replacement: EntryDraft | None = None) -> Action:
        return make_action(kind, self.origin, self.shown, reason, self.source, copy, draft,
                           changes, record_link, forget_link, self.task, False, replacement)


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
                    changes=changes, replacement=wanted),
                act(Kind.CREATE, f"{reason}; replaces the deleted copy", draft=wanted,
                    changes=changes)]
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


def differences(copy: CanonicalEntry, wanted: EntryDraft) -> dict[str, tuple[object, object]]:
    """Fields where the copy differs from what it should hold, as (old, new), compared in
    the target's terms (``wanted`` is fitted): task, work date, seconds, the comment."""
    changes: dict[str, tuple[object, object]] = {}
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
    return link.status == "linked" and not _changed(source, link.source_version,
                                                    link.source_hash)


def _changed(entry: CanonicalEntry, version: str | None, content_hash: str | None) -> bool:
    """Changed since the last sync? The system's own version is the fast path."""
    if version is not None and entry.version == version:
        return False
    return entry.content_hash != content_hash
