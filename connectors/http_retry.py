"""When the HTTP chokepoint asks again: attempts for failures, time for 429s.

A 429 proves the request was not applied (the server refused it before doing
anything), so it is always safe to send again, a create included, and giving up
after a handful of tries only turns a busy minute into a failed pass. Other
transient failures (5xx, a lost connection) may mean a broken server: for those a
small number of attempts is the right bound, and a host that cannot be reached at all
gets a short one (a host that is down stays down for longer than a pass should wait).
:class:`RetryBudget` keeps the counts for one request; :mod:`connectors.http` drives it
with ``stamina`` and says each retry in one log line: the API, the request, the attempt
and the delay.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from connectors.base import TransientError, UnknownOutcomeError, UnreachableError

DEFAULT_MAX_RATE_LIMIT_SECONDS = 120.0


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` in all for transient failures (429s do not count: they are bounded by
    time, ``max_rate_limit_seconds`` of the connector), exponential backoff from
    ``wait_initial`` up to ``wait_max`` plus up to ``wait_jitter`` of jitter; a 429 is
    waited out for as long as the server says, but never longer than
    ``max_rate_limit_wait`` seconds before asking again."""

    attempts: int = 5
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_jitter: float = 0.5
    max_rate_limit_wait: float = 120.0
    # A host that cannot be reached at all (refused, unknown name): this many attempts,
    # these waits between them (about 1 s in all), then the request fails; and for
    # ``unreachable_hold`` seconds after, further requests to it fail at once instead of
    # each waiting its own retries (a pass over a host that is down fails in seconds).
    unreachable_attempts: int = 3
    unreachable_waits: tuple[float, ...] = (0.25, 0.75)
    unreachable_hold: float = 30.0


class RetryBudget:
    """What is left of one request's retries: ``policy.attempts`` for transient failures,
    ``rate_limit_seconds`` of time (from the first attempt) for 429 answers."""

    def __init__(self, policy: RetryPolicy, rate_limit_seconds: float) -> None:
        self.policy = policy
        self.rate_limit_seconds = rate_limit_seconds
        self.began = time.monotonic()
        self.failures = 0  # transient failures, 429s not included
        self.refusals = 0  # 429 answers

    @property
    def elapsed(self) -> float:
        """Seconds since the first attempt began."""
        return time.monotonic() - self.began

    @property
    def time_left(self) -> float:
        """Seconds of the 429 budget left (0 when spent)."""
        return max(0.0, self.rate_limit_seconds - self.elapsed)

    def after_failure(self, exc: Exception) -> bool | float:
        """A transient failure: the wait before the next attempt, or False to give up.
        A failure after sending a create (:class:`UnknownOutcomeError`) is never re-sent."""
        if not isinstance(exc, TransientError) or isinstance(exc, UnknownOutcomeError):
            return False
        self.failures += 1
        if isinstance(exc, UnreachableError):
            waits = self.policy.unreachable_waits
            if self.failures >= self.policy.unreachable_attempts or not waits:
                return False
            return waits[min(self.failures, len(waits)) - 1]
        if self.failures >= self.policy.attempts:
            return False
        return self._backoff(self.failures)

    def attempts_for(self, exc: Exception) -> int:
        """How many attempts in all a request failing with ``exc`` gets."""
        if isinstance(exc, UnreachableError):
            return self.policy.unreachable_attempts
        return self.policy.attempts

    def after_refusal(self, server_wait: float | None) -> float | None:
        """A 429: how long every user of the account pauses before this request asks
        again (the server's word, capped at ``max_rate_limit_wait`` and the time left,
        at least ``wait_initial`` so a reset "now" is no hot loop); None when spent."""
        self.refusals += 1
        left = self.time_left
        if left <= 0:
            return None
        wait = server_wait if server_wait is not None else self._backoff(self.refusals)
        wait = min(wait, self.policy.max_rate_limit_wait, left)
        return max(wait, min(self.policy.wait_initial, left))

    def spent_message(self, error: str) -> str:
        """The message of the 429 given up on (``error``): it says how long the request
        waited."""
        return (f"{error}; still refused after {self.elapsed:.1f}s of waiting and "
                f"{self.refusals} rate-limited answers (max_rate_limit_seconds = "
                f"{self.rate_limit_seconds:g})")

    def _backoff(self, number: int) -> float:
        policy = self.policy
        jitter = random.uniform(0.0, policy.wait_jitter) if policy.wait_jitter else 0.0
        try:
            return min(policy.wait_max, policy.wait_initial * 2 ** (number - 1) + jitter)
        except OverflowError:
            return policy.wait_max
