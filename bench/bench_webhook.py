"""Benchmark: the webhook path, a Kaiten time log added -> its copy in the billing target.

A :class:`bridge.demo.world.DemoWorld` with Kaiten held to its documented 5 requests/s is
synced in full (route ``kaiten-billing``); then a person adds time logs through Kaiten's
API one after another, the Kaiten emulator delivers each ``timelog:add`` webhook to a
local receiver that hands it to a real :class:`bridge.cli.hints.HintQueue`, and the figure is
the time from Kaiten's answer to the person until the copy is in the contracting
emulator. No scheduled pass runs meanwhile. (The receiver stands in for the daemon's
HTTP listener: it checks the secret and hands the JSON to ``on_kaiten_delivery``, which
is all the listener does before its 202.) The goal: under 5 s.

    python bench/bench_webhook.py [LOGS]

:func:`run` returns the figures (``python -m bench`` shows them).
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import httpx
from starlette.applications import Starlette

from bridge.cli.commands import run_passes
from bridge.cli.hints import HintQueue
from bridge.cli.listener import build_app
from bridge.cli.readiness import Readiness
from bridge.config.loader import LoadedConfig, load_config
from bridge.demo.world import KAITEN_PERSON_TOKEN, DemoWorld
from bridge.engine.runtime import Runtime
from bridge.store.state import StateStore
from connectors.emulator import EmulatorServer

KAITEN_LIMIT = 5.0
SECRET = "bench-webhook-secret"
GOAL_SECONDS = 5.0


def _receiver(queue: HintQueue, loaded: LoadedConfig, store: StateStore) -> Starlette:
    """The daemon's own listener app, its webhooks going to ``queue``."""
    readiness = Readiness(store, loaded.config.routes, 3)
    return build_app(readiness, SECRET, queue.on_kaiten_delivery)


def run(logs: int = 10) -> dict[str, Any]:
    """Add ``logs`` time logs one by one; returns ``seconds`` (each one's delivery-to-copy
    time), ``median`` and ``worst``."""
    today = datetime.now(UTC).date()
    os.environ["TIMEBRIDGE_TODAY"] = today.isoformat()
    with tempfile.TemporaryDirectory(prefix="timebridge-bench-") as folder, \
            DemoWorld(Path(folder), today=today, days=7, kaiten_rate=KAITEN_LIMIT) as world:
        route = {**world.route("kaiten-billing"), "schedule": "0 0 1 1 *"}
        loaded = load_config(world.write_config("bench.toml", routes=[route]))
        with contextlib.redirect_stdout(io.StringIO()):   # the report is not the figure
            code = run_passes(loaded, routes=None, dry_run=False, allow_deletes=False,
                              fmt="json")
        if code != 0:
            raise RuntimeError(f"the first full sync failed (exit {code})")
        runtime, store, stop = Runtime(loaded), StateStore(loaded.state_url), threading.Event()
        queue = HintQueue(loaded, runtime, store, stop)
        seconds: list[float] = []
        try:
            with EmulatorServer(_receiver(queue, loaded, store)) as receiver, httpx.Client(
                    base_url=world.kaiten_server.base_url + "/api/latest",
                    headers={"Authorization": f"Bearer {KAITEN_PERSON_TOKEN}"}) as person:
                world.kaiten.webhooks.subscribe(f"{receiver.base_url}/webhooks/kaiten",
                                                secret=SECRET)
                for n in range(logs):
                    seconds.append(_one(world, person, n, today - timedelta(days=1)))
                    queue.wait_idle(60)
        finally:
            stop.set()
            queue.close(60)
            world.kaiten.webhooks.close()
            runtime.close()
            store.close()
    return {"seconds": seconds, "median": statistics.median(seconds), "worst": max(seconds)}


def _one(world: DemoWorld, person: httpx.Client, n: int, day: Any) -> float:
    body = {"role_id": -1, "time_spent": 15 + n, "for_date": day.isoformat(),
            "comment": f"bench webhook {n}"}
    answer = person.post(f"/cards/{world.cards['login']}/time-logs", json=body)
    answer.raise_for_status()
    began, log_id = time.monotonic(), str(answer.json()["id"])
    while not any(e["referenceId"] == log_id for e in world.contracting_entries()):
        if time.monotonic() - began > 60:
            raise RuntimeError(f"no copy of Kaiten log {log_id} after 60 s")
        time.sleep(0.005)
    return time.monotonic() - began


def main() -> int:
    logs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    figures = run(logs)
    for n, value in enumerate(figures["seconds"], 1):
        print(f"log {n}: delivered -> copy in the target in {value:.2f} s")
    print(f"median {figures['median']:.2f} s, worst {figures['worst']:.2f} s "
          f"(goal < {GOAL_SECONDS:g} s; Kaiten at {KAITEN_LIMIT:g} requests/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
