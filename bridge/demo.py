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

:func:`run_demo` runs a backfill over the seeded weeks, then a sync that must find
nothing left to do, and says where the config and the state file are. Tests use
:class:`DemoWorld` directly (see ``tests/test_e2e.py``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bridge.config_loader import resolve_state_url
from bridge.units import start_for_date
from connectors.contracting.emulator import ContractingEmulator
from connectors.emulator import EmulatorServer
from connectors.kaiten.emulator import COMMENT_LIMIT, KaitenEmulator
from connectors.tracker.emulator import TrackerEmulator

KAITEN_TOKEN = "demo-kaiten-token"
TRACKER_TOKEN = "demo-tracker-token"
CONTRACTING_TOKEN = "demo-contracting-token"
# People's own tokens, for editing by hand through the APIs (tests; `timebridge check` never
# sees them): Anna in Kaiten, Alice in Tracker, the accountant in contracting.
KAITEN_PERSON_TOKEN = "demo-anna-token"
TRACKER_PERSON_TOKEN = "demo-alice-token"
CONTRACTING_PERSON_TOKEN = "demo-accountant-token"
TRACKER_ORG = "7654321"
TENANT = "tnt_pfh0haxfpzowht3oi213cqos"
TIMEZONE = "Europe/Moscow"
WORKDAY_HOURS = 8
CONFIG_NAME = "timebridge-demo.toml"
STATE_NAME = "timebridge-demo.sqlite"
DEFAULT_DAYS = 21          # the seeded weeks end on "today"
DEFAULT_KAITEN_RATE = 100  # requests per second: the emulator's limit and the config's pace
WINDOW_DAYS = 30           # each route's sync window covers every seeded day

# Durations of Tracker worklogs, as Tracker users type them (the emulator stores seconds).
TRACKER_DURATIONS = ["PT1H30M45S", "PT45M", "PT2H15M30S", "PT3H", "PT29S", "PT2M30S", "PT1H",
                     "PT5H20M", "PT50M10S", "PT4H"]
KAITEN_MINUTES = [15, 30, 45, 60, 90, 105, 120, 135, 180, 240]

_CARD_WORK = {
    "login": ["Login form validation", "OAuth callback handling", "Session timeout fix",
              "Pairing on the login redesign"],
    "export": ["CSV export of invoices", "Export: currency rounding", "Billing export tests"],
    "incident": ["Checkout 500s: log analysis", "Hotfix deploy and monitoring",
                 "Post-mortem write-up"],
    "onboarding": ["Onboarding flow mockups", "Usability test notes", "Copy for step 3"],
    "icons": ["Icon set: navigation", "Icon set: empty states"],
}
_ISSUE_WORK = {
    "WEB-101": ["Backend for the new login", "Review of the login API"],
    "WEB-102": ["Password reset e-mails", "Reset token expiry"],
    "API-7": ["Export endpoint pagination", "Export endpoint load test"],
    "OPS-3": ["On-call: alerts triage", "On-call: disk space incident"],
}


def long_comment(length: int, seed: str = "Release notes draft") -> str:
    """A readable text of exactly ``length`` characters (for the comment-limit cases)."""
    words = (f"{seed}: " + "changelog entries reviewed, wording fixed, links checked; " * 200)
    return words[:length].rstrip() + "." * (length - len(words[:length].rstrip()))


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are valid TOML basic-string escapes
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _key(key: object) -> str:
    text = str(key)
    # Ids as keys are quoted (like config.example.toml's "1001"); plain words are bare.
    bare = text.replace("_", "").replace("-", "").isalpha() and text.isascii()
    return text if bare else json.dumps(text)


def _table(lines: list[str], header: str, values: dict[str, Any],
           notes: dict[str, str] | None = None) -> None:
    lines.append(header)
    for key, value in values.items():
        if value is not None:
            note = (notes or {}).get(str(key))
            lines.append(f"{_key(key)} = {_toml(value)}" + (f"  # {note}" if note else ""))
    lines.append("")


class DemoWorld:
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

    # --- seeding -------------------------------------------------------------------------

    def _seed(self, bulk_kaiten: int, bulk_tracker: int) -> None:
        k = self.kaiten
        self.kaiten_users = {
            "bot": k.add_user("timebridge bot", "timebridge@example.com", token=KAITEN_TOKEN),
            "anna": k.add_user("Anna Petrova", "anna@example.com", token=KAITEN_PERSON_TOKEN),
            "boris": k.add_user("Boris Ivanov", "boris@example.com"),
            "chen": k.add_user("Chen Wei", "chen@example.com"),
        }
        self.spaces = {"engineering": k.add_space("Engineering"),
                       "design": k.add_space("Design"),
                       "sales": k.add_space("Sales", time_tracking=False)}
        sprint = k.add_board(self.spaces["engineering"], "Sprint 42")
        support = k.add_board(self.spaces["engineering"], "Support")
        ux = k.add_board(self.spaces["design"], "UX")
        leads = k.add_board(self.spaces["sales"], "Leads")
        self.cards = {
            "login": k.add_card(board_id=sprint, title="Login page redesign"),
            "export": k.add_card(board_id=sprint, title="Billing export"),
            "incident": k.add_card(board_id=support, title="Incident: checkout 500s"),
            "onboarding": k.add_card(board_id=ux, title="Onboarding flow"),
            "icons": k.add_card(board_id=ux, title="Icon set refresh"),
            "tracker_inbox": k.add_card(board_id=support, title="Work logged in Tracker"),
            "leads": k.add_card(board_id=leads, title="Lead list Q4"),  # no time tracking
        }
        t = self.tracker
        t.add_user("timebridge", display="timebridge bot", token=TRACKER_TOKEN, scheme="OAuth")
        t.add_user("alice", display="Alice Smirnova", token=TRACKER_PERSON_TOKEN)
        t.add_user("bob", display="Bob Kuznetsov")
        self.issues = {key: t.add_issue(key, display=title)["key"] for key, title in (
            ("WEB-101", "Login page: backend"), ("WEB-102", "Password reset"),
            ("API-7", "Export endpoint"), ("OPS-3", "On-call rotation"),
            ("INT-1", "Internal: work logged in Kaiten"))}
        c = self.contracting
        self.projects = {"website": c.add_project("Acme: website relaunch"),
                         "mobile": c.add_project("Acme: mobile API"),
                         "retainer": c.add_project("Globex: support retainer")}
        self.billable = c.add_billable()
        self.invoiced_billable = c.add_billable(invoiced=True)
        self.kaiten_logs: list[int] = []
        self.tracker_worklogs: list[str] = []
        self.skipped: dict[str, list[str]] = {"kaiten": [], "tracker": []}
        self._seed_kaiten(bulk_kaiten)
        self._seed_tracker(bulk_tracker)
        self._seed_contracting()

    def _workdays(self) -> list[date]:
        days = [self.first_day + timedelta(days=i) for i in range(self.days)]
        return [d for d in days if d.weekday() < 5] or days

    def _day(self, fraction: float) -> date:
        """A workday ``fraction`` of the way through the seeded range."""
        days = self._workdays()
        return days[min(len(days) - 1, int(fraction * len(days)))]

    def _kaiten_log(self, card: str, user: str, minutes: int, day: date,
                    comment: str | None) -> int:
        log_id = self.kaiten.add_time_log(card_id=self.cards[card],
                                          user_id=self.kaiten_users[user], time_spent=minutes,
                                          for_date=day.isoformat(), comment=comment)
        self.kaiten_logs.append(log_id)
        return log_id

    def _seed_kaiten(self, bulk: int) -> None:
        rng = self._rng
        people = {"anna": ["login", "export", "incident"], "boris": ["export", "incident"],
                  "chen": ["onboarding", "icons", "login"]}
        for day in self._workdays():
            for user, cards in people.items():
                if rng.random() < 0.4:
                    continue  # nobody logs every single day
                card = rng.choice(cards)
                self._kaiten_log(card, user, rng.choice(KAITEN_MINUTES), day,
                                 rng.choice(_CARD_WORK[card]))
        # The cases worth a look (each on its own day of the range):
        self.kaiten_special = {
            "long_comment": self._kaiten_log(
                "export", "anna", 200, self._day(0.1),
                long_comment(COMMENT_LIMIT - 6, "Spec of the billing export")),
            "brackets": self._kaiten_log(
                "login", "boris", 75, self._day(0.3),
                "Code review [PR #482]: fixed [sic] typos [v2]"),
            "no_comment": self._kaiten_log("incident", "boris", 480, self._day(0.5), None),
            "weekend": self._kaiten_log("incident", "anna", 50, self._weekend_day(),
                                        "Weekend deploy watch"),
            "multiline": self._kaiten_log("onboarding", "chen", 95, self._day(0.7),
                                          "Workshop with sales\n- flows\n- open questions"),
        }
        malformed = self.kaiten.add_malformed_time_log(
            card_id=self.cards["login"], user_id=self.kaiten_users["anna"],
            for_date=self._day(0.8).isoformat())
        self.skipped["kaiten"].append(str(malformed))
        for i in range(bulk):
            day = self.first_day + timedelta(days=i % self.days)
            self._kaiten_log(rng.choice(["login", "export", "incident"]),
                             rng.choice(["anna", "boris"]), rng.choice(KAITEN_MINUTES), day,
                             f"Bulk task #{i + 1}")

    def _weekend_day(self) -> date:
        for i in range(self.days):
            day = self.today - timedelta(days=i)
            if day.weekday() >= 5:
                return day
        return self.today

    def _worklog(self, issue: str, author: str, duration: str, day: date, at: time,
                 comment: str | None) -> str:
        start = start_for_date(day, self.tz, at)
        # Logged an hour after the work began (never in the future): Tracker searches
        # worklogs by creation time, so this is what the connector's look-back finds.
        created = min(start + timedelta(hours=1), datetime.now(UTC))
        wid = self.tracker.add_worklog(issue, start=start, duration=duration, comment=comment,
                                       author=author, created_at=created)
        self.tracker_worklogs.append(wid)
        return wid

    def _seed_tracker(self, bulk: int) -> None:
        rng = self._rng
        durations = iter(TRACKER_DURATIONS * 10)
        for i, day in enumerate(self._workdays()):
            author = ("alice", "bob")[i % 2]
            issue = rng.choice(["WEB-101", "WEB-102", "API-7"])
            self._worklog(issue, author, next(durations), day, time(10 + i % 6, 15 * (i % 4)),
                          rng.choice(_ISSUE_WORK[issue]))
        self.tracker_special = {
            "odd_seconds": self._worklog("WEB-101", "alice", "PT1H30M45S", self._day(0.15),
                                         time(11, 0), "Fixed login race"),
            "one_day": self._worklog("WEB-102", "alice", "P1D", self._day(0.35), time(9, 0),
                                     "Password reset: whole day on the e-mail templates"),
            "one_week": self._worklog("OPS-3", "bob", "P1W", self._day(0.0), time(9, 0),
                                      "On-call week"),
            "after_midnight": self._worklog("API-7", "bob", "PT1H5M", self._day(0.45),
                                            time(0, 30), "Night release of the export"),
            "before_midnight": self._worklog("API-7", "alice", "PT40M", self._day(0.55),
                                             time(23, 50), "Late fix of the export totals"),
            "long_comment": self._worklog(
                "WEB-101", "bob", "PT2H", self._day(0.65), time(15, 0),
                long_comment(COMMENT_LIMIT - 10, "Login audit findings")),
            "brackets": self._worklog("WEB-102", "bob", "PT35M", self._day(0.75), time(16, 0),
                                      "Investigated [ERR-42] timeouts [draft]"),
            "no_comment": self._worklog("OPS-3", "alice", "PT15M", self._day(0.85),
                                        time(12, 0), None),
        }
        bad = self.tracker.add_worklog("OPS-3", start=start_for_date(self._day(0.9), self.tz,
                                                                     time(9, 0)),
                                       duration="P1Y", author="bob", raw=True,
                                       created_at=min(datetime.now(UTC), start_for_date(
                                           self._day(0.9), self.tz, time(10, 0))))
        self.skipped["tracker"].append(bad)
        for i in range(bulk):
            day = self.first_day + timedelta(days=i % self.days)
            self._worklog(rng.choice(["WEB-101", "API-7", "OPS-3"]), rng.choice(["alice", "bob"]),
                          rng.choice(TRACKER_DURATIONS), day, time(9 + i % 9, i % 60),
                          f"Bulk worklog #{i + 1}")

    def _seed_contracting(self) -> None:
        c = self.contracting
        # Entries people made by hand, or other tools: never the bridge's to touch.
        self.foreign_entries = [
            c.add_entry(project=self.projects["retainer"], date=self._day(0.2),
                        duration_seconds=3600, description="Monthly retainer call",
                        billable=self.billable),
            c.add_entry(project=self.projects["website"], date=self._day(0.4),
                        duration_seconds=7200, description="Imported from Jira",
                        reference_source="JIRA", reference_id="ACME-12"),
            c.add_entry(project=self.projects["website"], date=self._day(0.25),
                        duration_seconds=1800, description="Invoiced last month",
                        billable=self.invoiced_billable),
            # A reference to a Kaiten log that does not exist: someone else's, left alone.
            c.add_entry(project=self.projects["mobile"], date=self._day(0.6),
                        duration_seconds=2700, description="Legacy import",
                        reference_source="KAITEN", reference_id="999999"),
        ]

    # --- the config ----------------------------------------------------------------------

    def default_routes(self) -> list[dict[str, Any]]:
        """The demo's four routes, as config tables (see the module docstring)."""
        cards, projects = self.cards, self.projects
        return [
            {"name": "kaiten-billing", "source": "kaiten", "target": "billing",
             "schedule": "*/15 * * * *", "window_days": WINDOW_DAYS,
             "description": "{comment}", "default_task": projects["retainer"],
             "billable": self.billable,
             "filter": {"space_ids": [self.spaces["engineering"], self.spaces["design"]]},
             "tasks": {str(cards["login"]): projects["website"],
                       str(cards["onboarding"]): projects["website"],
                       str(cards["export"]): projects["mobile"],
                       str(cards["incident"]): projects["retainer"]}},
            {"name": "tracker-billing", "source": "tracker", "target": "billing",
             "schedule": "every 10m", "window_days": WINDOW_DAYS,
             "description": "{task}: {comment}", "default_task": projects["retainer"],
             "billable": self.billable,
             "tasks": {"WEB-101": projects["website"], "WEB-102": projects["website"],
                       "API-7": projects["mobile"]}},
            {"name": "kaiten-tracker", "source": "kaiten", "target": "tracker",
             "schedule": "every 10m", "window_days": WINDOW_DAYS,
             "description": "{comment}", "default_task": "INT-1",
             "tasks": {str(cards["login"]): "WEB-101", str(cards["export"]): "API-7",
                       str(cards["incident"]): "OPS-3"}},
            {"name": "tracker-kaiten", "source": "tracker", "target": "kaiten",
             "schedule": "every 10m", "window_days": WINDOW_DAYS,
             "description": "{comment}", "default_task": cards["tracker_inbox"],
             "tasks": {"WEB-101": cards["login"], "WEB-102": cards["login"],
                       "API-7": cards["export"], "OPS-3": cards["incident"]}},
        ]

    def config_text(self, *, routes: list[dict[str, Any]] | None = None,
                    state_url: str | None = None, kaiten_rps: float | None = None) -> str:
        """The TOML of a config for this world (``routes`` default to :attr:`routes`)."""
        lines = ["# timebridge demo: the bridge against local emulators of the three APIs.",
                 "# Written by `timebridge demo`; the emulators stop when the demo exits.", ""]
        _table(lines, "[state]", {"url": state_url or self.state_url})
        _table(lines, "[connectors.kaiten]", {
            "type": "kaiten", "base_url": self.kaiten_server.base_url, "token": KAITEN_TOKEN,
            "role_id": -1, "rounding": "nearest",
            "requests_per_second": float(kaiten_rps or self.kaiten_rate),
            "reference_source": "KAITEN"})
        _table(lines, "[connectors.tracker]", {
            "type": "tracker", "base_url": self.tracker_server.base_url, "token": TRACKER_TOKEN,
            "auth_scheme": "OAuth", "org_id": TRACKER_ORG, "timezone": TIMEZONE,
            "workday_hours": WORKDAY_HOURS, "day_start": "09:00", "created_lookback_days": 90,
            "reference_source": "YANDEX_TRACKER"})
        _table(lines, "[connectors.billing]", {
            "type": "contracting", "base_url": self.contracting_server.base_url,
            "token": CONTRACTING_TOKEN, "tenant_id": TENANT})
        for route in self.routes if routes is None else routes:
            scalars = {k: v for k, v in route.items() if k not in ("filter", "tasks")}
            _table(lines, "[[routes]]", scalars,
                   {"default_task": self._name(route.get("default_task")),
                    "billable": "open for new entries" if route.get("billable") else ""})
            if route.get("filter"):
                _table(lines, "[routes.filter]", route["filter"])
            if route.get("tasks"):
                _table(lines, "[routes.tasks]", route["tasks"],
                       {k: f"{self._name(k)} -> {self._name(v)}"
                        for k, v in route["tasks"].items()})
        return "\n".join(lines)

    def _name(self, task: object) -> str:
        """What a card id, issue key or project id is called (for comments in the config)."""
        text = str(task)
        if text.isdigit() and int(text) in self.kaiten.cards:
            return f"card {self.kaiten.cards[int(text)]['title']!r}"
        if text in self.issues:
            return f"{text} {self.tracker._issues[text]['display']!r}"
        if text in self.contracting.projects:
            return f"project {self.contracting.projects[text]['name']!r}"
        return ""

    def write_config(self, path: Path | str | None = None, **options: Any) -> Path:
        """Write :meth:`config_text` (``options`` go to it) to ``path`` (default
        :attr:`config_path`); returns the path."""
        target = Path(path) if path is not None else self.config_path
        if not target.is_absolute():
            target = self.folder / target
        target.write_text(self.config_text(**options), encoding="utf-8")
        return target

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
        """One paragraph on what was seeded."""
        durations = ", ".join(sorted({self.tracker.get_worklog(w)["duration"]
                                      for w in self.tracker_special.values()}))
        return (f"Seeded {self.first_day} .. {self.today}:\n"
                f"  Kaiten:      {len(self.kaiten_users) - 1} people, {len(self.spaces)} spaces "
                f"(Sales has no time tracking), {len(self.cards)} cards, "
                f"{len(self.kaiten_logs)} time logs in minutes (+1 with no duration)\n"
                f"  Tracker:     2 people, {len(self.issues)} issues, "
                f"{len(self.tracker_worklogs)} worklogs, among them {durations} "
                f"(+1 of P1Y, which has no length)\n"
                f"  contracting: {len(self.projects)} projects, a billable for new entries, "
                f"{len(self.foreign_entries)} entries made by hand or by other tools")


@contextlib.contextmanager
def _pinned_today(day: date) -> Iterator[None]:
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


def _passes(run_passes: Any, loaded: Any, say: Any, **kw: Any) -> int:
    """One ``run_passes`` of every route; a pass that cannot start is said, not raised."""
    from bridge.commands import PassFailure, UsageError

    try:
        return int(run_passes(loaded, routes=None, dry_run=False, allow_deletes=False, **kw))
    except (PassFailure, UsageError) as exc:
        say(f"timebridge: error: {exc}")
        return 1


def run_demo(workdir: Path | None = None, *, today: date | None = None,
             out: TextIO | None = None) -> int:
    """Backfill the seeded weeks over every route, then sync again (which must write
    nothing); print both and where the config and state file are. 0 when all went well."""
    from bridge.commands import run_passes
    from bridge.config_loader import load_config

    out = out if out is not None else sys.stdout

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    folder = Path(workdir) if workdir is not None else Path(
        tempfile.mkdtemp(prefix="timebridge-demo-"))
    ok = True
    with DemoWorld(folder, today=today) as world, _pinned_today(world.today):
        say("timebridge demo: Kaiten, Yandex Tracker and the contracting API are emulated "
            "on 127.0.0.1 (no credentials, no network).")
        say(world.describe())
        say("Routes: " + ", ".join(f"{r['name']} ({r['source']} -> {r['target']})"
                                   for r in world.routes))
        say()
        say(f"1. timebridge backfill --from {world.first_day} --to {world.today}")
        loaded = load_config(world.config_path)
        with contextlib.redirect_stdout(out):
            code = _passes(run_passes, loaded, say, window=(world.first_day, world.today),
                           fmt="table")
        ok = ok and code == 0
        say()
        say("2. timebridge sync (right after: there must be nothing left to do)")
        before = world.writes()
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            code = _passes(run_passes, loaded, say, fmt="json")
        ok = ok and code == 0
        sent = sum(world.writes().values()) - sum(before.values())
        try:
            second = json.loads(captured.getvalue())["routes"]
        except (ValueError, KeyError, TypeError):
            second = []
            ok = False
            say(captured.getvalue())
        for route in second:
            s = route["summary"]
            say(f"   {route['route']:<16} {route['from']} .. {route['to']}: "
                f"create {s['create']}, update {s['update']}, delete {s['delete']}, "
                f"unchanged {s['unchanged']}, skip {s['skip']}, conflict {s['conflict']}, "
                f"failed {s['failed']}" + (f"  error: {route['error']}" if route["error"]
                                           else ""))
            ok = ok and not any(s[k] for k in ("create", "update", "delete", "failed"))
        say(f"   write requests sent to the three APIs: {sent}")
        ok = ok and sent == 0
        say("   converged: the second pass planned no create, update or delete." if ok else
            "   NOT converged: see above.")
    state = world.state_path or world.state_url
    say()
    say(f"Config:      {world.config_path}")
    say(f"State store: {state}")
    say("Look at what the bridge remembers (reads only the state file, works now):")
    say(f"  timebridge status --config {world.config_path}")
    say(f"  timebridge status --config {world.config_path} --format json")
    say("The emulators stopped when the demo exited, so commands that ask the APIs, such as")
    say(f"  timebridge report --config {world.config_path} --format json")
    say("can no longer reach them; run `timebridge demo` again for a fresh world.")
    say("The demo " + ("finished without failures." if ok else "FAILED: see above."))
    return 0 if ok else 1
