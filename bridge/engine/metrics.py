"""The bridge's Prometheus metrics: what ``GET /metrics`` of the daemon shows.

Everything lives in one :class:`Metrics`, with its own ``CollectorRegistry`` rather than
prometheus-client's global default one: an application embedding the bridge keeps its
own metrics apart, and a test can start from zero with :func:`reset`. Recording is a
counter increment under a lock (a microsecond), so passes and requests record whether or
not anybody scrapes; one-shot commands record too and simply never show it.

Where the numbers come from (each in one place):

* passes: :func:`observe_pass`, called by :func:`bridge.engine.sync.run_pass` (and
  ``run_route``) when a pass ends; actions: :func:`observe_action`, called by the
  executor as each one ends (dry runs apply nothing, so count nothing);
* requests, 429s, latency: :func:`observe_request`, registered with the HTTP chokepoint
  (:data:`connectors.http.REQUEST_OBSERVERS`) when this module is imported, since
  connectors never import ``bridge``; the ``api`` label is the connector's name in the
  config (``kaiten``, ``billing``), which tells two accounts of one type apart;
* held-route skips and webhook events: :func:`held_skip` and :func:`webhook_event`, plain
  functions for the daemon's scheduler and the webhook path to call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from bridge.vocab import Kind, OutcomeStatus, PassOutcome
from connectors.http import REQUEST_OBSERVERS

if TYPE_CHECKING:
    from bridge.engine.sync import RouteResult

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# No ``*_created`` series beside every counter: they double the page and say only when
# the process first counted something. (A process-wide switch of prometheus-client.)
disable_created_metrics()
#: How a pass ended. "ok" and "partial" (some actions failed) are good passes: the route
#: was read and planned in full. "failed": the route could not finish; "interrupted": a
#: signal, the pass's time bound or a lost lock; "held": another run held the route.
PASS_OUTCOMES = tuple(o.value for o in PassOutcome)
GOOD_OUTCOMES = frozenset({PassOutcome.OK.value, PassOutcome.PARTIAL.value})
#: Request latency buckets, seconds: loopback answers to a slow API page.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
#: Event names kept as a label; anything else a sender makes up is counted as "other",
#: so a flood of invented names cannot grow the metrics without bound.
KNOWN_EVENTS = frozenset({"timelog:add", "timelog:update", "timelog:remove"})


class Metrics:
    """The registry and every ``timebridge_*`` metric in it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.passes = Counter("timebridge_passes", "Route passes by how they ended.",
                              ["route", "outcome"], registry=r)
        self.actions = Counter("timebridge_actions", "Actions of passes that write, by "
                               "kind (create, update, delete, conflict, skip) and status "
                               "(done, failed, held: a closed period).",
                               ["route", "kind", "status"], registry=r)
        self.requests = Counter("timebridge_requests", "HTTP requests (attempts) to each "
                                "API by status class (2xx, 4xx, 5xx; error: no answer).",
                                ["api", "status_class"], registry=r)
        self.rate_limited = Counter("timebridge_rate_limited", "429 answers of each API.",
                                    ["api"], registry=r)
        self.request_duration = Histogram(
            "timebridge_request_duration_seconds", "Time from sending a request to having "
            "its whole answer (rate-limit waits not included).", ["api"],
            buckets=DURATION_BUCKETS, registry=r)
        self.last_success = Gauge("timebridge_last_success_timestamp_seconds", "When the "
                                  "route's last good pass ended (Unix time).", ["route"],
                                  registry=r)
        self.held_skips = Counter("timebridge_route_held_skips", "Turns skipped because "
                                  "another run (a replica) held the route.", ["route"],
                                  registry=r)
        self.webhook_events = Counter(
            "timebridge_webhook_events", "Webhook deliveries by source, event and outcome "
            "(refused, invalid, accepted, failed; acted, ignored).",
            ["source", "event", "outcome"], registry=r)
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def succeeded(self, route: str, finished_at: float) -> None:
        """The route's last good pass ended at ``finished_at`` (Unix time), unless a
        later one is already known: replicas and the store may report out of order."""
        with self._lock:
            if finished_at > self._last.get(route, 0.0):
                self._last[route] = finished_at
                self.last_success.labels(route).set(finished_at)

    def render(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)


