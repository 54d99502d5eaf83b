"""What the planner decides: actions, and the route rules it decides them by.

An :class:`Action` is data, not behaviour: the executor applies it, a dry run
only shows it. Everything the planner needs about a route and its target is in
:class:`RouteRules`, so planning stays a pure function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from enum import StrEnum

from bridge.model import CanonicalEntry, Origin
from connectors.base import Capabilities, DateWindow, EntryDraft


class Kind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    CONFLICT = "conflict"
    SKIP = "skip"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Action:
    """One decision about one origin.

    ``draft``: what the copy will hold (create, update). ``copy``: the copy as it is
    now (update, delete, conflict, adopted unchanged). ``source``: the origin record
    as read (for the link). ``record_link``: write the link even when nothing is
    written to the target (an adopted or re-confirmed copy). ``forget_link``: drop
    the link (its copy is gone). ``changes``: ``{field: (old, new)}`` of an update, or
    of a conflict what differs (the copy's value, the origin's).
    A create with ``forget_link`` replaces a copy deleted by hand (its link is stale).
    A delete without ``forget_link`` is half of a replace (delete + create of one
    origin, where the target cannot change a field in place); its ``replacement`` is
    what the create that follows will make.
    """

    kind: Kind
    origin: Origin
    display_origin: str
    reason: str
    source: CanonicalEntry | None = None
    copy: CanonicalEntry | None = None
    draft: EntryDraft | None = None
    changes: Mapping[str, tuple[object, object]] | None = None
    record_link: bool = False
    forget_link: bool = False
    source_task: str | None = None
    refused: bool = False            # a delete the delete brake refused
    replacement: EntryDraft | None = None   # a replace's delete half: the copy to follow
    # Why this write is not done (it would touch a closed period; see bridge.closed).
    held: str | None = None

    @property
    def task(self) -> str | None:
        """The target task the copy has or will have."""
        if self.draft is not None:
            return self.draft.task
        return self.copy.task if self.copy is not None else None

    @property
    def target_id(self) -> str | None:
        return self.copy.record_id if self.copy is not None else None


_POSITIONAL = 13


def _action_maker() -> Callable[..., Action]:
    """``Action(...)`` with every field given in order, filling the slots directly: a
    frozen dataclass's ``__init__`` sets its 13 fields one ``object.__setattr__`` at a
    time, once per create of a million-entry backfill."""
    names = [f.name for f in fields(Action)]
    env: dict[str, object] = {"new": object.__new__, "Action": Action}
    env.update({f"set_{name}": getattr(Action, name).__set__ for name in names})
    body = "".join(f"    set_{name}(action, {name})\n" for name in names)
    # Fields added after the first 13 default to None, so older calls need not name them.
    params = [name if i < _POSITIONAL else f"{name}=None" for i, name in enumerate(names)]
    exec(f"def make({', '.join(params)}):\n    action = new(Action)\n{body}    return action\n",
         env)
    return env["make"]  # type: ignore[return-value]


#: ``make_action(kind, origin, display_origin, reason, source, copy, draft, changes,
#: record_link, forget_link, source_task, refused, replacement)``: every field, in order.
make_action = _action_maker()


@dataclass(frozen=True)
class RouteRules:
    """A route as the planner sees it: names, scope, mapping, policies, the target's shape."""

    name: str
    source: str                      # source connector name (for "kaiten:123" origins)
    source_ref: str                  # the source connector's reference_source
    window: DateWindow
    fit: Callable[[EntryDraft], EntryDraft]   # the target's pure fit()
    capabilities: Capabilities = field(default_factory=Capabilities)
    tasks: Mapping[str, str] = field(default_factory=dict)
    default_task: str | None = None
    description: str = "{comment}"
    propagate_deletes: bool = True
    on_conflict: str = "report"
    max_delete_share: float = 0.2
    allow_deletes: bool = False
    billable: str | None = None
    # Every connector's reference_source in the config: a marker naming anything else
    # is someone else's text (empty: every marker is trusted, as a bare planner test has it).
    known_refs: frozenset[str] = frozenset()
    # Origins the executor writes at once (the target's max_concurrent_writes).
    write_concurrency: int = 1
    # No copy dated on or before it is written (see bridge.closed); None: nothing closed.
    closed_through: date | None = None

    def target_task(self, source_task: str) -> str | None:
        """The target task for a source task: its row in ``tasks``, else ``default_task``."""
        return self.tasks.get(source_task, self.default_task)

    def display(self, record_id: str) -> str:
        return f"{self.source}:{record_id}"


@dataclass(frozen=True)
class Proofs:
    """Results of the direct look-ups the planner asked for (see ``plan.proofs_needed``).

    ``source``: origin key -> the origin as fetched now (None: proved gone).
    ``target``: origin key -> the copy as fetched now (None: proved gone; a list when
    found by origin, which may find several).
    ``replaced``: origin key -> the copy an unfinished replace was deleting, fetched now.
    A key absent from a mapping means that look-up was not made (or failed):
    the planner then decides nothing that would need it.
    """

    source: Mapping[str, CanonicalEntry | None] = field(default_factory=dict)
    target: Mapping[str, CanonicalEntry | list[CanonicalEntry] | None] = field(
        default_factory=dict)
    replaced: Mapping[str, CanonicalEntry | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ProofRequest:
    """One look-up: by record id (``record_id`` set) or by origin (find_copies).

    ``replaced``: the look-up is of the copy an unfinished replace was deleting.
    """

    key: str
    origin: Origin
    record_id: str | None
    task: str | None
    replaced: bool = False
