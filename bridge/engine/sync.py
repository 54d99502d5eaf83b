"""One route pass: lock, read both sides, prove, plan, execute, record the run.

The pass reads each side once through its list endpoint, makes only the direct
look-ups the planner asks for, plans once and executes once. A read that fails
part-way is recorded as the route's error and the plan then deletes nothing.
A window longer than the route's ``chunk_days`` is done as consecutive chunks,
each such a pass over its own dates, in one run (see :mod:`bridge.engine.chunks`).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

from bridge.config.models import RouteConfig
from bridge.engine import metrics
from bridge.engine.actions import Action, Kind, Proofs, RouteRules
from bridge.engine.chunks import DEFAULT_CHUNK_DAYS, Crossings, chunk_windows, left_out, source_keys
from bridge.engine.closed import closed_note
from bridge.engine.execute import Executor, Outcome
from bridge.engine.forgotten import store_forgot
from bridge.engine.narrow import Gathered, Narrow
from bridge.engine.narrow import gather as narrow_gather
from bridge.engine.plan import Inputs, plan, proofs_needed
from bridge.engine.plan_guards import marked_keys, proven
from bridge.engine.prefetch import SourcePrefetch, SourceRead
from bridge.engine.reads import Progress, prove_sources, prove_targets, read_both, read_side
from bridge.engine.runtime import Runtime
from bridge.store.locks import Held
from bridge.store.state import RouteHeld, StateStore
from bridge.vocab import OutcomeStatus, PassOutcome
from connectors.base import Connector, ConnectorError, DateWindow, explain
from connectors.bounded_net import Stoppable, stoppable
from connectors.model import CanonicalEntry


class PassFailure(Exception):
    """The pass could not start (the state store cannot be opened): exit 1."""


#: A pass that runs longer stops (a year's backfill at Kaiten's 5 requests/s fits).
DEFAULT_MAX_PASS_SECONDS = 24 * 3600
# A run's counts: by the kind of what was done, and apart, what failed or was held.
SUMMARY_KEYS = tuple(k.value for k in (Kind.CREATE, Kind.UPDATE, Kind.DELETE, Kind.UNCHANGED,
                                       Kind.CONFLICT, Kind.SKIP, OutcomeStatus.FAILED,
                                       OutcomeStatus.HELD))


@dataclass
class RouteResult:
    """The outcome of one route pass, as the reports show it."""

    route: str
    window: DateWindow
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)
    unchanged: int = 0
    error: str | None = None
    interrupted: bool = False
    held: bool = False   # the route was held by another run: nothing was read or written
    notes: list[str] = field(default_factory=list)   # e.g. a range that is closed

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter({k: 0 for k in SUMMARY_KEYS})
        counts["unchanged"] = self.unchanged
        for o in self.outcomes:
            if o.status in (OutcomeStatus.FAILED, OutcomeStatus.HELD):
                counts[o.status] += 1   # neither is done: counted only there (its word)
            elif o.status == OutcomeStatus.STALE:
                continue  # an apply's action whose origin or copy changed: nothing written
            elif o.kind is not Kind.UNCHANGED:
                counts[o.kind.value] += 1
        return dict(counts)

    @property
    def listed(self) -> list[Outcome]:
        """Every outcome that is not "unchanged" (INTERFACE.md: those are not listed)."""
        return [o for o in self.outcomes if o.kind is not Kind.UNCHANGED]

    @property
    def failed(self) -> bool:
        return self.error is not None or any(o.status == OutcomeStatus.FAILED
                                             for o in self.outcomes)


#: A saved plan's filter of a pass's fresh actions (see :mod:`bridge.engine.recheck`): given the
#: rules, what the chunk read, the look-ups and the fresh plan, the actions to execute.
Select = Callable[[RouteRules, Inputs, Proofs, list[Action]], list[Action]]


class PassClock:
    """When a pass must stop: a signal (``stop``), or ``max_seconds`` after it began.

    Acts as the stop event every phase checks: a read stopped by it is incomplete (so
    nothing is deleted), and no write starts after it.
    """

    def __init__(self, stop: threading.Event | None, max_seconds: float | None) -> None:
        self.stop, self.max_seconds = stop, max_seconds
        self._until = None if max_seconds is None else time.monotonic() + max_seconds
        self.expired = False

    def is_set(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            return True
        if self._until is not None and time.monotonic() > self._until:
            self.expired = True
        return self.expired

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, ending early when the pass must stop; :meth:`is_set` then."""
        if self._until is not None:   # never past the pass's own bound
            seconds = min(seconds, max(self._until - time.monotonic(), 0.0) + 0.001)
        if self.stop is not None:
            self.stop.wait(seconds)
        else:
            time.sleep(seconds)
        return self.is_set()


