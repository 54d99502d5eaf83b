"""A request pacer shared by every client of one API account in the process.

By default the pacer counts the starts of its own process (a sliding log in memory).
Where other processes use the same account at the same time (replicas on one state
store), a :class:`Budget` counts them all: the limiter then reserves every start in it,
and falls back to its own log while the budget cannot answer.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time as _time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

# How much later than the server's one-second window the (N+1)th start may go than the
# start N requests earlier. A request starts here but is counted where the server sees it
# arrive; thread wake-ups and the network move that by a few ms either way, so exactly
# one second would let an early (N+1)th land in the same server window as a late 1st.
# 40 ms covers that jitter while keeping 5 per 1.04 s = 4.81/s, above the 4.75/s (95 %
# of Kaiten's 5/s) the bridge aims at; 50 ms would leave no room (4.76/s) for overhead.
MARGIN = 0.04
WINDOW = 1.0
MAX_LOG = 10_000  # at most this many starts per window are remembered (a huge rate)
# Starts are kept this much longer than the pacing needs, so that an answer arriving late
# can still be compared with the starts of its own window (see RateLimiter.observe).
KEEP = 5.0
# The margin of a budget shared by processes (replicas), often on several hosts: their
# requests reach the server by different paths, and through a database round trip, so
# the same 40 ms would be eaten by their differences. 5 per 1.1 s = 4.55/s, 91 % of
# Kaiten's 5/s, is the price of never meeting a 429 from one's own replicas.
SHARED_MARGIN = 0.1
# A start reserved in a shared budget goes at most this much later than the budget
# counted it (else it is reserved again, up to MAX_LATE times): a quarter of the
# margin, which leaves the rest to the network and the server.
LATE = SHARED_MARGIN / 4
MAX_LATE = 3


class Clock(Protocol):
    """Where the limiter reads the time and sleeps (tests inject a fake one)."""

    def monotonic(self) -> float: ...
    def time(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.time`, :func:`time.sleep`."""

    monotonic = staticmethod(_time.monotonic)
    time = staticmethod(_time.time)
    sleep = staticmethod(_time.sleep)


@dataclass(frozen=True)
class Grant:
    """A start reserved in a shared :class:`Budget`.

    ``delay``: seconds from now until the start. ``ages``: the budget's recent starts
    (this one included), as seconds before now; negative for starts reserved ahead.
    """

    delay: float
    ages: tuple[float, ...] = ()


class BudgetUnavailable(Exception):
    """The shared budget cannot answer now: this process paces on its own meanwhile."""


class Budget(Protocol):
    """The request starts of one API account, counted across processes.

    The in-process default is no budget at all: the limiter's own log. A budget must
    answer quickly or raise :class:`BudgetUnavailable` (never hang a request); it keeps
    its own clock, so only durations cross between it and the limiter.
    """

    def reserve(self, limit: int, span: float) -> Grant | None:
        """Reserve the next start: at most ``limit`` starts per ``span`` seconds, after
        any pause. ``None``: the budget was closed, and the limiter stops using it."""
        ...

    def pause_until(self, epoch_seconds: float) -> None:
        """No start reserved from now on goes before ``epoch_seconds`` (this host's clock)."""
        ...

    def recent(self) -> tuple[float, ...] | None:
        """The recent starts, as :attr:`Grant.ages`; ``None`` when closed."""
        ...


#: Gives the shared budget of an API account by its limiter key (see RateLimiter.shared).
BudgetSource = Callable[[str], Budget]


