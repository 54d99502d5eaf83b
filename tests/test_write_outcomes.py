"""One rule for a write whose answer cannot be read: an unknown outcome, settled at once.

Each emulator applies a write and then answers its 2xx status with a garbled body (the
``garbled`` fault: cut in half, or JSON without any ``id``). For every system as a
target and every kind of write, one real pass (planner, executor, store) over that
answer must end with exactly one copy holding what the source says (none after a
delete), linked in the store, and a next pass that has nothing left to write.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from harness import Harness
from memory_connector import MemoryConnector

from bridge.engine.actions import Kind, RouteRules
from bridge.engine.sync import PassSpec, RouteResult, run_pass
from bridge.store.state import StateStore
from connectors.base import DateWindow, EntryDraft, UnknownOutcomeError
from connectors.emulator_garble import GARBLES
from connectors.model import CanonicalEntry, Origin
from connectors.registry import CONNECTOR_TYPES, connector_type

ROUTE = "src-to-target"
WINDOW = DateWindow(date(2026, 11, 1), date(2026, 11, 30))
DAY = date(2026, 11, 20)
WRITES = {"create": ("POST", ""), "update": ("P*", "/*"), "delete": ("DELETE", "/*")}


@pytest.fixture(params=list(CONNECTOR_TYPES))
def h(request: pytest.FixtureRequest) -> Iterator[Harness]:
    harness = importlib.import_module(f"harness_{request.param}").make_harness()
    try:
        yield harness
    finally:
        harness.close()


class World:
    """A memory source with one record, the harness's system as the target, a store."""

    def __init__(self, h: Harness, tmp: Path) -> None:
        self.h = h
        self.source = MemoryConnector("src", "SRC")
        self.record = self.source.add(task="1", work_date=DAY, seconds=3600, comment="Login")
        self.origin = Origin(source="SRC", record_id=self.record)
        self.store = StateStore(f"sqlite:///{tmp / 'state.sqlite'}")
        target = h.connector
        self.rules = RouteRules(
            name=ROUTE, source="src", source_ref="SRC", window=WINDOW, fit=target.fit,
            capabilities=target.capabilities, tasks={"1": h.task()}, default_task=None,
            description="{comment}", propagate_deletes=True, allow_deletes=True,
            known_refs=frozenset({"SRC", target.reference_source}))
        self.target_filters = connector_type(h.system).copies_filter("SRC")

    def sync(self) -> RouteResult:
        result = run_pass(PassSpec(self.source, self.h.connector, self.rules,
                                   target_filters=self.target_filters), self.store)
        assert result.error is None, result.error
        return result

    def copies(self) -> list[CanonicalEntry]:
        return self.h.connector.find_copies(self.origin, self.h.task())

    def garble_next(self, write: str, garble: str) -> None:
        method, tail = WRITES[write]
        self.h.server.faults.add("garbled", method=method, path=self.h.write_path + tail,
                                 garble=garble)


def writes_of(result: RouteResult) -> list[tuple[Kind, str]]:
    return [(o.kind, o.status) for o in result.outcomes if o.kind is not Kind.UNCHANGED]


def assert_settled(w: World, result: RouteResult, kind: Kind, seconds: int | None) -> None:
    """The pass did ``kind`` once, successfully; the target holds exactly what it should."""
    assert writes_of(result) == [(kind, "done")], result.outcomes
    assert w.h.server.faults.pending() == 0   # the garbled answer was really served
    copies = w.copies()
    link = w.store.link(ROUTE, str(w.origin))
    if seconds is None:
        assert copies == [] and link is None
    else:
        assert [c.seconds for c in copies] == [seconds]
        assert link is not None and link.target_record_id == copies[0].record_id
    assert writes_of(w.sync()) == []   # nothing left for the next pass


@pytest.mark.parametrize("garble", GARBLES)
def test_a_garbled_create_answer_leaves_exactly_one_copy(h: Harness, tmp_path: Path,
                                                         garble: str) -> None:
    w = World(h, tmp_path)
    w.garble_next("create", garble)
    assert_settled(w, w.sync(), Kind.CREATE, 3600)


@pytest.mark.parametrize("garble", GARBLES)
def test_a_garbled_update_answer_leaves_the_one_copy_updated(h: Harness, tmp_path: Path,
                                                             garble: str) -> None:
    w = World(h, tmp_path)
    assert writes_of(w.sync()) == [(Kind.CREATE, "done")]
    w.source.edit(w.record, seconds=7200, comment="Login, twice as long")
    w.garble_next("update", garble)
    sent = w.h.server.log.count("P*", w.h.write_path + "/*")
    result = w.sync()
    assert_settled(w, result, Kind.UPDATE, 7200)
    assert w.copies()[0].comment == "Login, twice as long"
    # Looked up, found applied: the update was sent once, never again blindly.
    assert w.h.server.log.count("P*", w.h.write_path + "/*") == sent + 1


@pytest.mark.parametrize("garble", GARBLES)
def test_a_garbled_delete_answer_leaves_no_copy(h: Harness, tmp_path: Path,
                                                garble: str) -> None:
    w = World(h, tmp_path)
    assert writes_of(w.sync()) == [(Kind.CREATE, "done")]
    w.source.remove(w.record)
    w.garble_next("delete", garble)
    assert_settled(w, w.sync(), Kind.DELETE, None)


@pytest.mark.parametrize("write", ["create", "update"])
def test_a_garbled_answer_is_an_unknown_outcome_never_sent_again(h: Harness,
                                                                 write: str) -> None:
    """The connector's side of the rule: no retry, no "failed", an unknown outcome."""
    draft = EntryDraft(origin=Origin(source="SRC", record_id="7"), task=h.task(),
                       work_date=DAY, seconds=3600, comment="Login")
    copy = h.connector.create(draft) if write == "update" else None
    method, tail = WRITES[write]
    h.server.faults.add("garbled", method=method, path=h.write_path + tail)
    before = h.server.log.writes()
    with pytest.raises(UnknownOutcomeError):
        if copy is None:
            h.connector.create(draft)
        else:
            h.connector.update(copy, draft.model_copy(update={"seconds": 7200}))
    assert h.server.log.writes() == before + 1
