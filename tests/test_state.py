"""The state store on SQLite and on a real PostgreSQL: tables, migrations, links, runs, locks.

Every store test runs on both backends (a fresh SQLite file, a fresh PostgreSQL schema).
The lock tests use real processes: a child takes a route lock and is killed with SIGKILL.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import sqlalchemy as sa
from support.stores import DAY, link_fields

from bridge.store import state
from bridge.store.locks import FileLocks, advisory_key, lock_file_name
from bridge.store.state import Link, RouteHeld, StateError, StateStore


def count_rows(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"select count(*) from {table}")).scalar_one()
    finally:
        engine.dispose()


def columns(url: str, table: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


# --- tables and migrations ----------------------------------------------------------------

def test_opening_an_empty_database_creates_the_tables(url: str, store: StateStore) -> None:
    assert store.schema_version == state.SCHEMA_VERSION == state.MIGRATIONS[-1][0]
    assert columns(url, "links") >= {"route", "origin", "target_record_id", "status",
                                     "conflict", "intent_at", "synced_at", "work_date"}
    assert columns(url, "runs") >= {"id", "summary", "failures", "interrupted", "error",
                                    "scope"}
    engine = sa.create_engine(url)
    try:
        indexes = sa.inspect(engine).get_indexes("links")
    finally:
        engine.dispose()
    assert ["route", "work_date"] in [ix["column_names"] for ix in indexes]
    assert count_rows(url, "meta") == 1
    assert store.links("r") == {} and store.conflicts() == [] and store.last_runs() == {}


def test_a_later_migration_runs_once_and_keeps_the_rows(
        url: str, opened: Callable[[str], StateStore], monkeypatch: pytest.MonkeyPatch) -> None:
    old = opened(url)
    old.record_link("r", "KAITEN:1", **link_fields(1))
    old.close()
    calls = []

    def add_note(conn: sa.Connection) -> None:
        calls.append(1)
        conn.execute(sa.text("alter table links add column note text"))

    original, later = state.MIGRATIONS, state.SCHEMA_VERSION + 1
    monkeypatch.setattr(state, "MIGRATIONS", [*original, (later, add_note)])
    new = opened(url)
    assert new.schema_version == later and calls == [1]
    assert "note" in columns(url, "links")
    assert new.link("r", "KAITEN:1").target_record_id == "ent_1"
    new.close()
    assert opened(url).schema_version == later and calls == [1]   # migrated once only
    assert count_rows(url, "meta") == 1

    monkeypatch.setattr(state, "MIGRATIONS", original)
    with pytest.raises(StateError) as exc:
        opened(url)
    assert str(exc.value) == (f"state store schema version {later} is newer than this "
                              f"timebridge ({later - 1}); upgrade timebridge")


def test_a_failed_migration_changes_nothing(
        url: str, opened: Callable[[str], StateStore], monkeypatch: pytest.MonkeyPatch) -> None:
    opened(url).close()

    def half_done(conn: sa.Connection) -> None:
        conn.execute(sa.text("alter table links add column note text"))
        conn.execute(sa.text("alter table no_such_table add column x text"))

    later = state.SCHEMA_VERSION + 1
    monkeypatch.setattr(state, "MIGRATIONS", [*state.MIGRATIONS, (later, half_done)])
    with pytest.raises(StateError, match=r"cannot migrate the state store at .* to schema "
                                         f"version {later}: "):
        opened(url)
    monkeypatch.undo()
    assert opened(url).schema_version == later - 1
    assert "note" not in columns(url, "links")   # the whole migration was rolled back


# --- links --------------------------------------------------------------------------------

def test_intent_then_link_then_remove(store: StateStore) -> None:
    store.record_intent("r", "KAITEN:1", source_record_id="1", source_task="1001",
                        target_task="prj_a", work_date=DAY)
    intent = store.link("r", "KAITEN:1")
    assert intent is not None and intent.status == "intent"
    assert intent.target_record_id is None and intent.synced_at is None
    assert (intent.source_task, intent.target_task, intent.work_date) == ("1001", "prj_a", DAY)
    assert store.links("r") == {"KAITEN:1": intent}

    store.record_link("r", "KAITEN:1", **link_fields(1, target_version="7"))
    linked = store.link("r", "KAITEN:1")
    assert linked == Link(route="r", origin="KAITEN:1", source_record_id="1",
                          source_task="1001", target_record_id="ent_1", target_task="prj_a",
                          source_hash="s1", target_hash="t1", source_version="v1",
                          target_version="7", work_date=DAY, status="linked", conflict=None,
                          intent_at=intent.intent_at, synced_at=linked.synced_at)
    assert linked.synced_at is not None and linked.synced_at >= intent.intent_at

    store.remove_link("r", "KAITEN:1")
    assert store.link("r", "KAITEN:1") is None and store.links("r") == {}
    store.remove_link("r", "KAITEN:1")   # already gone: nothing to do


def test_an_intent_is_refused_for_a_linked_origin_and_replaces_an_intent(
        store: StateStore) -> None:
    store.record_link("r", "KAITEN:1", **link_fields(1))
    before = store.link("r", "KAITEN:1")
    with pytest.raises(StateError, match="already linked"):
        store.record_intent("r", "KAITEN:1", source_record_id="1", source_task="1001",
                            target_task="prj_b", work_date=DAY)
    assert store.link("r", "KAITEN:1") == before

    for task in ("prj_a", "prj_b"):
        store.record_intent("r", "KAITEN:2", source_record_id="2", source_task="1001",
                            target_task=task, work_date=DAY)
    assert store.link("r", "KAITEN:2").target_task == "prj_b"
    assert len(store.links("r")) == 2


def test_recording_the_same_link_twice_leaves_one_row(url: str, store: StateStore) -> None:
    store.record_link("r", "KAITEN:1", **link_fields(1))
    store.record_link("r", "KAITEN:1", **link_fields(1))
    store.record_link("r2", "KAITEN:1", **link_fields(1))   # another route, another row
    assert count_rows(url, "links") == 2
    store.record_link("r", "KAITEN:1", **link_fields(1, target_hash="new", work_date=DAY
                                                     + timedelta(days=3)))
    link = store.link("r", "KAITEN:1")
    assert (link.target_hash, link.work_date) == ("new", DAY + timedelta(days=3))
    assert count_rows(url, "links") == 2
    assert store.link("r2", "KAITEN:1").target_hash == "t1"


def test_record_links_in_bulk(url: str, store: StateStore) -> None:
    store.record_link("r", "KAITEN:0", **link_fields(0))
    store.set_conflict("r", "KAITEN:0", "edited by hand")
    store.record_intent("r", "KAITEN:1", source_record_id="1", source_task="1001",
                        target_task="prj_a", work_date=DAY)
    rows = [{"origin": f"KAITEN:{n}", **link_fields(n)} for n in range(300)]
    rows.append({"origin": "KAITEN:5", **link_fields(5, target_hash="last wins")})
    store.record_links("r", rows)
    store.record_links("r", [])

    got = store.links("r")
    assert len(got) == 300 and count_rows(url, "links") == 300
    assert all(link.status == "linked" and link.conflict is None for link in got.values())
    assert got["KAITEN:5"].target_hash == "last wins"
    assert got["KAITEN:1"].intent_at is not None     # the intent's time is kept
    assert got["KAITEN:7"].intent_at is None         # adopted: there never was an intent
    assert store.links("other") == {}


def test_conflicts_are_set_listed_and_cleared(store: StateStore) -> None:
    for route in ("a", "b"):
        for n in (1, 2):
            store.record_link(route, f"KAITEN:{n}", **link_fields(n))
    store.set_conflict("b", "KAITEN:2", "edited by hand")
    store.set_conflict("a", "KAITEN:1", "invoiced")
    store.set_conflict("a", "KAITEN:9", "no link")          # no link: nothing to mark
    assert [(c.route, c.origin, c.conflict) for c in store.conflicts()] == [
        ("a", "KAITEN:1", "invoiced"), ("b", "KAITEN:2", "edited by hand")]
    assert [c.origin for c in store.conflicts("b")] == ["KAITEN:2"]

    store.set_conflict("a", "KAITEN:1", None)
    store.record_link("b", "KAITEN:2", **link_fields(2))    # a sync clears it too
    assert store.conflicts() == []


# --- runs ---------------------------------------------------------------------------------

def test_runs_and_the_last_run_of_each_route(store: StateStore) -> None:
    first = store.start_run("a", DAY - timedelta(days=30), DAY, dry_run=False)
    store.finish_run(first, summary={"create": 2, "failed": 1}, error=None,
                     failures=[{"origin": "KAITEN:1", "action": "create", "error": "503"}])
    other = store.start_run("b", DAY, DAY, dry_run=True)
    store.finish_run(other, summary={}, error="route b is held by another run", failures=[],
                     interrupted=True)
    second = store.start_run("a", DAY, DAY, dry_run=False)
    assert second > first

    runs = store.last_runs()
    assert sorted(runs) == ["a", "b"]
    running = runs["a"]
    assert (running.id, running.finished_at, running.summary, running.failures) == (
        second, None, {}, [])
    assert not running.interrupted and running.error is None

    store.finish_run(second, summary={"create": 1}, error=None, failures=[])
    done = store.last_runs()["a"]
    assert done.summary == {"create": 1} and done.finished_at >= done.started_at
    b = runs["b"]
    assert (b.route, b.window_from, b.window_to, b.dry_run, b.interrupted, b.error) == (
        "b", DAY, DAY, True, True, "route b is held by another run")
    with pytest.raises(StateError, match="no such run"):
        store.finish_run(999_999, summary={}, error=None, failures=[])


def test_a_narrow_run_is_shown_as_the_last_run_but_never_as_the_last_full_pass(
        store: StateStore) -> None:
    full = store.start_run("a", DAY - timedelta(days=30), DAY, dry_run=False)
    store.finish_run(full, summary={"create": 3}, error="a read failed", failures=[])
    narrow = store.start_run("a", DAY - timedelta(days=30), DAY, dry_run=False,
                             scope="card 1001")
    store.finish_run(narrow, summary={"create": 1}, error=None, failures=[])
    only_narrow = store.start_run("b", DAY, DAY, dry_run=False, scope="card 7")
    latest, full_passes = store.last_runs(), store.last_runs(full_only=True)
    assert (latest["a"].id, latest["a"].scope) == (narrow, "card 1001")
    assert (full_passes["a"].id, full_passes["a"].scope) == (full, None)
    assert full_passes["a"].error == "a read failed"
    assert latest["b"].id == only_narrow and "b" not in full_passes


def test_narrow_deletes_count_since_the_last_full_pass_began(store: StateStore) -> None:
    def run(scope: str | None, deleted: int, *, dry_run: bool = False) -> None:
        number = store.start_run("a", DAY, DAY, dry_run=dry_run, scope=scope)
        store.finish_run(number, summary={"delete": deleted}, error=None, failures=[])

    assert store.narrow_deletes("a") == 0
    run("card 1", 2)                # no full pass yet: every narrow delete counts
    assert store.narrow_deletes("a") == 2
    run(None, 5)                    # a full pass starts the count again
    run("card 1", 1)
    run("card 2", 1)
    run("card 3", 4, dry_run=True)  # a dry run deleted nothing
    store.start_run("b", DAY, DAY, dry_run=False, scope="card 1")   # another route's
    assert store.narrow_deletes("a") == 2
    run(None, 0, dry_run=True)      # a dry full pass looked, but did not reset anything
    assert store.narrow_deletes("a") == 2
    run(None, 0)
    assert store.narrow_deletes("a") == 0


def test_a_stored_summary_of_any_shape_counts_no_deletes(store: StateStore) -> None:
    number = store.start_run("a", DAY, DAY, dry_run=False, scope="card 1")
    store.finish_run(number, summary={"delete": "3"}, error=None, failures=[])
    number = store.start_run("a", DAY, DAY, dry_run=False, scope="card 1")
    store.finish_run(number, summary={"delete": True}, error=None, failures=[])
    store.start_run("a", DAY, DAY, dry_run=False, scope="card 1")   # unfinished: {}
    assert store.narrow_deletes("a") == 0


def test_task_links_are_the_tasks_wherever_dated_and_those_of_the_origins_read(
        store: StateStore) -> None:
    store.record_link("r", "KAITEN:1", **link_fields(1))
    store.record_link("r", "KAITEN:2", **link_fields(2, work_date=DAY - timedelta(days=400)))
    store.record_intent("r", "KAITEN:3", source_record_id="3", source_task="1001",
                        target_task="prj_a", work_date=DAY)
    store.record_link("r", "KAITEN:4", **link_fields(4, source_task="2002"))
    store.record_link("r", "KAITEN:5", **link_fields(5, source_task="2002"))
    store.record_link("other", "KAITEN:6", **link_fields(6))
    found = store.task_links("r", "1001", ["KAITEN:4", "KAITEN:404"])
    assert sorted(found) == ["KAITEN:1", "KAITEN:2", "KAITEN:3", "KAITEN:4"]
    assert found["KAITEN:3"].status == "intent"


def test_count_copies_counts_the_linked_copies_dated_in_the_window(store: StateStore) -> None:
    store.record_link("r", "KAITEN:1", **link_fields(1))
    store.record_link("r", "KAITEN:2", **link_fields(2, work_date=DAY - timedelta(days=1)))
    store.record_link("r", "KAITEN:3", **link_fields(3, work_date=DAY + timedelta(days=1)))
    store.record_intent("r", "KAITEN:4", source_record_id="4", source_task="1001",
                        target_task="prj_a", work_date=DAY)
    store.record_link("other", "KAITEN:5", **link_fields(5))
    assert store.count_copies("r", DAY - timedelta(days=1), DAY) == 2
    assert store.count_copies("nothing", DAY, DAY) == 0


def test_failures_and_summary_keep_their_shape(store: StateStore) -> None:
    run = store.start_run("a", DAY, DAY, dry_run=False)
    failures = [{"origin": "KAITEN:1", "action": "update", "error": "ошибка \"quoted\""},
                {"origin": "KAITEN:2", "action": "delete", "error": "gone"}]
    store.finish_run(run, summary={"update": 0, "failed": 2}, error=None, failures=failures)
    record = store.last_runs()["a"]
    assert record.failures == failures and record.summary == {"update": 0, "failed": 2}


# --- durability and time ------------------------------------------------------------------

def test_reopening_keeps_everything(url: str, opened: Callable[[str], StateStore]) -> None:
    first = opened(url)
    first.record_link("r", "KAITEN:1", **link_fields(1))
    first.record_intent("r", "KAITEN:2", source_record_id="2", source_task="1001",
                        target_task="prj_a", work_date=DAY)
    first.set_conflict("r", "KAITEN:1", "edited by hand")
    run = first.start_run("r", DAY, DAY, dry_run=False)
    first.finish_run(run, summary={"create": 1}, error=None, failures=[])
    links, conflicts, runs = first.links("r"), first.conflicts(), first.last_runs()
    first.close()

    again = opened(url)
    assert again.links("r") == links and len(links) == 2
    assert again.conflicts() == conflicts and again.last_runs() == runs
    assert again.schema_version == state.SCHEMA_VERSION


def test_timestamps_come_back_aware_in_utc(url: str, opened: Callable[[str], StateStore]
                                           ) -> None:
    if "postgresql" in url:   # a session in another zone must not leak into the values
        url += "%20-ctimezone%3DAsia%2FTokyo"
    store = opened(url)
    before = datetime.now(UTC)
    store.record_intent("r", "KAITEN:1", source_record_id="1", source_task="1001",
                        target_task="prj_a", work_date=DAY)
    store.record_link("r", "KAITEN:1", **link_fields(1))
    run = store.start_run("r", DAY, DAY, dry_run=False)
    store.finish_run(run, summary={}, error=None, failures=[])
    after = datetime.now(UTC)
    link = store.link("r", "KAITEN:1")
    record = store.last_runs()["r"]
    stamps = [link.intent_at, link.synced_at, record.started_at, record.finished_at,
              store.links("r")["KAITEN:1"].synced_at]
    for stamp in stamps:
        assert stamp.tzinfo is UTC and before <= stamp <= after


# --- errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "postgresql+psycopg://timebridge:s3cret-Pa55@127.0.0.1:9/state?connect_timeout=3",
    "postgresql://timebridge@127.0.0.1:9/state?password=s3cret-Pa55&connect_timeout=3",
])
def test_an_unreachable_postgres_is_a_state_error_without_the_password(url: str) -> None:
    with pytest.raises(StateError) as exc:
        StateStore(url)
    message = str(exc.value)
    assert "s3cret-Pa55" not in message and "s3cret-Pa55" not in repr(exc.value)
    assert message.startswith("cannot open the state store at postgresql+psycopg://timebridge")
    assert "127.0.0.1:9" in message and "***" in message and "\n" not in message
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


@pytest.mark.parametrize("url", ["mysql://u:pw@localhost/db", "no url at all", "sqlite:///{dir}"])
def test_unusable_urls_are_state_errors(url: str, tmp_path) -> None:
    with pytest.raises(StateError, match="cannot open the state store"):
        StateStore(url.format(dir=tmp_path))   # a folder is not a database file


def test_sqlite_creates_the_missing_folders(tmp_path, opened: Callable[[str], StateStore]
                                            ) -> None:
    path = tmp_path / "a" / "b" / "state.sqlite"
    opened(f"sqlite:///{path}").record_link("r", "KAITEN:1", **link_fields(1))
    assert path.is_file() and opened(f"sqlite:///{path}").link("r", "KAITEN:1") is not None


def test_in_memory_sqlite_is_one_private_database() -> None:
    with StateStore("sqlite://") as one, StateStore("sqlite://") as two:
        one.record_link("r", "KAITEN:1", **link_fields(1))
        assert list(one.links("r")) == ["KAITEN:1"] and two.links("r") == {}
        with one.lock_route("r"):
            with pytest.raises(RouteHeld), one.lock_route("r"):
                pass
            with two.lock_route("r"):   # another database altogether
                pass
        with one.lock_route("r"):
            pass


def test_a_closed_store_says_so(store: StateStore) -> None:
    store.close()
    store.close()
    with pytest.raises(StateError, match="is closed"):
        store.links("r")


# --- locks ---------------------------------------------------------------------------------

CHILD = """
import sys, time
from bridge.store.state import StateStore
store = StateStore(sys.argv[1])
with store.lock_route(sys.argv[2]):
    print("locked", flush=True)
    time.sleep(120)
