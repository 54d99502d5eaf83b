"""``/readyz``: the state store answers, and no route's last good pass is too old.

A route is too old when more than ``ready_max_age`` of its periods have gone by since
its last good pass (finished, not interrupted, no route error; see
:meth:`bridge.store.state.StateStore.last_good_runs`) or since this daemon started, whichever
is later. So a daemon that was down for a day gets a fresh grace at start rather than
failing until its first pass ends, and a route that never had a good pass is ready only
for that grace. The last good pass comes from the store, not from this process, so a
route that another replica runs (and this one skips as held) is judged by that
replica's passes.

A route's period is its interval (``every 30s``), or for a crontab the longest gap
between its next few fire times: a weekday schedule gets its weekend gap, so a quiet
Sunday is not a failure.

The store is asked on a thread of its own with a bounded wait: a store that hangs makes
``/readyz`` answer 503 in :data:`READY_TIMEOUT` seconds, not hang the probe; probes
arriving meanwhile wait on that same question instead of piling up threads, and a
question left hanging does not hold up the daemon's exit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger

from bridge.config.models import RouteConfig
from bridge.engine import metrics
from bridge.store.state import StateError, StateStore

log = logging.getLogger("timebridge.daemon")

READY_TIMEOUT = 2.0  # seconds the store gets to answer; advise probes a longer timeout
CRON_LOOKAHEAD = 8   # fire times looked at for a crontab's period (a week of weekdays)


def schedule_period(route: RouteConfig, now: datetime | None = None) -> float:
    """Seconds between two passes of ``route`` (see the module docstring for crontabs);
    infinite for a crontab that never fires again."""
    schedule = route.parsed_schedule
    if schedule.interval is not None:
        return schedule.interval.total_seconds()
    trigger = CronTrigger.from_crontab(schedule.crontab, timezone=UTC)
    fire = trigger.get_next_fire_time(None, now or datetime.now(UTC))
    longest = 0.0
    for _ in range(CRON_LOOKAHEAD - 1):
        if fire is None:
            return float("inf")
        following = trigger.get_next_fire_time(fire, fire)
        if following is None:
            return float("inf")
        longest = max(longest, (following - fire).total_seconds())
        fire = following
    return longest


def span(seconds: float) -> str:
    """``95s``, ``12m``, ``3.5h``, ``2.1d``: a duration for a person."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f}".removesuffix(".0") + unit
    return f"{seconds:.0f}s"


class Readiness:
    """Whether the daemon is ready; :meth:`check` returns the reasons it is not."""

    def __init__(self, store: StateStore, routes: Iterable[RouteConfig], max_age: float, *,
                 started: float | None = None, clock: Callable[[], float] = time.time,
                 timeout: float = READY_TIMEOUT,
                 stopping: threading.Event | None = None) -> None:
        self.store = store
        self.stopping = stopping
        self.max_age = max_age
        self.clock = clock
        self.started = clock() if started is None else started
        self.timeout = timeout
        self.periods = {r.name: schedule_period(r) for r in routes}
        self._asking: Future[dict[str, datetime]] | None = None
        self._lock = threading.Lock()
        self._failing: frozenset[str] = frozenset()  # what the last check found wrong

    def check(self) -> list[str]:
        """Every reason the daemon is not ready (one line each); empty when it is."""
        if self.stopping is not None and self.stopping.is_set():
            return self._said({"stopping": "the daemon is stopping"})
        try:
            last = self._ask_store()
        except FutureTimeout:
            return self._said({"store": f"the state store did not answer within "
                                        f"{self.timeout:g}s"})
        except StateError as exc:
            # The body may be seen from outside (webhooks share the port): the details,
            # which name the store's host, go to the log only.
            return self._said({"store": "the state store does not answer (the daemon's "
                                        "log says why)"}, detail=str(exc))
        now = self.clock()
        stale = {}
        for route, period in self.periods.items():
            good = last.get(route)
            if good is not None:
                metrics.seed_last_success(route, good.timestamp())
            since = max(self.started, good.timestamp() if good is not None else 0.0)
            limit = self.max_age * period
            if now - since > limit:
                stale[route] = self._stale(route, good, now - since, period, limit)
        return self._said(stale)

    def close(self) -> None:
        """Nothing to wait for: a question still in flight is abandoned with its thread."""

    def _ask_store(self) -> dict[str, datetime]:
        with self._lock:
            if self._asking is None or self._asking.done():
                self._asking = Future()
                # A daemon thread per question, not a pool: a question hanging on a dead
                # store must not hold up the process's exit (a pool's workers are joined).
                threading.Thread(target=self._ask, args=(self._asking,), daemon=True,
                                 name="readyz").start()
            asking = self._asking
        return asking.result(timeout=self.timeout)

    def _ask(self, answer: Future[dict[str, datetime]]) -> None:
        try:
            answer.set_result(self.store.last_good_runs(list(self.periods)))
        except BaseException as exc:
            answer.set_exception(exc)

    def _stale(self, route: str, good: datetime | None, age: float, period: float,
               limit: float) -> str:
        bound = f"more than {self.max_age:g} × its period of {span(period)} ({span(limit)})"
        if good is None or good.timestamp() < self.started:
            before = "" if good is None else \
                f"; the last one ended {good.isoformat(timespec='seconds')}"
            return (f"route {route}: no good pass in the {span(age)} since the daemon "
                    f"started, {bound}{before}")
        return (f"route {route}: last good pass ended {good.isoformat(timespec='seconds')}, "
                f"{span(age)} ago, {bound}")

    def _said(self, reasons: dict[str, str], detail: str | None = None) -> list[str]:
        """The reasons as lines; a change between ready and not (or of what is wrong) is
        logged once, not at every probe (probes may come from several threads at once)."""
        failing = frozenset(reasons)
        with self._lock:
            changed, self._failing = failing != self._failing, failing
        if changed and failing:
            log.warning("not ready: %s", "; ".join(
                detail if key == "store" and detail else text for key, text in reasons.items()))
        elif changed:
            log.info("ready again")
        return list(reasons.values())
