"""Narrow passes: one source task's records (a Kaiten card's time logs), reconciled alone.

A webhook says that something changed on a card; a narrow pass reconciles that card at
once instead of waiting for the route's schedule. It is an ordinary pass of the route
(:func:`bridge.engine.sync.run_pass`: the same lock, planner, executor, intents and run record),
with only what it decides from narrowed (:func:`gather`):

* **the source**: the route's own read over its window, its filters narrowed to the task
  (the caller puts the card into them, so the route's filter applies exactly as in a full
  pass); a record of another task that comes back anyway is dropped, and a read that fails
  part-way is incomplete, so nothing is proved gone from it;
* **the links**: those of the task, wherever dated, and those of the records read
  (:meth:`~bridge.store.state.StateStore.task_links`); no other origin is decided, and neither
  is a record unchanged since its copy was linked (a copy edited by hand in the target
  is the scheduled pass's to find: a narrow pass carries the source's changes);
* **the target**: not a read of its window but each relevant origin's copies found by
  origin (``find_copies``, the look-up that adopts a copy after a lost answer), so an
  origin with no copy found is proved to have none; one look-up that fails makes the
  target incomplete, and then nothing is created or deleted;
* **the delete brake**: weighed against the route's copies in the window, with the deletes
  of the route's earlier narrow passes since its last full pass (:class:`BrakeBasis`).

A copy is still deleted only when a direct look-up of its origin (Kaiten: the card's
time logs) proves it gone; the event that started the pass is never evidence.

A narrow pass of **one origin** (:meth:`Narrow.origin`, ``timebridge resolve --now``), of
any source, reads no list at all: it decides that origin's link alone, and the planner
asks for the direct look-up of the origin as for any linked origin missing from a read
(so it is decided exactly as a full pass decides it, re-dated or gone included); the
target side is its copies found by origin, as above.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from bridge.engine.actions import RouteRules
from bridge.engine.chunks import source_keys
from bridge.engine.decide import origin_of, source_steady
from bridge.engine.plan import BrakeBasis
from bridge.store.schema import Link
from bridge.store.state import StateStore
from bridge.vocab import LinkStatus
from connectors.base import Connector, ConnectorError, explain
from connectors.bounded_net import Stoppable
from connectors.model import CanonicalEntry, Skip

log = logging.getLogger("timebridge.narrow")


@dataclass(frozen=True)
class Narrow:
    """What a narrow pass covers: the source task ``task`` (a Kaiten card id, as text),
    or with ``key`` (an origin key, ``KAITEN:123``) that one origin alone.

    ``scope`` is how its run is recorded and shown (``status``), e.g. ``"card 1001"``.
    """

    task: str
    scope: str
    key: str | None = None

    @classmethod
    def card(cls, card: int) -> Narrow:
        """The narrow pass of one Kaiten card."""
        return cls(str(card), f"card {card}")

    @classmethod
    def origin(cls, key: str, task: str, shown: str) -> Narrow:
        """The narrow pass of one origin of any source: ``key`` as the store keys it,
        ``task`` its source task, ``shown`` its people's spelling (``kaiten:123``)."""
        return cls(task, f"origin {shown}", key)

    def source_filters(self, route_filters: dict) -> dict:
        """The route's source filters, narrowed to this pass's task (a Kaiten card); one
        origin's pass reads no list (its origin is looked up), so they stay as they are."""
        if self.key is not None:
            return dict(route_filters)
        return {**route_filters, "card_ids": [int(self.task)]}


@dataclass
class Gathered:
    """What one chunk of a pass decides from: the source read (and whether it finished),
    the target's copies (and whether they are all there is), the links, the brake."""

    source: list[CanonicalEntry | Skip]
    source_complete: bool
    target: list[CanonicalEntry]
    target_complete: bool
    links: dict[str, Link]
    brake: BrakeBasis | None = None


