"""``timebridge daemon``: every route once at start, then on its schedule, until a signal.

Design (why each piece is the way it is):

* **One process-wide** :class:`~bridge.engine.runtime.Runtime` **and one state store.** Routes on
  one API share its connector, so every request to that API goes through one
  ``HttpClient`` and the one shared :class:`~connectors.ratelimit.RateLimiter`. The
  connectors are built up front in the main thread: ``Runtime.connector`` builds lazily
  without a lock, and two passes starting at once could each build (and leak) a client.
  Connectors keep no per-call state and ``httpx.Client`` is thread-safe, so two routes
  may read through one connector at the same time.
* **APScheduler's** ``BackgroundScheduler`` with a small thread pool, so routes on
  different APIs run at once while the main thread only waits for a signal. Signals are
  delivered to the main thread only; a ``BlockingScheduler`` would own that thread, and
  its shutdown would then have to run inside a signal handler, blocked there until every
  running pass has finished.
* **No route overlaps itself**, twice over: each job has ``max_instances=1`` and
  ``coalesce=True``, so a run due while the last one still goes is skipped (and logged
  here) and a backlog of missed runs becomes one; and every pass takes the state store's
  route lock, which also keeps out another process (a second replica, a manual
  ``timebridge sync``).
* **Kaiten webhooks** are served by a :class:`~bridge.cli.hints.HintQueue` (its worker thread
  runs narrow passes of the card a delivery names; the HTTP listener hands it deliveries
  through ``on_kaiten_delivery``). A scheduled pass of a route waits for that route's
  narrow pass in flight and holds off new ones while it runs, so they take turns instead
  of finding the route held.
* **Replicas** (several daemons on one PostgreSQL store) share the work through those
  locks: a turn that finds its route held is skipped quietly (one INFO line and the
  ``held_skip`` metric, no run recorded, so ``status`` shows no failure), and a replica
  killed mid-pass loses its locks with its database sessions, so another takes the route
  at its next turn. They share each API account's rate limit through the store
  (:mod:`bridge.store.rate_budget`). An SQLite store allows one daemon: a second one refuses to
  start (its every turn would only find the routes held).
* **Shutdown** (SIGTERM or SIGINT): the scheduler stops handing out work, the stop event
  that every running pass holds is set (its executor finishes the write in flight, records
  the run as interrupted and returns), the pool is drained, the hint queue is closed (its
  pass in flight stops the same way; hints waiting are dropped), the store and connectors
  are closed, and the daemon returns 0. Work queued but not started sees the event and does
  nothing. Reads are not interrupted: a pass stopped while reading finishes that read
  first (then plans nothing it could write), so allow for one read in ``TimeoutStopSec``.
* **The listener** (only with ``[daemon]`` in the config, :mod:`bridge.cli.listener`): bound
  before the first pass, so a port in use stops the start with one line; it answers
  ``/healthz``, ``/readyz``, ``/metrics`` and webhooks while passes run and while they
  drain (``/readyz`` then says the daemon is stopping), and is closed before the store.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import nullcontext
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bridge.cli.hints import HintQueue
from bridge.cli.listener import ListenError, listen_for
from bridge.cli.signals import stop_on_signals
from bridge.config.loader import LoadedConfig, today
from bridge.config.models import RouteConfig
from bridge.engine import metrics
from bridge.engine.runtime import Runtime
from bridge.engine.sync import run_route
from bridge.store.locks import Held
from bridge.store.state import StateError, StateStore
from connectors.base import ConnectorError

log = logging.getLogger("timebridge.daemon")

EXIT_OK, EXIT_FAILED = 0, 1
MAX_WORKERS = 4  # routes running at once; each API's rate limit is shared anyway
POLL_SECONDS = 0.5  # how often the main thread looks at an external stop event


def trigger_for(route: RouteConfig) -> BaseTrigger:
    """The APScheduler trigger of ``route.schedule``: an interval, or a crontab in UTC."""
    schedule = route.parsed_schedule
    if schedule.interval is not None:
        return IntervalTrigger(seconds=int(schedule.interval.total_seconds()), timezone=UTC)
    return CronTrigger.from_crontab(schedule.crontab, timezone=UTC)


def run_daemon(loaded: LoadedConfig, *, stop: threading.Event | None = None) -> int:
    """Run every route once, then on its schedule, until SIGTERM/SIGINT; return the exit code.

    0 after a clean stop; 1 when the state store cannot be opened, or is an SQLite store
    another daemon already uses (one line logged).
    ``stop`` (tests, embedding) stops the daemon like a signal does. A bad
    ``$TIMEBRIDGE_TODAY`` raises :class:`~bridge.config.loader.ConfigError` before anything
    starts, as it does for ``sync``.
    """
    today()  # a bad pinned date is a config error: say so now, not in every pass
    # Handlers first: a signal during start-up must stop the daemon, not kill it mid-write.
    with stop_on_signals() as stopping:
        opened = _open_store(loaded)
        if opened is None:
            return EXIT_FAILED
        store, sole = opened
        runtime = Runtime(loaded)
        try:
            runtime.share_rate_budgets(store)  # with the other replicas on PostgreSQL
            return _serve(runtime, store, stopping, stop)
        finally:
            runtime.close()
            sole.release()
            store.close()
            log.info("daemon stopped")


def _open_store(loaded: LoadedConfig) -> tuple[StateStore, Held] | None:
    """The state store and this daemon's claim on it (SQLite takes one daemon); ``None``
    when either cannot be had, with one line logged."""
    try:
        store = StateStore(loaded.state_url)
    except StateError as exc:
        log.error("cannot start the daemon: %s", exc)
        return None
    try:
        sole, other = store.claim_daemon()
    except StateError as exc:
        store.close()
        log.error("cannot start the daemon: %s", exc)
        return None
    if sole is None:
        store.close()
        log.error("cannot start the daemon: another daemon%s already runs on the SQLite "
                  "state store %s; one daemon per SQLite store (for replicas, use "
                  "PostgreSQL)", f" (pid {other})" if other else "", loaded.state_url)
        return None
    return store, sole


def _serve(runtime: Runtime, store: StateStore, stopping: threading.Event,
           external: threading.Event | None) -> int:
    routes = runtime.routes()
    if not routes:
        log.warning("no routes in %s: nothing to schedule", runtime.loaded.path)
        return EXIT_OK
    for name in dict.fromkeys(n for r in routes for n in (r.source, r.target)):
        try:
            runtime.connector(name)
        except ConnectorError as exc:  # its passes will report it as their error
            log.error("connector %s: %s", name, exc)
    # An in-memory SQLite store is one shared connection: its passes must take turns.
    in_memory = store.url.get_backend_name() == "sqlite" and store.url.database in (
        None, "", ":memory:")
    workers = 1 if in_memory else min(len(routes), MAX_WORKERS)
    # Kaiten webhooks' narrow passes (the listener hands deliveries to hints.on_kaiten_delivery).
    hints = HintQueue(runtime.loaded, runtime, store, stopping)
    try:  # the HTTP listener, if [daemon] asks for one; webhooks go to the hint queue
        listener = listen_for(runtime.loaded, store, routes, stopping,
                              on_kaiten_delivery=hints.on_kaiten_delivery)
    except ListenError as exc:
        hints.close()
        log.error("cannot start the daemon: %s", exc)
        return EXIT_FAILED
    scheduler = BackgroundScheduler(
        timezone=UTC, executors={"default": ThreadPoolExecutor(max_workers=workers)},
        # misfire_grace_time None: a run that starts late (every worker busy) still runs.
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})
    scheduler.add_listener(_skipped, EVENT_JOB_MAX_INSTANCES)
    now = datetime.now(UTC)
    for route in routes:
        # next_run_time=now: the start-up run goes through the same pool and overlap guard.
        scheduler.add_job(_pass, trigger_for(route),
                          args=(runtime, route, store, stopping, hints),
                          id=route.name, name=route.name, next_run_time=now)
    log.info("daemon started: %s", ", ".join(f"{r.name} ({r.schedule})" for r in routes))
    scheduler.start()
    try:
        while not stopping.wait(POLL_SECONDS):
            if external is not None and external.is_set():
                stopping.set()
        log.info("stopping: no new passes; waiting for the running ones to finish")
    finally:
        stopping.set()  # also on an unexpected exit of the loop: passes must not linger
        scheduler.shutdown(wait=True)  # stops triggering, then drains the pool
        if listener is not None:
            listener.stop()  # before the store closes: /readyz reads it
        hints.close()
    return EXIT_OK


def _pass(runtime: Runtime, route: RouteConfig, store: StateStore,
          stopping: threading.Event, hints: HintQueue | None = None) -> None:
    """One scheduled pass of ``route``; logs one line, and never lets an exception out."""
    if stopping.is_set():
        return  # queued before the signal, started after it: do nothing
    began = time.monotonic()
    try:
        window = runtime.window(route, today())
        # A webhook's narrow pass of this route in flight ends first, and none starts
        # until this pass is done: the two take turns instead of holding each other out.
        with hints.full_pass(route.name) if hints is not None else nullcontext():
            result = run_route(runtime, route, window, store, dry_run=False,
                               allow_deletes=False, stop=stopping)
    except Exception:
        # A bug, or the state store failing under us: report it, and keep the schedule.
        log.exception("route %s: the pass failed unexpectedly; the daemon goes on", route.name)
        return
    if result.held:
        # Another replica (or a one-shot sync) runs it now: its turn, not a failure here.
        log.info("route %s: held by another run (a replica?); skipped this turn", route.name)
        metrics.held_skip(route.name)
        return
    counts = " ".join(f"{k}={v}" for k, v in result.summary.items())
    level = logging.WARNING if result.failed else logging.INFO
    log.log(level, "route %s %s..%s: %s in %.1fs%s", route.name, window.start, window.end,
            counts, time.monotonic() - began,
            f"; error: {result.error}" if result.error else "")


def _skipped(event: JobSubmissionEvent) -> None:
    """A run came due while the route's previous pass was still going: say it was skipped."""
    due = ", ".join(t.isoformat(timespec="seconds") for t in event.scheduled_run_times)
    log.warning("route %s: previous pass still running; skipped the run due at %s",
                event.job_id, due)
