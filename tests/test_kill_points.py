"""SIGKILL at twenty-odd points of backfills that write concurrently: exactly once holds.

One world of the three emulators and four routes; the backfill runs as a real process
that is killed after a drawn number of requests or of writes (seeded, alternately), again
and again, so the kills
land during reads, while up to four writes per target are in flight, and between a
write's answer and its record in the store. After every kill no origin has two copies;
a last run finishes, every hour is billed once, and a sync after it plans nothing.
After every kill, too, each link in the store is explained by its latest audit event
(no link change without its event, no event without its change: one transaction).
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

from audit_checks import assert_links_explained
from e2e_helpers import (
    ROUTES,
    TODAY,
    assert_exactly_once,
    backfill_args,
    cli,
    copy_counts,
    killed_when,
    wrote_nothing,
)

from bridge.demo.world import DemoWorld

KILLS = 22
WRITES = ("POST", "PATCH", "DELETE")


def total_requests(world: DemoWorld) -> int:
    return sum(server.log.count() for server in world.servers.values())


def total_writes(world: DemoWorld) -> int:
    return sum(world.writes().values())


def last_method(world: DemoWorld) -> str:
    last = [server.log.entries[-1] for server in world.servers.values() if server.log.entries]
    return "write" if any(e.method in WRITES and not e.path.endswith("_search")
                          for e in last) else "read"


def test_kills_spread_over_reads_and_concurrent_writes_keep_exactly_once(
        tmp_path: Path) -> None:
    draw = random.Random(20261203)
    with DemoWorld(tmp_path, today=TODAY, days=8, bulk_kaiten=40, bulk_tracker=30) as world:
        for name in ("billing", "tracker", "kaiten"):   # writes slow enough to overlap
            world.servers[name].faults.add("latency", method="POST", delay=0.03,
                                           times=100_000)
        killed_at: list[str] = []
        while len(killed_at) < KILLS:
            # Every other kill counts only writes, so the kills land on writes in flight
            # however the machine's load spreads the requests; the others count every
            # request, and mostly land on the reads that open each run.
            if len(killed_at) % 2:
                start, after = total_writes(world), draw.randint(1, 8)
                reached = lambda n=start + after: total_writes(world) >= n   # noqa: E731
            else:
                start, after = total_requests(world), draw.randint(1, 14)
                reached = lambda n=start + after: total_requests(world) >= n   # noqa: E731
            code = killed_when(world.config_path, backfill_args(world), reached,
                               "the kill point")
            assert code == -signal.SIGKILL, (
                f"the backfill finished after {len(killed_at)} kills: too little work")
            killed_at.append(last_method(world))
            for route in ROUTES:
                counts = copy_counts(world, route)
                assert not counts or max(counts.values()) == 1, \
                    f"kill {len(killed_at)}: {route} has an origin copied twice"
            assert_links_explained(world)
        assert killed_at.count("read") >= 3 and killed_at.count("write") >= 3, killed_at

        finish = cli(world.config_path, *backfill_args(world), "--format", "json")
        assert finish.code == 0, finish.stderr
        assert_exactly_once(world)
        assert_links_explained(world)
        again = cli(world.config_path, "sync", "--format", "json")
        assert again.code == 0 and wrote_nothing(again)
