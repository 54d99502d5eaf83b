"""A long pass reads its next chunk's source while it writes the current chunk.

What must hold: the read ahead overlaps the writes (that is its whole point), a chunk
decides from its own span's records, a read ahead that nobody takes is abandoned when
the pass ends early, and a read ahead that failed is that chunk's incomplete read.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta

from support.route import ROUTE
from test_chunks import World, seed

from bridge.engine.chunks import chunk_windows
from bridge.engine.prefetch import SourcePrefetch
from connectors.base import DateWindow, TransientError

QUARTER = DateWindow(date(2026, 1, 1), date(2026, 3, 31))
SPANS = [DateWindow(date(2026, 1, 1), date(2026, 1, 31)),
         DateWindow(date(2026, 2, 1), date(2026, 2, 28))]


def test_the_next_chunks_source_is_read_while_this_chunk_is_written() -> None:
    world = World(chunk_days=31)
    for day in range(90):
        world.source.add(task="1", work_date=QUARTER.start + timedelta(days=day),
                         seconds=3600, comment=f"day {day}")
    reads: list[date] = []
    second_read = threading.Event()
    overlapped: list[bool] = []
    read, create = world.source.read, world.target.create

    def reading(window: DateWindow, filters):
        reads.append(window.start)
        if window.start == date(2026, 2, 1):
            second_read.set()
        return read(window, filters)

    def creating(draft):
        if draft.work_date == date(2026, 1, 31):   # January's last copy waits for February
            overlapped.append(second_read.wait(10))
        return create(draft)

    world.source.read, world.target.create = reading, creating
    result = world.sync(QUARTER)
    assert result.error is None and result.summary["create"] == 90
    assert overlapped == [True]      # February was being read while January was written
    assert reads == [span.start for span in chunk_windows(QUARTER, 31)]   # each chunk once
    assert world.sync(QUARTER).summary["create"] == 0


def test_a_chunked_pass_with_read_ahead_equals_one_pass() -> None:
    import random
    whole, chunked = World(None), World(chunk_days=7)
    for w in (whole, chunked):
        seed(w, 200, random.Random(3))
    year = DateWindow(date(2026, 1, 1), date(2026, 12, 31))
    a, b = whole.sync(year), chunked.sync(year)
    assert a.summary == b.summary and whole.contents() == chunked.contents()
    assert set(whole.store.links(ROUTE)) == set(chunked.store.links(ROUTE))


def test_take_hands_each_chunk_its_own_read() -> None:
    def reader(window, errors, stop):
        return [window.start], True

    with SourcePrefetch(SPANS, reader, None) as ahead:
        assert ahead.take(0) is None          # never started: the chunk reads itself
        ahead.start(1)
        ahead.start(2)                        # past the last chunk: nothing
        got = ahead.take(1)
        assert got is not None and got.items == [date(2026, 2, 1)] and got.complete
        assert ahead.take(1) is None          # taken once


def test_a_read_nobody_takes_is_abandoned_when_the_pass_ends() -> None:
    began, seen_stop = threading.Event(), threading.Event()

    def reader(window, errors, stop):
        began.set()
        while not stop.is_set():          # a long read, page after page
            threading.Event().wait(0.01)
        seen_stop.set()
        return [], True

    ahead = SourcePrefetch(SPANS, reader, None)
    ahead.start(1)
    assert began.wait(5)
    ahead.close()                           # returns once the read has ended
    assert seen_stop.is_set()


def test_a_read_ahead_that_failed_is_that_chunks_incomplete_read() -> None:
    def reader(window, errors, stop):
        errors.append("source read failed part-way, after 3 records: 502")
        return [1, 2, 3], False

    with SourcePrefetch(SPANS, reader, None) as ahead:
        ahead.start(0)
        got = ahead.take(0)
    assert got is not None and not got.complete and got.items == [1, 2, 3]
    assert got.errors == ["source read failed part-way, after 3 records: 502"]


def test_a_failed_read_ahead_deletes_nothing_in_its_chunk() -> None:
    world = World(chunk_days=31)
    for day in (5, 40):   # one record in January, one in February
        world.source.add(task="1", work_date=QUARTER.start + timedelta(days=day),
                         seconds=3600, comment="x")
    assert world.sync(QUARTER).summary["create"] == 2
    february = max(world.source.records, key=lambda rid: world.source.records[rid].work_date)
    world.source.remove(february)
    read = world.source.read

    def reading(window: DateWindow, filters):
        if window.start == date(2026, 2, 1):   # the chunk read ahead: its page fails
            raise TransientError("page failed with 502", connector="src", status=502)
        return read(window, filters)

    world.source.read = reading
    result = world.sync(QUARTER)
    assert result.summary["delete"] == 0 and result.summary["failed"] == 0
    assert "2026-02-01..2026-03-03: source read failed part-way" in (result.error or "")
    assert len(world.target.records) == 2      # February's copy stays: nothing was proved
    world.source.read = read
    assert world.sync(QUARTER).summary["delete"] == 1   # read whole again: now it goes
