"""Between a saved plan and the world now: save a dry run's actions, and re-check them.

:func:`plan_of` turns a dry run's results into a :class:`~bridge.engine.saved_plan.SavedPlan`.
:class:`Recheck` is the ``select`` hook of an apply pass (:func:`bridge.engine.sync.run_route`):
the pass reads both sides over the plan's window and plans afresh, as a sync would, with
the same complete-read rules and direct look-ups; the hook then keeps only the fresh
actions that are the saved ones, decided on the same origin and copy versions and making
the same copy. Every other saved action is stale, with what changed; every fresh action
the plan does not hold is dropped. So apply never writes anything a sync would not, and
never anything the plan did not show.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bridge.config.models import Config
from bridge.engine.actions import Action, Kind, Proofs, RouteRules
from bridge.engine.execute import Outcome
from bridge.engine.plan import Inputs
from bridge.engine.saved_plan import (
    Holds,
    PlannedAction,
    Record,
    RoutePlan,
    SavedPlan,
    route_fingerprint,
    write_plan,
)
from bridge.engine.sync import PassFailure, RouteResult
from bridge.vocab import ActionRole, LinkStatus, OutcomeStatus
from connectors.base import EntryDraft
from connectors.model import CanonicalEntry, normalise_comment

_CHANGE_NAMES = {"work_date": "date"}
#: How the reason of an action found done already (by an earlier apply or a sync) begins.
ALREADY_DONE = "already done"
WRITES = (Kind.CREATE, Kind.UPDATE, Kind.DELETE)


def plan_of(results: Sequence[RouteResult], config: Config, made_by: str) -> SavedPlan:
    """The plan of a dry run's results: every listed action with what it was decided on."""
    routes = tuple(route_plan(r, route_fingerprint(config, r.route)) for r in results)
    return SavedPlan(datetime.now(UTC), made_by, routes)


def route_plan(result: RouteResult, fingerprint: str) -> RoutePlan:
    """One route's part of the plan, from its dry run's result."""
    return RoutePlan(result.route, fingerprint, result.window.start, result.window.end,
                     result.error, tuple(_saved(o) for o in result.listed))


def save(results: Sequence[RouteResult], config: Config, made_by: str, path: str) -> None:
    """Write the plan of a dry run's ``results`` to ``path`` (``--save-plan``); a file
    that cannot be written is :class:`~bridge.engine.sync.PassFailure` (exit 1)."""
    try:
        write_plan(plan_of(results, config, made_by), path)
    except OSError as exc:
        raise PassFailure(f"--save-plan: cannot write {path}: "
                          f"{exc.strerror or type(exc).__name__}") from None


def _saved(outcome: Outcome) -> PlannedAction:
    a = outcome.action
    held = getattr(a, "held", None)   # closed periods may mark an action itself
    if not isinstance(held, str):
        held = outcome.reason if outcome.status == OutcomeStatus.HELD else None
    changes = None if a.changes is None else {
        _CHANGE_NAMES.get(k, k): (old, new) for k, (old, new) in a.changes.items()}
    return PlannedAction(
        outcome.kind.value, outcome.status, a.display_origin, str(a.origin), outcome.reason,
        _record(a.source), _record(a.copy), _holds(a.draft), changes,
        replace=a.role is ActionRole.REPLACE_DELETE, refused=a.refused,
        held=held, error=outcome.error)


def _record(entry: CanonicalEntry | None) -> Record | None:
    if entry is None:
        return None
    return Record(entry.record_id, entry.task, entry.work_date.isoformat(), entry.seconds,
                  entry.version, entry.content_hash)


def _holds(draft: EntryDraft | None) -> Holds | None:
    if draft is None:
        return None
    return Holds(draft.task, draft.work_date.isoformat(), draft.seconds, draft.comment or "",
                 None if draft.start is None else draft.start.isoformat(), draft.billable)


def never_applied(saved: PlannedAction) -> bool:
    """A held action (a closed period) is shown, never written."""
    return saved.status == OutcomeStatus.HELD or saved.held is not None


