"""Kaiten webhook hints, coalesced and served by narrow passes in the daemon.

The daemon's HTTP listener hands each accepted delivery to
:meth:`HintQueue.on_kaiten_delivery`, which returns at once. A worker thread then runs a
narrow pass (:func:`run_narrow`, see :mod:`bridge.engine.narrow`) of the hinted card on every
route whose source is a Kaiten connector (the delivery does not say which Kaiten sent
it; a pass more reads the truth once more and changes nothing).

* **Coalescing**: one pending pass per (route, card). Hints arriving while it waits merge
  into it (a burst of 50 events is one pass); a hint arriving while that card's pass runs
  queues exactly one more pass after it, which sees what the first may have missed.
* **Bounded**: at most ``capacity`` pending passes. When full, a hint for another card is
  dropped with a log line: the scheduled pass is the truth and will find the change.
* **Held routes**: a route held by another run or replica is tried again ``retries`` times
  with a doubling ``backoff`` (the hint was for fresh data), then left to the schedule.
  In this process a scheduled pass and a narrow pass of one route take turns instead
  (:meth:`HintQueue.full_pass`), so a stream of webhooks never starves the schedule.
* **Stopping**: :meth:`HintQueue.close` drops what is pending; a pass in flight sees the
  daemon's stop event, finishes the write in flight and records its run as interrupted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bridge.cli.webhooks import KaitenHint, Rejected, parse_delivery
from bridge.config.loader import LoadedConfig, today
from bridge.config.models import Config, RouteConfig
from bridge.engine import metrics
from bridge.engine.narrow import Narrow
from bridge.engine.runtime import Runtime
from bridge.engine.sync import RouteResult, run_route
from bridge.store.state import StateStore
from connectors.registry import connector_type

log = logging.getLogger("timebridge.hints")

DEFAULT_CAPACITY = 1000       # pending passes; each is a few hundred bytes
DEFAULT_RETRIES = 4           # tries after the first that found the route held
DEFAULT_BACKOFF = 2.0         # seconds before the first retry; doubles each time
NARROW_MAX_SECONDS = 300.0    # a narrow pass makes a few requests; this bounds a stuck one
IDLE_WAIT = 1.0               # the worker looks at the stop event at least this often

#: Runs the narrow pass of one route for one hint; returns True when the route was held.
NarrowPass = Callable[[RouteConfig, KaitenHint], bool]


def kaiten_routes(config: Config) -> list[RouteConfig]:
    """The routes whose source takes webhook hints (a Kaiten connector), in config order."""
    return [r for r in config.routes
            if connector_type(config.connectors[r.source].type).webhook_hints]


def takes_card(route: RouteConfig, card: int) -> bool:
    """Whether ``route``'s filter can take records of ``card`` (its ``card_ids``, if any).

    The other keys (user, board, space) are applied by the API in the narrow pass's read,
    exactly as in a full pass; only this one is known without asking.
    """
    cards = route.filter.get("card_ids") or []
    return not cards or card in cards


def run_narrow(runtime: Runtime, route: RouteConfig, card: int, store: StateStore,
               stop: threading.Event | None = None) -> RouteResult:
    """One narrow pass of ``route`` for Kaiten card ``card`` over the route's window."""
    return run_route(runtime, route, runtime.window(route, today()), store, stop=stop,
                     narrow=Narrow.card(card), max_seconds=NARROW_MAX_SECONDS)


@dataclass
class _Pending:
    route: RouteConfig
    hint: KaitenHint
    due: float          # time.monotonic() from which it may run
    attempts: int = 0   # passes so far that found the route held


