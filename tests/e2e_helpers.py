"""Helpers of the end-to-end tests: driving the real CLI over a :class:`DemoWorld`, editing
the emulated systems the way people do (through their HTTP APIs), and reading back what
every system holds to check the bridge's promises (INTERFACE.md)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from typer.testing import CliRunner

from bridge.cli.app import app
from bridge.demo.world import (
    CONTRACTING_PERSON_TOKEN,
    KAITEN_PERSON_TOKEN,
    TENANT,
    TIMEZONE,
    TRACKER_ORG,
    TRACKER_PERSON_TOKEN,
    DemoWorld,
)
from bridge.store.state import StateStore
from connectors.marker import split_marker
from connectors.units import Rounding, fit_seconds, start_for_date

REPO = Path(__file__).resolve().parent.parent
# Pinned once per test run, so a run that crosses midnight (UTC) keeps one "today".
TODAY = datetime.now(UTC).date()
TZ = ZoneInfo(TIMEZONE)
SUMMARY_KEYS = {"create", "update", "delete", "unchanged", "conflict", "skip", "failed",
                "held"}
ACTION_KEYS = {"action", "status", "origin", "target_id", "task", "date", "seconds", "reason",
               "changes", "error"}
ROUTE_KEYS = {"route", "from", "to", "error", "notes", "summary", "actions"}
WRITES = ("create", "update", "delete")
REF = {"kaiten": "KAITEN", "tracker": "YANDEX_TRACKER"}
ROUTES = ("kaiten-billing", "tracker-billing", "kaiten-tracker", "tracker-kaiten")


# --- running the CLI ------------------------------------------------------------------------


@dataclass
class Run:
    """One CLI run: exit code, stdout, stderr (and the JSON of stdout, when it is JSON)."""

    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, Any]:
        try:
            return json.loads(self.stdout)
        except ValueError:
            raise AssertionError(f"stdout is not JSON (exit {self.code}):\n{self.stdout}\n"
                                 f"stderr:\n{self.stderr}") from None

    def route(self, name: str) -> dict[str, Any]:
        return next(r for r in self.json["routes"] if r["route"] == name)

    def summary(self, name: str) -> dict[str, int]:
        return self.route(name)["summary"]


def cli(config: Path, *args: str, today: date = TODAY) -> Run:
    """The CLI in this process (``typer.testing.CliRunner`` on ``bridge.cli.app.app``)."""
    runner = CliRunner()
    result = runner.invoke(app, [*args, "--config", str(config)],
                           env={"TIMEBRIDGE_TODAY": today.isoformat(), "TIMEBRIDGE_CONFIG": None,
                                "COLUMNS": "200"},  # tables as wide as a wide terminal
                           catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


def _env(today: date) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBRIDGE_")}
    return {**base, "TIMEBRIDGE_TODAY": today.isoformat()}


def cli_process(config: Path, *args: str, today: date = TODAY, timeout: float = 60) -> Run:
    """The CLI as a real process: ``python -m bridge ARGS --config CONFIG``."""
    done = subprocess.run([sys.executable, "-m", "bridge", *args, "--config", str(config)],
                          capture_output=True, text=True, env=_env(today), cwd=REPO,
                          timeout=timeout)
    return Run(done.returncode, done.stdout, done.stderr)


def start_cli_process(config: Path, *args: str, today: date = TODAY) -> subprocess.Popen:
    """Start the CLI as a process and return at once (stdout/stderr piped)."""
    return subprocess.Popen([sys.executable, "-m", "bridge", *args, "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(today), cwd=REPO)


def killed_when(config: Path, args: list[str], condition: Callable[[], bool],
                what: str) -> int:
    """Run the CLI as a process and SIGKILL it once ``condition`` holds (or it ended by
    itself); its return code (``-SIGKILL`` when it was killed)."""
    proc = start_cli_process(config, *args)
    try:
        wait_for(lambda: condition() or proc.poll() is not None, timeout=60, what=what)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    return proc.returncode


def wait_for(condition: Callable[[], bool], timeout: float = 30, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def backfill_args(world: DemoWorld, *extra: str) -> list[str]:
    return ["backfill", "--from", world.first_day.isoformat(), "--to", world.today.isoformat(),
            *extra]


# --- the JSON report ------------------------------------------------------------------------


def check_report(report: dict[str, Any], *, dry_run: bool) -> None:
    """INTERFACE.md's shape, and summaries that count the actions listed."""
    assert set(report) == {"dry_run", "complete", "failed_routes", "routes"}
    assert report["dry_run"] is dry_run
    # a route that did not finish is named at the top, and then the report is not complete
    assert report["failed_routes"] == [r["route"] for r in report["routes"] if r["error"]]
    assert report["complete"] is (not report["failed_routes"])
    for route in report["routes"]:
        assert set(route) == ROUTE_KEYS, route.keys()
        date.fromisoformat(route["from"])
        date.fromisoformat(route["to"])
        assert set(route["summary"]) == SUMMARY_KEYS
        counted: Counter[str] = Counter()
        for action in route["actions"]:
            assert set(action) == ACTION_KEYS, action.keys()
            assert action["action"] in ("create", "update", "delete", "conflict", "skip")
            assert action["status"] in (("planned", "failed", "held") if dry_run
                                        else ("done", "failed", "held")), action
            assert re.fullmatch(r"(kaiten|tracker|billing):[^\s:]+", action["origin"]), action
            if action["status"] == "failed":
                assert action["error"], action
                counted["failed"] += 1
            elif action["status"] == "held":  # a closed period: counted only as held
                assert action["reason"].startswith("period closed through "), action
                counted["held"] += 1
            else:
                assert action["error"] is None, action
                counted[action["action"]] += 1
            if action["action"] in ("create", "update") and action["status"] != "failed":
                assert action["task"] and action["date"] and action["seconds"] > 0, action
            if action["action"] == "update":
                assert action["changes"], action
            if action["action"] == "create" and action["status"] == "done":
                assert action["target_id"], action
        for key in SUMMARY_KEYS - {"unchanged"}:
            assert route["summary"][key] == counted[key], (route["route"], key,
                                                           route["summary"], counted)


