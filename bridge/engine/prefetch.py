"""A long pass reads its next chunk's source while it writes the current chunk.

A backfill over many chunks (see :mod:`bridge.engine.chunks`) spends its time on two things
that need not wait for each other: reading the source, often the slow, rate-limited side
(Kaiten's pages at 5 a second), and writing the copies, often bound by the target's own
pace. Chunk by chunk they ran one after the other; with one chunk's source read ahead,
they overlap, and a long backfill takes about as long as the larger of the two.

Only the **source** is read ahead. A pass never writes its own source, so reading it a
little earlier is the same as a slower pass reading it (every read is a snapshot of its
moment anyway). The target, the links and the look-ups of a chunk are still read after
the chunk before it has been written, so nothing a chunk decides from can be made stale
by the writes of the one before it. Memory holds at most two chunks' source records.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from connectors.base import DateWindow
from connectors.bounded_net import Stoppable, stoppable


@dataclass
class SourceRead:
    """One chunk's source records, whether the read reached the list's end, what it said."""

    items: list
    complete: bool
    errors: list[str]


#: ``reader(window, errors, stop)``: the source's records in ``window`` and whether the
#: read reached the end; a failure is appended to ``errors``; ``stop`` ends it early.
Reader = Callable[[DateWindow, list[str], Stoppable], tuple[list, bool]]


class _Either:
    """Set when the pass's own stop is, or when the read ahead is abandoned."""

    def __init__(self, first: Stoppable | None, second: threading.Event) -> None:
        self.first, self.second = first, second

    def is_set(self) -> bool:
        return self.second.is_set() or (self.first is not None and self.first.is_set())


class SourcePrefetch:
    """Reads the source of chunk ``n + 1`` in a thread while chunk ``n`` is decided and
    written. :meth:`take` hands a chunk its read (waiting for it if it is not done yet);
    :meth:`close` abandons a read nobody will take (a pass that ended early) and joins
    the thread, whose request in flight ends at once."""

    def __init__(self, spans: Sequence[DateWindow], reader: Reader,
                 stop: Stoppable | None) -> None:
        self._spans, self._reader = spans, reader
        self._abandon = threading.Event()
        self._stop = _Either(stop, self._abandon)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="read-ahead")
        self._pending: dict[int, Future[SourceRead]] = {}

    def start(self, number: int) -> None:
        """Begin reading chunk ``number``'s source (nothing past the last chunk)."""
        if number < len(self._spans) and number not in self._pending:
            self._pending[number] = self._pool.submit(self._read, self._spans[number])

    def take(self, number: int) -> SourceRead | None:
        """Chunk ``number``'s source read, or None when it was never started."""
        pending = self._pending.pop(number, None)
        return None if pending is None else pending.result()

    def close(self) -> None:
        self._abandon.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()

    def __enter__(self) -> SourcePrefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, span: DateWindow) -> SourceRead:
        errors: list[str] = []
        with stoppable(self._stop):   # a request in flight ends when the read is abandoned
            items, complete = self._reader(span, errors, self._stop)
        return SourceRead(items, complete and not self._abandon.is_set(), errors)