"""


def take(store: StateStore, route: str, patience: float = 0.0) -> None:
    """Take and release ``route``; retry for ``patience`` seconds (never asserted on)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            with store.lock_route(route):
                return
        except RouteHeld:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def test_a_route_held_by_another_process_is_freed_when_it_is_killed(
        url: str, opened: Callable[[str], StateStore]) -> None:
    store = opened(url)
    child = subprocess.Popen([sys.executable, "-c", CHILD, url, "kaiten-billing"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([child.stdout], [], [], 30)
        line = child.stdout.readline() if ready else ""
        assert line == "locked\n", child.stderr.read() if child.poll() is not None else line
        with pytest.raises(RouteHeld) as exc:
            take(store, "kaiten-billing")
        assert str(exc.value) == "route kaiten-billing is held by another run"
        assert isinstance(exc.value, StateError) and exc.value.route == "kaiten-billing"
        take(store, "tracker-billing")     # other routes are free
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        # flock goes with the process itself; PostgreSQL ends the dead client's session a
        # moment after its socket closes, so that one gets a little patience.
        take(store, "kaiten-billing", patience=0.0 if url.startswith("sqlite") else 10.0)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()


def test_two_stores_in_one_process_exclude_each_other(
        url: str, opened: Callable[[str], StateStore]) -> None:
    one, two = opened(url), opened(url)
    with one.lock_route("a"):
        with pytest.raises(RouteHeld, match=r"^route a is held by another run$"):
            take(two, "a")
        with pytest.raises(RouteHeld):
            take(one, "a")                  # not re-entrant either: one run per route
        with two.lock_route("b"):           # different routes never block each other
            pass
    take(two, "a")

    with pytest.raises(RuntimeError), one.lock_route("a"):
        raise RuntimeError("the run failed")
    take(two, "a")                          # a failed run lets go too


def test_postgres_locks_are_scoped_to_the_schema(
        postgres_schema: str, postgres_url: str, opened: Callable[[str], StateStore]) -> None:
    other = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'create schema "{other}"')
    try:
        here = opened(postgres_schema)
        there = opened(postgres_schema.rsplit("%3D", 1)[0] + "%3D" + other)
        with here.lock_route("a"):
            take(there, "a")               # another state store in the same database
        there.close()
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'drop schema "{other}" cascade')


