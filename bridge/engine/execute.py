"""The executor: applies a plan through the target connector and records every outcome.

Exactly once, crash point by crash point:

* before a create, the intent is recorded; a crash (or a lost answer) after the
  create leaves an intent, and the next pass finds the copy by its origin
  (``find_copies``) and adopts it instead of creating a second one;
* a lost create answer is resolved at once the same way: look up by origin,
  adopt if found, else leave the intent for the next pass;
* after each write the link is recorded before the next action runs, so a crash
  between actions loses at most the knowledge of one write, which the next
  pass rebuilds from the origin carried in the copy;
* a replace (the target cannot change a field in place) first turns the link
  into an intent that names the copy it replaces, in one statement; killed
  between the delete and the create, the next pass (wherever the origin is
  dated) deletes the old copy if the intent still names it (it stops with the
  delete's audit event) and makes or adopts the new one. A replace whose delete
  fails or is refused does not create at all; every link change is recorded with
  its audit event in one transaction (:mod:`bridge.engine.recorder`);
* every create and update answer is compared with what was sent
  (:mod:`bridge.engine.verify`). An update the target accepted but did not apply in full
  is never recorded as synced: the fields it ignored are remembered for that
  target (later passes plan a replace for them) and the copy is replaced at once.
  A create that did not store what was sent is linked (it exists; it must never be
  made twice) and reported as a conflict for a person.

One failed action is reported and the rest go on. A dry run writes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import ParamSpec

from bridge.engine import metrics, settle
from bridge.engine.actions import Action, Kind
from bridge.engine.decide import differences
from bridge.engine.recorder import Recorder
from bridge.engine.settle import Unsettled, look_again, retrying, settle_create, settle_update
from bridge.engine.verify import describe, unstored
from bridge.store.locks import Held, LockLost
from bridge.store.state import StateStore
from bridge.vocab import ActionRole, OutcomeStatus
from connectors.base import (
    AuthError,
    ConflictError,
    Connector,
    ConnectorError,
    NotFoundError,
    explain,
)
from connectors.bounded_net import stoppable
from connectors.model import CanonicalEntry

log = logging.getLogger("timebridge.execute")
P = ParamSpec("P")


def serialised(call: Callable[P, None] | None) -> Callable[P, None] | None:
    """``call`` made safe to use from several threads (progress displays are not)."""
    if call is None:
        return None
    lock = threading.Lock()

    def one_at_a_time(*args: P.args, **kwargs: P.kwargs) -> None:
        with lock:
            call(*args, **kwargs)
    return one_at_a_time


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one action: ``status`` planned | done | failed | held.

    Slotted: a backfill keeps one per listed action for its report.
    """

    action: Action
    kind: Kind
    status: OutcomeStatus
    target_id: str | None
    reason: str
    error: str | None = None
    copy: CanonicalEntry | None = None