_current = Metrics()


def current() -> Metrics:
    """The metrics of this process."""
    return _current


def reset() -> Metrics:
    """Start every metric from zero (tests); returns the new :class:`Metrics`."""
    global _current
    _current = Metrics()
    return _current


def declare_routes(routes: Iterable[str]) -> None:
    """Show every route's pass and skip counters from the start, at 0, so a rate over
    them is defined before the first pass ends."""
    m = _current
    for route in routes:
        for outcome in PASS_OUTCOMES:
            m.passes.labels(route, outcome)
        m.held_skips.labels(route)


def pass_outcome(result: RouteResult, *, held: bool = False) -> PassOutcome:
    """How the pass of ``result`` ended, one of :data:`PASS_OUTCOMES`."""
    if held:
        return PassOutcome.HELD
    if result.interrupted:
        return PassOutcome.INTERRUPTED
    if result.error is not None:
        return PassOutcome.FAILED
    return PassOutcome.PARTIAL if any(o.status == OutcomeStatus.FAILED
                                      for o in result.outcomes) else PassOutcome.OK


def observe_pass(result: RouteResult, outcome: str | None = None,
                 finished_at: float | None = None) -> None:
    """Count a pass that writes (dry runs are not counted); ``outcome`` defaults to
    :func:`pass_outcome`. A good pass sets the route's last-success time (``finished_at``,
    Unix time, default now)."""
    if result.dry_run:
        return
    m = _current
    outcome = outcome or pass_outcome(result)
    m.passes.labels(result.route, outcome).inc()
    if outcome in GOOD_OUTCOMES:
        m.succeeded(result.route, finished_at or time.time())


def observe_action(route: str, kind: str, status: str) -> None:
    """One applied action of ``route`` (the executor calls it as each one ends, so a long
    backfill shows its progress): ``kind`` create|update|delete|conflict|skip|unchanged
    (unchanged is not counted), ``status`` done|failed|held."""
    if kind != Kind.UNCHANGED:
        _current.actions.labels(route, kind, status).inc()


def seed_last_success(route: str, finished_at: float) -> None:
    """The route's last good pass as the state store knows it (a daemon starting up, or
    another replica's pass); the gauge only ever moves forward."""
    _current.succeeded(route, finished_at)


def status_class(status: int | None) -> str:
    """``2xx`` … ``5xx`` for an answer's status; ``error`` when no answer came."""
    return "error" if status is None else f"{status // 100}xx"


def observe_request(api: str, status: int | None, seconds: float) -> None:
    """One request attempt to ``api`` (a connector's name): its answer's status (None:
    none came) and how long it took."""
    m = _current
    m.requests.labels(api, status_class(status)).inc()
    if status == 429:
        m.rate_limited.labels(api).inc()
    m.request_duration.labels(api).observe(seconds)


def held_skip(route: str) -> None:
    """A turn of ``route`` skipped because another run (a replica) held it."""
    _current.held_skips.labels(route).inc()


def webhook_event(event: str | None, outcome: str, source: str = "kaiten") -> None:
    """A webhook delivery from ``source``: its ``event`` name (None when unknown, e.g. a
    refused delivery whose body was not read) and what became of it (``refused``,
    ``invalid``, ``accepted``, ``failed``; the hint queue adds ``acted``, ``ignored``)."""
    name = event if event in KNOWN_EVENTS else ("unknown" if event is None else "other")
    _current.webhook_events.labels(source, name, outcome).inc()


# The HTTP chokepoint tells every attempt to its observers (connectors never import bridge).
# Through a lookup of the module global, so reset() takes effect for later requests too.
if observe_request not in REQUEST_OBSERVERS:
    REQUEST_OBSERVERS.append(observe_request)
