"""A route the state store has no record of asks the target once which origins it holds
records of (bridge.engine.forgotten), so a lost store never bills an hour twice, and a true first
pass costs one read, not a look-up per create."""

from __future__ import annotations

from collections import Counter
from datetime import date

from support.route import Route

from bridge.store.state import StateStore
from connectors.base import EntryDraft, TransientError
from connectors.model import Origin


def counting(route: Route) -> Counter:
    """Counts of the target's reads and look-ups by origin from now on."""
    calls: Counter = Counter()
    read, find = route.target.read, route.target.find_copies

    def reading(window, filters):
        calls["read"] += 1
        return read(window, filters)

    def finding(origin, task):
        calls["find_copies"] += 1
        return find(origin, task)

    route.target.read, route.target.find_copies = reading, finding
    return calls


def test_a_true_first_pass_asks_once_and_looks_up_nothing() -> None:
    route = Route()
    for day in (3, 4, 5):
        route.add(day=date(2026, 11, day))
    calls = counting(route)
    assert route.sync().summary["create"] == 3
    assert calls == Counter(read=2)          # the question, then the window's own read
    calls.clear()
    assert route.sync().summary["create"] == 0
    assert calls == Counter(read=1)          # a route the store knows is not asked again


def test_a_foreign_reference_costs_a_look_up_of_that_origin_only() -> None:
    route = Route()
    kept = route.add(day=date(2026, 11, 3))
    other = route.add(day=date(2026, 11, 4))
    # Someone else's record names the origin `kept`, dated far outside the window.
    route.target.create(EntryDraft(origin=Origin(source="SRC", record_id=kept), task="T-1",
                                   work_date=date(2024, 1, 10), seconds=60, comment="by hand"))
    calls = counting(route)
    result = route.sync()
    assert calls["find_copies"] == 1          # `kept` only; `other` is created at once
    assert len(route.copies(other)) == 1
    assert len(route.copies(kept)) == 1       # the record found by origin is adopted...
    assert route.copies(kept)[0].work_date == date(2026, 11, 3)   # ...and follows it
    assert result.summary["create"] == 1


def test_a_lost_store_finds_every_copy_wherever_it_is_dated() -> None:
    route = Route()
    ids = [route.add(day=date(2026, 11, d)) for d in (3, 4, 5)]
    route.sync()
    for rid, day in zip(ids, (date(2026, 9, 1), date(2026, 8, 2), date(2026, 11, 6)),
                        strict=True):
        route.source.edit(rid, work_date=day)
    route.sync()                              # the copies follow, two out of the window
    route.store = StateStore("sqlite://")     # lost
    for rid in ids:
        route.source.edit(rid, work_date=date(2026, 11, 7))   # all back in the window
    route.sync()
    assert [len(route.copies(rid)) for rid in ids] == [1, 1, 1]
    assert {c.work_date for rid in ids for c in route.copies(rid)} == {date(2026, 11, 7)}


def test_when_the_target_cannot_say_every_create_looks_first() -> None:
    route = Route()
    a = route.add(day=date(2026, 11, 3))
    route.sync()
    route.source.edit(a, work_date=date(2026, 8, 1))
    route.sync()
    route.store = StateStore("sqlite://")
    route.source.edit(a, work_date=date(2026, 11, 4))
    read = route.target.read
    asked: list[int] = []

    def failing_once(window, filters):
        if not asked:
            asked.append(1)
            raise TransientError("502 on the question", connector="tgt", status=502)
        return read(window, filters)

    route.target.read = failing_once
    calls = counting(route)
    route.sync()
    assert asked and calls["find_copies"] == 1
    assert len(route.copies(a)) == 1
