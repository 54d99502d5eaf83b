"""Benchmark: writes to Kaiten at its real 5 requests/s, in each emulator rate-limit model.

The Kaiten emulator runs at 5 requests/s per token and holds each answer 150-300 ms
(its own work, after the limit counted the request), so one serial writer cannot
reach the limit. ``writers`` threads share one :class:`KaitenConnector` (and so its
pacer) and push ``creates`` time logs through it. Printed per model: writes/s over
the whole run (the first second's burst of 5 flatters a short run), the steady rate
(5 starts per the mean time from a start to the start 5 later), its ratio to 5/s and
the share of 429 answers. The goal: >= 4.75/s steady (95 %) and <= 0.5 % 429s.

    python bench/bench_rate.py [CREATES] [WRITERS]

:func:`run` returns the figures of each model (``python -m bench`` shows them),
:func:`run_one` those of one.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from connectors.base import EntryDraft
from connectors.emulator import RATE_WINDOWS
from connectors.http import RetryPolicy
from connectors.kaiten.client import KaitenConnector
from connectors.kaiten.config import KaitenConfig
from connectors.kaiten.emulator import KaitenEmulator
from connectors.model import Origin

LIMIT = 5.0  # Kaiten's documented requests per second
TOKEN = "bench-token-not-a-secret"


def run(creates: int = 60, writers: int = 4, latency: tuple[float, float] = (0.15, 0.30),
        modes: tuple[str, ...] = RATE_WINDOWS) -> dict[str, dict[str, Any]]:
    """The figures of :func:`run_one` for each emulator rate model in ``modes``, by model
    (what ``python -m bench`` shows: ``writes_per_second`` and ``share_429``)."""
    return {mode: run_one(mode, creates, writers, latency) for mode in modes}


def run_one(rate_window: str = "bucket", creates: int = 60, writers: int = 4,
            latency: tuple[float, float] = (0.15, 0.30)) -> dict[str, Any]:
    """Push ``creates`` creates from ``writers`` threads through one connector against
    the Kaiten emulator in ``rate_window`` mode at 5/s; returns the figures:
    ``writes_per_second`` is the steady rate (see the module docstring),
    ``wall_writes_per_second`` the creates done over the whole run, ``share_429`` the
    429 answers among all the requests the server saw."""
    emulator = KaitenEmulator(rate=LIMIT, rate_window=rate_window)
    user = emulator.add_user("Bench", "bench@example.com", token=TOKEN)
    space = emulator.add_space("Bench", time_tracking=True)
    card = emulator.add_card(space_id=space, title="Bench")
    low, high = latency
    with emulator.serve() as server:
        server.faults.add("slow", method="POST", times=10**9, delay=low, jitter=high - low)
        config = KaitenConfig(type="kaiten", base_url=server.base_url,
                              token_env="KAITEN_TOKEN", requests_per_second=LIMIT)
        connector = KaitenConnector("kaiten", config, TOKEN, retry=RetryPolicy())
        lock = threading.Lock()
        starts: list[float] = []
        failures: list[str] = []

        def create(n: int) -> None:
            draft = EntryDraft(origin=Origin(source="YANDEX_TRACKER", record_id=str(n)),
                               task=str(card), work_date=date(2026, 12, 3), seconds=600,
                               comment=f"bench {n}")
            try:
                connector.create(draft)
            except Exception as exc:  # a benchmark reports failures, it does not stop
                failures.append(type(exc).__name__)

        # Every request start, as the pacer lets it go (retries of a 429 included).
        limiter = connector._http.rate_limiter
        acquire = limiter.acquire

        def timed_acquire() -> float:
            waited = acquire()
            with lock:
                starts.append(time.monotonic())
            return waited

        limiter.acquire = timed_acquire  # type: ignore[method-assign]
        began = time.monotonic()
        with ThreadPoolExecutor(writers) as pool:
            list(pool.map(create, range(creates)))
        elapsed = time.monotonic() - began
        connector.close()
        statuses = server.log.by_status()
        requests = sum(statuses.values())
    done = len(emulator.time_logs)
    refused = statuses.get(429, 0)
    # The long-run rate: N starts per the mean time between a start and the start N
    # later (a short run's first burst of N, or its last partial second, would skew
    # a plain count over the elapsed time either way).
    burst = int(LIMIT)
    gaps = [later - earlier for earlier, later in zip(starts, starts[burst:], strict=False)]
    steady = burst / (sum(gaps) / len(gaps)) if gaps and sum(gaps) > 0 else 0.0
    return {
        "mode": rate_window, "creates": creates, "writers": writers, "user": user,
        "done": done, "failures": len(failures), "seconds": elapsed,
        "writes_per_second": steady, "wall_writes_per_second": done / elapsed,
        "ratio": steady / LIMIT, "requests": requests, "refused": refused,
        "share_429": refused / requests if requests else 0.0,
    }


def main(argv: list[str]) -> None:
    creates = int(argv[1]) if len(argv) > 1 else 60
    writers = int(argv[2]) if len(argv) > 2 else 4
    print(f"{creates} creates from {writers} threads, Kaiten emulator at {LIMIT:g}/s, "
          "answers held 150-300 ms")
    print(f"{'model':8} {'done':>5} {'seconds':>8} {'writes/s':>9} {'steady/s':>9} "
          f"{'of 5/s':>7} {'429s':>5} {'429 share':>10}")
    for mode in RATE_WINDOWS:
        r = run_one(mode, creates, writers)
        print(f"{mode:8} {r['done']:>5} {r['seconds']:>8.2f} "
              f"{r['wall_writes_per_second']:>9.2f} {r['writes_per_second']:>9.2f} "
              f"{r['ratio']:>7.1%} {r['refused']:>5} {r['share_429']:>10.2%}")


if __name__ == "__main__":
    main(sys.argv)