class HintQueue:
    """Coalescing, bounded queue of narrow passes with one worker thread (see the module
    docstring). ``run`` replaces the narrow pass (tests); the rest are the defaults above."""

    def __init__(self, loaded: LoadedConfig, runtime: Runtime, store: StateStore,
                 stop: threading.Event, *, run: NarrowPass | None = None,
                 capacity: int = DEFAULT_CAPACITY, retries: int = DEFAULT_RETRIES,
                 backoff: float = DEFAULT_BACKOFF) -> None:
        self.routes = kaiten_routes(loaded.config)
        self._runtime, self._store, self._stop = runtime, store, stop
        self._run = run or self._narrow_pass
        self.capacity, self.retries, self.backoff = capacity, retries, backoff
        self._cond = threading.Condition()
        self._pending: dict[tuple[str, int], _Pending] = {}
        self._running: str | None = None          # the route of the pass in flight
        self._full: dict[str, int] = {}           # routes whose full pass runs now
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="webhook-hints", daemon=True)
        self._worker.start()

    # -- what the listener calls ------------------------------------------------------

    def on_kaiten_delivery(self, payload: dict) -> None:
        """Take one accepted delivery's JSON body; never raises, never waits for a pass."""
        parsed = parse_delivery(payload)
        if isinstance(parsed, Rejected):
            log.info("webhook ignored: %s", parsed.reason)
            metrics.webhook_event(parsed.event or None, "ignored")
            return
        self.offer(parsed)

    def offer(self, hint: KaitenHint) -> str:
        """Queue narrow passes for ``hint``; returns at once with what became of it:
        ``"accepted"`` (a new pass), ``"coalesced"`` (merged into one waiting) or
        ``"ignored"`` (no route takes the card, the queue is full, or it is closed)."""
        routes = [r for r in self.routes if takes_card(r, hint.card_id)]
        outcome = "ignored"
        with self._cond:
            for route in [] if self._closed else routes:
                key = (route.name, hint.card_id)
                if key in self._pending:
                    self._pending[key].hint = hint   # the newest says most, for the log
                    outcome = "coalesced" if outcome == "ignored" else outcome
                elif len(self._pending) >= self.capacity:
                    log.warning("webhook hint %s for route %s dropped: %d passes are waiting "
                                "already; the scheduled pass will find the change", hint,
                                route.name, len(self._pending))
                else:
                    self._pending[key] = _Pending(route, hint, time.monotonic())
                    outcome = "accepted"
            self._cond.notify_all()
        if not routes:
            log.info("webhook %s ignored: no Kaiten route's filter takes card %d", hint,
                     hint.card_id)
        # "accepted" is the listener's word for a delivery taken: a new pass is "queued".
        metrics.webhook_event(hint.event, "queued" if outcome == "accepted" else outcome)
        return outcome

    # -- the daemon's side --------------------------------------------------------------

    @contextmanager
    def full_pass(self, route: str, wait: float = NARROW_MAX_SECONDS) -> Iterator[None]:
        """Around a scheduled pass of ``route``: waits (up to ``wait`` seconds) for its
        narrow pass in flight, and starts none of it until the block ends."""
        with self._cond:
            self._full[route] = self._full.get(route, 0) + 1
            self._cond.wait_for(lambda: self._running != route or self._closed, timeout=wait)
        try:
            yield
        finally:
            with self._cond:
                self._full[route] -= 1
                if not self._full[route]:
                    del self._full[route]
                self._cond.notify_all()

    def close(self, timeout: float | None = None) -> None:
        """Stop taking hints, drop those waiting, and wait for the pass in flight (which
        the daemon's stop event ends after its write in flight)."""
        with self._cond:
            self._closed = True
            dropped = len(self._pending)
            self._pending.clear()
            self._cond.notify_all()
        self._worker.join(timeout)
        if dropped:
            log.info("webhook hints: %d narrow passes not started; the scheduled passes "
                     "will do their work", dropped)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no pass waits or runs (tests, benches); False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._pending and self._running is None, timeout=timeout)

    # -- the worker ---------------------------------------------------------------------

    def _work(self) -> None:
        while (entry := self._next()) is not None:
            try:
                held = self._run(entry.route, entry.hint)
            except Exception:  # a bug or the store failing: say so, keep serving hints
                log.exception("route %s: the narrow pass for %s failed unexpectedly",
                              entry.route.name, entry.hint)
                held = False
            with self._cond:
                self._running = None
                if held:
                    self._again(entry)
                self._cond.notify_all()

    def _next(self) -> _Pending | None:
        """The next pass due whose route is not in a full pass; None once closed."""
        with self._cond:
            while not self._closed and not self._stop.is_set():
                ready = [(key, p) for key, p in self._pending.items()
                         if p.route.name not in self._full]
                if ready:
                    key, entry = min(ready, key=lambda item: item[1].due)
                    wait = entry.due - time.monotonic()
                    if wait <= 0:
                        del self._pending[key]
                        self._running = entry.route.name
                        return entry
                    self._cond.wait(min(wait, IDLE_WAIT))
                else:
                    self._cond.wait(IDLE_WAIT)
            return None

    def _again(self, entry: _Pending) -> None:
        """The route was held: try again after a backoff, or leave it to the schedule."""
        key = (entry.route.name, entry.hint.card_id)
        entry.attempts += 1
        if entry.attempts > self.retries:
            log.info("route %s is still held by another run after %d tries; %s is left to "
                     "the scheduled pass", entry.route.name, entry.attempts, entry.hint)
            return
        due = time.monotonic() + self.backoff * 2 ** (entry.attempts - 1)
        waiting = self._pending.get(key)
        if waiting is not None:   # a newer hint waits already: it takes over the tries
            waiting.attempts, waiting.due = entry.attempts, max(waiting.due, due)
        elif not self._closed:
            entry.due = due
            self._pending[key] = entry

    def _narrow_pass(self, route: RouteConfig, hint: KaitenHint) -> bool:
        began = time.monotonic()
        result = run_narrow(self._runtime, route, hint.card_id, self._store, self._stop)
        if result.held:
            log.info("route %s is held by another run; the narrow pass for %s waits",
                     route.name, hint)
            return True
        metrics.webhook_event(hint.event, "acted")
        counts = " ".join(f"{k}={v}" for k, v in result.summary.items())
        level = logging.WARNING if result.failed else logging.INFO
        log.log(level, "route %s, card %d (%s): %s in %.1fs%s", route.name, hint.card_id,
                hint.event, counts, time.monotonic() - began,
                f"; error: {result.error}" if result.error else "")
        return False