@dataclass(frozen=True)
class PassSpec:
    """Everything one pass needs, already built: both connectors, the rules, the filters."""

    source: Connector
    target: Connector
    rules: RouteRules
    source_filters: dict = field(default_factory=dict)
    target_filters: dict = field(default_factory=dict)
    # Days per chunk of a long window (see bridge.engine.chunks); 0 or None: one chunk.
    chunk_days: int | None = DEFAULT_CHUNK_DAYS
    # A narrow pass (a webhook's hint): one source task's records, in one chunk; the
    # source filters then already ask for that task (see bridge.engine.narrow).
    narrow: Narrow | None = None
    # Origins whose copies the store may have forgotten (bridge.engine.forgotten): their creates
    # look first; None: any origin's may have been.
    forgotten: frozenset[str] | None = frozenset()
    # Applying a saved plan: only the fresh actions this returns are executed.
    select: Select | None = None


def run_route(runtime: Runtime, route: RouteConfig, window: DateWindow, store: StateStore, *,
              dry_run: bool = False, allow_deletes: bool = False,
              stop: threading.Event | None = None, progress: Progress | None = None,
              narrow: Narrow | None = None,
              max_seconds: float = DEFAULT_MAX_PASS_SECONDS,
              select: Select | None = None) -> RouteResult:
    """One reconciliation pass of a configured route over ``window``; ``narrow``: only
    that source task's records (a webhook's hint), in one chunk; ``select``: execute only
    the actions it keeps (applying a saved plan)."""
    try:
        filters = runtime.source_filters(route)
        spec = PassSpec(runtime.connector(route.source), runtime.connector(route.target),
                        runtime.rules(route, window, allow_deletes=allow_deletes),
                        narrow.source_filters(filters) if narrow else filters,
                        runtime.target_filters(route),
                        None if narrow else route.chunk_days, narrow=narrow, select=select)
    except ConnectorError as exc:
        result = RouteResult(route.name, window, dry_run, error=explain(exc))
        metrics.observe_pass(result)
        return result
    return run_pass(spec, store, dry_run=dry_run, stop=stop, progress=progress,
                    max_seconds=max_seconds)


def run_pass(spec: PassSpec, store: StateStore, *, dry_run: bool = False,
             stop: threading.Event | None = None, progress: Progress | None = None,
             max_seconds: float | None = None) -> RouteResult:
    """Lock the route, read both sides, prove, plan, execute, record; never raises for API
    failures (they become the route's error or an action's). Counted in
    :mod:`bridge.engine.metrics` as it ends."""
    result = RouteResult(spec.rules.name, spec.rules.window, dry_run)
    note = closed_note(spec.rules.window, spec.rules.closed_through)
    result.notes.extend([note] if note else [])
    try:
        clock = PassClock(stop, max_seconds)
        # stoppable: a read or look-up in flight ends when the pass is stopped, not after.
        with nullcontext() if dry_run else store.lock_route(spec.rules.name) as lock, \
                stoppable(clock):
            _pass(spec, store, result, clock, progress, lock)
    except RouteHeld as exc:
        result.error, result.held = str(exc), True
        metrics.observe_pass(result, PassOutcome.HELD)
        return result
    except Exception:  # the state store failed under the pass: a failed pass, then raise
        metrics.observe_pass(result, PassOutcome.FAILED)
        raise
    metrics.observe_pass(result)
    return result


