"""The contract-test harness for Yandex Tracker: the emulator on loopback and a connector on it.

Two users (``veikus``, whose token is :data:`harness.TOKEN`, and ``alice``) and two
issues (``TEST-1``, ``TEST-2``). Records are seeded with the server clock as their
creation time, so the connector's creation-time search finds them; their ``start``
is ``day_start`` on the work date in the connector's zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from harness import TOKEN, Harness
from support.retry import FAST_RETRY

from connectors.tracker.client import TrackerConnector
from connectors.tracker.config import TrackerConfig
from connectors.tracker.emulator import TrackerEmulator
from connectors.units import parse_day_start, start_for_date

AUTHORS = ("veikus", "alice")
TASKS = ("TEST-1", "TEST-2")


class TrackerHarness:
    """One emulator, one connector pointed at it; see :class:`harness.Harness`."""

    system = "tracker"
    write_path = "/v2/issues/*/worklog"

    def __init__(self, config: dict[str, Any] | None = None, token_scheme: str | None = None,
                 **emulator_options: Any) -> None:
        self.emulator = TrackerEmulator(**emulator_options)
        self.emulator.add_user(AUTHORS[0], display="Artem Veikus", token=TOKEN,
                               scheme=token_scheme)
        self.emulator.add_user(AUTHORS[1], display="Alice Smirnova")
        for key in TASKS:
            self.emulator.add_issue(key)
        self.server = self.emulator.serve().start()
        try:
            org = {"org_id": self.emulator.org_id} if self.emulator.org_id else {
                "cloud_org_id": self.emulator.cloud_org_id}
            self.config = TrackerConfig.model_validate({
                "type": "tracker", "base_url": self.server.base_url, "token": TOKEN,
                **org, **(config or {})})
            self.connector = TrackerConnector("tracker", self.config, TOKEN, retry=FAST_RETRY)
        except Exception:
            self.server.stop()
            raise
        self.page_size = self.connector.page_size
        self._created_base, self._seeded = datetime.now(UTC) - timedelta(hours=2), 0
        self.served_page_size = min(self.page_size, emulator_options.get("max_per_page", 100))
        self.splits = "items_cap" in emulator_options  # a capped search is split: more asks
        self.tz = ZoneInfo(self.config.timezone)

    def start_of(self, work_date: date) -> datetime:
        """The ``start`` a record of ``work_date`` gets: day_start there, in the zone."""
        return start_for_date(work_date, self.tz, parse_day_start(self.config.day_start))

    def seed_record(self, *, work_date: date, seconds: int, task: str | None = None,
                    comment: str = "", author: str | None = None) -> str:
        """Add an original worklog straight into the emulator; return its id."""
        # Each record created a second after the one before (and all within the search's
        # range): as in life, and a search over the cap can be split by creation time.
        self._seeded += 1
        created = self._created_base + timedelta(seconds=self._seeded)
        return self.emulator.add_worklog(task or TASKS[0], start=self.start_of(work_date),
                                         duration=seconds, comment=comment or None,
                                         author=author or AUTHORS[0], created_at=created)

    def seed_malformed(self, *, work_date: date) -> str:
        """Add a worklog of ``P1Y`` (years have no fixed length): the mapper skips it."""
        return self.emulator.add_worklog(TASKS[0], start=self.start_of(work_date),
                                         duration="P1Y", author=AUTHORS[0], raw=True)

    def task(self) -> str:
        """An issue writes may use."""
        return TASKS[0]

    def other_task(self) -> str:
        """A second existing issue."""
        return TASKS[1]

    def author_filter(self, author: str) -> dict[str, Any]:
        """Route filters that select only ``author``'s worklogs."""
        return {"created_by": [author]}

    def authors(self) -> tuple[str, str]:
        """Two distinct users known to the emulator."""
        return AUTHORS

    def stored(self, record_id: str) -> dict[str, Any] | None:
        """The worklog as the emulator answers it now, or None when it is gone."""
        return self.emulator.get_worklog(record_id)

    def close(self) -> None:
        """Close the connector and stop the server."""
        try:
            self.connector.close()
        finally:
            self.server.stop()


def make_harness(*, config: dict[str, Any] | None = None, token_scheme: str | None = None,
                 **emulator_options: Any) -> Harness:
    """A started Tracker harness (a :class:`harness.Harness`).

    ``config`` overrides connector config keys; ``token_scheme`` ("OAuth"/"Bearer")
    makes the emulator accept the token only under that scheme.
    """
    return TrackerHarness(config, token_scheme, **emulator_options)
