"""What a report says first: did every route finish, and is there anything to do?

Every format (table, HTML, JSON, CSV) opens with the same verdict, made here, so
no format can reassure where another warns. "Nothing to do" is said only when
every route read both sides completely (no route error, none held by another
run) and no action is listed; a route that did not finish has unknown figures,
so its zeros prove nothing.

Durations for people are ``h:mm`` (:func:`hm`); JSON and CSV keep seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bridge.engine.sync import RouteResult
from bridge.vocab import OutcomeStatus, RouteState, VerdictLevel

#: The CSV ``action`` of a row that reports a route that did not finish (not an action).
ROUTE_ERROR = "route-error"


def hm(seconds: int | None) -> str:
    """``h:mm`` for people, rounded to the nearest minute (a positive duration under
    half a minute shows as ``0:01``, never as nothing); None is an empty cell."""
    if seconds is None:
        return ""
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    minutes = (seconds + 30) // 60 or (1 if seconds else 0)
    return f"{sign}{minutes // 60}:{minutes % 60:02d}"


def unfinished(results: Sequence[RouteResult]) -> list[RouteResult]:
    """The routes that did not read both sides to the end: failed, interrupted or held."""
    return [r for r in results if r.error is not None]


def route_state(result: RouteResult) -> RouteState:
    """``held`` (another run holds the route: nothing was read), ``failed`` or ``ok``."""
    if result.error is None:
        return RouteState.OK
    return RouteState.HELD if result.held else RouteState.FAILED


@dataclass(frozen=True)
class Verdict:
    """The report's opening: ``level`` is ``incomplete`` (a route did not finish),
    ``failed`` (every route finished, some action failed), ``work`` (actions listed) or
    ``nothing`` (every route finished and nothing is to be done); ``lines`` for people."""

    level: VerdictLevel
    lines: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return self.level != VerdictLevel.INCOMPLETE


def verdict(results: Sequence[RouteResult]) -> Verdict:
    """The verdict over ``results`` (see :class:`Verdict`)."""
    lines: list[str] = []
    broken = unfinished(results)
    for r in broken:
        if r.held:
            lines.append(f"Route {r.route} was not read: {r.error}. Its figures are unknown.")
        else:
            lines.append(f"Route {r.route} did not finish: {r.error}. Its figures are "
                         "incomplete: nothing is proved in step.")
    failed = sum(1 for r in results for o in r.outcomes if o.status == OutcomeStatus.FAILED)
    if failed:
        lines.append(f"{failed} action{'s' if failed != 1 else ''} failed (see the error "
                     "column).")
    listed = sum(len(r.listed) for r in results)
    if broken:
        lines.insert(0, f"INCOMPLETE: {len(broken)} of {len(results)} route"
                        f"{'s' if len(results) != 1 else ''} did not finish; this report "
                        "does not show everything there is to do.")
        return Verdict(VerdictLevel.INCOMPLETE, tuple(lines))
    if failed:
        return Verdict(VerdictLevel.FAILED, tuple(lines))
    if listed:
        return Verdict(VerdictLevel.WORK, (f"{listed} action{'s' if listed != 1 else ''} "
                                           "listed; every route read both sides completely.",))
    if not results:
        return Verdict(VerdictLevel.NOTHING, ("No routes ran: nothing to do.",))
    return Verdict(VerdictLevel.NOTHING, ("Nothing to do: every route read both sides "
                                          "completely and every record in scope is in step.",))
