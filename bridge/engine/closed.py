"""Closed periods: no copy dated on or before ``closed_through`` is created, changed or deleted.

Once a month is invoiced its entries must stay as billed, whatever happens at the
source afterwards. A route is closed through the later of its own ``closed_through``
and its target connector's (:func:`effective`). The planner decides every action as
usual and then :func:`hold` marks each write that would touch the closed period: the
action keeps its kind (what it would do) and gains ``held`` (why it is not done). The
executor writes nothing for a held action, neither to the target nor to the store, so
the next pass plans it again and reports it again, until the period is reopened.

What counts as touching: a create's new date, an update's old and new dates (a re-date
out of the closed period changes a closed entry; one into it adds to a closed month), a
delete's copy date, and both dates of a replace. All the writes of one origin go
together: half of a replace (or of an interrupted one) must never run alone, or the
origin would end with no copy or with two. Adopting a copy (a link, no write) and
reporting a conflict are not writes, so they are left as they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date

from bridge.engine.actions import Action, Kind, RouteRules
from connectors.base import DateWindow

#: The action kinds that write to the target.
WRITES = frozenset({Kind.CREATE, Kind.UPDATE, Kind.DELETE})


def effective(*dates: date | None) -> date | None:
    """The date a route is closed through: the latest of those given (None: not closed)."""
    given = [d for d in dates if d is not None]
    return max(given) if given else None


def held_reason(closed_through: date) -> str:
    """The reason every held action gives (INTERFACE.md: it says through which date)."""
    return f"period closed through {closed_through.isoformat()}"


def touched(action: Action) -> Iterator[date]:
    """The work dates a write would change in the target: the copy's date as it is now
    (it is rewritten or removed) and the date it will hold (it is written)."""
    if action.kind not in WRITES:
        return
    if action.copy is not None:
        yield action.copy.work_date
    if action.draft is not None:
        yield action.draft.work_date
    if action.replacement is not None:
        yield action.replacement.work_date


def touches_closed(action: Action, closed_through: date) -> bool:
    """Whether ``action`` writes anything dated on or before ``closed_through``."""
    return any(day <= closed_through for day in touched(action))


def hold(rules: RouteRules, actions: list[Action]) -> list[Action]:
    """``actions`` with every write of an origin that touches the closed period held.

    Pure, and free when the route has no closed period (the usual case).
    """
    closed = rules.closed_through
    if closed is None:
        return actions
    origins = {str(a.origin) for a in actions if touches_closed(a, closed)}
    if not origins:
        return actions
    reason = held_reason(closed)
    return [dataclasses.replace(a, held=reason)
            if a.kind in WRITES and str(a.origin) in origins else a for a in actions]


def closed_note(window: DateWindow, closed_through: date | None) -> str | None:
    """One line for a pass whose range is wholly or partly closed, else None.

    The closed part is still read and planned (so what it would change is listed as
    held); this line says that nothing in it is written.
    """
    if closed_through is None or window.start > closed_through:
        return None
    end = min(window.end, closed_through)
    return (f"{window.start.isoformat()}..{end.isoformat()} is closed through "
            f"{closed_through.isoformat()}: nothing there is written")
