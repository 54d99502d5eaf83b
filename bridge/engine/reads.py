"""A pass's reads: both sides of a route at once, each to its provable end, and the direct
look-ups the planner asks for (a missing origin or copy: gone, re-dated, or never seen)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bridge.engine.actions import ProofRequest
from bridge.engine.execute import serialised
from bridge.engine.prefetch import SourceRead
from connectors.base import Connector, ConnectorError, DateWindow, explain
from connectors.bounded_net import Stoppable, stoppable
from connectors.model import CanonicalEntry, Skip

log = logging.getLogger("timebridge.sync")
#: A progress callback: (stage, count).
Progress = Callable[[str, int], None]
#: One side of a route as read: its connector and the filters of the read.
Side = tuple[Connector, dict]


def read_side(connector: Connector, window: DateWindow, filters: dict, errors: list[str],
              side: str, progress: Progress | None,
              stop: Stoppable | None = None) -> tuple[list[CanonicalEntry | Skip], bool]:
    """Everything one side holds in the window, and whether the read got to its end.

    A stop (a signal) ends the read early: it then counts as incomplete, so the
    pass deletes nothing, and the executor will start no write either.
    """
    items: list[CanonicalEntry | Skip] = []
    try:
        for item in connector.read(window, filters):
            if stop is not None and stop.is_set():
                return items, False
            items.append(item)
            if progress is not None and len(items) % 100 == 0:
                progress(f"read {side}", len(items))
    except ConnectorError as exc:
        errors.append(f"{side} read failed part-way, after {len(items)} records: "
                      f"{explain(exc)}")
        return items, False
    if progress is not None:
        progress(f"read {side}", len(items))
    return items, True


def read_both(source: Side, target: Side, window: DateWindow, errors: list[str],
              progress: Progress | None, stop: Stoppable | None,
              source_read: SourceRead | None = None,
              ) -> tuple[tuple[list, bool], tuple[list, bool]]:
    """Both sides read at the same time (they are independent lists, often on two APIs);
    each thread ends its request in flight when the pass is stopped. ``source_read``:
    the source, read ahead already; only the target is read then."""
    shown = serialised(progress)
    said: dict[str, list[str]] = {"source": [], "target": []}

    def read(connector: Connector, filters: dict, side: str) -> tuple[list, bool]:
        with stoppable(stop):
            return read_side(connector, window, filters, said[side], side, shown, stop)

    if source_read is not None:
        said["source"] = source_read.errors
        if shown is not None:
            shown("read source", len(source_read.items))
        ahead = source_read.items, source_read.complete
        both = ahead, read(*target, "target")
    else:
        with ThreadPoolExecutor(2, thread_name_prefix="read") as pool:
            target_read = pool.submit(read, *target, "target")
            source_items = read(*source, "source")
            both = source_items, target_read.result()
    errors += said["source"] + said["target"]   # in a fixed order, whichever ended first
    return both


def prove_sources(source: Connector, requests: list[ProofRequest],
                  stop: Stoppable | None = None) -> dict:
    """The look-ups of origins the planner asked for (gone? re-dated?), by origin key;
    failures left out, so nothing is decided for them."""
    proofs: dict[str, CanonicalEntry | None] = {}
    for r in requests:
        if stop is not None and stop.is_set():
            break  # an origin not looked up is decided nothing for
        try:
            found = source.lookup(r.record_id or "", r.task or "")
        except ConnectorError as exc:
            log.warning("could not look up %s: %s; deciding nothing for it", r.key, exc)
            continue
        if found is None or isinstance(found, CanonicalEntry):
            proofs[r.key] = found
    return proofs


def prove_targets(target: Connector, requests: list[ProofRequest],
                  stop: Stoppable | None = None) -> tuple[dict, dict]:
    """(copies found, copies being replaced found), by origin key; failures left out."""
    proofs: dict[str, object] = {}
    replaced: dict[str, CanonicalEntry | None] = {}
    for r in requests:
        if stop is not None and stop.is_set():
            break
        try:
            if r.record_id is None:
                proofs[r.key] = target.find_copies(r.origin, r.task)
                continue
            found = target.lookup(r.record_id, r.task or "")
            if not isinstance(found, Skip):
                (replaced if r.replaced else proofs)[r.key] = found
        except ConnectorError as exc:
            log.warning("could not look up the copy of %s: %s; deciding nothing for it",
                        r.key, exc)
    return proofs, replaced
