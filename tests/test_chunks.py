"""Chunked passes: a long window synced month by month gives what one pass over it gives.

Two identical worlds (memory source -> memory target, each with its own store) are
synced, one unchunked and one in chunks; then people edit, re-date (across chunk
edges, both ways, and out of the range) and delete source records in both alike, and
both are synced again. Targets' contents, links and summaries must be the same, in a
dry run (where the store does not move between chunks) as in a real run.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.route import ROUTE, connectors, route_rules

from bridge.engine.actions import Kind
from bridge.engine.chunks import chunk_windows
from bridge.engine.sync import PassSpec, RouteResult, run_pass
from bridge.store.state import StateStore
from connectors.base import DateWindow

YEAR = DateWindow(date(2026, 1, 1), date(2026, 12, 31))


class World:
    """One route over memory connectors and a store, synced with ``chunk_days``."""

    def __init__(self, chunk_days: int | None, url: str = "sqlite://") -> None:
        self.source, self.target = connectors()
        self.rules = route_rules(self.target)
        self.store = StateStore(url)
        self.chunk_days = chunk_days

    def sync(self, window: DateWindow = YEAR, dry_run: bool = False) -> RouteResult:
        rules = dataclasses.replace(self.rules, window=window)
        return run_pass(PassSpec(self.source, self.target, rules, chunk_days=self.chunk_days),
                        self.store, dry_run=dry_run)

    def contents(self) -> list[tuple]:
        """The target's records by origin (ids differ with the order they were made in)."""
        return sorted((str(e.origin), e.task, e.work_date, e.seconds, e.comment)
                      for e in self.target.records.values())

    def links(self) -> dict[str, tuple]:
        by_id = self.target.records
        return {key: (link.status, link.work_date, link.source_hash, link.target_hash,
                      str(by_id[link.target_record_id].origin)
                      if link.target_record_id in by_id else None)
                for key, link in self.store.links(ROUTE).items()}


def decisions(result: RouteResult) -> list[tuple]:
    """What a pass did or planned, per origin, without the ids of copies made."""
    return sorted((o.action.display_origin, o.kind.value, o.status, o.reason)
                  for o in result.outcomes if o.kind is not Kind.UNCHANGED)


def twins(chunk_days: int = 31) -> tuple[World, World]:
    return World(None), World(chunk_days)


def both(worlds: tuple[World, World], do) -> None:
    for w in worlds:
        do(w)


def assert_same(worlds: tuple[World, World], **kw) -> tuple[RouteResult, RouteResult]:
    whole, chunked = (w.sync(**kw) for w in worlds)
    assert whole.error is None and chunked.error is None, (whole.error, chunked.error)
    assert chunked.summary == whole.summary
    assert decisions(chunked) == decisions(whole)
    assert chunked.window == whole.window
    assert worlds[1].contents() == worlds[0].contents()
    assert worlds[1].links() == worlds[0].links()
    return whole, chunked


def seed(w: World, n: int, rng: random.Random) -> None:
    for i in range(n):
        w.source.add(task=rng.choice(("1", "2", "99")),
                     work_date=YEAR.start + timedelta(days=rng.randrange(365)),
                     seconds=rng.randrange(60, 30_000), comment=f"item {i}")


def test_chunk_windows_cover_the_window_once() -> None:
    spans = list(chunk_windows(YEAR, 31))
    assert spans[0].start == YEAR.start and spans[-1].end == YEAR.end
    assert all(b.start == a.end + timedelta(days=1) for a, b in itertools.pairwise(spans))
    assert all((s.end - s.start).days < 31 for s in spans) and len(spans) == 12
    assert list(chunk_windows(YEAR, 0)) == [YEAR] == list(chunk_windows(YEAR, 365))
    thirty = DateWindow(date(2026, 11, 1), date(2026, 12, 1))   # a sync's 30 days
    assert list(chunk_windows(thirty, 31)) == [thirty]


def test_a_chunked_backfill_over_a_year_equals_an_unchunked_one() -> None:
    worlds = twins()
    for w in worlds:
        seed(w, 300, random.Random(7))
    assert_same(worlds, dry_run=True)
    whole, _ = assert_same(worlds)
    assert whole.summary["create"] == 300
    # People work on: edits, re-dates across month edges both ways and out of the year,
    # deletes, new records; then the second backfill must agree again, planned and done.
    for w in worlds:
        rng = random.Random(11)
        ids = sorted(w.source.records, key=int)
        for rid in rng.sample(ids, 40):
            w.source.edit(rid, work_date=YEAR.start + timedelta(days=rng.randrange(365)))
        for rid in rng.sample(ids, 10):
            w.source.edit(rid, seconds=rng.randrange(60, 30_000), comment="edited")
        w.source.edit(ids[0], work_date=date(2025, 12, 20))    # re-dated out of the range
        for rid in rng.sample(ids[1:], 5):
            w.source.remove(rid)
        seed(w, 20, rng)
    assert_same(worlds, dry_run=True)
    whole, _ = assert_same(worlds)
    assert whole.summary["update"] > 30 and whole.summary["delete"] == 5
    assert_same(worlds)   # and then nothing to do, in both
    assert decisions(worlds[1].sync()) == []


