"""Settling a write within the pass: what to do after a write failed or lost its answer.

A create that failed transiently may still have landed (a lost answer, a 5xx sent after
the record was stored). It is never sent again blind: the copy is looked up by its
origin first. Found once: adopted. Provably absent: sent again (under a fresh intent,
which the caller records). Not provable (the look-up failed): looked up again. Found
more than once: a person decides. Each new attempt waits the next of ``waits``; when
they run out (or the pass is stopped) the action fails, its intent left for the next
pass to check by origin. Updates and deletes are idempotent: sent again as they are,
except after an unknown outcome (an answer lost or unreadable after sending), when an
update first looks at the copy: holding what was sent already, it is done; else it is
sent again on the copy as it is now (its new version, for a target that checks one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from bridge.engine.verify import unstored
from connectors.base import (
    Connector,
    ConnectorError,
    EntryDraft,
    TransientError,
    UnknownOutcomeError,
    explain,
)
from connectors.model import CanonicalEntry

log = logging.getLogger("timebridge.execute")

#: Waits before each new attempt of a write that failed transiently (then: next pass).
RETRY_WAITS = (1.0, 2.0, 4.0)

T = TypeVar("T")


class Stop(Protocol):
    """A pass's stop: set by a signal or the pass's deadline; ``wait`` sleeps until it."""

    def is_set(self) -> bool: ...
    def wait(self, seconds: float) -> bool: ...


class Unsettled(Exception):
    """The write could not be settled within the pass; the message says why."""


def settle_create(send: Callable[[], T], find: Callable[[], list[T] | None],
                  waits: Iterable[float], stop: Stop, what: str) -> T:
    """The copy ``send`` made (or an earlier attempt did); :class:`Unsettled` if unknown.

    ``send`` records the intent and creates (it is called once per attempt); ``find``
    looks the copy up by origin (``None`` when that cannot be proved either way).
    """
    waits = list(waits)
    pending = iter(waits)
    sending = True
    while True:
        if sending:
            try:
                return send()
            except TransientError as exc:
                error = exc
        found = find()
        if found is not None and len(found) == 1:
            log.info("%s failed (%s) but its copy exists; adopted it", what, explain(error))
            return found[0]
        wait = next(pending, None)
        if (found is not None and len(found) > 1) or wait is None or stop.wait(wait):
            why = (f"{len(found)} copies were found" if found else
                   "it could not be looked up" if found is None else
                   f"tried {len(waits) + 1} times")
            raise Unsettled(f"{explain(error)}; {why}: the outcome will be checked by "
                            "origin on the next run")
        # Proved absent: send it again. Not proved either way: look again first.
        sending = found is not None
        log.info("%s failed (%s); %s in %gs", what, explain(error),
                 "sending it again" if sending else "looking for it again", wait)


def retrying(write: Callable[[], T], waits: Iterable[float], stop: Stop,
             before_again: Callable[[], None]) -> T:
    """An idempotent write (update, delete), sent again after a transient failure."""
    pending = iter(waits)
    while True:
        try:
            return write()
        except TransientError:
            wait = next(pending, None)
            if wait is None or stop.wait(wait):
                raise
            before_again()


def settle_update(send: Callable[[T], T], current: T, look: Callable[[T], tuple[T, bool]],
                  waits: Iterable[float], stop: Stop, before_again: Callable[[], None]) -> T:
    """The copy after ``send(current)`` (an update), sent again after a transient failure.

    After an unknown outcome the update may have been applied: ``look(current)`` answers
    the copy as it is now and whether it already holds the update (then it is the
    result, nothing is sent again); else the next attempt is sent on that copy.
    """
    copy = [current]   # the copy the next attempt is sent on

    def attempt() -> T:
        try:
            return send(copy[0])
        except UnknownOutcomeError as exc:
            copy[0], applied = look(copy[0])
            if applied:
                log.info("update answer unknown (%s), but the copy holds it", explain(exc))
                return copy[0]
            raise   # sent again on the copy as it is now, as any transient failure

    return retrying(attempt, waits, stop, before_again)


def look_again(target: Connector, copy: CanonicalEntry, draft: EntryDraft,
               what: str) -> tuple[CanonicalEntry, bool]:
    """After an update's unknown outcome: the copy as it is now, and whether it already
    holds ``draft``. A look-up that fails or finds nothing leaves ``copy`` as it was (the
    update is then sent again and answers for itself)."""
    try:
        found = target.lookup(copy.record_id, copy.task)
    except ConnectorError as exc:
        log.warning("could not look up the copy of %s: %s", what, exc)
        return copy, False
    if not isinstance(found, CanonicalEntry):
        return copy, False
    return found, not unstored(found, draft)
