"""Exactly once with narrow passes (a webhook's hint: one source task) among the full ones.

The state machine of ``test_exactly_once`` (people editing both sides, passes with failing
reads, lost answers, failing writes and kills), with narrow passes of a random task added
as steps of their own: plain, killed at a write, with a lost create answer, and with the
source read failing part-way. Its invariants hold after every step (never two copies of an
origin, no foreign record touched, nothing written to the source), a narrow pass decides
only origins of its own task, and at the end full passes settle everything as before.

The memory source ignores the task filter (it answers every task's records), so the
narrow pass's own guard, dropping records of other tasks, is exercised on every step.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule
from memory_connector import CRASH_POINTS, Crash
from support.route import ROUTE, SOURCE_TASKS, WRITES, attempted_writes
from test_exactly_once import ExactlyOnce

from bridge.engine.actions import Kind
from bridge.engine.narrow import Narrow
from bridge.engine.sync import PassSpec, RouteResult, run_pass

TASKS = st.sampled_from(SOURCE_TASKS)


class ExactlyOnceWithNarrowPasses(ExactlyOnce):
    """:class:`ExactlyOnce` with narrow passes of one source task among its steps."""

    def narrow(self, task: str) -> RouteResult | None:
        """One narrow pass of ``task``; None when the process was killed in it."""
        links = self.store.links(ROUTE)
        spec = PassSpec(self.source, self.target, self.rules, chunk_days=None,
                        narrow=Narrow(task, f"task {task}"))
        try:
            result = run_pass(spec, self.store)
        except Crash as crash:
            note(f"process killed in a narrow pass: {crash}")
            if self.store_on_file:
                self.store.close()
                self.store = type(self.store)(self.url)
            return None
        for o in result.outcomes:
            if o.kind is Kind.SKIP:
                continue
            key = str(o.action.origin)
            record = self.source.records.get(o.action.origin.record_id)
            owner = record.task if record is not None else links[key].source_task
            assert owner == task or (key in links and links[key].source_task == task), \
                f"a narrow pass of task {task} decided {key} of task {owner}"
        if any(o.kind in WRITES and o.status == "done" for o in result.outcomes):
            event("a narrow pass wrote")
        return result

    @rule(task=TASKS)
    def narrow_pass(self, task: str) -> None:
        self.assert_settled_pass(self.narrow(task))

    @rule(task=TASKS, point=st.sampled_from(CRASH_POINTS), skip=st.integers(0, 3))
    def narrow_pass_killed_at_a_write(self, task: str, point: str, skip: int) -> None:
        writes = attempted_writes(self.dry_run(), self.target.conflict_ids)
        if not writes:
            self.assert_settled_pass(self.narrow(task))
            return
        # The kill is armed for the narrow pass's writes; it may have fewer than the full.
        self.target.crash_at, self.target.crash_skip = point, skip
        try:
            self.narrow(task)
        finally:
            self.target.clear_faults()

    @rule(task=TASKS)
    def narrow_pass_with_a_lost_create_answer(self, task: str) -> None:
        self.target.lose_next_create_answer = True
        try:
            result = self.narrow(task)
        finally:
            self.target.lose_next_create_answer = False
        self.assert_settled_pass(result)

    @rule(task=TASKS, after=st.integers(0, 12))
    def narrow_pass_with_the_source_read_failing(self, task: str, after: int) -> None:
        had = {str(e.origin) for e in self.copies().values()}
        self.source.fail_reads_after = after
        try:
            result = self.narrow(task)
        finally:
            self.source.fail_reads_after = None
        assert result is not None and result.error and "failed part-way" in result.error
        # (Half of a replace may run: its origin was read, it is not proved gone.)
        assert not [o for o in result.outcomes if o.kind is Kind.DELETE
                    and o.action.forget_link], "a narrow pass whose read failed part-way " \
            "deleted a copy"
        assert had <= {str(e.origin) for e in self.copies().values()}


EXAMPLES = int(os.environ.get("TIMEBRIDGE_EXACTLY_ONCE_EXAMPLES", "0")) or None
TestExactlyOnceWithNarrowPasses = ExactlyOnceWithNarrowPasses.TestCase
TestExactlyOnceWithNarrowPasses.settings = settings(
    max_examples=EXAMPLES or 40, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
