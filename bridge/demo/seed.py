"""The demo's seeded world: who works on what, and a few weeks of their time records.

The constants (tokens, ids, durations) and :class:`DemoSeeder`, the part of
:class:`bridge.demo.world.DemoWorld` that fills the three emulators.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from connectors.kaiten.emulator import COMMENT_LIMIT
from connectors.units import start_for_date

if TYPE_CHECKING:
    import random
    from zoneinfo import ZoneInfo

    from connectors.contracting.emulator import ContractingEmulator
    from connectors.kaiten.emulator import KaitenEmulator
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


class DemoSeeder:
    """Fills the emulators of a :class:`bridge.demo.world.DemoWorld` (a mixin of it)."""

    # Set by DemoWorld.__init__ before it seeds (declared here for the type checker).
    kaiten: KaitenEmulator
    tracker: TrackerEmulator
    contracting: ContractingEmulator
    today: date
    days: int
    first_day: date
    tz: ZoneInfo
    _rng: random.Random

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