def _learned(spec: PassSpec, store: StateStore) -> PassSpec:
    """``spec`` with what its target was seen to ignore: those fields are replaced, not updated."""
    fixed = store.fixed_fields(spec.target.name)
    caps = spec.rules.capabilities
    if not fixed.keys() & caps.updatable:
        return spec
    narrowed = dataclasses.replace(caps, updatable=caps.updatable - fixed.keys())
    return dataclasses.replace(spec, rules=dataclasses.replace(spec.rules, capabilities=narrowed))


def _pass(spec: PassSpec, store: StateStore, result: RouteResult,
          stop: PassClock, progress: Progress | None, lock: Held | None = None) -> None:
    """The run of one route: its window as consecutive chunks (see :mod:`bridge.engine.chunks`).

    One run record and one result for the whole window. A chunk whose read failed or
    whose deletes were braked is that chunk's error, and the next chunks still run (each
    is safe alone: an incomplete read deletes nothing); a stop, a lost lock or a fatal
    target error (token rejected) ends the run, and the chunks left are named in the error.
    """
    spec = _learned(spec, store)
    rules, window = spec.rules, spec.rules.window
    narrow = spec.narrow
    # Asked before this run is recorded: a route the store has no record of (see
    # bridge.engine.forgotten). A narrow pass always follows a full one, which asked.
    if narrow is None:
        spec = dataclasses.replace(spec, forgotten=store_forgot(
            rules, spec.target, spec.target_filters, store, dry_run=result.dry_run))
    run_id = None if result.dry_run else store.start_run(
        rules.name, window.start, window.end, result.dry_run,
        scope=None if narrow is None else narrow.scope)
    errors: list[str] = []
    spans = list(chunk_windows(window, None if narrow else spec.chunk_days))
    crossings = Crossings()
    not_started = lost = 0
    ahead = _read_ahead(spec, spans, stop)
    with ahead if ahead is not None else nullcontext():   # closed: a read nobody takes ends
        for number, span in enumerate(spans):
            if stop.is_set() or lost:
                errors.append(left_out(spans, number))
                break
            chunk_spec = spec if len(spans) == 1 else dataclasses.replace(
                spec, rules=dataclasses.replace(rules, window=span))
            said: list[str] = []
            executor = _chunk(chunk_spec, store, result, stop, progress, lock, crossings,
                              said, first=number == 0, ahead=ahead, number=number,
                              run_id=run_id)
            where = "" if len(spans) == 1 else f"{span.start}..{span.end}: "
            errors.extend(where + e for e in said)
            not_started += executor.not_started
            if executor.lost:
                lost = 1
                left = f"; {not_started} actions not started" if not_started else ""
                errors.append(f"the route's lock was lost ({executor.lost}); stopped "
                              f"writing{left}; another run may hold the route now: run again "
                              "to finish")
            if executor.fatal:
                errors.append(executor.fatal)
                if number + 1 < len(spans):
                    errors.append(left_out(spans, number + 1))
                break
    result.interrupted = stop.is_set() or bool(lost)
    if stop.is_set():
        left = f"; {not_started} actions not started" if not_started else ""
        why = f"the pass ran longer than its bound of {stop.max_seconds:g}s" if \
            stop.expired else "interrupted by a signal"
        errors.append(f"{why}{left}; run again to finish")
    result.error = "; ".join(errors) or None
    if run_id is not None:
        failures = [{"origin": o.action.display_origin, "action": o.kind.value, "error": o.error}
                    for o in result.outcomes if o.status == OutcomeStatus.FAILED]
        store.finish_run(run_id, summary=result.summary, error=result.error, failures=failures,
                         interrupted=result.interrupted)


def _read_ahead(spec: PassSpec, spans: list[DateWindow],
                stop: PassClock) -> SourcePrefetch | None:
    """For a full pass of several chunks: the next chunk's source, read while the current
    one is written (see :mod:`bridge.engine.prefetch`)."""
    if spec.narrow is not None or len(spans) < 2:
        return None

    def reader(window: DateWindow, errors: list[str], halt: Stoppable) -> tuple[list, bool]:
        return read_side(spec.source, window, spec.source_filters, errors, "source", None, halt)
    return SourcePrefetch(spans, reader, stop)


