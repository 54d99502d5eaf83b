"""Has the state store forgotten this route? A route's first pass in a store asks.

The store is the bridge's memory of which copy belongs to which origin. Lost (a new
empty file, a dropped database) it would let a backfill create every copy again, so the
planner must then find each origin's copy by origin before it creates one. The planner
notices a forgetting store by itself when an unknown copy of an origin it read turns up
in the target's window (``plan._Index.recovering``); a copy dated outside the window,
of an origin re-dated into it, would be missed that way and made twice.

So a route the store has no record of at all (no run, no link: a first pass, or a store
that was lost) reads once which origins of this route's source the target holds records
of, dated anywhere within ten years either side of the window (the contracting API
filters by reference, Kaiten and Tracker by the bridge's own user). The planner then looks
up by origin before it creates a copy of any of those origins; every other origin (all of
them on a true first pass) is created as always. A read that fails answers "unknown",
and every create looks first: only slower, never a second copy.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bridge.config.models import MAX_WINDOW_DAYS
from bridge.engine.actions import RouteRules
from bridge.store.state import StateStore
from connectors.base import Connector, ConnectorError, DateWindow, explain
from connectors.model import CanonicalEntry

log = logging.getLogger("timebridge.sync")


def store_forgot(rules: RouteRules, target: Connector, target_filters: dict,
                 store: StateStore, *, dry_run: bool = False) -> frozenset[str] | None:
    """The origin keys (``KAITEN:123``) the target holds records of, for a route the store
    has no record of; empty for a route it knows; None when the target could not say.
    ``dry_run``: a report, repeated on a store no real pass has written yet: it says
    what it found only at debug level."""
    if store.route_known(rules.name):
        return frozenset()
    span = timedelta(days=MAX_WINDOW_DAYS)
    everywhere = DateWindow(rules.window.start - span, rules.window.end + span)
    found: set[str] = set()
    try:
        for item in target.read(everywhere, target_filters):
            if (isinstance(item, CanonicalEntry) and item.origin.source == rules.source_ref
                    and item.is_copy):
                found.add(str(item.origin))
    except ConnectorError as exc:
        log.warning("route %s: the state store has no record of this route, and the target "
                    "could not say which records it holds already (%s): every create first "
                    "looks for its origin's copy", rules.name, explain(exc))
        return None
    if found:
        log.log(logging.DEBUG if dry_run else logging.INFO,
                "route %s: first pass in this state store; the target holds records naming "
                "%d %s origins (copies made before, if the store was lost): each of those "
                "origins is looked up before any create", rules.name, len(found),
                rules.source_ref)
    return frozenset(found)