def test_advisory_keys_are_stable_signed_64_bit_and_distinct() -> None:
    key = advisory_key("test", "public", "kaiten-billing")
    assert key == advisory_key("test", "public", "kaiten-billing")
    assert -(2**63) <= key < 2**63
    assert len({key, advisory_key("test", "other", "kaiten-billing"),
                advisory_key("prod", "public", "kaiten-billing"),
                advisory_key("test", "public", "tracker-billing")}) == 4


@pytest.mark.parametrize("route", ["a/b", "a_b", "../../etc/passwd", "маршрут", "x" * 300, ""])
def test_any_route_name_makes_a_lock_file_beside_the_database(tmp_path, route: str) -> None:
    locks = FileLocks(tmp_path / "state.sqlite")
    path = locks.path(route)
    assert path.parent == tmp_path and path.name.startswith("state.sqlite.")
    assert len(path.name) < 200
    held = locks.try_acquire(route)
    assert held is not None and locks.try_acquire(route) is None
    held.release()
    held.release()
    assert lock_file_name("a/b") != lock_file_name("a_b")


def test_a_version_1_store_is_migrated_to_2_keeping_its_links(
        url: str, opened: Callable[[str], StateStore], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "MIGRATIONS", state.MIGRATIONS[:1])   # the 0.1 schema
    old = opened(url)
    assert old.schema_version == 1
    old.close()
    engine = sa.create_engine(url)   # a row as timebridge 0.1 wrote it
    with engine.begin() as conn:
        conn.execute(sa.text(
            "insert into links (route, origin, source_record_id, source_task, "
            "target_record_id, target_task, status) values "
            "('r', 'KAITEN:1', '1', '1001', 'ent_1', 'prj_a', 'linked')"))
    engine.dispose()
    monkeypatch.undo()
    new = opened(url)
    assert new.schema_version == state.SCHEMA_VERSION
    assert {"replaces_record_id", "replaces_task"} <= set(columns(url, "links"))
    link = new.link("r", "KAITEN:1")
    assert link.target_record_id == "ent_1" and link.replaces_record_id is None


