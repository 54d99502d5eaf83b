"""The fault mix of a bad day, for the emulators: what the fault suite and the bench use.

On every request of every emulated API: 15% answered 503, 5% of writes applied but
their answer lost (a proxy's 504), 20% slowed down; and a burst of 429s meeting one
API's first writes one after another. Seeded, so a run can be replayed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from connectors.emulator import EmulatorServer, Fault

#: Where each emulated API takes its creates (the burst of 429s lands there).
WRITE_PATHS = {"billing": "/api/v1/time-entries", "tracker": "/v2/issues/*/worklog",
               "kaiten": "/api/latest/cards/*/time-logs"}


def bad_day(servers: Mapping[str, EmulatorServer], seed: int, *, burst: int = 4,
            delay: float = 0.01) -> str:
    """Queue the mix on ``servers`` (by connector name); returns the API given the burst."""
    for name, server in servers.items():
        faults = server.faults
        faults.seed(seed * 31 + len(name))
        faults.add("status", status=503, probability=0.15, times=10**9)
        for method in ("POST", "PATCH", "DELETE"):
            # 5% of all writes: of those the 503 above let through.
            faults.add("lost", method=method, probability=0.05 / 0.85, times=10**9)
        faults.add("latency", delay=delay, probability=0.2, times=10**9)
    hit = random.Random(seed).choice(sorted(servers))
    servers[hit].faults.add_first(Fault(
        "status", method="POST", path=WRITE_PATHS.get(hit, "*"), status=429, times=burst,
        body='{"message": "Too many requests"}', headers={"Retry-After": "0"}))
    return hit


def calm(servers: Mapping[str, EmulatorServer]) -> None:
    """Every queued fault gone."""
    for server in servers.values():
        server.faults.clear()
