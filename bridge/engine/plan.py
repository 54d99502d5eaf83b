"""The pure planner: entries of both sides + the last sync's links + route rules -> actions.

No I/O here. Planning runs in two phases so it can stay pure:

1. :func:`proofs_needed` says which records must be looked up directly: an origin
   missing from the source read (deleted? re-dated? filtered out?), a copy missing
   from the target read, a create whose answer was lost (find the copy by origin).
2. The sync makes those look-ups and :func:`plan` decides, given their results.

Rules (INTERFACE.md, "What the bridge promises"): a record the bridge wrote is
never a source; a copy is deleted only when its origin is proved gone; a read
that failed part-way plans no deletes and looks nothing up; a copy whose origin
is unchanged but out of scope is kept as it is; a hand edit on the target is a
conflict unless ``on_conflict = "source-wins"``; too many deletes are refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bridge.engine.actions import (
    COPY_GONE,
    COPY_UNKNOWN,
    Action,
    CopyLookup,
    ProofRequest,
    Proofs,
    RouteRules,
    Seen,
)
from bridge.engine.closed import hold
from bridge.engine.decide import decide, gone, in_step, new_origin, origin_of
from bridge.engine.plan_guards import BrakeBasis, brake, judge_marked
from bridge.perf import gc_paused
from bridge.vocab import ActionRole, Kind, LinkStatus
from connectors.model import CanonicalEntry, Skip

__all__ = ["BrakeBasis", "Inputs", "Plan", "plan", "proofs_needed"]

if TYPE_CHECKING:  # the planner reads links' attributes only; it never touches the store
    from bridge.store.state import Link

# Bound once: compared for every link of a million-link pass.
LINKED = LinkStatus.LINKED


@dataclass
class Inputs:
    """What one route pass read: both sides (and whether each read finished) and the links."""

    source: Sequence[CanonicalEntry | Skip]
    target: Sequence[CanonicalEntry]
    links: Mapping[str, Link]
    source_complete: bool = True
    target_complete: bool = True
    # Source records whose bridge marker the store confirms (see :func:`marked_keys`);
    # ``None`` trusts every marker, as a bare planner test has it.
    proven_copies: Collection[str] | None = None
    # A narrow pass's brake (see :class:`BrakeBasis`); None: the links given are the window's.
    brake: BrakeBasis | None = None
    # Origins the target holds records of though the store knows nothing of this route
    # (bridge.engine.forgotten): each is looked up by origin before a create. None: any may be.
    forgotten: frozenset[str] | None = frozenset()
    _indexes: dict[int, _Index] = field(default_factory=dict, repr=False, compare=False)

    def index(self, rules: RouteRules) -> _Index:
        """Both reads by origin, built once for both planning phases."""
        if id(rules) not in self._indexes:
            self._indexes[id(rules)] = _Index(rules, self)
        return self._indexes[id(rules)]


@dataclass
class Plan:
    """The actions of one route pass, and why deletes were refused (if they were)."""

    actions: list[Action] = field(default_factory=list)
    brake: str | None = None
    unchanged: int = 0   # in-scope origins that need nothing

    def count(self, kind: Kind) -> int:
        return sum(1 for a in self.actions if a.kind is kind)


class _Index:
    """Both reads indexed by origin key ("SOURCE:ID")."""

    def __init__(self, rules: RouteRules, inputs: Inputs) -> None:
        self.sources: dict[str, CanonicalEntry] = {}
        self.skips: list[Skip] = []
        self.skipped: set[str] = set()
        prefix = rules.source_ref + ":"
        first, last, known = rules.window.start, rules.window.end, rules.known_refs
        for item in inputs.source:
            # The window and is_copy spelled out: a method call per entry, a million
            # times over, is most of what indexing costs.
            if isinstance(item, Skip):
                self.skips.append(item)
                self.skipped.add(prefix + str(item.record_id))
            elif not first <= item.work_date <= last:
                continue
            elif (item.origin.record_id == item.record_id
                  and item.origin.source == item.reference_source):
                self.sources[prefix + item.record_id] = item
            elif known:
                # A marker is trusted only where it can be the bridge's; a copy the
                # bridge (or any tool) made from elsewhere is never a source.
                judged = judge_marked(rules, item, inputs.proven_copies)
                if isinstance(judged, Skip):
                    self.skips.append(judged)
                    self.skipped.add(prefix + str(judged.record_id))
                elif not judged.is_copy:
                    self.sources[prefix + judged.record_id] = judged
        self.copies: dict[str, tuple[CanonicalEntry, ...]] = {}
        source_ref = rules.source_ref
        for entry in inputs.target:
            origin = entry.origin
            # entry.is_copy spelled out (see above): the origin is not the record itself.
            if origin.source == source_ref and (origin.record_id != entry.record_id
                                                or source_ref != entry.reference_source):
                # A tuple of one, not a list: a million copies, each its own container.
                key = prefix + origin.record_id
                found = self.copies.get(key)
                self.copies[key] = (entry,) if found is None else (*found, entry)
        # A copy of an origin that exists, unknown to the store: the store has forgotten
        # things (lost, restored from an old backup). Then an origin it does not know may
        # have a copy the target read did not cover (dated elsewhere), so creates ask by
        # origin first. (A reference to an origin that does not exist is someone else's
        # record, not evidence: it must not cost a look-up per create on every pass.)
        self.recovering = inputs.forgotten is None or any(
            key not in inputs.links and key in self.sources for key in self.copies)
        self.forgotten = inputs.forgotten or frozenset()

    def suspect(self, key: str) -> bool:
        """Whether an origin without a link may have a copy the target read missed."""
        return self.recovering or key in self.forgotten


def proofs_needed(rules: RouteRules, inputs: Inputs) -> tuple[list[ProofRequest],
                                                              list[ProofRequest]]:
    """The (source, target) look-ups :func:`plan` needs; none at all after a failed read."""
    with gc_paused():
        return _proofs_needed(rules, inputs)


def _proofs_needed(rules: RouteRules, inputs: Inputs) -> tuple[list[ProofRequest],
                                                               list[ProofRequest]]:
    idx = inputs.index(rules)
    source_requests: list[ProofRequest] = []
    target_requests: list[ProofRequest] = []
    sources, copies, complete = idx.sources, idx.copies, inputs.target_complete
    for key, link in inputs.links.items():
        # The steady state (a million links, each with its source and copy read) must
        # cost a few look-ups of dicts: nothing is built until a request is.
        linked = link.status == LINKED
        if key not in sources:
            in_window = link.work_date is not None and link.work_date in rules.window
            if (key in idx.skipped or (linked and not in_window)
                    or not (inputs.source_complete and complete)):
                # Out of scope is kept as it is (an unfinished intent is looked at
                # wherever it is dated). After a read that failed part-way, either side,
                # nothing is looked up, so nothing can be proved gone or deleted.
                continue
            source_requests.append(ProofRequest(key, origin_of(key), link.source_record_id,
                                                link.source_task))
        if not complete:
            continue
        if linked:
            if key not in copies and link.target_record_id:
                target_requests.append(ProofRequest(key, origin_of(key), link.target_record_id,
                                                    link.target_task))
            continue
        origin = origin_of(key)
        read = {c.record_id for c in copies.get(key, ())}
        replaced = link.replaces_record_id
        if replaced and replaced not in read:  # the copy an interrupted replace was deleting
            target_requests.append(ProofRequest(key, origin, replaced, link.replaces_task,
                                                replaced=True))
        if not read - {replaced}:  # a create whose answer was lost: find it by its origin
            target_requests.append(ProofRequest(key, origin, None, link.target_task))
    if (idx.recovering or idx.forgotten) and inputs.target_complete:
        suspects = idx.sources.items() if idx.recovering else \
            [(k, idx.sources[k]) for k in sorted(idx.forgotten) if k in idx.sources]
        for key, source in suspects:
            task = rules.target_task(source.task)
            if key not in inputs.links and key not in idx.copies and task is not None:
                target_requests.append(ProofRequest(key, source.origin, None, task))
    return source_requests, target_requests


def plan(rules: RouteRules, inputs: Inputs, proofs: Proofs | None = None) -> Plan:
    """Decide every action of one route pass. Pure: same inputs, same plan."""
    with gc_paused():
        return _plan(rules, inputs, proofs or Proofs())


def _plan(rules: RouteRules, inputs: Inputs, proofs: Proofs) -> Plan:
    idx = inputs.index(rules)
    actions: list[Action] = [
        Action(Kind.SKIP, origin_of(rules.source_ref + ":" + str(s.record_id)),
               rules.display(str(s.record_id)), s.reason)
        for s in idx.skips
    ]
    links, complete, unchanged = inputs.links, inputs.target_complete, 0
    # A backfill's every origin: never linked, no copy read, the target read whole and the
    # store trusted. decide() would reach the same create; this skips its dispatch, which
    # is most of what a million creates cost.
    fresh = complete and not idx.recovering
    copies, forgotten = idx.copies, idx.forgotten
    for key, source in idx.sources.items():
        link = links.get(key)
        if link is None:
            if fresh and key not in copies and key not in forgotten:
                actions.append(new_origin(rules, source))
                continue
        elif link.status == LINKED:
            # The steady state, as decide() opens: one copy, neither side changed.
            found = copies.get(key)
            if found is not None and len(found) == 1 and in_step(source, found[0], link):
                unchanged += 1
                continue
        decided = _origin(rules, idx, proofs, key, source, link, complete)
        # An in-scope origin is unchanged when none of its own actions does anything.
        if all(a.kind is Kind.UNCHANGED for a in decided):
            unchanged += 1
        actions.extend(decided)
    if proofs.source:
        for key, link in links.items():
            if key in idx.sources or key in idx.skipped or key not in proofs.source:
                continue
            now = proofs.source[key]
            if now is None or not now.is_copy:
                actions.extend(_origin(rules, idx, proofs, key, now, link, complete))
    result = Plan(hold(rules, actions), unchanged=unchanged)
    result.actions, result.brake = brake(rules, result.actions, inputs.links, inputs.brake)
    return result


def _origin(rules: RouteRules, idx: _Index, proofs: Proofs, key: str,
            source: CanonicalEntry | None, link: Link | None,
            target_complete: bool) -> list[Action]:
    """The actions of one origin; ``source`` None means proved gone by a look-up."""
    replaced = link.replaces_record_id if link is not None and link.status != LINKED \
        else None
    copy = _copy(idx, proofs, key, link, target_complete, exclude=replaced)
    if replaced is None:
        if source is None:
            assert link is not None   # an origin proved gone is one the store links
            return gone(rules, key, link, copy)
        return decide(rules, key, source, link, copy)
    # An interrupted replace: delete the copy it was replacing if that still exists,
    # then go on as for any intent (adopt the new copy if it was made, else create).
    read = [c for c in idx.copies.get(key, ()) if c.record_id == replaced]
    old = CopyLookup.of(read[:1]) if read else CopyLookup.answer(proofs.replaced, key)
    if old.seen is Seen.UNKNOWN or copy.seen is Seen.UNKNOWN:
        return []
    assert link is not None   # only a link names a replace
    if source is None:
        return gone(rules, key, link, CopyLookup.of((*old.copies, *copy.copies)))
    rest = decide(rules, key, source, link, copy)
    wanted = next((a.draft for a in rest if a.draft is not None), None)
    if old.seen is Seen.PROVED_GONE or wanted is None:
        return rest  # no old copy left, or the origin is out of scope: keep it as it is
    half = Action(Kind.DELETE, source.origin, rules.display(source.record_id),
                  "finishing an interrupted replace", source=source, copy=old.copies[0],
                  source_task=source.task, replacement=wanted,
                  role=ActionRole.REPLACE_DELETE)
    # A create that follows is the replace's other half (an update adopts the new copy).
    return [half, *(dataclasses.replace(a, role=ActionRole.REPLACE_CREATE)
                    if a.kind is Kind.CREATE and a.role is ActionRole.PLAIN else a
                    for a in rest)]


def _copy(idx: _Index, proofs: Proofs, key: str, link: Link | None,
          target_complete: bool, exclude: str | None = None) -> CopyLookup:
    """The copies of ``key``: read, else looked up, else proved gone or unknown.

    ``exclude``: a record id that is not the copy (the one a replace was deleting).
    """
    read = [c for c in idx.copies.get(key, ()) if c.record_id != exclude]
    if read:
        return CopyLookup.of(read)
    if link is None and not idx.suspect(key):
        # Never copied as far as anyone knows, if the whole target was read and the
        # store forgot nothing. After a target read that failed part-way, its copy may
        # sit on a page never read: creating now could bill it twice, so decide nothing.
        # When the store forgot things, the look-up by origin decides (see _Index).
        return COPY_GONE if target_complete else COPY_UNKNOWN
    return CopyLookup.answer(proofs.target, key, exclude)