def actions(run: Run, route: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [a for a in run.route(route)["actions"] if kind is None or a["action"] == kind]


def wrote_nothing(run: Run) -> bool:
    return all(not any(r["summary"][k] for k in (*WRITES, "failed")) for r in run.json["routes"])


# --- what the systems hold ------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """An original record of a source system, as the bridge should see it."""

    id: str
    task: str
    day: date
    seconds: int
    comment: str


@dataclass(frozen=True)
class Copy:
    """A record in a target that names an origin (``source``, ``origin_id``)."""

    id: str
    source: str
    origin_id: str
    task: str
    day: date
    seconds: int
    comment: str


def kaiten_records(world: DemoWorld) -> tuple[dict[str, Record], list[Copy]]:
    """Kaiten's original (mappable) time logs by id, and the copies other routes made."""
    originals, copies = {}, []
    for log in world.kaiten_time_logs():
        text, origin = split_marker(log["comment"])
        minutes = log["time_spent"]
        if not isinstance(minutes, int) or minutes < 1:
            continue
        day = date.fromisoformat(log["for_date"])
        if origin is None:
            originals[str(log["id"])] = Record(str(log["id"]), str(log["card_id"]), day,
                                               minutes * 60, text)
        else:
            copies.append(Copy(str(log["id"]), origin.source, origin.record_id,
                               str(log["card_id"]), day, minutes * 60, text))
    return originals, copies


def tracker_records(world: DemoWorld) -> tuple[dict[str, Record], list[Copy]]:
    """Tracker's original (mappable) worklogs by id, and the copies other routes made."""
    originals, copies = {}, []
    for w in world.tracker_worklog_records():
        if not isinstance(w["duration"], int) or not isinstance(w["start"], datetime):
            continue
        text, origin = split_marker(w["comment"])
        day = w["start"].astimezone(TZ).date()
        if origin is None:
            originals[str(w["id"])] = Record(str(w["id"]), w["issue"], day, w["duration"], text)
        else:
            copies.append(Copy(str(w["id"]), origin.source, origin.record_id, w["issue"], day,
                               w["duration"], text))
    return originals, copies


def contracting_copies(world: DemoWorld) -> list[Copy]:
    """Entries carrying a reference, those seeded by hand or by other tools left out."""
    return [Copy(e["id"], e["referenceSource"], e["referenceId"], e["project"],
                 date.fromisoformat(e["date"]), e["durationSeconds"], e["description"] or "")
            for e in world.contracting_entries()
            if e["referenceSource"] and e["referenceId"] and e["id"] not in world.foreign_entries]


def route_state(world: DemoWorld, route: str) -> tuple[dict[str, Record], list[Copy]]:
    """For ``route``: its source's originals, and the target's copies made from that source."""
    source, target = route.split("-")
    originals = (kaiten_records if source == "kaiten" else tracker_records)(world)[0]
    if target == "billing":
        everything = contracting_copies(world)
    else:
        everything = (kaiten_records if target == "kaiten" else tracker_records)(world)[1]
    return originals, [c for c in everything if c.source == REF[source]]


def copy_counts(world: DemoWorld, route: str) -> Counter[str]:
    return Counter(c.origin_id for c in route_state(world, route)[1])


def expected_copy(world: DemoWorld, route: str, record: Record) -> tuple[str, date, int]:
    """(task, date, seconds) the copy of ``record`` must hold on ``route``."""
    table = world.route(route)
    task = str(table["tasks"].get(record.task, table["default_task"]))
    seconds = record.seconds
    if route.endswith("-kaiten"):
        seconds = fit_seconds(seconds, 60, Rounding.NEAREST)
    return task, record.day, seconds


def assert_exactly_once(world: DemoWorld, routes: tuple[str, ...] = ROUTES, *,
                        window: tuple[date, date] | None = None,
                        hand_edited: set[str] = frozenset()) -> None:
    """Every original dated in ``window`` has exactly one copy on each route, holding what
    the route says (task, date, duration after rounding); no origin has two; every copy
    names an existing original. ``hand_edited`` origins only need to exist once."""
    start, end = window or (world.first_day, world.today)
    for route in routes:
        originals, copies = route_state(world, route)
        counts = Counter(c.origin_id for c in copies)
        twice = {o: n for o, n in counts.items() if n > 1}
        assert not twice, f"{route}: origins with more than one copy: {twice}"
        orphans = set(counts) - set(originals)
        assert not orphans, f"{route}: copies of origins that do not exist: {orphans}"
        missing = [r.id for r in originals.values() if start <= r.day <= end
                   and r.id not in counts]
        assert not missing, f"{route}: originals without a copy: {missing}"
        for c in copies:
            if c.origin_id in hand_edited:
                continue
            held = (c.task, c.day, c.seconds)
            assert held == expected_copy(world, route, originals[c.origin_id]), (route, c)


def link_rows(world: DemoWorld) -> dict[str, dict[str, tuple]]:
    """Every link of every route in the state store: {route: {origin: (fields...)}}."""
    with StateStore(world.resolved_state_url) as store:
        return {route: {origin: (link.status, link.target_record_id, link.source_hash,
                                 link.target_hash, link.work_date, link.conflict)
                        for origin, link in store.links(route).items()}
                for route in ROUTES}


# --- people at work: edits through the emulators' HTTP APIs ---------------------------------


class People:
    """Edits the way a person's tools make them: over each API, with their own tokens."""

    def __init__(self, world: DemoWorld) -> None:
        self.world = world
        self.kaiten = httpx.Client(
            base_url=world.kaiten_server.base_url + "/api/latest",
            headers={"Authorization": f"Bearer {KAITEN_PERSON_TOKEN}"})
        self.tracker = httpx.Client(
            base_url=world.tracker_server.base_url + "/v2",
            headers={"Authorization": f"OAuth {TRACKER_PERSON_TOKEN}", "X-Org-ID": TRACKER_ORG})
        self.contracting = httpx.Client(
            base_url=world.contracting_server.base_url + "/api/v1",
            headers={"Authorization": f"Bearer {CONTRACTING_PERSON_TOKEN}",
                     "tenant-id": TENANT})

    def close(self) -> None:
        for client in (self.kaiten, self.tracker, self.contracting):
            client.close()

    def _ok(self, response: httpx.Response) -> Any:
        assert response.status_code < 300, (response.request.url, response.status_code,
                                             response.text)
        return response.json() if response.content else None

    # Kaiten
    def kaiten_add(self, card: int, minutes: int, day: date, comment: str | None) -> str:
        body = {"role_id": -1, "time_spent": minutes, "for_date": day.isoformat(),
                "comment": comment}
        return str(self._ok(self.kaiten.post(f"/cards/{card}/time-logs", json=body))["id"])

    def kaiten_edit(self, log_id: str, **fields: Any) -> None:
        card = self.world.kaiten.get_time_log(int(log_id))["card_id"]
        if isinstance(fields.get("for_date"), date):
            fields["for_date"] = fields["for_date"].isoformat()
        self._ok(self.kaiten.patch(f"/cards/{card}/time-logs/{log_id}", json=fields))

    def kaiten_delete(self, log_id: str) -> None:
        card = self.world.kaiten.get_time_log(int(log_id))["card_id"]
        self._ok(self.kaiten.delete(f"/cards/{card}/time-logs/{log_id}"))

    # Tracker
    def tracker_add(self, issue: str, duration: str, day: date, comment: str) -> str:
        from datetime import time as clock

        start = start_for_date(day, TZ, clock(11, 0)).astimezone(UTC)
        body = {"start": start.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), "duration": duration,
                "comment": comment}
        return str(self._ok(self.tracker.post(f"/issues/{issue}/worklog", json=body))["id"])

    def tracker_edit(self, worklog_id: str, **fields: Any) -> None:
        issue = self.world.tracker.get_worklog(worklog_id)["issue"]["key"]
        self._ok(self.tracker.patch(f"/issues/{issue}/worklog/{worklog_id}", json=fields))

    def tracker_delete(self, worklog_id: str) -> None:
        issue = self.world.tracker.get_worklog(worklog_id)["issue"]["key"]
        self._ok(self.tracker.delete(f"/issues/{issue}/worklog/{worklog_id}"))

    # contracting
    def contracting_edit(self, entry_id: str, **changes: Any) -> None:
        """PUT the whole entry with ``changes`` (the API replaces entries)."""
        entry = self.world.contracting.entry(entry_id)
        body = {"projectId": entry["project"], "date": entry["date"],
                "durationSeconds": entry["durationSeconds"],
                "description": entry["description"], "referenceSource": entry["referenceSource"],
                "referenceId": entry["referenceId"], "billableId": entry["billable"], **changes}
        self._ok(self.contracting.put(f"/time-entries/{entry_id}", json=body))


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)