def gather(narrow: Narrow, source: Connector, target: Connector, rules: RouteRules,
           filters: Mapping, store: StateStore, errors: list[str],
           stop: Stoppable) -> Gathered:
    """Read the task's records, its links and its copies (see the module docstring)."""
    window = rules.window
    if narrow.key is not None:   # one origin: its link; the planner looks it up
        link = store.link(rules.name, narrow.key)
        items: list[CanonicalEntry | Skip] = []
        complete, links = True, {} if link is None else {narrow.key: link}
    else:
        items, complete = _read_task(narrow, source, rules, filters, errors, stop)
        links = store.task_links(rules.name, narrow.task, source_keys(rules, items))
        items = _changed(rules, items, links)
    copies, found_all = _copies(target, rules, items, links, errors, stop)
    brake = BrakeBasis(store.count_copies(rules.name, window.start, window.end),
                       store.narrow_deletes(rules.name))
    return Gathered(items, complete, copies, found_all, links, brake)


def _read_task(narrow: Narrow, source: Connector, rules: RouteRules, filters: Mapping,
               errors: list[str], stop: Stoppable) -> tuple[list, bool]:
    """The source's records of the task in the window, and whether the read finished."""
    items: list[CanonicalEntry | Skip] = []
    foreign = 0
    try:
        for item in source.read(rules.window, filters):
            if stop.is_set():
                return items, False   # stopped: incomplete, so nothing is proved gone
            if isinstance(item, CanonicalEntry) and item.task != narrow.task:
                foreign += 1   # the API did not narrow the read: not this pass's record
                continue
            items.append(item)
    except ConnectorError as exc:
        errors.append(f"source read of {narrow.scope} failed part-way, after {len(items)} "
                      f"records: {explain(exc)}")
        return items, False
    if foreign:
        # A skipped record cannot be told apart by its task: the full pass reports those.
        log.warning("route %s: the source answered %d records of other tasks to a read of "
                    "%s; they are left to the scheduled pass", rules.name, foreign,
                    narrow.scope)
        items = [item for item in items if isinstance(item, CanonicalEntry)]
    return items, True


def _changed(rules: RouteRules, items: list, links: dict[str, Link]) -> list:
    """``items`` without the originals unchanged since their copy was linked (their links
    dropped from ``links`` too): the hint was not about them, and looking up each of their
    copies would cost a request apiece for nothing. A copy edited by hand in the target is
    the scheduled pass's to find; a narrow pass carries source changes."""
    prefix, kept = rules.source_ref + ":", []
    for item in items:
        key = prefix + str(item.record_id)
        if isinstance(item, CanonicalEntry) and not item.is_copy and key in links \
                and item.work_date in rules.window and source_steady(item, links[key]):
            del links[key]
        else:
            kept.append(item)
    return kept


def _copies(target: Connector, rules: RouteRules, items: list, links: dict[str, Link],
            errors: list[str], stop: Stoppable) -> tuple[list[CanonicalEntry], bool]:
    """Every copy of the origins this pass may decide, found by origin; and whether every
    look-up answered (else the target counts as read part-way: nothing is created)."""
    wanted: dict[str, set[str | None]] = {}
    prefix, window = rules.source_ref + ":", rules.window
    for item in items:
        # An original (or a record marked by a tool this config does not know) in the
        # window is in scope; a copy the bridge made from elsewhere is never a source.
        if isinstance(item, CanonicalEntry) and item.work_date in window and (
                not item.is_copy or item.origin.source not in rules.known_refs):
            wanted.setdefault(prefix + item.record_id, set()).add(
                rules.target_task(item.task))
    for key, link in links.items():
        # What the planner may act on: a copy in the window, an unfinished intent, an
        # origin read. A linked copy dated elsewhere whose origin was not read is kept.
        if key in wanted or link.status != LinkStatus.LINKED or (
                link.work_date is not None and link.work_date in window):
            wanted.setdefault(key, set()).update(
                {link.target_task, link.replaces_task} - {None})
    found: dict[str, CanonicalEntry] = {}
    for key, tasks in wanted.items():
        origin = origin_of(key)
        known: list[str | None] = [*sorted(t for t in tasks if t is not None)]
        for task in known or [None]:
            if stop.is_set():
                return list(found.values()), False
            try:
                copies = target.find_copies(origin, task)
            except ConnectorError as exc:
                errors.append(f"looking up the copies of {rules.display(origin.record_id)} "
                              f"failed: {explain(exc)}")
                return list(found.values()), False
            found.update((copy.record_id, copy) for copy in copies)
    return list(found.values()), True
