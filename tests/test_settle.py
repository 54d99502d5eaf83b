"""settle_create: whatever the target does to attempts and look-ups, never two copies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.settle import Unsettled, retrying, settle_create
from connectors.base import TransientError


class NoStop:
    def wait(self, seconds: float) -> bool:
        return False


@given(sends=st.lists(st.sampled_from(["ok", "refused", "lost"]), min_size=1, max_size=6),
       looks=st.lists(st.booleans(), max_size=12),
       waits=st.integers(0, 4))
def test_a_create_is_made_at_most_once_and_only_reported_made_when_it_exists(
        sends: list[str], looks: list[bool], waits: int) -> None:
    made: list[str] = []
    sends_left, looks_left = iter(sends), iter(looks)

    def send() -> str:
        how = next(sends_left, "refused")
        if how == "refused":                       # a 503: nothing stored
            raise TransientError("503", connector="t")
        made.append(f"copy{len(made)}")
        if how == "lost":                          # stored, the answer lost
            raise TransientError("504 after storing", connector="t")
        return made[-1]

    def find() -> list[str] | None:
        return list(made) if next(looks_left, True) else None   # False: the look-up failed

    try:
        copy = settle_create(send, find, [0.0] * waits, NoStop(), "create")
    except Unsettled:
        assert len(made) <= 1
    else:
        assert made == [copy]


def test_a_stop_ends_the_retries_at_once() -> None:
    class Stopped:
        def wait(self, seconds: float) -> bool:
            return True

    calls = []

    def send() -> str:
        calls.append(1)
        raise TransientError("503", connector="t")

    with pytest.raises(Unsettled, match="next run"):
        settle_create(send, lambda: [], [5.0, 5.0], Stopped(), "create")
    assert calls == [1]


def test_an_idempotent_write_is_sent_again_until_the_waits_run_out() -> None:
    attempts = []

    def write() -> str:
        attempts.append(1)
        raise TransientError("503", connector="t")

    with pytest.raises(TransientError):
        retrying(write, [0.0, 0.0], NoStop(), lambda: None)
    assert len(attempts) == 3
