"""Webhook deliveries of the Kaiten emulator: ``timelog:add|update|remove`` (seed 004).

Seed 004 names the events but not the body of a delivery. The emulator sends a POST with
a JSON body in one of two shapes (``shape``), both of which the bridge accepts
(:mod:`bridge.cli.webhooks`):

* ``"flat"`` (default): ``{"event": "timelog:add", "data": <the time log>, "id": "<delivery
  id>", "created": "<UTC time>"}``; for a removal, ``data`` is the log as it was;
* ``"changes"``: ``data`` is ``{"new": <log>}`` for an add, ``{"old": <before>, "new":
  <after>}`` for an update and ``{"old": <log>}`` for a removal.

The time log is as ``GET /cards/{card_id}/time-logs`` answers it (with ``user``, ``role``
and ``card``). Every change made through the API is delivered to every subscriber
(:meth:`KaitenWebhooks.subscribe`: a URL, and optionally a secret sent as the ``secret``
query parameter or the ``X-Timebridge-Secret`` header), one POST at a time, from a
background thread: the API answers without waiting for any delivery.

Switches for tests (attributes, changeable at any time): ``duplicate`` (each delivery is
sent twice), ``drop`` (the share of deliveries never sent, by a seeded draw), ``delay``
(seconds each delivery waits before it is sent: late), ``hold`` (deliveries are kept until
:meth:`KaitenWebhooks.release`, which sends them in the order asked: out of order).
"""

from __future__ import annotations

import itertools
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

SHAPES = ("flat", "changes")
SECRET_HEADER = "X-Timebridge-Secret"


@dataclass(frozen=True)
class Subscriber:
    """Where deliveries go; ``secret_in``: ``"query"`` (``?secret=``) or ``"header"``."""

    url: str
    secret: str | None = None
    secret_in: str = "query"

    def target(self) -> tuple[str, dict[str, str]]:
        """The URL and headers of a POST to this subscriber."""
        if self.secret is None:
            return self.url, {}
        if self.secret_in == "header":
            return self.url, {SECRET_HEADER: self.secret}
        joiner = "&" if "?" in self.url else "?"
        return f"{self.url}{joiner}secret={quote(self.secret, safe='')}", {}


@dataclass
class Delivery:
    """One POST of one event to one subscriber; ``status`` once answered (None: it failed
    to connect, or was dropped: then ``dropped``)."""

    event: str
    payload: dict[str, Any]
    subscriber: Subscriber
    status: int | None = None
    dropped: bool = False
    sent_at: float | None = field(default=None, repr=False)


class KaitenWebhooks:
    """The emulator's webhook sender (see the module docstring); thread-safe."""

    def __init__(self, *, shape: str = "flat", duplicate: bool = False, drop: float = 0.0,
                 delay: float = 0.0, hold: bool = False, seed: int = 4,
                 timeout: float = 5.0) -> None:
        if shape not in SHAPES:
            raise ValueError(f"shape must be one of {', '.join(SHAPES)}")
        self.shape, self.duplicate, self.drop = shape, duplicate, drop
        self.delay, self.hold, self.timeout = delay, hold, timeout
        self.subscribers: list[Subscriber] = []
        self.sent: list[Delivery] = []        # every delivery answered, dropped or failed
        self._random = random.Random(seed)
        self._ids = itertools.count(1)
        self._held: list[Delivery] = []
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._lock = threading.Condition()
        self._unsent = 0   # deliveries queued for the sender thread and not yet sent
        self._thread: threading.Thread | None = None

    def subscribe(self, url: str, *, secret: str | None = None,
                  secret_in: str = "query") -> Subscriber:
        """Send every later time-log event to ``url`` too."""
        if secret_in not in ("query", "header"):
            raise ValueError("secret_in must be query or header")
        subscriber = Subscriber(url, secret, secret_in)
        with self._lock:
            self.subscribers.append(subscriber)
        return subscriber

    def emit(self, event: str, log: dict[str, Any], before: dict[str, Any] | None = None
             ) -> None:
        """Queue ``event`` about ``log`` (``before``: the log before an update) for every
        subscriber; returns at once (the emulator calls it while answering a request)."""
        with self._lock:
            if not self.subscribers:
                return
            payload = {"event": event, "data": self._data(event, log, before),
                       "id": f"delivery-{next(self._ids)}",
                       "created": datetime.now(UTC).isoformat(timespec="milliseconds")}
            copies = 2 if self.duplicate else 1
            for subscriber in self.subscribers:
                for _ in range(copies):
                    self._put(Delivery(event, payload, subscriber))

    def release(self, order: str = "fifo") -> int:
        """Send the held deliveries, oldest first (``"fifo"``) or newest first
        (``"reverse"``); returns how many. ``hold`` stays as it is."""
        with self._lock:
            held, self._held = self._held, []
            for delivery in reversed(held) if order == "reverse" else held:
                self._enqueue(delivery)
            return len(held)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every delivery not held was sent (or dropped); False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._unsent == 0, timeout=timeout)

    def deliveries(self, event: str | None = None) -> list[Delivery]:
        """The deliveries made so far (``event``: of that event only)."""
        with self._lock:
            return [d for d in self.sent if event is None or d.event == event]

    def close(self) -> None:
        """Stop the sender thread (deliveries not yet sent are not sent)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=10)

    # -- inside ---------------------------------------------------------------------

    def _data(self, event: str, log: dict[str, Any], before: dict[str, Any] | None) -> Any:
        if self.shape == "flat":
            return log
        if event == "timelog:remove":
            return {"old": log}
        return {"new": log} if before is None else {"old": before, "new": log}

    def _put(self, delivery: Delivery) -> None:
        """Under the lock: hold the delivery, drop it, or queue it for the sender."""
        if self.hold:
            self._held.append(delivery)
        else:
            self._enqueue(delivery)

    def _enqueue(self, delivery: Delivery) -> None:
        if self.drop and self._random.random() < self.drop:
            delivery.dropped = True
            self.sent.append(delivery)
            self._lock.notify_all()
            return
        self._unsent += 1   # queued for the sender thread, not yet answered
        if self._thread is None:
            self._thread = threading.Thread(target=self._send_all, daemon=True,
                                            name="kaiten-webhooks")
            self._thread.start()
        self._queue.put(delivery)

    def _send_all(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while (delivery := self._queue.get()) is not None:
                if self.delay:
                    time.sleep(self.delay)   # a late delivery, as a busy sender makes them
                url, headers = delivery.subscriber.target()
                try:
                    delivery.status = client.post(url, json=delivery.payload,
                                                  headers=headers).status_code
                except httpx.HTTPError:
                    delivery.status = None   # the subscriber was down: not retried
                delivery.sent_at = time.monotonic()
                with self._lock:
                    self.sent.append(delivery)
                    self._unsent -= 1
                    self._lock.notify_all()
