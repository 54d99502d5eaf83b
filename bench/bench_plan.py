"""Benchmark: planning one route over N entries (default a million). Prints figures.

Two shapes: the steady state (every origin already copied and unchanged: the
daemon's every pass) and a backfill (nothing copied yet: every origin a create).
Building the entries is not timed; ``proofs_needed`` + ``plan`` are.

    python bench/bench_plan.py [N]
"""

from __future__ import annotations

import gc
import sys
import time
from datetime import UTC, date, datetime, timedelta

from bridge.actions import Kind, RouteRules
from bridge.model import CanonicalEntry, Origin
from bridge.plan import Inputs, plan, proofs_needed
from bridge.state import Link
from bridge.units import fit_seconds
from connectors.base import Capabilities, DateWindow, EntryDraft

WINDOW = DateWindow(date(2026, 1, 1), date(2026, 12, 31))


def fit(draft: EntryDraft) -> EntryDraft:
    return draft.model_copy(update={"seconds": fit_seconds(draft.seconds, 60)})


def build(n: int, copied: bool) -> Inputs:
    now = datetime.now(UTC)
    sources, targets, links = [], [], {}
    for i in range(n):
        day = WINDOW.start + timedelta(days=i % 365)
        rid = str(i)
        origin = Origin.model_construct(source="KAITEN", record_id=rid)
        src = CanonicalEntry.model_construct(
            connector="kaiten", reference_source="KAITEN", record_id=rid, origin=origin,
            task=str(1000 + i % 500), author="7", work_date=day, start=None,
            seconds=60 * (1 + i % 480), comment=f"work item {i}", version=f"v{i}", billable=None)
        sources.append(src)
        if copied:
            tid = f"t{i}"
            copy = CanonicalEntry.model_construct(
                connector="billing", reference_source="CONTRACTING", record_id=tid,
                origin=origin, task="prj_1", author=None, work_date=day, start=None,
                seconds=src.seconds, comment=src.comment, version=f"u{i}", billable=None)
            targets.append(copy)
            links[f"KAITEN:{rid}"] = Link(
                route="bench", origin=f"KAITEN:{rid}", source_record_id=rid,
                source_task=src.task, target_record_id=tid, target_task="prj_1",
                source_hash=None, target_hash=None, source_version=src.version,
                target_version=copy.version, work_date=day, status="linked", conflict=None,
                intent_at=None, synced_at=now)
    return Inputs(sources, targets, links)


def measure(label: str, n: int, copied: bool) -> float:
    inputs = build(n, copied)
    rules = RouteRules(name="bench", source="kaiten", source_ref="KAITEN", window=WINDOW,
                       fit=fit, capabilities=Capabilities(), default_task="prj_1")
    gc.collect()
    began = time.perf_counter()
    proofs_needed(rules, inputs)
    result = plan(rules, inputs)
    elapsed = time.perf_counter() - began
    creates = result.count(Kind.CREATE)
    print(f"{label:<34} {n:>9,} entries  {elapsed:6.2f} s  "
          f"({n / elapsed:,.0f} entries/s; {creates:,} creates, {result.unchanged:,} unchanged)")
    return elapsed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    measure("steady state (all unchanged)", n, copied=True)
    measure("backfill (all creates)", n, copied=False)


if __name__ == "__main__":
    main()