@pytest.mark.parametrize(("before", "after"), [
    (date(2026, 1, 20), date(2026, 3, 10)),    # forward: link in an earlier chunk
    (date(2026, 3, 10), date(2026, 1, 20)),    # backward: link in a later chunk
    (date(2025, 12, 5), date(2026, 6, 1)),     # from before the range into it
])
@pytest.mark.parametrize("dry_run", [True, False])
def test_an_origin_re_dated_across_chunks_is_decided_once(before: date, after: date,
                                                          dry_run: bool) -> None:
    w = World(31)
    rid = w.source.add(task="1", work_date=before, seconds=3600, comment="moved")
    first = w.sync(DateWindow(min(before, YEAR.start), YEAR.end))
    assert first.summary["create"] == 1
    w.source.edit(rid, work_date=after)
    result = w.sync(dry_run=dry_run)
    assert result.error is None
    assert decisions(result) == [(f"src:{rid}", "update", "planned" if dry_run else "done",
                                  "changed in source")]
    assert result.summary["unchanged"] == 0
    if not dry_run:
        (copy,) = w.target.records.values()
        assert copy.work_date == after and w.target.log.count(("create", copy.record_id)) == 1
        assert decisions(w.sync()) == []


def test_an_unfinished_intent_dated_in_a_later_chunk_is_resolved_once() -> None:
    w = World(31)
    rid = w.source.add(task="1", work_date=date(2026, 9, 9), seconds=3600)
    w.sync()
    w.target.clear_faults()
    assert len(w.target.records) == 1
    link = w.store.link(ROUTE, f"SRC:{rid}")
    assert link is not None
    w.store.remove_link(ROUTE, f"SRC:{rid}")       # a create whose answer never came back
    w.store.record_intent(ROUTE, f"SRC:{rid}", source_record_id=rid, source_task="1",
                          target_task="T-1", work_date=date(2026, 9, 9))
    for dry_run in (True, False):
        result = w.sync(dry_run=dry_run)
        assert [(o.display_origin, o.kind.value) for o in (x.action for x in result.outcomes)
                ] == [(f"src:{rid}", "unchanged")]
        assert result.summary["create"] == 0
    assert w.store.link(ROUTE, f"SRC:{rid}").status == "linked"
    assert len(w.target.records) == 1


def test_the_delete_brake_holds_per_chunk() -> None:
    w = World(31)
    w.rules = dataclasses.replace(w.rules, allow_deletes=False)
    ids = [w.source.add(task="1", work_date=date(2026, m, 3), seconds=600)
           for m in range(1, 13) for _ in range(5)]
    w.sync()
    for rid in ids[:3]:                  # 3 of January's 5 copies: 5% of the year's
        w.source.remove(rid)
    result = w.sync()
    assert result.error is not None and "2026-01-01..2026-01-31: refused 3 deletes" \
        in result.error
    assert result.summary["delete"] == 0 and len(w.target.records) == 60


def test_chunk_links_loads_what_a_chunk_needs(tmp_path) -> None:
    _chunk_links(StateStore(f"sqlite:///{tmp_path / 's.sqlite'}"))


def test_chunk_links_on_postgres(postgres_schema) -> None:
    _chunk_links(StateStore(postgres_schema))


def _chunk_links(store: StateStore) -> None:
    with store:
        for i, day in enumerate((date(2026, 1, 5), date(2026, 2, 5), date(2025, 6, 1))):
            store.record_link("r", f"S:{i}", source_record_id=str(i), source_task="1",
                              target_record_id=f"t{i}", target_task="T", source_hash="h",
                              target_hash="g", source_version=None, target_version=None,
                              work_date=day)
        store.record_intent("r", "S:9", source_record_id="9", source_task="1",
                            target_task="T", work_date=date(2026, 7, 1))
        store.record_link("other", "S:0", source_record_id="0", source_task="1",
                          target_record_id="x", target_task="T", source_hash="h",
                          target_hash="g", source_version=None, target_version=None,
                          work_date=date(2026, 1, 5))
        jan = (date(2026, 1, 1), date(2026, 1, 31))
        assert set(store.chunk_links("r", *jan, set())) == {"S:0", "S:9"}
        assert set(store.chunk_links("r", *jan, set(), intents=False)) == {"S:0"}
        many = {f"S:{i}" for i in range(1000, 2200)} | {"S:2"}   # past one IN batch
        found = store.chunk_links("r", *jan, many, intents=False)
        assert set(found) == {"S:0", "S:2"} and found["S:0"].target_record_id == "t0"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(st.tuples(st.dates(date(2025, 12, 1), date(2027, 1, 31)),
                                  st.sampled_from(("1", "2", "99"))), min_size=1, max_size=25),
       moves=st.lists(st.tuples(st.integers(0, 100), st.dates(date(2025, 12, 1),
                                                              date(2027, 1, 31))), max_size=10),
       gone=st.sets(st.integers(0, 100), max_size=4),
       chunk_days=st.integers(1, 120))
def test_chunking_is_the_same_as_one_window(records, moves, gone, chunk_days) -> None:
    worlds = twins(chunk_days)
    for w in worlds:
        for n, (day, task) in enumerate(records):
            w.source.add(task=task, work_date=day, seconds=60 * (n + 1), comment=str(n))
    assert_same(worlds)
    for w in worlds:
        ids = sorted(w.source.records, key=int)
        for pick, day in moves:
            w.source.edit(ids[pick % len(ids)], work_date=day)
        for pick in gone:
            if ids[pick % len(ids)] in w.source.records:
                w.source.remove(ids[pick % len(ids)])
    assert_same(worlds, dry_run=True)
    assert_same(worlds)
    assert decisions(worlds[1].sync()) == []


def test_progress_counts_go_on_across_chunks() -> None:
    w = World(31)
    for m in range(1, 13):
        w.source.add(task="1", work_date=date(2026, m, 3), seconds=600)
    seen: list[tuple[str, int]] = []
    run_pass(PassSpec(w.source, w.target, dataclasses.replace(w.rules, window=YEAR),
                      chunk_days=31),
             w.store, progress=lambda stage, n: seen.append((stage, n)))
    sources = [n for stage, n in seen if stage == "read source"]
    assert sources == sorted(sources) and sources[-1] == 12
    assert [n for stage, n in seen if stage == "applied"] == [1] * 12
