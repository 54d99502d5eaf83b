"""A route lock that vanishes mid-run is seen before the next write: never two writers.

On the real PostgreSQL, the session holding a route's advisory lock is ended in the
middle of a pass (as ``idle_session_timeout``, a failover or ``pg_terminate_backend``
would), and a second replica takes the route at that very moment and runs its pass.
The first pass must stop before its next write; between them every hour is copied once.
On SQLite, a lock file removed under a running pass is the same kind of loss.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import date

import psycopg
import pytest
from memory_connector import MemoryConnector

from bridge.engine.actions import RouteRules
from bridge.engine.sync import PassSpec, RouteResult, run_pass
from bridge.store.locks import advisory_key
from bridge.store.state import StateStore
from connectors.base import DateWindow, EntryDraft
from connectors.model import CanonicalEntry

WINDOW = DateWindow(date(2026, 11, 1), date(2026, 11, 30))
ROUTE = "kaiten-billing"
RECORDS = 40
KILL_AFTER = 10


def world() -> tuple[MemoryConnector, MemoryConnector, RouteRules]:
    source = MemoryConnector("src", "SRC")
    target = MemoryConnector("tgt", "TGT")
    for i in range(RECORDS):
        source.add(task="T", work_date=date(2026, 11, 1 + i % 28), seconds=600 + i)
    rules = RouteRules(name=ROUTE, source="src", source_ref="SRC", window=WINDOW,
                       fit=target.fit, capabilities=target.capabilities, default_task="P",
                       allow_deletes=True)
    return source, target, rules


def copies_per_origin(target: MemoryConnector) -> Counter[str]:
    return Counter(str(e.origin) for e in target.records.values())


def interrupt_after(target: MemoryConnector, creates: int, lose_lock, replica) -> list:
    """After ``creates`` creates, the lock is lost and the replica runs a whole pass."""
    real_create, seen, replica_results = target.create, [0], []

    def create(draft: EntryDraft) -> CanonicalEntry:
        copy = real_create(draft)
        seen[0] += 1
        if seen[0] == creates:
            lose_lock()
            replica_results.append(replica())
        return copy

    target.create = create  # type: ignore[method-assign]
    return replica_results


def assert_stopped_and_once(first: RouteResult, replica: RouteResult,
                            target: MemoryConnector) -> None:
    assert first.interrupted and "the route's lock was lost" in first.error, first.error
    assert replica.error is None, replica.error
    assert copies_per_origin(target) == Counter({f"SRC:{i}": 1 for i in
                                                 {str(e.origin).split(":")[1]
                                                  for e in target.records.values()}})
    assert len(target.records) == RECORDS   # every hour once: none lost, none twice


@pytest.mark.postgres
def test_a_terminated_lock_session_stops_the_pass_and_the_replica_bills_once(
        postgres_url: str, postgres_schema: str) -> None:
    source, target, rules = world()
    first_store, replica_store = StateStore(postgres_schema), StateStore(postgres_schema)
    database, schema = first_store._open_backend.locks.database, \
        first_store._open_backend.locks.schema
    unsigned = advisory_key(database, schema, ROUTE) & 0xFFFFFFFFFFFFFFFF

    def lose_lock() -> None:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            ended = admin.execute(
                "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory'"
                " and classid = %s and objid = %s and objsubid = 1",
                (unsigned >> 32, unsigned & 0xFFFFFFFF)).fetchall()
        assert ended == [(True,)]

    replicas = interrupt_after(target, KILL_AFTER, lose_lock,
                               lambda: run_pass(PassSpec(source, target, rules), replica_store))
    try:
        first = run_pass(PassSpec(source, target, rules), first_store)
        (replica,) = replicas
        assert_stopped_and_once(first, replica, target)
        again = run_pass(PassSpec(source, target, rules), first_store)   # and it carries on
        assert again.error is None and again.summary["create"] == 0
        assert first_store.last_runs()[ROUTE].interrupted is False   # the latest run
    finally:
        first_store.close()
        replica_store.close()


def test_a_removed_lock_file_stops_the_pass_before_its_next_write(tmp_path) -> None:
    source, target, rules = world()
    url = f"sqlite:///{tmp_path}/state.sqlite"
    first_store, replica_store = StateStore(url), StateStore(url)
    lock_file = tmp_path / f"state.sqlite.{ROUTE}.lock"
    replicas = interrupt_after(target, KILL_AFTER, lambda: os.unlink(lock_file),
                               lambda: run_pass(PassSpec(source, target, rules), replica_store))
    try:
        first = run_pass(PassSpec(source, target, rules), first_store)
        (replica,) = replicas
        assert_stopped_and_once(first, replica, target)
        runs = first_store.last_runs()
        assert runs[ROUTE].error is None   # the replica's run came last, and it finished
    finally:
        first_store.close()
        replica_store.close()
