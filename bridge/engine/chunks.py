"""Chunked passes: a long window is synced as consecutive date chunks in one run.

Memory then depends on a chunk (its reads, its links, its plan), not on the range.
Each chunk reads both sides over its own dates, loads only the links it needs
(``StateStore.chunk_links``), proves, plans and executes, before the next begins.

What keeps a chunked pass equal to one pass over the whole window:

* a chunk loads the links dated in it, the links of every source record it read
  wherever dated (an origin re-dated from another chunk, or from before the window,
  finds its copy), and, in the first chunk, every unfinished intent of the route;
* an origin decided in one chunk across a chunk edge (its link and its source
  record lie in different chunks, or it was looked up directly) is remembered in
  :class:`Crossings`, and later chunks drop its source record and link: it is
  decided once, so neither copied twice nor counted twice, in a dry run as well
  (where the store is not updated between chunks);
* the delete brake applies to each chunk against that chunk's copies: a chunk never
  deletes more than ``max_delete_share`` of its copies, so the run never deletes more
  than that share of the window's copies either (a sum of bounded shares), and a
  burst of deletes within one chunk is refused sooner than a whole-window pass would.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta

from bridge.engine.actions import Proofs, RouteRules
from bridge.engine.plan import Inputs
from bridge.store.schema import Link
from connectors.base import DateWindow
from connectors.model import CanonicalEntry, Skip

#: Days in one chunk of a pass, by default: a month (a 30-day sync window is one chunk).
DEFAULT_CHUNK_DAYS = 31


def chunk_windows(window: DateWindow, days: int | None) -> Iterator[DateWindow]:
    """Consecutive windows of at most ``days`` days covering ``window`` (``days`` 0 or
    None: the window itself, unchunked)."""
    if not days or (window.end - window.start).days < days:
        yield window
        return
    start = window.start
    while start <= window.end:
        end = min(start + timedelta(days=days - 1), window.end)
        yield DateWindow(start, end)
        start = end + timedelta(days=1)


def left_out(spans: Sequence[DateWindow], first: int) -> str:
    """The error naming the chunks of a run not started, from ``spans[first]`` on."""
    return (f"{len(spans) - first} of {len(spans)} chunks not started "
            f"(from {spans[first].start})")


def source_keys(rules: RouteRules, items: Sequence[CanonicalEntry | Skip]) -> set[str]:
    """The origin keys of the records a chunk read from its source (originals and
    skipped records alike), whose links must be found wherever they are dated."""
    prefix = rules.source_ref + ":"
    return {prefix + str(item.record_id) for item in items if item.record_id is not None}


class Crossings:
    """Origins already decided in an earlier chunk of this run, which later chunks drop."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        # Records read by the chunks so far, by progress stage: the run's counts go on.
        self.read = {"read source": 0, "read target": 0}

    def drop(self, rules: RouteRules, items: list[CanonicalEntry | Skip],
             found: dict[str, Link]) -> list[CanonicalEntry | Skip]:
        """Remove the already decided origins from a chunk's source read and links
        (``found`` in place); returns the source read that remains."""
        if not self.keys:
            return items
        for key in self.keys & found.keys():
            del found[key]
        prefix = rules.source_ref + ":"
        # Only an original names its own key; a copy of elsewhere is judged by its marker.
        return [item for item in items if isinstance(item, Skip) or item.is_copy
                or prefix + item.record_id not in self.keys]

    def note(self, rules: RouteRules, inputs: Inputs, proofs: Proofs) -> None:
        """Remember the origins this chunk decided whose record or link lies elsewhere."""
        window = rules.window
        sources = inputs.index(rules).sources
        for key, link in inputs.links.items():
            if key in sources and (link.work_date is None or link.work_date not in window):
                self.keys.add(key)
        # Looked up directly: the origin was not in this chunk's read (re-dated, gone,
        # out of scope) or is an intent dated in another chunk; either way it is decided.
        self.keys.update(proofs.source)

