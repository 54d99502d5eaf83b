"""What an emulated API itself can take: creates per second with no bridge in the way.

The contracting API documents no rate limit, so the floor of a backfill that writes to
it is set by how fast the server answers. On a shared two-core machine that is the
in-repo emulator's speed, which this measures: plain POSTs from a child process (so the
client does not share the emulator's interpreter lock), several at once over kept-alive
connections, each a well-formed entry the emulator stores. The figure is the floor's
other half; the bridge's backfill is compared with both.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import httpx


def _post_many(base_url: str, headers: dict[str, str], project: str, n: int,
               threads: int) -> float:
    """In a child process: ``n`` creates from ``threads`` clients; creates per second."""
    def one_client(count: int, offset: int) -> None:
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
            for i in range(offset, offset + count):
                answer = client.post("/api/v1/time-entries", json={
                    "projectId": project, "date": date.today().isoformat(),
                    "durationSeconds": 60, "description": f"capacity probe {i}",
                    "referenceSource": "CAPACITY_PROBE", "referenceId": str(i),
                    "billableId": None})
                answer.raise_for_status()

    share = n // threads
    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one_client, [share] * threads, range(0, n, share)))
    return share * threads / (time.perf_counter() - began)


def contracting_creates_per_second(base_url: str, token: str, tenant: str, project: str,
                                   n: int = 2000, threads: int = 4) -> float:
    """Creates per second the contracting server at ``base_url`` takes from ``threads``
    clients at once (as many as the bridge's writers), measured from a child process."""
    headers = {"Authorization": f"Bearer {token}", "tenant-id": tenant}
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(_post_many, (base_url, headers, project, n, threads))