class Recheck:
    """The ``select`` hook of one route's apply pass (see the module docstring).

    After the pass: :attr:`matched` (saved index -> the fresh action applied for it),
    :attr:`why` (saved index -> why it is stale), :attr:`short` (a read stopped short, so
    what was not matched could not be re-checked), :attr:`ran` (the pass planned at all).
    """

    def __init__(self, route: RoutePlan) -> None:
        self.saved = route.actions
        self.by_key: dict[str, list[int]] = {}
        for i, s in enumerate(self.saved):
            if not never_applied(s):
                self.by_key.setdefault(s.origin_key, []).append(i)
        self.matched: dict[int, Action] = {}
        self.why: dict[int, str] = {}
        self.short = False
        self.ran = False   # a pass got as far as planning

    def __call__(self, rules: RouteRules, inputs: Inputs, proofs: Proofs,
                 actions: list[Action]) -> list[Action]:
        """The fresh ``actions`` that are the plan's, in the fresh plan's order."""
        self.ran = True
        if not (inputs.source_complete and inputs.target_complete):
            self.short = True
        fresh: dict[str, list[Action]] = {}
        for a in actions:
            fresh.setdefault(str(a.origin), []).append(a)
        now = _Now(rules, inputs, proofs)
        chosen: set[int] = set()
        for key, indexes in self.by_key.items():
            if any(i in self.matched for i in indexes) or not now.seen(key, fresh):
                continue
            mine = fresh.get(key, [])
            pairs: list[tuple[int, Action]] = []
            done: dict[int, str] = {}
            reason: str | None = None
            used: set[int] = set()
            for i in indexes:
                f = _counterpart(self.saved[i], mine, used)
                why = now.why(self.saved[i], key, mine) if f is None \
                    else _differs(self.saved[i], f)
                if why is None:
                    assert f is not None  # now.why() always names a reason
                    used.add(id(f))
                    pairs.append((i, f))
                elif why.startswith(ALREADY_DONE):
                    done[i] = why   # e.g. the delete half of a replace a killed apply made
                else:
                    reason = why
                    break
            extra = [a for a in mine if id(a) not in used and a.kind in WRITES]
            if reason is None and extra:
                # A write the plan does not hold belongs with these (the delete half of
                # an unfinished replace): never apply the plan's half alone.
                reason = (f"decided differently now ({extra[0].kind.value}: "
                          f"{extra[0].reason}); re-plan to pick it up")
            if reason is not None:
                # One origin's actions go together: half a replace is never applied.
                self.why.update({i: done.get(i, reason) for i in indexes})
                # Its bookkeeping still runs (adopting the copy a killed apply made, or
                # forgetting a link whose copy is gone): the store only, no system.
                chosen.update(id(a) for a in mine if a.kind is Kind.UNCHANGED)
                continue
            self.why.update(done)
            chosen.update(id(a) for a in mine if a.kind is Kind.UNCHANGED)
            for i, f in pairs:
                self.matched[i] = f
                self.why.pop(i, None)
                chosen.add(id(f))
        return [a for a in actions if id(a) in chosen]


def _counterpart(saved: PlannedAction, fresh: list[Action], used: set[int]) -> Action | None:
    """The fresh action of the same kind (and, where there is one, on the same copy)."""
    for a in fresh:
        if id(a) in used or a.kind.value != saved.action:
            continue
        if saved.copy is not None and (a.copy is None or a.copy.record_id != saved.copy.id):
            continue
        if saved.action == Kind.DELETE and saved.replace != (a.role is ActionRole.REPLACE_DELETE):
            continue
        return a
    return None


def _differs(saved: PlannedAction, fresh: Action) -> str | None:
    """What changed between the action saved and the same action decided now, or None."""
    if saved.source is not None:
        if fresh.source is None:
            return f"the origin {saved.origin} is gone since the plan; re-plan to pick it up"
        if _changed(saved.source, fresh.source):
            return f"the origin {saved.origin} changed since the plan; re-plan to pick it up"
    elif fresh.source is not None and saved.action != Kind.SKIP:
        return f"the origin {saved.origin} exists again since the plan; re-plan to pick it up"
    if saved.copy is not None and fresh.copy is not None and _changed(saved.copy, fresh.copy):
        return (f"the copy {saved.copy.id} was changed in the target since the plan; "
                "re-plan to pick it up")
    if saved.holds is not None:
        field = _holds_differ(saved.holds, fresh.draft)
        if field:
            return (f"what the copy would hold changed since the plan ({field}); re-plan to "
                    "pick it up")
    return None


def _changed(saved: Record, entry: CanonicalEntry) -> bool:
    if saved.version is not None and entry.version is not None \
            and saved.version != entry.version:
        return True
    return saved.hash != entry.content_hash