def _chunk(spec: PassSpec, store: StateStore, result: RouteResult, stop: PassClock,
           progress: Progress | None, lock: Held | None, crossings: Crossings,
           errors: list[str], first: bool, ahead: SourcePrefetch | None = None,
           number: int = 0, run_id: int | None = None) -> Executor:
    """Read, prove, plan and execute one chunk (``spec.rules.window``); its outcomes
    join ``result``, its errors ``errors``. Everything it read is dropped on return.
    ``ahead``: chunk ``number``'s source may have been read already, and the next
    chunk's source is read from when this one's reads are done. ``run_id``: the run the
    executor records its writes and decisions under (see :mod:`bridge.store.events`)."""
    rules = spec.rules
    if spec.narrow is None:
        got = _gather(spec, store, crossings, errors, progress, stop, first,
                      ahead.take(number) if ahead is not None else None)
        if ahead is not None:
            ahead.start(number + 1)
    else:
        got = narrow_gather(spec.narrow, spec.source, spec.target, rules,
                            spec.source_filters, store, errors, stop)
    source_items = got.source
    marked = marked_keys(rules, source_items)
    inputs = Inputs(source_items, got.target, got.links, got.source_complete,
                    got.target_complete, proven_copies=proven(
                        rules, source_items, store.copies_recorded(marked)) if marked else (),
                    brake=got.brake, forgotten=spec.forgotten)
    del got
    wanted_source, wanted_target = proofs_needed(rules, inputs)
    copies, replaced = prove_targets(spec.target, wanted_target, stop)
    proofs = Proofs(prove_sources(spec.source, wanted_source, stop), copies, replaced)
    planned = plan(rules, inputs, proofs)
    crossings.note(rules, inputs, proofs)
    if spec.select is not None:
        planned.actions = spec.select(rules, inputs, proofs, planned.actions)
        if not any(a.refused for a in planned.actions):
            planned.brake = None  # it refused only deletes that are not the plan's
    if planned.brake:
        errors.append(planned.brake)
    executor = Executor(rules.name, spec.target, store, stop, lock,
                        concurrency=rules.write_concurrency if store.concurrent_writers else 1,
                        run_id=run_id)
    ticking = None if result.dry_run or progress is None else _ticker(progress)
    result.outcomes.extend(executor.run(planned.actions, dry_run=result.dry_run,
                                        applied=ticking))
    result.unchanged += planned.unchanged
    return executor


def _gather(spec: PassSpec, store: StateStore, crossings: Crossings, errors: list[str],
            progress: Progress | None, stop: PassClock, first: bool,
            source_read: SourceRead | None = None) -> Gathered:
    """What a chunk of a full pass decides from: both sides read over its window (the
    source's perhaps read ahead: ``source_read``), and the links it needs (see
    :mod:`bridge.engine.chunks`)."""
    rules, window = spec.rules, spec.rules.window
    counted = _counting(progress, crossings.read)
    (source_items, source_complete), (target_items, target_complete) = read_both(
        (spec.source, spec.source_filters), (spec.target, spec.target_filters), window, errors,
        counted, stop, source_read)
    crossings.read["read source"] += len(source_items)
    crossings.read["read target"] += len(target_items)
    targets = [t for t in target_items if isinstance(t, CanonicalEntry)]
    del target_items
    found = store.chunk_links(rules.name, window.start, window.end,
                              source_keys(rules, source_items), intents=first)
    source_items = crossings.drop(rules, source_items, found)
    return Gathered(source_items, source_complete, targets, target_complete, found)


def _counting(progress: Progress | None, before: dict[str, int]) -> Progress | None:
    """A progress hook whose read counts go on from the chunks read before (not from 0)."""
    if progress is None:
        return None
    return lambda stage, n: progress(stage, before.get(stage, 0) + n)


def _ticker(progress: Progress) -> Callable[[Action], None]:
    """Report each applied action to ``progress`` (unchanged ones are not work done)."""
    def tick(action: Action) -> None:
        if action.kind is not Kind.UNCHANGED:
            progress("applied", 1)
    return tick
