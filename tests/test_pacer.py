"""The pacer (connectors.ratelimit) on a fake clock: no test here waits for real time.

Threads are real; time is a :class:`FakeClock` that moves only when every worker
thread is asleep on it, straight to the earliest wake-up, so each example is a
deterministic run of any arrival pattern.
"""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.ratelimit import (
    LATE,
    MARGIN,
    SHARED_MARGIN,
    BudgetUnavailable,
    Grant,
    RateLimiter,
)

EPOCH = 1_800_000_000.0


class FakeClock:
    """A shared clock: ``sleep`` blocks until a driver advances the time past the wake-up."""

    def __init__(self, workers: int) -> None:
        self.now = 0.0
        self.workers = workers
        self.finished = 0
        self.sleepers: dict[int, float] = {}
        self.cond = threading.Condition()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return EPOCH + self.now

    def sleep(self, seconds: float) -> None:
        me = threading.get_ident()
        with self.cond:
            wake = self.now + max(0.0, seconds)
            self.sleepers[me] = wake
            self.cond.notify_all()
            while me in self.sleepers:
                self.cond.wait()

    def finish(self) -> None:
        with self.cond:
            self.finished += 1
            self.cond.notify_all()

    def run(self) -> None:
        """Drive time until every worker has finished."""
        with self.cond:
            while True:
                self.cond.wait_for(
                    lambda: len(self.sleepers) + self.finished == self.workers, timeout=10)
                assert len(self.sleepers) + self.finished == self.workers, "a worker hung"
                if not self.sleepers:
                    return
                self.now = max(self.now, min(self.sleepers.values()))
                for ident in [i for i, wake in self.sleepers.items() if wake <= self.now]:
                    del self.sleepers[ident]
                self.cond.notify_all()


def simulate(rate: float, scripts: list[list[tuple[float, float]]]
             ) -> tuple[list[float], list[tuple[float, float]]]:
    """Each script is one thread's list of (idle seconds, pause after the request);
    returns every start and every pause (from, to) in fake seconds."""
    clock = FakeClock(len(scripts))
    limiter = RateLimiter(rate, clock=clock)
    starts: list[float] = []
    pauses: list[tuple[float, float]] = []
    lock = threading.Lock()

    def worker(script: list[tuple[float, float]]) -> None:
        try:
            for idle, pause in script:
                clock.sleep(idle)
                limiter.acquire()
                with lock:
                    starts.append(clock.now)
                    if pause:  # the answer was a 429 asking to wait `pause` seconds
                        pauses.append((clock.now, clock.now + pause))
                        limiter.pause_until(clock.time() + pause)
        finally:
            clock.finish()

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in scripts]
    for thread in threads:
        thread.start()
    clock.run()
    for thread in threads:
        thread.join(timeout=5)
    return sorted(starts), pauses


step = st.tuples(st.sampled_from([0.0, 0.0, 0.01, 0.1, 0.25, 0.5, 0.99, 1.0, 1.5, 3.0]),
                 st.sampled_from([0.0] * 8 + [0.3, 1.2]))


@settings(max_examples=60, deadline=None)
@given(rate=st.sampled_from([1.0, 2.0, 3.0, 5.0, 2.5, 0.5]),
       scripts=st.lists(st.lists(step, min_size=1, max_size=8), min_size=1, max_size=4))
def test_no_window_of_one_second_holds_more_than_the_limit(
        rate: float, scripts: list[list[tuple[float, float]]]) -> None:
    starts, pauses = simulate(rate, scripts)
    assert len(starts) == sum(map(len, scripts))  # every request started, none hung
    limit = max(1, math.floor(rate))
    gap = max(1.0, limit / rate) + MARGIN  # N starts per this span, never fewer seconds
    for earlier, later in zip(starts, starts[limit:], strict=False):
        assert later - earlier >= gap - 1e-9, (starts, limit)
    for begun, until in pauses:
        # Wall-clock epochs hold about 0.2 µs of precision: the pause ends that close.
        inside = [s for s in starts if begun < s < until - 1e-6]
        assert not inside, (begun, until, inside)


def test_a_burst_of_n_goes_at_once_and_the_next_after_the_window() -> None:
    starts, _ = simulate(5.0, [[(0.0, 0.0)] * 3, [(0.0, 0.0)] * 3, [(0.0, 0.0)] * 6])
    assert starts[:5] == [0.0] * 5
    assert starts[5:10] == [1.0 + MARGIN] * 5
    assert starts[10:] == [2 * (1.0 + MARGIN)] * 2


def _limiter(rate: float | None) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock(1)
    clock.now = 100.0
    return RateLimiter(rate, clock=clock), clock