def test_a_version_3_store_is_migrated_to_4_keeping_its_runs(
        url: str, opened: Callable[[str], StateStore], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "MIGRATIONS", state.MIGRATIONS[:3])
    engine = sa.create_engine(url)
    try:
        old = opened(url)
        assert old.schema_version == 3 and "scope" not in columns(url, "runs")
        old.close()
        with engine.begin() as conn:   # a run as timebridge before narrow passes wrote it
            conn.execute(sa.text(
                "insert into runs (route, window_from, window_to, dry_run, started_at, "
                "summary, failures, interrupted) values ('r', '2026-11-01', '2026-11-20', "
                "false, '2026-11-20 10:00:00', '{}', '[]', false)"))
    finally:
        engine.dispose()
    monkeypatch.undo()
    new = opened(url)
    assert new.schema_version == state.SCHEMA_VERSION
    run = new.last_runs(full_only=True)["r"]
    assert run.scope is None and run.window_to == DAY


def test_an_intent_that_replaces_a_copy_takes_over_its_link_and_keeps_it(
        url: str, opened: Callable[[str], StateStore]) -> None:
    store = opened(url)
    store.record_link("r", "KAITEN:1", **link_fields(1))
    with pytest.raises(StateError, match="already linked"):
        store.record_intent("r", "KAITEN:1", source_record_id="1", source_task="1001",
                            target_task="prj_b", work_date=DAY)
    store.record_intent("r", "KAITEN:1", source_record_id="1", source_task="1001",
                        target_task="prj_b", work_date=DAY, replaces=("ent_1", "prj_a"))
    intent = store.link("r", "KAITEN:1")
    assert (intent.status, intent.target_record_id, intent.target_task) == \
        ("intent", None, "prj_b")
    assert (intent.replaces_record_id, intent.replaces_task) == ("ent_1", "prj_a")
    # the create half records its own intent: what it replaces is kept until linked
    store.record_intent("r", "KAITEN:1", source_record_id="1", source_task="1001",
                        target_task="prj_b", work_date=DAY)
    assert store.link("r", "KAITEN:1").replaces_record_id == "ent_1"
    store.record_link("r", "KAITEN:1", **link_fields(1, target_task="prj_b"))
    linked = store.link("r", "KAITEN:1")
    assert linked.status == "linked" and linked.replaces_record_id is None


