"""Rate-limit models of the emulators: how a server may count "N requests per second".

Kaiten documents only "5 requests per second", ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` ("UTC epoch when the limit will be reset"); how it counts is
not said. Each model here is one plausible reading, so a client is proven against
all of them rather than against its own assumption:

* :class:`TokenBucket` (``"bucket"``): a bucket of ``rate`` tokens refilled smoothly;
* :class:`FixedWindow` (``"fixed"``): at most ``rate`` requests in each whole epoch
  second; ``Remaining`` counts down within the second, ``Reset`` is the next second;
* :class:`SlidingWindow` (``"sliding"``): at most ``rate`` requests in any one-second
  span (a log of the last accepted requests).

Every model's ``acquire(key)`` returns ``(allowed, remaining, reset)``: whether this
request is let through, how many more would be let through now, and the whole epoch
second after which the key may send again (the next window for ``"fixed"``). A refused
request is not counted: a client that keeps asking is not locked out for ever.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Protocol

RATE_WINDOWS = ("bucket", "fixed", "sliding")


class RateModel(Protocol):
    """What an emulator asks of its rate limit (see the module docstring)."""

    rate: float

    def acquire(self, key: str) -> tuple[bool, int, int]: ...


class TokenBucket:
    """``rate`` requests per second per key, with a burst of ``rate`` (one second's worth).

    ``acquire`` returns (allowed, remaining, reset_epoch_seconds) for the headers.
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> tuple[bool, int, int]:
        now = time.time()
        with self._lock:
            tokens, stamp = self._state.get(key, (self.rate, now))
            tokens = min(self.rate, tokens + (now - stamp) * self.rate)
            allowed = tokens >= 1
            if allowed:
                tokens -= 1
            self._state[key] = (tokens, now)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            return allowed, int(tokens), int(now + wait) + 1


class FixedWindow:
    """At most ``floor(rate)`` requests per key in each whole epoch second (UTC)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._limit = max(1, math.floor(rate))
        self._state: dict[str, tuple[int, int]] = {}  # key -> (second, requests in it)
        self._lock = threading.Lock()

    def acquire(self, key: str) -> tuple[bool, int, int]:
        now = time.time()
        second = int(now)
        with self._lock:
            window, used = self._state.get(key, (second, 0))
            if window != second:
                used = 0
            allowed = used < self._limit
            used += allowed
            self._state[key] = (second, used)
            return allowed, self._limit - used, second + 1


class SlidingWindow:
    """At most ``floor(rate)`` requests per key in any one-second span (a sliding log)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._limit = max(1, math.floor(rate))
        self._logs: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> tuple[bool, int, int]:
        now = time.time()
        with self._lock:
            log = self._logs.setdefault(key, deque())
            while log and log[0] <= now - 1.0:
                log.popleft()
            allowed = len(log) < self._limit
            if allowed:
                log.append(now)
            remaining = self._limit - len(log)
            # A slot frees when the oldest counted request is a second old.
            free_at = now if remaining > 0 else log[0] + 1.0
            return allowed, remaining, int(free_at) + 1


def rate_model(kind: str, rate: float) -> RateModel:
    """The rate-limit model named ``kind`` (one of :data:`RATE_WINDOWS`) at ``rate``/s."""
    models: dict[str, type[TokenBucket] | type[FixedWindow] | type[SlidingWindow]] = {
        "bucket": TokenBucket, "fixed": FixedWindow, "sliding": SlidingWindow}
    if kind not in models:
        raise ValueError(f"rate_window must be one of {', '.join(RATE_WINDOWS)} (got {kind!r})")
    return models[kind](rate)
