"""``timebridge apply PLAN.json``: carry out a saved plan, exactly and only its actions.

The plan is refused whole (exit 2, nothing read or written) when it is not a plan, when
it is older than ``--max-age`` (default :data:`DEFAULT_MAX_AGE`), or when the config of
one of its routes changed since it was saved. Otherwise each route with actions gets one
ordinary pass over the plan's window, with the route's lock, the complete-read rules, the
direct look-ups, the delete brake and the executor's intent-before-create and
link-after-write, so every crash point stays exactly-once. Its fresh plan is cut down to
the saved actions that still hold (:class:`bridge.engine.recheck.Recheck`); the others are
reported ``stale`` with what changed. Applied twice, the second apply finds every action
done (``stale``, "already done: ...") and writes nothing.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, timedelta

from bridge.cli.commands import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    emit,
    open_store,
)
from bridge.cli.signals import stop_on_signals
from bridge.config.loader import LoadedConfig
from bridge.engine.actions import Action, Kind
from bridge.engine.execute import Outcome
from bridge.engine.recheck import Recheck, never_applied
from bridge.engine.runtime import Runtime
from bridge.engine.saved_plan import (
    PlanError,
    PlannedAction,
    RoutePlan,
    SavedPlan,
    read_plan,
    route_fingerprint,
)
from bridge.engine.sync import RouteResult, run_route
from bridge.store.state import StateError, StateStore
from bridge.vocab import ActionRole, OutcomeStatus
from connectors.base import DateWindow, EntryDraft
from connectors.model import CanonicalEntry, Origin

#: A plan older than this is refused unless ``--max-age`` allows it: a day old, the
#: world it was decided on has moved on enough that most of it would be stale anyway.
DEFAULT_MAX_AGE = timedelta(hours=24)
#: How far ahead of this machine's clock a plan's time may be (another machine's clock).
FUTURE_SKEW = timedelta(minutes=5)
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> timedelta:
    """``--max-age``: a number of seconds, or with a unit: ``90m``, ``36h``, ``7d``."""
    match = _AGE.match(text)
    if not match:
        raise UsageError(f"--max-age: not an age such as 24h, 90m, 7d or 3600: {text!r}")
    return timedelta(seconds=float(match[1]) * _UNIT[match[2] or "s"])


def run_apply(loaded: LoadedConfig, path: str, *, fmt: str, max_age: timedelta,
              dry_run: bool = False, allow_deletes: bool = False) -> int:
    """Apply the plan in ``path``; print the report; return the exit code."""
    plan = checked_plan(loaded, path, max_age)
    runtime = Runtime(loaded)
    store = open_store(loaded)
    runtime.share_rate_budgets(store)
    results: list[RouteResult] = []
    try:
        with stop_on_signals() as stop:
            for route in plan.routes:
                if stop.is_set():
                    window = DateWindow(route.start, route.end)
                    result = RouteResult(route.route, window, dry_run,
                                         error="interrupted before this route started")
                    finish(result, route, Recheck(route), _target(loaded, route))
                else:
                    result = _apply_route(runtime, store, loaded, route, dry_run=dry_run,
                                          allow_deletes=allow_deletes, stop=stop)
                results.append(result)
    finally:
        runtime.close()
        store.close()
    emit(results, dry_run, fmt, None)
    return EXIT_FAILED if any(r.failed for r in results) else EXIT_OK


def checked_plan(loaded: LoadedConfig, path: str, max_age: timedelta,
                 now: datetime | None = None) -> SavedPlan:
    """The plan in ``path``, if it may be applied under this config now; else UsageError."""
    try:
        plan = read_plan(path)
    except PlanError as exc:
        raise UsageError(str(exc)) from None
    age = (now or datetime.now(UTC)) - plan.made_at
    if age < -FUTURE_SKEW:  # else an edited date would outlive every age limit
        raise UsageError(f"{path}: the plan was made at {plan.made_at:%Y-%m-%d %H:%M} UTC, "
                         "in the future; re-plan on a machine whose clock is right")
    if age > max_age:
        raise UsageError(f"{path}: the plan was made at {plan.made_at:%Y-%m-%d %H:%M} UTC, "
                         f"{_shown(age)} ago, older than the limit of {_shown(max_age)}; "
                         "re-plan, or give --max-age to allow an older plan")
    seen: set[str] = set()
    for route in plan.routes:
        if route.route in seen:
            raise UsageError(f"{path}: not a plan (route {route.route!r} appears twice)")
        seen.add(route.route)
        if route.end < route.start:
            raise UsageError(f"{path}: not a plan (route {route.route!r} ends before it starts)")
        try:
            loaded.config.route(route.route)
        except KeyError:
            raise UsageError(f"{path}: the plan's route {route.route!r} is not in the config "
                             "now; re-plan") from None
        if route_fingerprint(loaded.config, route.route) != route.fingerprint:
            raise UsageError(f"{path}: the config of route {route.route!r} changed since the "
                             "plan was saved (its tasks, description, policies or "
                             "connectors); the plan may mean something else now: re-plan")
    return plan


def _shown(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours:.1f}h" if hours < 48 else f"{hours / 24:.1f}d"


def _apply_route(runtime: Runtime, store: StateStore, loaded: LoadedConfig, route: RoutePlan,
                 *, dry_run: bool, allow_deletes: bool, stop: threading.Event) -> RouteResult:
    window = DateWindow(route.start, route.end)
    check = Recheck(route)
    if not check.by_key:   # nothing to re-check (none, or only held actions): read nothing
        result = RouteResult(route.route, window, dry_run)
    else:
        try:
            result = run_route(runtime, loaded.config.route(route.route), window, store,
                               dry_run=dry_run, allow_deletes=allow_deletes, stop=stop,
                               select=check)
        except StateError as exc:
            result = RouteResult(route.route, window, dry_run, error=f"state store failed: {exc}")
    finish(result, route, check, _target(loaded, route))
    return result


def _target(loaded: LoadedConfig, route: RoutePlan) -> tuple[str, str]:
    name = loaded.config.route(route.route).target
    return name, loaded.config.connectors[name].reference_source


def finish(result: RouteResult, route: RoutePlan, check: Recheck,
           target: tuple[str, str]) -> None:
    """Turn the pass's outcomes into the plan's: one per saved action, in the plan's order.

    Applied: the executor's outcome. Held: shown, never written. Matched but not started
    (a signal, a lost lock): failed, apply again. Not matched: ``stale`` with why, or,
    when a read stopped short or the route could not run, failed: not re-checked, so
    never applied blind. ``target``: the target connector's name and reference_source.
    """
    placed = {id(action): i for i, action in check.matched.items()}
    done: dict[int, Outcome] = {}
    for outcome in result.outcomes:
        i = placed.get(id(outcome.action))
        if i is not None:
            done[i] = outcome
    outcomes = []
    for i, saved in enumerate(route.actions):
        if i in done:
            outcomes.append(done[i])
            continue
        shown = _action(saved, target)
        if never_applied(saved):
            outcomes.append(Outcome(shown, shown.kind, OutcomeStatus.HELD, shown.target_id,
                                    saved.held or saved.reason))
        elif i in check.matched:
            outcomes.append(Outcome(shown, shown.kind, OutcomeStatus.FAILED, shown.target_id,
                                    saved.reason, error="not started: the run stopped first; "
                                                        "apply the plan again to finish"))
        elif check.short or not check.ran:
            # What a read that stopped short did not show proves nothing: never stale
            # on a guess, never applied blind.
            why = "a read stopped short" if check.ran else result.error or "not run"
            outcomes.append(Outcome(shown, shown.kind, OutcomeStatus.FAILED, shown.target_id,
                                    saved.reason,
                                    error=f"not re-checked ({why}); nothing written for it"))
        else:
            outcomes.append(Outcome(shown, shown.kind, OutcomeStatus.STALE, shown.target_id,
                                    check.why.get(i) or _unseen(saved)))
    result.outcomes = outcomes
    result.unchanged = 0   # apply reports the plan's actions only


def _unseen(saved: PlannedAction) -> str:
    """Why an action is stale whose origin, copy and link the whole pass never met."""
    if saved.action == Kind.DELETE and saved.copy is not None:
        return (f"already done: the copy {saved.copy.id} is no longer in the target and the "
                "bridge no longer tracks it; nothing to write")
    return ("its origin is not in the source over the plan's window now and no copy of it "
            "was found; re-plan to pick it up")


def _action(saved: PlannedAction, target: tuple[str, str]) -> Action:
    """The saved action as an :class:`Action` the reports can show (never executed)."""
    origin = Origin.trusted(*saved.origin_key.split(":", 1))
    draft = copy = None
    if saved.holds is not None:
        h = saved.holds
        draft = EntryDraft.trusted(origin, h.task, date.fromisoformat(h.date),
                                   None if h.start is None else datetime.fromisoformat(h.start),
                                   h.seconds, h.comment, h.billable)
    if saved.copy is not None:
        c = saved.copy
        copy = CanonicalEntry.trusted(connector=target[0], reference_source=target[1],
                                      record_id=c.id, origin=origin, task=c.task,
                                      work_date=date.fromisoformat(c.date), seconds=c.seconds,
                                      version=c.version)
    role = ActionRole.REPLACE_DELETE if saved.replace else ActionRole.PLAIN
    return Action(Kind(saved.action), origin, saved.origin, saved.reason, copy=copy,
                  draft=draft, changes=saved.changes, role=role)