class Executor:
    """Applies one route's actions to its target and keeps the state store in step."""

    def __init__(self, route: str, target: Connector, store: StateStore | None,
                 stop: settle.Stop | None = None, lock: Held | None = None, *,
                 concurrency: int = 1, retry_waits: tuple[float, ...] | None = None,
                 run_id: int | None = None) -> None:
        self.route = route
        # Every link change with its audit event (run ``run_id``), in one transaction.
        self.record = Recorder(store, route, run_id)
        self.concurrency = concurrency  # origins written at once
        # A write that failed (or whose answer was lost) is settled within the pass:
        # tried again after each of these waits before being left to the next pass.
        self.retry_waits = settle.RETRY_WAITS if retry_waits is None else retry_waits
        self.target = target
        self.store = store
        self.stop: settle.Stop = stop or threading.Event()
        self.lock = lock                # checked before every write to the target
        self.fatal: str | None = None   # set when going on is pointless (token rejected)
        self.lost: str | None = None    # why the route's lock is gone: no write after that
        self.not_started = 0            # actions left when a stop came
        # Origins whose replace could not delete its old copy -> why ("conflict"/"failed").
        self._held: dict[str, str] = {}

    def run(self, actions: Iterable[Action], *, dry_run: bool,
            applied: Callable[[Action], None] | None = None) -> list[Outcome]:
        """Apply (or, in a dry run, only list) the actions; outcomes in the actions' order.

        Up to :attr:`concurrency` origins are written at once (a write's round trip is
        often longer than the rate limit's interval); the actions of one origin (the
        two halves of a replace) always run in order, one after the other. Each write
        still has its intent before and its link after, so every kill point is the
        same as in a serial run. After a stop (a signal) the actions not started are
        left out of the outcomes and counted in :attr:`not_started`: nothing failed,
        they wait for the next run, which plans them again. ``applied`` is called
        (from one thread at a time) after each action that was applied.
        """
        actions = list(actions)
        self.not_started = 0
        if dry_run or self.store is None:
            return [self._planned(a) for a in actions]
        results: list[Outcome | None] = [None] * len(actions)
        groups: dict[str, list[int]] = {}
        for i, a in enumerate(actions):
            groups.setdefault(str(a.origin), []).append(i)
        report = serialised(applied)

        def run_group(indexes: list[int]) -> None:
            with stoppable(self.stop):  # a look-up in flight ends when the pass is stopped
                for i in indexes:
                    results[i] = outcome = self._one(actions[i])
                    if outcome is not None:
                        metrics.observe_action(self.route, outcome.kind.value, outcome.status)
                        if report is not None:
                            report(actions[i])

        workers = min(self.concurrency, len(groups))
        if workers <= 1:
            for i in range(len(actions)):   # plan order, exactly as planned
                run_group([i])
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix=f"write-{self.route}") as pool:
                list(pool.map(run_group, groups.values()))
        self.not_started = sum(1 for r in results if r is None)
        if self.not_started:
            log.warning("route %s: stopped; %d actions not started (the next run does them)",
                        self.route, self.not_started)
        return [r for r in results if r is not None]

    def _one(self, action: Action) -> Outcome | None:
        """One action's outcome; ``None`` when it was not started (a stop, a lost lock)."""
        if self.stop.is_set() or self.lost:
            return None
        if action.held:  # a closed period: nothing is written, not even an intent or a link
            return Outcome(action, action.kind, OutcomeStatus.HELD, action.target_id, action.held)
        if self.fatal:
            return self._failed(action, self.fatal)
        try:
            return self._apply(action)
        except LockLost as exc:
            # Another run may hold the route now: write nothing more. What this
            # action recorded (an intent at most) the next run resolves by origin.
            if not self.lost:
                self.lost = str(exc)
                log.error("route %s: %s; stopped writing", self.route, exc)
            return None

    # --- one action ---------------------------------------------------------------------

    def _apply(self, a: Action) -> Outcome:
        if a.refused:
            return self._failed(a, "refused by the delete brake (see the route's error)")
        held = self._held.get(str(a.origin))
        if held == "conflict":  # the old copy refuses to go: the origin waits for a person
            return Outcome(a, Kind.SKIP, OutcomeStatus.DONE, None,
                           "waits: the copy it replaces refused to be deleted (see the conflict)")
        if held:
            return self._failed(a, "not done: the copy it replaces could not be deleted")
        try:
            if a.kind is Kind.CREATE:
                return self._create(a)
            if a.kind is Kind.UPDATE:
                return self._update(a)
            if a.kind is Kind.DELETE:
                return self._delete(a)
            if a.kind is Kind.CONFLICT:
                self.record.conflict(a, a.reason, a.changes)
                return self._done(a, a.copy)
            if a.kind is Kind.UNCHANGED:
                if a.forget_link:
                    self.record.removed(a, "forget")
                elif a.record_link:
                    self.record.kept(a)
            return self._done(a, a.copy)
        except ConflictError as exc:
            # An invoiced or locked copy refuses the change: a conflict for a person.
            self._hold_replace(a, "conflict")
            reason = f"the target refused the change: {exc}"
            self.record.conflict(a, reason, a.changes)
            return Outcome(a, Kind.CONFLICT, OutcomeStatus.DONE, a.target_id, reason)
        except AuthError as exc:
            self._hold_replace(a)
            self.fatal = explain(exc)
            return self._failed(a, self.fatal)
        except ConnectorError as exc:
            self._hold_replace(a)
            return self._failed(a, explain(exc))

    def _hold_replace(self, a: Action, why: str = "failed") -> None:
        """A replace whose old copy stays must not create the new one: two copies."""
        if a.role is ActionRole.REPLACE_DELETE:
            self._held[str(a.origin)] = why

    def _create(self, a: Action) -> Outcome:
        assert a.draft is not None and a.source is not None
        key, draft, source, store = str(a.origin), a.draft, a.source, self._store()
        if a.forget_link:  # re-creating a copy deleted by hand: its old link is stale
            self._guard()
            self.record.removed(a, "forget")

        def send() -> CanonicalEntry:
            self._guard()  # before the intent too: the route's new holder may have linked it
            # (Again before each new attempt: a fresh intent, its time the attempt's.)
            store.record_intent(self.route, key, source_record_id=source.record_id,
                                source_task=source.task, target_task=draft.task,
                                work_date=draft.work_date)
            return self.target.create(draft)

        try:
            copy = settle_create(send, lambda: self._find_copies(a), self.retry_waits,
                                 self.stop, f"create of {key}")
        except Unsettled as exc:
            return self._failed(a, str(exc))
        self.record.linked(a, copy, "create")
        missed = unstored(copy, a.draft)
        if missed:
            # The copy exists: it stays linked, so it is never made twice, but as a conflict.
            reason = describe(self.target.name, "create", missed) + \
                "; a person must check the copy"
            self.record.conflict(a, reason, differences(copy, a.draft), copy)
            return Outcome(a, Kind.CONFLICT, OutcomeStatus.DONE, copy.record_id, reason, copy=copy)
        return self._done(a, copy)

    def _find_copies(self, a: Action) -> list[CanonicalEntry] | None:
        """The copies of ``a``'s origin in the target, or None when that cannot be proved."""
        try:
            return self.target.find_copies(a.origin, a.draft.task if a.draft else None)
        except ConnectorError as exc:
            log.warning("could not look up the copy of %s: %s", a.display_origin, exc)
            return None

    def _update(self, a: Action) -> Outcome:
        assert a.copy is not None and a.draft is not None and a.source is not None
        draft = a.draft  # narrowed for the closures below
        self._guard()
        copy = settle_update(lambda current: self.target.update(current, draft), a.copy,
                             lambda current: look_again(self.target, current, draft,
                                                       a.display_origin), self.retry_waits,
                             self.stop, self._guard)
        missed = unstored(copy, a.draft)
        if not missed:
            self.record.linked(a, copy, "update")
            return self._done(a, copy)
        # Accepted, not applied: never a link saying synced. This target cannot change
        # these fields in place; remember it, and replace the copy as the planner would.
        why = describe(self.target.name, "update", missed)
        if "origin" in missed:  # the reference or marker itself was lost: a person decides
            log.warning("%s: %s; a conflict for a person", a.display_origin, why)
            self.record.conflict(a, why, differences(copy, a.draft), copy)
            return Outcome(a, Kind.CONFLICT, OutcomeStatus.DONE, copy.record_id, why, copy=copy)
        log.warning("%s: %s; replacing the copy, and replacing rather than updating "
                    "these fields from now on", a.display_origin, why)
        self._store().learn_fixed_fields(self.target.name, sorted(missed), why)
        half = replace(a, kind=Kind.DELETE, copy=copy, draft=None, replacement=a.draft,
                       role=ActionRole.REPLACE_DELETE)
        self._delete(half)
        made = self._create(replace(a, kind=Kind.CREATE, copy=None,
                                    role=ActionRole.REPLACE_CREATE))
        if made.status != OutcomeStatus.DONE or made.kind is not Kind.CREATE:
            return made
        return Outcome(a, Kind.UPDATE, OutcomeStatus.DONE, made.target_id,
                       f"{a.reason}; {why}, so the copy was replaced", copy=made.copy)

    def _delete(self, a: Action) -> Outcome:
        assert a.copy is not None
        key, copy = str(a.origin), a.copy
        self._guard()
        if a.role is ActionRole.REPLACE_DELETE:
            # Half of a replace: the intent names the copy being replaced, durably,
            # before it is deleted (see the module docstring).
            assert a.source is not None and a.replacement is not None
            self._store().record_intent(
                self.route, key, source_record_id=a.source.record_id,
                source_task=a.source.task, target_task=a.replacement.task,
                work_date=a.replacement.work_date, replaces=(a.copy.record_id, a.copy.task))
        with contextlib.suppress(NotFoundError):  # already gone: the goal is reached
            retrying(lambda: self.target.delete(copy), self.retry_waits, self.stop,
                     self._guard)
        if a.forget_link:
            self.record.removed(a, "delete")
        else:   # half of a replace: the old copy is gone, the intent stops naming it
            self.record.replaced(a)
        return self._done(a, a.copy)

    def _store(self) -> StateStore:
        """The store a write is recorded in (a dry run, the only run without one, writes
        nothing, so never gets here)."""
        assert self.store is not None
        return self.store

    def _guard(self) -> None:
        """Right before a write: the route must still be ours (:class:`LockLost` if not)."""
        if self.lock is not None:
            self.lock.check()

    # --- outcomes -----------------------------------------------------------------------

    def _planned(self, a: Action) -> Outcome:
        if a.held:
            return Outcome(a, a.kind, OutcomeStatus.HELD, a.target_id, a.held)
        if a.refused:
            return self._failed(a, "would be refused by the delete brake")
        return Outcome(a, a.kind, OutcomeStatus.PLANNED, a.target_id, a.reason)

    def _done(self, a: Action, copy: CanonicalEntry | None) -> Outcome:
        target_id = copy.record_id if copy is not None else a.target_id
        return Outcome(a, a.kind, OutcomeStatus.DONE, target_id, a.reason, copy=copy)

    def _failed(self, a: Action, error: str) -> Outcome:
        log.warning("%s %s failed: %s", a.kind.value, a.display_origin, error)
        return Outcome(a, a.kind, OutcomeStatus.FAILED, a.target_id, a.reason, error=error)
