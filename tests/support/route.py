"""One route over two in-memory connectors and a real state store, for the exactly-once
tests (the state machines in ``test_exactly_once``, the crash points in
``test_crash_points``) and the tests of chunks, prefetch and forgotten copies.

The source and a Kaiten-like target (whole minutes, short comments, task fixed) are
:class:`memory_connector.MemoryConnector`; passes are :func:`bridge.engine.sync.run_pass`.
"""

from __future__ import annotations

from datetime import date

import pytest
from memory_connector import Crash, MemoryConnector

from bridge.engine.actions import Action, Kind, RouteRules
from bridge.engine.sync import PassSpec, RouteResult, run_pass
from bridge.store.state import StateStore
from connectors.base import DateWindow, EntryDraft
from connectors.model import CanonicalEntry, Origin, normalise_comment

ROUTE = "src-tgt"
WINDOW = DateWindow(date(2026, 11, 1), date(2026, 11, 30))
TASKS = {"1": "T-1", "99": "T-99"}          # source task "2" has a row only via default_task
SOURCE_TASKS = ("1", "2", "99")
COMMENT_LIMIT = 40
WRITES = (Kind.CREATE, Kind.UPDATE, Kind.DELETE)


def connectors() -> tuple[MemoryConnector, MemoryConnector]:
    """A source, and a Kaiten-like target: whole minutes, short comments, task fixed."""
    source = MemoryConnector("src", "SRC")
    target = MemoryConnector("tgt", "TGT", granularity=60, comment_limit=COMMENT_LIMIT,
                             updatable={"seconds", "comment", "work_date"}, id_prefix="t")
    return source, target


def route_rules(target: MemoryConnector, *, on_conflict: str = "report",
                default_task: str | None = "T-0",
                description: str = "{comment}") -> RouteRules:
    return RouteRules(name=ROUTE, source="src", source_ref="SRC", window=WINDOW,
                      fit=target.fit, capabilities=target.capabilities, tasks=TASKS,
                      default_task=default_task, description=description,
                      on_conflict=on_conflict, allow_deletes=True)


def wanted(rules: RouteRules, target: MemoryConnector, entry: CanonicalEntry) -> EntryDraft:
    """What the route says the copy of ``entry`` holds (written here, not taken from plan)."""
    task = rules.target_task(entry.task)
    assert task is not None
    comment = rules.description.format_map({
        "comment": entry.comment, "author": entry.author or "", "task": entry.task,
        "date": entry.work_date.isoformat(), "origin": f"src:{entry.record_id}"})
    return target.fit(EntryDraft(origin=entry.ref, task=task, work_date=entry.work_date,
                                 seconds=entry.seconds, comment=comment))


def held(entry: CanonicalEntry | EntryDraft) -> tuple:
    return entry.seconds, entry.work_date, entry.task, normalise_comment(entry.comment)


def attempted_writes(result: RouteResult, invoiced: set[str]) -> list[Action]:
    """The target writes a (dry-run) plan leads to, in the order the executor makes them.

    The create half of a replace is not attempted when the target refuses its delete
    (an invoiced copy): the old copy stays, so a new one would be a second copy.
    """
    writes: list[Action] = []
    held: set[str] = set()
    for o in result.outcomes:
        a = o.action
        if a.kind not in WRITES or a.refused or str(a.origin) in held:
            continue
        if a.kind is Kind.DELETE and not a.forget_link and a.copy.record_id in invoiced:
            held.add(str(a.origin))
        writes.append(a)
    return writes


def writes_of(result: RouteResult) -> list:
    """Creates, updates and deletes a pass reports (done, failed or planned)."""
    return [o for o in result.outcomes if o.kind in WRITES]


def held_create(o) -> bool:
    """The create half of a replace waiting for its old copy, which the target refused to
    delete (invoiced): shown as a skip, next to the conflict; it plans no write."""
    return o.action.kind is Kind.CREATE and o.kind is Kind.SKIP


def is_replace(a: Action) -> bool:
    """Half of a delete + create of one origin (a change the target cannot make in place)."""
    return (a.kind is Kind.DELETE and not a.forget_link) or (
        a.kind is Kind.CREATE and a.changes is not None)


class Route:
    """One route over two memory connectors and a state store, for the plain tests."""

    def __init__(self, url: str = "sqlite://", **kw) -> None:
        self.source, self.target = connectors()
        self.rules = route_rules(self.target, **kw)
        self.url = url
        self.store = StateStore(url)

    def sync(self) -> RouteResult:
        return run_pass(PassSpec(self.source, self.target, self.rules), self.store)

    def killed(self, point: str, *, skip: int = 0) -> str:
        """A pass killed at write ``skip`` (0: the first); the next process reopens the store."""
        self.target.crash_at, self.target.crash_skip = point, skip
        with pytest.raises(Crash) as crash:
            self.sync()
        self.target.clear_faults()
        if self.url != "sqlite://":      # an in-memory store would die with its process
            self.store.close()
            self.store = StateStore(self.url)
        return str(crash.value)

    def add(self, day: date = date(2026, 11, 3), seconds: int = 5445, task: str = "1",
            comment: str = "Fixed login") -> str:
        return self.source.add(task=task, work_date=day, seconds=seconds, comment=comment)

    def copies(self, rid: str) -> list[CanonicalEntry]:
        return self.target.copies_of(Origin(source="SRC", record_id=rid))

    def link(self, rid: str):
        return self.store.link(ROUTE, f"SRC:{rid}")

    def assert_stable(self) -> None:
        result = self.sync()
        assert result.error is None and writes_of(result) == [], result.outcomes


def kinds(result: RouteResult) -> list[tuple[str, str]]:
    return [(o.kind.value, o.status) for o in writes_of(result)]

