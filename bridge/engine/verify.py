"""Is a write stored as sent? The check every create and update answer passes (pure).

A target may accept a write and not apply all of it: an undocumented update body
whose date field the real API ignores, say. The answer then shows the record as it
was stored, and that, compared with what was sent in the target's own terms (the
draft is fitted: whole minutes for Kaiten, the start Tracker keeps, ...), says which
fields were ignored. Such a write is never recorded as synced (see
:mod:`bridge.engine.execute` for what happens instead).
"""

from __future__ import annotations

from bridge.engine.decide import differences
from connectors.base import EntryDraft
from connectors.model import CanonicalEntry


def unstored(stored: CanonicalEntry, sent: EntryDraft) -> dict[str, tuple[object, object]]:
    """The fields ``stored`` (the target's answer) does not hold as ``sent``, as (stored, sent).

    Besides the fields a sync carries, a billable that was asked for and the origin
    (the reference or marker that makes the copy the bridge's) must be kept.
    """
    found: dict[str, tuple[object, object]] = dict(differences(stored, sent))
    if sent.billable is not None and stored.billable != sent.billable:
        found["billable"] = (stored.billable, sent.billable)
    if stored.origin != sent.origin:
        found["origin"] = (str(stored.origin), str(sent.origin))
    return found


def describe(connector: str, method: str, fields: dict[str, tuple[object, object]]) -> str:
    """``kaiten ignored work_date in its update (sent 2026-11-20, stored 2026-11-19)``."""
    parts = ", ".join(f"{name} (sent {sent!r:.60}, stored {stored!r:.60})"
                      for name, (stored, sent) in sorted(fields.items()))
    return f"{connector} accepted the {method} but did not store {parts}"
