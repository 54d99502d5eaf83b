"""A request pacer shared by every client of one API account in the process."""

from __future__ import annotations

import threading
import time
from typing import ClassVar


class RateLimiter:
    """Paces requests so at most `requests_per_second` start in any one-second window.

    A smooth pacer (the minimum interval between request starts is ``1/rps``),
    thread-safe and meant to be shared by every client of one API account (see
    :meth:`shared`). After a 429, :meth:`pause_until` holds back every user.
    ``requests`` and ``waited_seconds`` count acquisitions and time spent waiting.
    """

    _registry: ClassVar[dict[str, RateLimiter]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, requests_per_second: float | None = None) -> None:
        self._lock = threading.Lock()
        self.requests_per_second: float | None = None
        self._interval = 0.0
        self.tighten(requests_per_second)
        self._next_start = 0.0  # monotonic time the next request may start
        self._paused = 0.0  # monotonic time a 429 pause ends
        self.requests = 0
        self.waited_seconds = 0.0

    @classmethod
    def shared(cls, key: str, requests_per_second: float | None) -> RateLimiter:
        """The process-wide limiter for ``key``; None/0 is unlimited, the stricter rate wins."""
        with cls._registry_lock:
            limiter = cls._registry.get(key)
            if limiter is None:
                limiter = cls._registry[key] = cls(requests_per_second)
            else:
                limiter.tighten(requests_per_second)
            return limiter

    def tighten(self, requests_per_second: float | None) -> None:
        """Lower the rate to ``requests_per_second`` if that is stricter than the current one."""
        if not requests_per_second or requests_per_second <= 0:
            return
        with self._lock:
            if self.requests_per_second is None or requests_per_second < self.requests_per_second:
                self.requests_per_second = float(requests_per_second)
                self._interval = 1.0 / requests_per_second

    @property
    def paused_until(self) -> float:
        """Epoch seconds before which no request starts (in the past when not paused)."""
        return time.time() + (self._paused - time.monotonic())

    def pause_until(self, epoch_seconds: float) -> None:
        """After a 429: no request of any user of this limiter starts before ``epoch_seconds``."""
        until = time.monotonic() + (epoch_seconds - time.time())
        with self._lock:
            self._paused = max(self._paused, until)

    def acquire(self) -> float:
        """Block until this request may start; returns the seconds waited."""
        began = time.monotonic()
        while True:
            with self._lock:
                now = time.monotonic()
                pause = self._paused - now
                if pause <= 0:
                    # Reserve the next slot under the lock, sleep outside it.
                    start = max(now, self._next_start)
                    self._next_start = start + self._interval
            if pause > 0:
                time.sleep(pause)
                continue
            if start > now:
                time.sleep(start - now)
            if self._paused <= time.monotonic():
                break  # else a 429 paused everyone while we slept: wait it out too
        waited = time.monotonic() - began
        with self._lock:
            self.requests += 1
            self.waited_seconds += waited
        return waited