def _holds_differ(holds: Holds, draft: EntryDraft | None) -> str | None:
    if draft is None:
        return "nothing"
    start = None if holds.start is None else datetime.fromisoformat(holds.start)
    for name, old, new in (("task", holds.task, draft.task),
                           ("date", holds.date, draft.work_date.isoformat()),
                           ("seconds", holds.seconds, draft.seconds),
                           ("comment", holds.comment, draft.comment or ""),
                           ("start", start, draft.start),
                           ("billable", holds.billable, draft.billable)):
        if old != new:
            return name
    return None


class _Now:
    """One chunk's view of an origin now: its source record, its copies, its link."""

    def __init__(self, rules: RouteRules, inputs: Inputs, proofs: Proofs) -> None:
        self.idx, self.links, self.proofs = inputs.index(rules), inputs.links, proofs

    def seen(self, key: str, fresh: dict[str, list[Action]]) -> bool:
        """Whether this chunk knows anything of ``key`` (else another chunk may)."""
        return (key in fresh or key in self.idx.sources or key in self.idx.copies
                or key in self.idx.skipped or key in self.links
                or key in self.proofs.source or key in self.proofs.target)

    def source(self, key: str) -> CanonicalEntry | None:
        return self.idx.sources.get(key) or self.proofs.source.get(key)

    def copies(self, key: str) -> list[CanonicalEntry]:
        read = list(self.idx.copies.get(key, ()))
        if read:
            return read
        found = self.proofs.target.get(key)
        return found if isinstance(found, list) else [found] if found is not None else []

    def why(self, saved: PlannedAction, key: str, fresh: list[Action]) -> str:
        """Why ``saved`` is not planned now: done already, or what changed."""
        copies, link = self.copies(key), self.links.get(key)
        ids = {c.record_id for c in copies}
        if saved.action == Kind.CREATE and link is not None and link.status == LinkStatus.LINKED:
            return (f"{ALREADY_DONE}: the origin has a copy now ({link.target_record_id}); "
                    "nothing to write")
        if saved.action == Kind.CREATE and saved.holds is not None:
            made = [c for c in copies if _holds_equal(saved.holds, c)]
            if made:
                return (f"{ALREADY_DONE}: the origin has a copy now ({made[0].record_id}) "
                        "holding what the plan wanted; nothing to write")
        if saved.action == Kind.UPDATE and saved.copy is not None and saved.holds is not None:
            same = [c for c in copies if c.record_id == saved.copy.id
                    and _holds_equal(saved.holds, c)]
            if same and link is not None and link.status == LinkStatus.LINKED:
                return (f"{ALREADY_DONE}: the copy {saved.copy.id} holds what the plan "
                        "wanted; nothing to write")
        if saved.action == Kind.DELETE and saved.copy is not None and saved.copy.id not in ids \
                and (link is None or saved.replace):
            return f"{ALREADY_DONE}: the copy {saved.copy.id} is gone; nothing to write"
        source = self.source(key)
        if saved.source is not None and source is None:
            return (f"the origin {saved.origin} is gone or out of the plan's window since the "
                    "plan; re-plan to pick it up")
        if saved.source is not None and source is not None and _changed(saved.source, source):
            return f"the origin {saved.origin} changed since the plan; re-plan to pick it up"
        if saved.copy is not None:
            if saved.copy.id not in ids:
                return f"the copy {saved.copy.id} is gone since the plan; re-plan to pick it up"
            now = next(c for c in copies if c.record_id == saved.copy.id)
            if _changed(saved.copy, now):
                return (f"the copy {saved.copy.id} was changed in the target since the plan; "
                        "re-plan to pick it up")
        if saved.action == Kind.CREATE and copies:
            return (f"a copy of this origin exists now ({copies[0].record_id}); re-plan to "
                    "pick it up")
        if fresh:
            return (f"decided differently now ({fresh[0].kind.value}: {fresh[0].reason}); "
                    "re-plan to pick it up")
        return "nothing to do for it now; re-plan to pick up what changed"


def _holds_equal(holds: Holds, copy: CanonicalEntry) -> bool:
    return (holds.task, holds.date, holds.seconds, normalise_comment(holds.comment)) == (
        copy.task, copy.work_date.isoformat(), copy.seconds, normalise_comment(copy.comment))