class RateLimiter:
    """Lets at most N requests start in any one-second window, as a server counts them.

    A sliding log of request starts: with ``requests_per_second`` = N (a fraction r
    counts as floor(r); below 1/s it is one start per 1/r seconds), the (N+1)th start
    waits until :data:`MARGIN` after the one-second window that began at the start N
    requests earlier. Unlike a smooth interval, it lets a burst of N go at once and
    cannot put N+1 starts in one second when answers arrive unevenly. Slots are reserved
    in arrival order under a lock (FIFO), and the waiting is done outside it.

    Thread-safe and meant to be shared by every client of one API account (see
    :meth:`shared`). :meth:`pause_until` (after a 429) and :meth:`observe` (the server's
    ``X-RateLimit-Remaining``) hold back every user. ``requests`` and ``waited_seconds``
    count acquisitions and time spent waiting.

    With a :attr:`budget` (see :class:`Budget`), every start of a limited account is
    reserved there instead, so that processes sharing the account share the limit; its
    recent starts replace this limiter's log, which :meth:`observe` and a fallback use.
    """

    _registry: ClassVar[dict[str, RateLimiter]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, requests_per_second: float | None = None, *,
                 clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self.requests_per_second: float | None = None
        self._limit: int | None = None  # N starts ...
        self._span = 0.0  # ... per this many seconds (the window plus the margin)
        self._starts: deque[float] = deque()  # monotonic starts, sorted, reserved included
        self._generation = 0  # bumped when a pause cancels the reservations not yet started
        self._paused = 0.0  # monotonic time a pause ends
        self.requests = 0
        self.waited_seconds = 0.0
        self.budget: Budget | None = None
        self.tighten(requests_per_second)

    @classmethod
    def shared(cls, key: str, requests_per_second: float | None,
               budgets: BudgetSource | None = None) -> RateLimiter:
        """The process-wide limiter for ``key``; None/0 is unlimited, the stricter rate wins.

        ``budgets``: where processes sharing the account count its starts; the limiter
        then uses ``budgets(key)`` (the latest one given wins). ``key`` names the account
        and never holds a secret (a hash of a token at most).
        """
        with cls._registry_lock:
            limiter = cls._registry.get(key)
            if limiter is None:
                limiter = cls._registry[key] = cls(requests_per_second)
            else:
                limiter.tighten(requests_per_second)
        if budgets is not None:
            limiter.budget = budgets(key)
        return limiter

    def tighten(self, requests_per_second: float | None) -> None:
        """Lower the rate to ``requests_per_second`` if that is stricter than the current one."""
        if not requests_per_second or requests_per_second <= 0:
            return
        with self._lock:
            if self.requests_per_second is None or requests_per_second < self.requests_per_second:
                rate = float(requests_per_second)
                self.requests_per_second = rate
                # A server counts whole requests: 2.5/s is 2 per second (below 1/s, one
                # per 1/rate seconds), so no one-second window ever holds more.
                self._limit = min(MAX_LOG, max(1, math.floor(rate * WINDOW)))
                self._span = max(WINDOW, self._limit / rate) + MARGIN

    @property
    def paused_until(self) -> float:
        """Epoch seconds before which no request starts (in the past when not paused)."""
        return self._clock.time() + (self._paused - self._clock.monotonic())

    def pause_until(self, epoch_seconds: float) -> None:
        """No request of any user of this limiter starts before ``epoch_seconds``."""
        with self._lock:
            now = self._clock.monotonic()
            until = now + (epoch_seconds - self._clock.time())
            if until <= self._paused:
                return
            self._paused = until
            # Slots reserved for later were promised before the server spoke: cancel them
            # (their holders reserve again after the pause), so none starts inside it.
            while self._starts and self._starts[-1] > now:
                self._starts.pop()
            self._generation += 1
        budget = self.budget
        if budget is not None and self._limit is not None:
            # The other processes wait too; should the budget fail, this process waits
            # regardless, and the others meet the 429 themselves.
            with contextlib.suppress(BudgetUnavailable):
                budget.pause_until(epoch_seconds)

    def observe(self, started: float, remaining: int | None, reset_in: float | None) -> None:
        """Take in an answer's ``X-RateLimit-Remaining`` and reset (seconds from now) of a
        request that started at monotonic time ``started``.

        ``Remaining: 0`` with a reset ahead pauses every user until the reset, unless this
        limiter's own log explains it (N of its own starts in the server's window): then
        the log already holds the next start back, more precisely than a reset given in
        whole seconds could (up to a second late). A server that counts requests this
        process did not make (another process on the account, or a lower limit than
        configured) is thus believed, and an unlimited limiter always believes it.
        """
        if remaining is None or remaining > 0 or not reset_in or reset_in <= 0:
            return
        if self.budget is not None and self._limit is not None:
            # The other processes' starts since this one's reservation count too.
            self._take_shared(lambda budget: budget.recent())
        with self._lock:
            if self._limit is not None:
                low, high = started - WINDOW - MARGIN, started + MARGIN
                own = sum(1 for start in self._starts if low < start <= high)
                if own >= self._limit:
                    return
        self.pause_until(self._clock.time() + reset_in)

    def _reserve(self, now: float) -> tuple[float, int]:
        """Under the lock: the earliest start this request may have; it is logged now."""
        starts = self._starts
        while starts and starts[0] <= now - max(self._span, WINDOW + MARGIN) - KEEP:
            starts.popleft()  # too old to matter to any later start or answer
        start = max(now, self._paused, starts[-1] if starts else now)  # FIFO
        if self._limit is not None and len(starts) >= self._limit:
            start = max(start, starts[-self._limit] + self._span)
        starts.append(start)
        return start, self._generation

    def _take_shared(self, ask: Callable[[Budget], Grant | tuple[float, ...] | None],
                     ) -> Grant | tuple[float, ...] | None:
        """Ask the shared budget; its recent starts become this limiter's log. ``None``:
        no budget to ask (closed ones are let go), or it cannot answer now."""
        budget = self.budget
        if budget is None:
            return None
        try:
            answer = ask(budget)
        except BudgetUnavailable:
            return None
        if answer is None:  # closed (its state store was closed): back to pacing alone
            if self.budget is budget:
                self.budget = None
            return None
        ages = answer.ages if isinstance(answer, Grant) else answer
        now = self._clock.monotonic()
        with self._lock:
            # Everyone's starts, not only ours: observe() judges a Remaining: 0 by them,
            # and should the budget fail, the pacing goes on from them.
            self._starts = deque(sorted(now - age for age in ages))
        return answer

    def _reserve_shared(self) -> tuple[float, float] | None:
        """(when to start, the earliest time the budget may have counted the start), both
        monotonic; ``None``: pace in this process."""
        if self.budget is None or self._limit is None:
            return None  # an unlimited account has nothing to share but a 429's pause
        limit, span = self._limit, self._span - MARGIN + SHARED_MARGIN
        asked = self._clock.monotonic()
        grant = self._take_shared(lambda budget: budget.reserve(limit, span))
        if not isinstance(grant, Grant):
            return None
        # The budget read its clock between our asking and its answer: start after the
        # answer (never early), knowing the start may be counted from the asking on.
        return self._clock.monotonic() + grant.delay, asked + grant.delay

    def acquire(self) -> float:
        """Block until this request may start; returns the seconds waited."""
        clock = self._clock
        began = clock.monotonic()
        late = 0
        while True:
            with self._lock:
                generation = self._generation
                hold = self._paused - clock.monotonic()
            if hold > 0 and self.budget is not None:
                # Paused here (a 429): wait it out before asking the shared budget, whose
                # slot would otherwise be spent, and asked for again, inside the pause.
                clock.sleep(hold)
                continue
            shared = self._reserve_shared()
            if shared is None:
                with self._lock:
                    start, generation = self._reserve(clock.monotonic())
            else:
                start, counted = shared
            delay = start - clock.monotonic()
            if delay > 0:
                clock.sleep(delay)
            if shared is not None and clock.monotonic() - counted > LATE and late < MAX_LATE:
                # This process ran late (a slow answer, a busy host): a start that goes
                # much later than the budget counted it could meet, in the server's
                # window, starts counted a window after it. Take a new slot; the old
                # one stays counted, so the limit holds either way.
                late += 1
                continue
            with self._lock:
                if generation == self._generation and self._paused <= clock.monotonic():
                    waited = clock.monotonic() - began
                    self.requests += 1
                    self.waited_seconds += waited
                    return waited
            # A pause came while this one slept: its slot is gone, reserve again.