def test_remaining_zero_explained_by_own_starts_does_not_pause() -> None:
    limiter, clock = _limiter(5)
    for _ in range(5):
        limiter.acquire()  # the log is not full yet: no sleep, time stands still
    limiter.observe(100.0, 0, reset_in=0.9)
    assert limiter.paused_until <= clock.time()


def test_remaining_zero_from_someone_else_pauses_until_the_reset() -> None:
    # Two of our own starts, yet the server has no room left: another process uses the
    # account. Every start waits for the reset.
    limiter, clock = _limiter(5)
    limiter.acquire()
    limiter.acquire()
    limiter.observe(100.0, 0, reset_in=0.7)
    assert limiter.paused_until == clock.time() + 0.7
    limiter.observe(100.0, 3, reset_in=5)  # room left: nothing changes
    limiter.observe(100.0, 0, reset_in=0)  # a reset already past: nothing changes
    assert limiter.paused_until == clock.time() + 0.7


def test_an_unlimited_limiter_believes_the_server() -> None:
    limiter, clock = _limiter(None)
    for _ in range(50):
        limiter.acquire()
    limiter.observe(100.0, 0, reset_in=1.5)
    assert limiter.paused_until == clock.time() + 1.5


# --- with a shared budget (connectors.ratelimit.Budget), on a clock of one thread -----------


class StepClock:
    """A clock for one thread: ``sleep`` moves the time on at once."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return EPOCH + self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


class ScriptedBudget:
    """A :class:`Budget` answering from a script; ``slow`` seconds pass in the next answer."""

    def __init__(self, clock: StepClock, grants: list, recent: tuple[float, ...] = ()) -> None:
        self.clock, self.grants, self.recent_ages = clock, grants, recent
        self.reserved: list[tuple[int, float]] = []
        self.paused: list[float] = []
        self.slow = 0.0

    def reserve(self, limit: int, span: float) -> Grant | None:
        self.reserved.append((limit, span))
        self.clock.now, self.slow = self.clock.now + self.slow, 0.0
        answer = self.grants.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def pause_until(self, epoch_seconds: float) -> None:
        self.paused.append(epoch_seconds)

    def recent(self) -> tuple[float, ...] | None:
        return self.recent_ages


def test_a_shared_budget_sets_the_pace_and_its_starts_judge_a_full_window() -> None:
    clock = StepClock()
    limiter = RateLimiter(5, clock=clock)
    budget = ScriptedBudget(clock, [Grant(0.0, (0.5, 0.0)), Grant(0.7, (0.5, 0.0, -0.7))])
    limiter.budget = budget
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == pytest.approx(0.7)  # the budget's delay, slept here
    # Reserved with Kaiten's 5 per 1.1 s: the shared margin, wider than the process's own.
    assert budget.reserved == [(5, 1.0 + SHARED_MARGIN)] * 2
    # The server has no room left, and five starts of all the replicas explain it.
    budget.recent_ages = (0.9, 0.7, 0.5, 0.2, 0.0)
    limiter.observe(clock.now, 0, reset_in=0.8)
    assert limiter.paused_until <= clock.time() and budget.paused == []
    # Two starts only: a stranger uses the account; every replica is paused.
    budget.recent_ages = (0.5, 0.0)
    limiter.observe(clock.now, 0, reset_in=0.8)
    assert limiter.paused_until == pytest.approx(clock.time() + 0.8)
    assert budget.paused == [pytest.approx(clock.time() + 0.8)]


def test_a_start_much_later_than_the_budget_counted_it_is_reserved_again() -> None:
    clock = StepClock()
    limiter = RateLimiter(5, clock=clock)
    budget = ScriptedBudget(clock, [Grant(0.0, (0.0,)), Grant(0.0, (0.1, 0.0))])
    limiter.budget = budget
    budget.slow = LATE * 2  # the first answer comes late: its start was counted earlier
    limiter.acquire()
    assert len(budget.reserved) == 2 and limiter.requests == 1


def test_a_budget_that_cannot_answer_or_was_closed_leaves_the_pacing_to_the_process() -> None:
    clock = StepClock()
    limiter = RateLimiter(5, clock=clock)
    budget = ScriptedBudget(clock, [BudgetUnavailable("down")] * 6 + [None])
    limiter.budget = budget
    waits = [limiter.acquire() for _ in range(6)]
    assert waits[:5] == [0.0] * 5 and waits[5] == pytest.approx(1.0 + MARGIN)  # its own log
    assert limiter.budget is budget
    limiter.acquire()  # closed: let go
    assert limiter.budget is None and limiter.requests == 7
