"""Benchmark: planning one route over N entries (default a million). Prints figures.

Two shapes: the steady state (every origin already copied and unchanged: the
daemon's every pass) and a backfill (nothing copied yet: every origin a create).
Each is planned over the whole range at once, and in monthly chunks the way a
chunked pass does it (``bridge.engine.chunks``: each chunk builds its own inputs, is
planned, and is dropped before the next). Building the entries is not timed;
``proofs_needed`` + ``plan`` are, in wall and in CPU seconds (the CPU figure holds
steadier on a machine shared with other work). Peak memory is the process's peak resident set
(``ru_maxrss``), each case in a fresh interpreter so one case's peak cannot hide
another's: it includes the inputs, which is what chunking bounds.

    python bench/bench_plan.py [N]

``run(n)`` returns the figures (for a table of every benchmark).
"""

from __future__ import annotations

import gc
import multiprocessing
import resource
import sys
import time
from datetime import UTC, date, datetime, timedelta

from bridge.engine.actions import Kind, RouteRules
from bridge.engine.chunks import chunk_windows
from bridge.engine.plan import Inputs, plan, proofs_needed
from bridge.store.schema import Link
from bridge.vocab import LinkStatus
from connectors.base import Capabilities, DateWindow, EntryDraft
from connectors.model import CanonicalEntry, Origin
from connectors.units import fit_seconds

WINDOW = DateWindow(date(2026, 1, 1), date(2026, 12, 31))
CHUNK_DAYS = 31
_DAYS = (WINDOW.end - WINDOW.start).days + 1


def fit(draft: EntryDraft) -> EntryDraft:
    return draft.model_copy(update={"seconds": fit_seconds(draft.seconds, 60)})


def build(n: int, copied: bool, window: DateWindow = WINDOW) -> Inputs:
    """The inputs of the ``n`` entries (entry ``i`` dated day ``i % 365``) dated in ``window``."""
    now = datetime.now(UTC)
    sources, targets, links = [], [], {}
    first = (window.start - WINDOW.start).days
    for offset in range(first, first + (window.end - window.start).days + 1):
        day = WINDOW.start + timedelta(days=offset)
        for i in range(offset, n, _DAYS):
            rid = str(i)
            origin = Origin.trusted("KAITEN", rid)
            src = CanonicalEntry.trusted(
                connector="kaiten", reference_source="KAITEN", record_id=rid, origin=origin,
                task=str(1000 + i % 500), author="7", work_date=day, start=None,
                seconds=60 * (1 + i % 480), comment=f"work item {i}", version=f"v{i}",
                billable=None)
            sources.append(src)
            if copied:
                tid = f"t{i}"
                copy = CanonicalEntry.trusted(
                    connector="billing", reference_source="CONTRACTING", record_id=tid,
                    origin=origin, task="prj_1", author=None, work_date=day, start=None,
                    seconds=src.seconds, comment=src.comment, version=f"u{i}", billable=None)
                targets.append(copy)
                key = f"KAITEN:{rid}"
                links[key] = Link(
                    "bench", key, rid, src.task, tid, "prj_1", None, None, src.version,
                    copy.version, day, LinkStatus.LINKED, None, None, now)
    return Inputs(sources, targets, links)


def _rules(window: DateWindow) -> RouteRules:
    return RouteRules(name="bench", source="kaiten", source_ref="KAITEN", window=window,
                      fit=fit, capabilities=Capabilities(), default_task="prj_1")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: KiB


def _case(n: int, copied: bool, chunked: bool) -> dict:
    """One case, in this (fresh) process: planning seconds, peak and baseline memory."""
    base = _peak_mb()
    elapsed, cpu, creates, unchanged = 0.0, 0.0, 0, 0
    for span in chunk_windows(WINDOW, CHUNK_DAYS if chunked else None):
        inputs = build(n, copied, span)
        rules = _rules(span)
        gc.collect()
        began, began_cpu = time.perf_counter(), time.process_time()
        proofs_needed(rules, inputs)
        result = plan(rules, inputs)
        elapsed += time.perf_counter() - began
        cpu += time.process_time() - began_cpu
        creates += result.count(Kind.CREATE)
        unchanged += result.unchanged
        del inputs, result   # a chunk's inputs and plan are gone before the next is built
    return {"seconds": elapsed, "cpu_seconds": cpu, "peak_mb": _peak_mb(), "base_mb": base,
            "creates": creates, "unchanged": unchanged}


def run(n: int = 1_000_000) -> dict[str, dict]:
    """Every case, each in a fresh interpreter: ``{case: {seconds, peak_mb, base_mb,
    creates, unchanged, entries}}`` for steady/backfill x whole/chunked."""
    ctx = multiprocessing.get_context("spawn")
    figures = {}
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        for shape, copied in (("steady", True), ("backfill", False)):
            for how, chunked in (("whole", False), ("chunked", True)):
                done = pool.apply(_case, (n, copied, chunked))
                figures[f"{shape} {how}"] = {**done, "entries": n}
    return figures


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    for case, f in run(n).items():
        print(f"{case:<18} {n:>9,} entries  {f['seconds']:6.2f} s (CPU {f['cpu_seconds']:.2f} s)  "
              f"({n / f['seconds']:,.0f} entries/s)  peak {f['peak_mb']:7,.0f} MB "
              f"(interpreter {f['base_mb']:.0f} MB)  {f['creates']:,} creates, "
              f"{f['unchanged']:,} unchanged")


if __name__ == "__main__":
    main()
