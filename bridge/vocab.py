"""The bridge's fixed words: every status, kind and role the planner, executor and reports use.

Each is a :class:`enum.StrEnum`, so a member *is* its string: it compares equal to the
plain text read back from the store or a saved plan, and JSON, CSV, the store and the
logs write exactly the words INTERFACE.md promises ("create", "done", "linked", ...).
Changing a value here changes the user contract and the stored data: don't.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What the planner decided for one origin (the ``action`` of a report row)."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    CONFLICT = "conflict"
    SKIP = "skip"
    UNCHANGED = "unchanged"


class ActionRole(StrEnum):
    """Whether an action stands alone or is one half of a replace of one origin.

    A target that cannot change a field in place gets a delete of the old copy and a
    create of the new one. The executor records the delete half as an intent naming
    the copy it replaces, and never runs the create half once that delete failed.
    """

    PLAIN = "plain"
    REPLACE_DELETE = "replace-delete"   # the old copy goes; ``replacement`` says what follows
    REPLACE_CREATE = "replace-create"   # the new copy, after its delete half


class LinkStatus(StrEnum):
    """A link row's ``status`` in the store (a check constraint holds these two)."""

    INTENT = "intent"   # a write began (a create, or a replace's delete); its answer may be lost
    LINKED = "linked"   # the copy as the last sync wrote or confirmed it


class OutcomeStatus(StrEnum):
    """What became of one action (the ``status`` of a report row)."""

    PLANNED = "planned"   # a dry run: shown, not done
    DONE = "done"
    FAILED = "failed"
    HELD = "held"         # a closed period keeps it from being written
    STALE = "stale"       # a saved plan's action whose origin or copy changed since


class Keep(StrEnum):
    """Which side a person kept when settling a conflict (``resolve --keep``).

    ``SOURCE`` is also a link's ``resolution`` until the next pass rewrites the copy.
    """

    SOURCE = "source"
    TARGET = "target"


class OnConflict(StrEnum):
    """A route's ``on_conflict`` policy: what a hand edit of a copy becomes."""

    REPORT = "report"            # a conflict for a person
    SOURCE_WINS = "source-wins"  # overwritten from the origin


class RouteState(StrEnum):
    """How one route's pass ended, as a report's ``route-error`` row gives its ``status``."""

    OK = "ok"
    FAILED = "failed"   # it could not finish: its figures are incomplete
    HELD = "held"       # another run held the route: nothing was read


class VerdictLevel(StrEnum):
    """The level of the verdict every report opens with (see :mod:`bridge.report.truth`)."""

    INCOMPLETE = "incomplete"   # a route did not finish
    FAILED = "failed"           # every route finished, some action failed
    WORK = "work"               # actions are listed
    NOTHING = "nothing"         # every route finished and nothing is to be done


class PassOutcome(StrEnum):
    """How a pass ended, as the ``timebridge_passes_total`` metric labels it."""

    OK = "ok"
    PARTIAL = "partial"           # read and planned in full; some actions failed
    FAILED = "failed"             # the route could not finish
    INTERRUPTED = "interrupted"   # a signal, the pass's time bound or a lost lock
    HELD = "held"                 # another run held the route
