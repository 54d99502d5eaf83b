"""Exactly once, whatever crashed, timed out or was retried on the way.

One route (an in-memory source -> an in-memory, minute-granular target) driven through the
real planner, executor and :class:`StateStore`, with faults injected at the connector:
reads failing part-way, lost create answers, failing writes, invoiced copies, and the
process being KILLED before or after any write (:class:`Crash`, a ``BaseException`` no
``except Exception`` in the bridge stops; the pass ends there, like a killed process).

* ``ExactlyOnce*`` are hypothesis state machines over people editing both sides and syncs
  with faults. After every step: never two copies of one origin, no foreign record
  touched, no request the target would refuse, nothing written to the source. At the end:
  faults cleared, sync until stable; every in-scope origin has exactly one copy equal to
  what the route says, and another sync plans no create, update or delete.
  The file variant closes and reopens its SQLite file after each crash (a restart).
* ``test_crash_points`` names one crash point each and shows it is safe.
* Tests named after bugs found here and fixed since stay as regression tests there; the
  state machines take every path those bugs were on (a waiting replace whose origin then loses
  its target task has its own rule, as hypothesis would seldom stumble on it).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections import Counter
from datetime import date

from hypothesis import HealthCheck, event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from memory_connector import CRASH_POINTS, Crash, all_attempts
from support.route import (
    COMMENT_LIMIT,
    ROUTE,
    SOURCE_TASKS,
    TASKS,
    WINDOW,
    WRITES,
    attempted_writes,
    connectors,
    held,
    held_create,
    is_replace,
    route_rules,
    wanted,
    writes_of,
)

from bridge.engine.actions import Kind
from bridge.engine.sync import PassSpec, RouteResult, run_pass
from bridge.store.state import StateStore
from connectors.model import CanonicalEntry, Origin

# mostly in the window (and simplest there), often out of it
DAYS = st.dates(WINDOW.start, WINDOW.end) | st.dates(date(2026, 10, 24), date(2026, 12, 6))
SECONDS = st.integers(1, 30_000)
COMMENTS = st.text(st.sampled_from("ab Z\u00e9\u044f{}\n"), max_size=50)
PICK = st.integers(0, 10_000)
RECORDS = st.lists(st.tuples(DAYS, SECONDS, st.sampled_from(SOURCE_TASKS), COMMENTS),
                   min_size=1, max_size=6)



# --- the state machine ----------------------------------------------------------------------

class ExactlyOnce(RuleBasedStateMachine):
    """People edit both sides; the bridge syncs, with faults and kills; it stays exactly once."""

    store_on_file = False

    def __init__(self) -> None:
        super().__init__()
        self.source, self.target = connectors()
        self.tmp = tempfile.mkdtemp(prefix="timebridge-eo-") if self.store_on_file else None
        self.url = f"sqlite:///{self.tmp}/state.sqlite" if self.tmp else "sqlite://"
        self.store = StateStore(self.url)
        self.rules = route_rules(self.target)
        self.foreign: dict[str, CanonicalEntry] = {}     # records that are not the bridge's
        self.hand_edited: set[str] = set()                # copies a person changed
        self.steps = 0
        self.ghosts = 0
        self.restarts = 0

    # --- helpers ------------------------------------------------------------------------

    def spec(self) -> PassSpec:
        return PassSpec(self.source, self.target, self.rules)

    def run(self) -> RouteResult | None:
        """One pass as a process runs it; None when the process was killed in it."""
        try:
            result = run_pass(self.spec(), self.store)
        except Crash as crash:
            note(f"process killed: {crash}")
            event(" ".join(str(crash).split()[:3]))
            if self.store_on_file:  # the next process opens the file afresh
                self.store.close()
                self.store = StateStore(self.url)
                self.restarts += 1
            result = None
        if result is not None and any(is_replace(o.action) for o in result.outcomes):
            event("a replace ran")
        return result

    def dry_run(self) -> RouteResult:
        """A dry run, which must write nothing anywhere."""
        before = (self.target.writes, self.source.writes, self.store.links(ROUTE))
        result = run_pass(self.spec(), self.store, dry_run=True)
        assert (self.target.writes, self.source.writes, self.store.links(ROUTE)) == before, \
            "a dry run wrote something"
        assert all(o.status in ("planned", "failed") for o in result.outcomes)
        return result

    def copies(self) -> dict[str, CanonicalEntry]:
        """The bridge's copies in the target (everything but the foreign records)."""
        return {rid: e for rid, e in self.target.records.items() if rid not in self.foreign}

    def copy_of(self, rid: str) -> CanonicalEntry | None:
        found = [e for e in self.copies().values() if e.origin.record_id == rid]
        return found[0] if found else None

    def waiting_replaces(self) -> list[str]:
        """Source ids whose replace waits for its delete (refused, failed or killed)."""
        return sorted((link.source_record_id for link in self.store.links(ROUTE).values()
                       if link.replaces_record_id is not None
                       and link.source_record_id in self.source.records),
                      key=lambda k: (len(k), k))

    @staticmethod
    def pick(keys, n: int) -> str:
        ordered = sorted(keys, key=lambda k: (len(k), k))
        return ordered[n % len(ordered)]

    def assert_settled_pass(self, result: RouteResult | None) -> None:
        assert result is not None, "the process was killed without a crash armed"
        assert result.error is None, result.error
        failed = [(o.kind.value, str(o.action.origin), o.error) for o in result.outcomes
                  if o.status == "failed"]
        assert not failed, f"actions failed in a pass without faults: {failed}"

    # --- configuration ------------------------------------------------------------------

    @initialize(on_conflict=st.sampled_from(["report", "source-wins"]),
                default_task=st.sampled_from(["T-0", None]),
                description=st.sampled_from(["{comment}", "{origin} {comment}"]),
                records=RECORDS, synced=st.booleans())
    def configure(self, on_conflict: str, default_task: str | None, description: str,
                  records: list, synced: bool) -> None:
        self.rules = route_rules(self.target, on_conflict=on_conflict,
                                 default_task=default_task, description=description)
        self.add_sources(records)
        if synced:
            self.sync()

    # --- people, in the source ----------------------------------------------------------

    @rule(records=RECORDS)
    def add_sources(self, records: list) -> None:
        for day, seconds, task, comment in records:
            self.source.add(task=task, work_date=day, seconds=seconds, comment=comment)

    @precondition(lambda self: self.source.records)
    @rule(pick=PICK, seconds=st.none() | SECONDS, comment=st.none() | COMMENTS,
          task=st.none() | st.sampled_from(SOURCE_TASKS))
    def edit_source(self, pick: int, seconds: int | None, comment: str | None,
                    task: str | None) -> None:
        rid = self.pick(self.source.records, pick)
        changes = {k: v for k, v in (("seconds", seconds), ("comment", comment),
                                     ("task", task)) if v is not None}
        self.source.edit(rid, **changes)   # no change at all is still a new version

    @precondition(lambda self: self.source.records)
    @rule(pick=PICK, task=st.sampled_from(SOURCE_TASKS), day=st.none() | DAYS)
    def move_source_to_another_task(self, pick: int, task: str, day: date | None) -> None:
        """Often a change of target task, which the target makes as a delete + a create."""
        rid = self.pick(self.source.records, pick)
        self.source.edit(rid, task=task, **({} if day is None else {"work_date": day}))

    @precondition(lambda self: self.waiting_replaces())
    @rule(pick=PICK)
    def move_a_waiting_replace_to_a_task_without_target(self, pick: int) -> None:
        """The origin of a replace left waiting (its delete refused or killed) moves again,
        to a task the route has no target task for (when the route has such a task): the
        waiting replace must then stop, and its old copy stay as it is (out of scope)."""
        rid = self.pick(self.waiting_replaces(), pick)
        unmapped = [t for t in SOURCE_TASKS if self.rules.target_task(t) is None]
        task = unmapped[0] if unmapped else self.source.records[rid].task
        event("a waiting replace moved " + ("out of scope" if unmapped else "in place"))
        self.source.edit(rid, task=task)

    @precondition(lambda self: self.rules.default_task is None and any(
        e.task in TASKS and self.copy_of(rid) for rid, e in self.source.records.items()))
    @rule(pick=PICK, how=st.sampled_from(["invoiced", "killed"]))
    def a_replace_waits_then_its_origin_loses_its_target_task(self, pick: int,
                                                              how: str) -> None:
        """The path a guard once kept hypothesis away from: an origin moves to another
        target task (a delete + create), the delete is refused or the process killed
        before it, and the origin then moves to a task with no target task at all."""
        rid = self.pick([r for r, e in self.source.records.items()
                         if e.task in TASKS and self.copy_of(r)], pick)
        copy = self.copy_of(rid)
        assert copy is not None
        self.source.edit(rid, task="99" if self.source.records[rid].task == "1" else "1")
        if how == "invoiced":
            self.target.conflict_ids.add(copy.record_id)
        else:
            writes = attempted_writes(self.dry_run(), self.target.conflict_ids)
            at = [i for i, a in enumerate(writes)
                  if a.kind is Kind.DELETE and str(a.origin) == f"SRC:{rid}"]
            if at:
                self.target.crash_at, self.target.crash_skip = "before_write", at[0]
        try:
            self.run()
        finally:
            self.target.clear_faults()
        if rid in self.waiting_replaces():
            event(f"a replace waits ({how}), then its origin loses its target task")
        self.source.edit(rid, task="2")       # no target task: default_task is None
        self.assert_settled_pass(self.run())

    @precondition(lambda self: self.source.records)
    @rule(pick=PICK, day=DAYS)
    def redate_source(self, pick: int, day: date) -> None:
        self.source.edit(self.pick(self.source.records, pick), work_date=day)

    @precondition(lambda self: self.source.records)
    @rule(pick=PICK)
    def delete_source(self, pick: int) -> None:
        self.source.remove(self.pick(self.source.records, pick))

    # --- people, in the target ----------------------------------------------------------

    @precondition(lambda self: self.copies())
    @rule(pick=PICK, minutes=st.integers(1, 500), comment=st.none() | COMMENTS,
          day=st.none() | DAYS)
    def hand_edit_copy(self, pick: int, minutes: int, comment: str | None,
                       day: date | None) -> None:
        rid = self.pick(self.copies(), pick)
        changes: dict = {"seconds": minutes * 60}
        if comment is not None:
            changes["comment"] = comment[:COMMENT_LIMIT]
        if day is not None:
            changes["work_date"] = day
        self.target.edit(rid, **changes)
        self.hand_edited.add(rid)

    @precondition(lambda self: self.copies())
    @rule(pick=PICK)
    def hand_delete_copy(self, pick: int) -> None:
        self.target.remove(self.pick(self.copies(), pick))

    @precondition(lambda self: self.copies())
    @rule(pick=PICK)
    def invoice_copy(self, pick: int) -> None:
        self.target.conflict_ids.add(self.pick(self.copies(), pick))

    @rule(day=DAYS, minutes=st.integers(1, 500), comment=COMMENTS,
          task=st.sampled_from(["T-0", "T-1", "T-99"]))
    def add_foreign_record(self, day: date, minutes: int, comment: str, task: str) -> None:
        rid = self.target.add(task=task, work_date=day, seconds=minutes * 60,
                              comment=comment[:COMMENT_LIMIT])
        self.foreign[rid] = self.target.records[rid]

    @rule(day=DAYS, minutes=st.integers(1, 500), task=st.sampled_from(["T-0", "T-1"]))
    def add_reference_to_a_missing_origin(self, day: date, minutes: int, task: str) -> None:
        self.ghosts += 1
        rid = self.target.add(task=task, work_date=day, seconds=minutes * 60,
                              comment="not ours",
                              origin=Origin(source="SRC", record_id=f"ghost-{self.ghosts}"))
        self.foreign[rid] = self.target.records[rid]

    # --- syncs --------------------------------------------------------------------------

    @rule()
    def sync(self) -> None:
        self.assert_settled_pass(self.run())

    @rule(side=st.sampled_from(["source", "target"]), after=st.integers(0, 12))
    def sync_with_a_read_failing_part_way(self, side: str, after: int) -> None:
        broken = self.source if side == "source" else self.target
        had_copies = {str(e.origin) for e in self.copies().values()}
        broken.fail_reads_after = after
        try:
            result = self.run()
        finally:
            broken.fail_reads_after = None
        assert result is not None
        assert result.error and "read failed part-way" in result.error, result.error
        deletes = [o for o in result.outcomes if o.kind is Kind.DELETE and o.action.forget_link]
        assert not deletes, "a pass whose read failed part-way deleted a copy"
        assert had_copies <= {str(e.origin) for e in self.copies().values()}, \
            "a copy vanished in a pass whose read failed part-way"

    @rule()
    def sync_with_a_lost_create_answer(self) -> None:
        self.target.lose_next_create_answer = True
        try:
            result = self.run()
            lost = not self.target.lose_next_create_answer
        finally:
            self.target.lose_next_create_answer = False
        self.assert_settled_pass(result)
        if lost:  # the copy is found by its origin and adopted at once
            event("a create answer was lost")
            links = self.store.links(ROUTE)
            for o in result.outcomes:
                if o.kind is Kind.CREATE and o.status == "done":
                    assert links[str(o.action.origin)].status == "linked"

    @rule(data=st.data())
    def sync_with_a_write_failing(self, data: st.DataObject) -> None:
        writes = attempted_writes(self.dry_run(), self.target.conflict_ids)
        if not writes:
            note("no write to fail: a plain sync")
            self.assert_settled_pass(self.run())
            return
        index = data.draw(st.integers(0, len(writes) - 1), label="failing write")
        # A passing failure is settled by the executor within the pass; one that lasts
        # every attempt fails the action, and the next pass settles it.
        times = data.draw(st.sampled_from([1, all_attempts()]), label="attempts failing")
        self.target.fail_next_write, self.target.fail_skip = True, index
        self.target.fail_times = times
        try:
            result = self.run()
        finally:
            self.target.clear_faults()
        assert result is not None
        failed = [(o.kind, o.action.origin) for o in result.outcomes if o.status == "failed"]
        expected = [(writes[index].kind, writes[index].origin)]
        if is_replace(writes[index]) and writes[index].kind is Kind.DELETE:
            expected.append((Kind.CREATE, writes[index].origin))   # waits for its delete
        assert failed == (expected if times > 1 else []), failed

    @rule(point=st.sampled_from(CRASH_POINTS), data=st.data())
    def sync_killed_at_a_write(self, point: str, data: st.DataObject) -> None:
        writes = attempted_writes(self.dry_run(), self.target.conflict_ids)
        if not writes:
            note("no write to be killed at: a plain sync")
            self.assert_settled_pass(self.run())
            return
        index = data.draw(st.integers(0, len(writes) - 1), label="killed at write")
        self.target.crash_at, self.target.crash_skip = point, index
        try:
            result = self.run()
        finally:
            self.target.clear_faults()
        if result is not None:  # only an invoiced copy refusing its write spares the process
            a = writes[index]
            assert point == "after_write" and a.copy is not None \
                and a.copy.record_id in self.target.conflict_ids, "the armed kill did not happen"

    # --- after every step ---------------------------------------------------------------

    @invariant()
    def never_two_copies_and_foreign_records_untouched(self) -> None:
        per_origin = Counter(str(e.origin) for e in self.copies().values())
        twice = {k: n for k, n in per_origin.items() if n > 1}
        assert not twice, f"two copies of one origin: {twice}"
        for rid, before in self.foreign.items():
            assert self.target.records.get(rid) == before, f"foreign record {rid} was touched"
        assert not self.target.violations, self.target.violations
        assert self.source.writes == 0, "the bridge wrote to its source"
        self.steps += 1

    # --- at the end ---------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            if sys.exc_info()[1] is None:   # a failed step is reported as it is
                self.settle_and_check()
        finally:
            self.store.close()
            if self.tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def settle_and_check(self) -> None:
        self.source.clear_faults()
        self.target.clear_faults()
        for _ in range(3):
            result = self.run()
            self.assert_settled_pass(result)
            if not [o for o in writes_of(result) if o.status == "done"]:
                break
        else:
            raise AssertionError("three passes without faults did not settle")
        self.never_two_copies_and_foreign_records_untouched()
        writes_before = self.target.writes
        again = self.run()
        self.assert_settled_pass(again)
        planned = [(o.kind.value, str(o.action.origin)) for o in writes_of(again)]
        assert not planned, f"a sync right after a sync planned {planned}"
        assert self.target.writes == writes_before
        # An invoiced copy whose origin changed is re-tried, refused, and shown as a conflict.
        for o in again.outcomes:
            if o.action.kind in WRITES and not held_create(o):
                assert o.kind is Kind.CONFLICT and o.action.copy is not None \
                    and o.action.copy.record_id in self.target.conflict_ids, o
        conflicted = {str(o.action.origin) for o in again.outcomes if o.kind is Kind.CONFLICT}
        event(f"at the end: {min(len(self.copies()), 10)}+ copies")
        event(f"steps: {self.steps // 10 * 10}+")
        event(f"sources {min(len(self.source.records), 10)}")
        event(f"at the end: conflicts {bool(conflicted)}")
        self.check_copies(conflicted)

    def check_copies(self, conflicted: set[str]) -> None:
        by_origin = {str(e.origin): e for e in self.copies().values()}
        for entry in self.source.records.values():
            key = str(entry.ref)
            copy = by_origin.get(key)
            if key in conflicted or self.rules.target_task(entry.task) is None:
                continue  # waiting for a person, or out of scope (kept as it is)
            if entry.work_date in WINDOW:
                assert copy is not None, f"in-scope origin {key} has no copy"
            followed = copy is not None and copy.record_id not in self.hand_edited \
                and copy.work_date in WINDOW
            if copy is not None and (entry.work_date in WINDOW or followed):
                # in scope; or re-dated out of the window, where its copy must follow it
                # (a copy a person edited after that is out of scope, kept as it is)
                assert held(copy) == held(wanted(self.rules, self.target, entry)), \
                    f"copy {copy.record_id} does not hold what origin {key} says"
        for key, copy in by_origin.items():
            if (copy.work_date in WINDOW and copy.record_id not in self.hand_edited
                    and copy.origin.record_id not in self.source.records):
                assert key in conflicted, f"copy {copy.record_id} outlived its origin {key}"


# A deeper run: TIMEBRIDGE_EXACTLY_ONCE_EXAMPLES=2000 pytest tests/test_exactly_once.py
EXAMPLES = int(os.environ.get("TIMEBRIDGE_EXACTLY_ONCE_EXAMPLES", "0")) or None
MACHINE_SETTINGS = settings(max_examples=EXAMPLES or 250, stateful_step_count=40,
                            deadline=None, suppress_health_check=[HealthCheck.too_slow])
FILE_SETTINGS = settings(MACHINE_SETTINGS, max_examples=EXAMPLES or 80)


class ExactlyOnceOnAFile(ExactlyOnce):
    """The same, on an SQLite file closed and reopened after every kill (a restart)."""

    store_on_file = True


TestExactlyOnceInMemory = ExactlyOnce.TestCase
TestExactlyOnceInMemory.settings = MACHINE_SETTINGS
TestExactlyOnceOnAFile = ExactlyOnceOnAFile.TestCase
TestExactlyOnceOnAFile.settings = FILE_SETTINGS
