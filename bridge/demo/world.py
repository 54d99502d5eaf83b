"""``timebridge demo``: the whole bridge against the built-in emulators, with no credentials.

:class:`DemoWorld` starts the three API emulators (Kaiten, Yandex Tracker, contracting) on
loopback, seeds them with a few weeks of realistic work, and writes a config that points
the bridge at them, with routes in every direction that makes sense:

* ``kaiten-billing``  Kaiten card time logs -> contracting entries;
* ``tracker-billing`` Tracker worklogs -> contracting entries;
* ``kaiten-tracker``  Kaiten time logs -> Tracker worklogs;
* ``tracker-kaiten``  Tracker worklogs -> Kaiten time logs (whole minutes, 4096-character
  comments).

Kaiten and Tracker copy each other both ways: the markers in the copies' comments keep
the bridge from carrying a copy back to where it came from, or billing it twice.

The seeded data exercises the unit rules: odd seconds from Tracker (``PT1H30M45S``) that
Kaiten must round to whole minutes, ``P1D`` = 8 hours, ``P1W`` = 5 workdays, worklogs
started near local midnight, a comment just under Kaiten's limit, comments with brackets,
one record of each source that cannot be mapped (reported as a skip), and hand-made
contracting entries the bridge must leave alone. The Sales space of Kaiten has no time
tracking in its tariff; no route writes there.

:func:`bridge.cli.demo.run_demo` runs a backfill over the seeded weeks, then a sync
that must find nothing left to do. Tests use :class:`DemoWorld` directly (see
``tests/test_e2e.py``).
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bridge.config.loader import resolve_state_url
from bridge.demo.config import DemoConfigWriter
from bridge.demo.seed import (  # noqa: F401  (the demo's names, public here)
    CONFIG_NAME,
    CONTRACTING_PERSON_TOKEN,
    CONTRACTING_TOKEN,
    DEFAULT_DAYS,
    DEFAULT_KAITEN_RATE,
    KAITEN_MINUTES,
    KAITEN_PERSON_TOKEN,
    KAITEN_TOKEN,
    STATE_NAME,
    TENANT,
    TIMEZONE,
    TRACKER_DURATIONS,
    TRACKER_ORG,
    TRACKER_PERSON_TOKEN,
    TRACKER_TOKEN,
    WINDOW_DAYS,
    WORKDAY_HOURS,
    DemoSeeder,
    long_comment,
)
from connectors.contracting.emulator import ContractingEmulator
from connectors.emulator import EmulatorServer
from connectors.kaiten.emulator import KaitenEmulator
from connectors.tracker.emulator import TrackerEmulator


class DemoWorld(DemoSeeder, DemoConfigWriter):
    """The three emulators on loopback, seeded, and a config in ``folder`` pointing at them.

    ``today``: the last seeded day (default: today in UTC); records are dated over the
    ``days`` days up to it (``first_day`` .. ``today``). ``kaiten_rate``: Kaiten's rate
    limit, enforced by the emulator and used as the config's ``requests_per_second``.
    ``state_url``: the state store (default: ``timebridge-demo.sqlite`` in ``folder``,
    deleted first if it is there, since it would describe another world).
    ``bulk_kaiten``/``bulk_tracker``: that many more records (for long backfills).

    Starts at once; use as a context manager or call :meth:`stop`. Attributes: the
    emulators ``kaiten``, ``tracker``, ``contracting``; their started servers
    ``kaiten_server``, ``tracker_server``, ``contracting_server`` (and ``servers`` by
    connector name); ``config_path``, ``state_path`` (None for a non-SQLite store),
    ``routes`` (what the config holds) and the seeded ids (``cards``, ``issues``,
    ``projects``, ...).
    """

    def __init__(self, folder: Path | str, *, today: date | None = None,
                 days: int = DEFAULT_DAYS, kaiten_rate: float = DEFAULT_KAITEN_RATE,
                 state_url: str | None = None, bulk_kaiten: int = 0, bulk_tracker: int = 0,
                 seed: int = 2026) -> None:
        self.folder = Path(folder).resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.today = today or datetime.now(UTC).date()
        self.days = max(1, days)
        self.first_day = self.today - timedelta(days=self.days - 1)
        self.kaiten_rate = kaiten_rate
        self.state_url = state_url or f"sqlite:///{STATE_NAME}"
        #: The store as the bridge opens it (a relative SQLite path is relative to folder).
        self.resolved_state_url = resolve_state_url(self.state_url, self.folder)
        self.state_path: Path | None = None
        if self.resolved_state_url.startswith("sqlite:///"):
            self.state_path = Path(self.resolved_state_url.removeprefix("sqlite:///"))
        self.config_path = self.folder / CONFIG_NAME
        self.tz = ZoneInfo(TIMEZONE)
        self._rng = random.Random(seed)
        self.kaiten = KaitenEmulator(rate=kaiten_rate)
        self.tracker = TrackerEmulator(org_id=TRACKER_ORG, workday_hours=WORKDAY_HOURS)
        self.contracting = ContractingEmulator(
            tokens={CONTRACTING_TOKEN: "timebridge", CONTRACTING_PERSON_TOKEN: "accountant"},
            tenant_id=TENANT, seed=seed)
        self.servers: dict[str, EmulatorServer] = {}
        self._seed(bulk_kaiten, bulk_tracker)
        if self.state_path is not None and state_url is None:
            self.reset_state()  # the demo's own file, left by an earlier world
        try:
            self.kaiten_server = self.kaiten.serve().start()
            self.servers["kaiten"] = self.kaiten_server
            self.tracker_server = self.tracker.serve().start()
            self.servers["tracker"] = self.tracker_server
            self.contracting_server = self.contracting.serve().start()
            self.servers["billing"] = self.contracting_server
            self.routes = self.default_routes()
            self.write_config()
        except BaseException:
            self.stop()
            raise

    # --- lifetime ------------------------------------------------------------------------

    def __enter__(self) -> DemoWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every emulator (idempotent); the config and the state file stay."""
        servers, self.servers = self.servers, {}
        for server in servers.values():
            server._server.should_exit = True  # all at once: each takes a tick to notice
        for server in servers.values():
            server.stop()

    def reset_state(self) -> None:
        """Forget everything the bridge remembers: delete the SQLite file (or, for a
        PostgreSQL store, drop its tables), as if the state store were lost."""
        if self.state_path is not None:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{self.state_path}{suffix}").unlink(missing_ok=True)
            return
        import sqlalchemy as sa

        engine = sa.create_engine(self.resolved_state_url)
        try:
            with engine.begin() as conn:
                for table in ("links", "runs", "meta"):
                    conn.execute(sa.text(f"drop table if exists {table}"))
        finally:
            engine.dispose()

    def route(self, name: str) -> dict[str, Any]:
        """The config table of route ``name``."""
        return next(r for r in self.routes if r["name"] == name)

    # --- what the emulators hold now (copies, safe while serving) ------------------------

    def kaiten_time_logs(self) -> list[dict[str, Any]]:
        with self.kaiten._lock:
            return [dict(v) for _, v in sorted(self.kaiten.time_logs.items())]

    def tracker_worklog_records(self) -> list[dict[str, Any]]:
        """Worklogs as stored: ``duration`` in seconds, ``start`` an aware datetime."""
        with self.tracker._lock:
            return [dict(v) for _, v in sorted(self.tracker._worklogs.items())]

    def contracting_entries(self) -> list[dict[str, Any]]:
        with self.contracting._lock:
            return [dict(v) for v in self.contracting.entries.values()]

    def writes(self) -> dict[str, int]:
        """Write requests (POST/PUT/PATCH/DELETE, not searches) each emulator has answered."""
        return {name: server.log.writes() for name, server in self.servers.items()}

    def describe(self) -> str:
        """A few lines (under 80 columns) on what was seeded."""
        return (f"Seeded {self.first_day} .. {self.today}:\n"
                f"  Kaiten:      {len(self.kaiten_users) - 1} people, {len(self.cards)} cards, "
                f"{len(self.kaiten_logs)} time logs (+1 with no duration)\n"
                f"  Tracker:     2 people, {len(self.issues)} issues, "
                f"{len(self.tracker_worklogs)} worklogs (P1D, P1W, odd seconds; +1 P1Y)\n"
                f"  contracting: {len(self.projects)} projects, "
                f"{len(self.foreign_entries)} entries made by hand or other tools")


@contextlib.contextmanager
def pinned_today(day: date) -> Iterator[None]:
    """``$TIMEBRIDGE_TODAY`` set to ``day`` for the block (a sync's window ends there)."""
    old = os.environ.get("TIMEBRIDGE_TODAY")
    os.environ["TIMEBRIDGE_TODAY"] = day.isoformat()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TIMEBRIDGE_TODAY", None)
        else:
            os.environ["TIMEBRIDGE_TODAY"] = old
