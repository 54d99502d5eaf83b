"""settle_create and settle_update: whatever the target does to attempts and look-ups, never two
copies, never an update sent on a stale version."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.engine.settle import Unsettled, retrying, settle_create, settle_update
from connectors.base import TransientError, UnknownOutcomeError


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


@given(answers=st.lists(st.sampled_from(["ok", "refused", "garbled"]), min_size=1,
                        max_size=6),
       waits=st.integers(0, 4))
def test_an_update_with_an_unknown_outcome_is_looked_at_before_it_is_sent_again(
        answers: list[str], waits: int) -> None:
    """A version-checked target (Tracker's If-Match): an update is applied at most once,
    every attempt is sent on the version the copy has then, and the result is the copy
    holding the update whenever one was applied."""
    copy = {"version": 1, "value": "old"}        # the target's one record
    sent_on: list[int] = []
    answers_left = iter(answers)

    def send(current: dict) -> dict:
        sent_on.append(current["version"])
        if current["version"] != copy["version"]:
            raise AssertionError("sent on a stale version: the target would answer 412")
        how = next(answers_left, "refused")
        if how == "refused":                        # a 503: nothing applied
            raise TransientError("503", connector="t")
        copy.update(version=copy["version"] + 1, value="new")
        if how == "garbled":                        # applied, the answer unreadable
            raise UnknownOutcomeError("200 with a cut body", connector="t")
        return dict(copy)

    def look(current: dict) -> tuple[dict, bool]:
        return dict(copy), copy["value"] == "new"

    try:
        result = settle_update(send, dict(copy), look, [0.0] * waits, NoStop(), lambda: None)
    except TransientError:
        assert copy["value"] == "old"               # failed only when nothing was applied
    else:
        assert result == copy and result["value"] == "new"
    assert copy["version"] <= 2                     # applied at most once
