"""The pure planner's two guards: which source records may be originals, and the brake.

* Markers: a source record that carries a bridge marker or a reference to a record
  elsewhere may be a copy the bridge made (never a source), someone else's text (an
  original, the text kept), or a pasted or forged marker (reported, never copied). A
  marker is trusted only where the store confirms it.
* The delete brake: a pass may not delete more than ``max_delete_share`` of its copies.
  So many deletes at once is more likely a broken read or filter than real deletions:
  they are refused and the route reports why (``--allow-deletes`` applies them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bridge.engine.actions import Action, RouteRules
from bridge.vocab import ActionRole, Kind, LinkStatus
from connectors.model import CanonicalEntry, Skip

if TYPE_CHECKING:  # the planner reads links' attributes only; it never touches the store
    from bridge.store.state import Link


# --- markers ------------------------------------------------------------------------------


def marked_keys(rules: RouteRules, items: Iterable[CanonicalEntry | Skip]) -> set[str]:
    """Origin keys named by source records that claim to be the bridge's copies: the
    store must confirm each (``StateStore.copies_recorded``) before it is trusted."""
    return {str(e.origin) for e in items
            if isinstance(e, CanonicalEntry) and e.is_copy
            and e.origin.source in rules.known_refs and e.origin.source != e.reference_source}


def proven(rules: RouteRules, items: Iterable[CanonicalEntry | Skip],
           recorded: Mapping[str, set[str | None]]) -> set[str]:
    """Record ids of source items whose marker names an origin some route copied to them
    (or is still creating a copy of: an intent whose answer was lost)."""
    out = set()
    for e in items:
        if isinstance(e, CanonicalEntry) and e.is_copy:
            ids = recorded.get(str(e.origin), ())
            if e.record_id in ids or None in ids:
                out.add(e.record_id)
    return out


def judge_marked(rules: RouteRules, item: CanonicalEntry,
                 proven_copies: Collection[str] | None) -> CanonicalEntry | Skip:
    """A source record that names an origin elsewhere: a copy, an original, or a skip.

    A marker or reference naming a connector this config does not have is someone
    else's text: the record is an original, copied with that text kept. One naming
    a record of its own system cannot be a copy the bridge made (no route goes from a
    system to itself), and one the store does not know as a copy of that origin may
    be pasted or forged: both are reported, never copied and never dropped without a
    word. Only a copy the store confirms is the bridge's, never a source.
    """
    origin = item.origin
    if origin.source not in rules.known_refs:
        # Written out, not connectors.marker.marker(): a contracting reference id may hold
        # a space, which a marker refuses, and this is only text to keep.
        text = f"[timebridge:{origin.source}:{origin.record_id}]"
        return item.model_copy(update={"origin": item.ref,
                                       "comment": f"{item.comment} {text}".strip()})
    named = str(origin)
    if origin.source == item.reference_source:
        return Skip(connector=item.connector, record_id=item.record_id,
                    reason=f"carries the bridge's marker for {named}, a record of its own "
                           "system, so it is neither an original nor a copy the bridge made; "
                           "remove the marker to copy it")
    if proven_copies is not None and item.record_id not in proven_copies:
        return Skip(connector=item.connector, record_id=item.record_id,
                    reason=f"carries the bridge's marker for {named}, but no route's state "
                           "records it as that origin's copy (pasted, forged, or the store "
                           "was lost: the route from that origin re-adopts its copies); not "
                           "copied, to bill nothing twice; remove the marker to copy it")
    return item


# --- the delete brake ---------------------------------------------------------------------


@dataclass(frozen=True)
class BrakeBasis:
    """What the delete brake weighs a narrow pass's deletes against.

    A narrow pass (one card's records) sees a handful of links: weighed against those
    alone, one delete of a card's only copy would be 100% and always refused, while
    many such passes, each deleting a little, would never be stopped. So it is weighed
    like the route's full pass: ``copies`` is the route's linked copies in the window,
    and ``deleted`` the copies the route's narrow passes deleted since its last full
    pass began. All of them together may delete at most ``max_delete_share`` of the
    window's copies before a full pass looks at the whole window again.
    """

    copies: int
    deleted: int = 0


def brake(rules: RouteRules, actions: Sequence[Action], links: Mapping[str, Link],
          basis: BrakeBasis | None) -> tuple[list[Action], str | None]:
    """The actions with too large a share of deletes marked refused, and why (None: the
    deletes may go). ``basis``: a narrow pass's (see :class:`BrakeBasis`); None weighs
    the deletes against ``links``, the route's links in the window."""
    # Only a delete of an origin proved gone counts: half of a replace moves a copy, and a
    # held delete (a closed period) is not done.
    deletes = [a for a in actions
               if a.kind is Kind.DELETE and a.role is ActionRole.PLAIN and a.held is None]
    if not deletes or rules.allow_deletes:
        return list(actions), None
    if basis is None:
        in_window = sum(1 for link in links.values() if link.status == LinkStatus.LINKED
                        and link.work_date is not None and link.work_date in rules.window)
        before = 0
    else:
        # The copies those deletes removed were in the window too: count them back in.
        in_window, before = basis.copies + basis.deleted, basis.deleted
    counted = before + len(deletes)
    total = max(in_window, counted)
    if counted <= rules.max_delete_share * total:
        return list(actions), None
    earlier = f" ({before} more since the last full pass)" if before else ""
    why = (f"refused {len(deletes)} deletes{earlier} of {total} copies in the window "
           f"(more than max_delete_share {rules.max_delete_share:g}); run with "
           "--allow-deletes to apply them")
    refused = {id(a) for a in deletes}
    return [dataclasses.replace(a, refused=True) if id(a) in refused else a
            for a in actions], why
