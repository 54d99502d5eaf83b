"""End-to-end figures through the emulators: a large backfill, a no-change sync, a bad day.

Each figure runs the real CLI as a child process (``python -m bridge``) against the
in-repo emulators of :class:`bridge.demo.world.DemoWorld`, so its wall time and its peak
memory (the child's max RSS) are the product's, not a test double's.

* :func:`backfill` - route ``kaiten-billing`` over ``n`` Kaiten logs, Kaiten held to
  its documented 5 requests/s: the backfill, then a no-change sync, each against the
  floor the rate limits allow (Kaiten's pages at 200 a page, 5 a second; the contracting
  API documents no limit, so its requests add nothing to the floor), and the no-change
  sync's requests against the minimum (each list read once at its largest page). The
  contracting API documents no limit, so the backfill is also compared with what its
  server takes with no bridge in the way (:mod:`bench.capacity`).
* :func:`bad_days` - runs until exit 0 of a backfill of every route under the fault mix
  of :mod:`connectors.emulator_faults`, over several seeds.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.capacity import contracting_creates_per_second
from bridge.demo.seed import CONTRACTING_TOKEN, TENANT
from bridge.demo.world import DemoWorld
from connectors.emulator_faults import bad_day

KAITEN_LIMIT = 5.0       # requests per second (seed 004)
KAITEN_PAGE = 200        # the largest page of GET /time-logs (seed 000)
TODAY = datetime.now(UTC).date()


def _cli(world: DemoWorld, *args: str) -> tuple[int, float, float, dict[str, Any] | None]:
    """(exit code, wall seconds, peak RSS MiB of the child, the JSON report)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBRIDGE_")}
    env["TIMEBRIDGE_TODAY"] = world.today.isoformat()
    began = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "bridge", *args, "--format", "json",
                              "--config", str(world.config_path)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert child.stdout is not None
    out = child.stdout.read()
    # Reaped here, not by Popen, to read this one child's own peak memory.
    _, status, usage = os.wait4(child.pid, 0)
    took = time.monotonic() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    try:
        report = json.loads(out)
    except ValueError:
        report = None
    return child.returncode, took, usage.ru_maxrss / 1024, report


def _requests(world: DemoWorld) -> dict[str, int]:
    return {name: server.log.count() for name, server in world.servers.items()}


def backfill(n: int = 100_000, days: int = 28, chunk_days: int | None = None
             ) -> dict[str, Any]:
    """Backfill then no-change sync of ``kaiten-billing`` over ``n`` Kaiten logs;
    ``chunk_days``: the route's chunks (default: the route's default, one chunk here)."""
    with tempfile.TemporaryDirectory() as folder, \
            DemoWorld(Path(folder), today=TODAY, days=days, bulk_kaiten=n,
                      kaiten_rate=KAITEN_LIMIT) as world:
        if chunk_days is not None:
            world.write_config(routes=[{**r, "chunk_days": chunk_days}
                                       if r["name"] == "kaiten-billing" else r
                                       for r in world.routes])
        span = ["--from", world.first_day.isoformat(), "--to", world.today.isoformat()]
        logs = len(world.kaiten_logs)
        before = _requests(world)
        code, took, peak, _ = _cli(world, "backfill", *span, "--route", "kaiten-billing")
        after = _requests(world)
        # Kaiten's own share of the backfill: reading the timesheet and proving nothing.
        floor = math.ceil(logs / KAITEN_PAGE) / KAITEN_LIMIT
        sync_code, sync_took, sync_peak, _ = _cli(world, "sync", "--route", "kaiten-billing")
        final = _requests(world)
        copies = len(world.contracting.entries)
        # The other half of the floor: what the contracting server takes with no bridge in
        # the way (it documents no limit), measured after the runs on the same server.
        capacity = contracting_creates_per_second(
            world.contracting_server.base_url, CONTRACTING_TOKEN, TENANT,
            world.projects["retainer"], n=min(max(logs // 10, 500), 3000))
        minimum = math.ceil(logs / KAITEN_PAGE) + 1   # Kaiten pages + the one billing list
        used = sum(final.values()) - sum(after.values())
        return {
            "records": logs, "backfill_code": code, "backfill_seconds": took,
            "backfill_floor_seconds": floor, "backfill_peak_mib": peak,
            "backfill_requests": sum(after.values()) - sum(before.values()),
            "sync_code": sync_code, "sync_seconds": sync_took, "sync_peak_mib": sync_peak,
            "sync_floor_seconds": floor, "sync_requests": used,
            "sync_minimum_requests": minimum, "copies": copies,
            "contracting_creates_per_second": capacity,
            # Reading Kaiten and writing every copy could overlap at best: the larger wins.
            "backfill_api_floor_seconds": max(floor, copies / capacity),
        }


def bad_days(seeds: int = 10, days: int = 3) -> dict[str, Any]:
    """For each seed: backfills of every route under the fault mix until one exits 0."""
    runs: list[int] = []
    for seed in range(seeds):
        with tempfile.TemporaryDirectory() as folder, \
                DemoWorld(Path(folder), today=TODAY, days=days, seed=seed) as world:
            bad_day(world.servers, seed)
            span = ["--from", world.first_day.isoformat(), "--to", world.today.isoformat()]
            attempts, code = 0, 1
            while code != 0 and attempts < 5:
                attempts += 1
                code, *_ = _cli(world, "backfill", *span)
            runs.append(attempts if code == 0 else 99)
    return {"seeds": seeds, "worst_runs": max(runs), "mean_runs": sum(runs) / len(runs),
            "runs": runs}


def routes_together(bulk: int = 300, kaiten_rate: float = 20.0) -> dict[str, Any]:
    """Backfill wall time of every route at once against the sum of each route alone
    (each in a fresh world; Kaiten held to ``kaiten_rate``)."""
    def world(folder: str) -> DemoWorld:
        return DemoWorld(Path(folder), today=TODAY, days=10, bulk_kaiten=bulk,
                         bulk_tracker=bulk, kaiten_rate=kaiten_rate)

    alone: dict[str, float] = {}
    names: list[str] = []
    while not names or len(alone) < len(names):   # each route alone, in a world of its own
        with tempfile.TemporaryDirectory() as folder, world(folder) as w:
            names = names or [route["name"] for route in w.routes]
            name = names[len(alone)]
            span = ["--from", w.first_day.isoformat(), "--to", w.today.isoformat()]
            _, alone[name], *_ = _cli(w, "backfill", *span, "--route", name)
    with tempfile.TemporaryDirectory() as folder, world(folder) as w:
        span = ["--from", w.first_day.isoformat(), "--to", w.today.isoformat()]
        code, together, *_ = _cli(w, "backfill", *span)
    return {"routes": len(names), "alone": alone, "sum_alone": sum(alone.values()),
            "longest_alone": max(alone.values()), "together": together, "code": code}