def test_fields_a_target_ignored_are_remembered_per_connector(
        url: str, opened: Callable[[str], StateStore]) -> None:
    store = opened(url)
    assert store.fixed_fields("kaiten") == {}
    store.learn_fixed_fields("kaiten", ["work_date"], "PATCH kept the old for_date")
    store.learn_fixed_fields("kaiten", ["work_date", "seconds"], "again")  # first reason kept
    store.close()
    again = opened(url)   # durable: a later process knows it too
    assert again.fixed_fields("kaiten") == {"work_date": "PATCH kept the old for_date",
                                            "seconds": "again"}
    assert again.fixed_fields("tracker") == {}


def test_sqlite_writers_from_many_threads_all_land_and_a_failed_write_spoils_nothing(
        tmp_path) -> None:
    """A file store's writers share one kept connection, one at a time: every thread's
    intent and link land, and a write that failed (here a refused intent, rolled back)
    leaves the store writable by the next one."""
    from concurrent.futures import ThreadPoolExecutor
    with StateStore(f"sqlite:///{tmp_path}/state.db") as store:
        def write(n: int) -> None:
            key = f"KAITEN:{n}"
            store.record_intent("r", key, source_record_id=str(n), source_task="1001",
                                target_task="prj_a", work_date=DAY)
            store.record_link("r", key, **link_fields(n))
            with pytest.raises(StateError, match="already linked"):
                store.record_intent("r", key, source_record_id=str(n), source_task="1001",
                                    target_task="prj_b", work_date=DAY)
            store.set_conflict("r", key, f"conflict {n}")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(write, range(200)))
        found = store.links("r")
        assert len(found) == 200
        assert all(link.status == "linked" and link.target_task == "prj_a"
                   and link.conflict == f"conflict {key.split(':')[1]}"
                   for key, link in found.items())
    with StateStore(f"sqlite:///{tmp_path}/state.db") as reopened:   # all of it committed
        assert len(reopened.conflicts("r")) == 200
