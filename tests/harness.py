"""The contract-test harness each connector provides, so one suite tests all three.

``tests/harness_<system>.py`` defines ``make_harness(**emulator_options) -> Harness``
for its system: an emulator running on loopback and a connector pointed at it with
fast retries. ``tests/test_contract.py`` runs the same tests over each of them.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from connectors.base import Connector
from connectors.emulator import EmulatorServer

TOKEN = "tok-SECRET-3f9a1c7e"  # every harness uses it, so tests can look for leaks


class Harness(Protocol):
    system: str                  # "kaiten" | "tracker" | "contracting" | "memory"
    server: EmulatorServer | None  # started; faults and request log live here
    #                              (None: no HTTP at all, the in-memory connector's harness)
    connector: Connector         # pointed at server.base_url, token TOKEN, fast RetryPolicy
    page_size: int               # the list page size the connector asks for
    write_path: str              # where creates go (fnmatch); one record is write_path + "/*"

    def seed_record(self, *, work_date: date, seconds: int, task: str | None = None,
                    comment: str = "", author: str | None = None) -> str:
        """Add an original record straight into the emulator's state; return its id.

        ``task`` None means the harness's default task; ``author`` None its default
        author. ``seconds`` is what the system can hold (whole minutes for Kaiten).
        """
        ...

    def seed_malformed(self, *, work_date: date) -> str:
        """Add a record the mapper must skip (null duration, P1Y, ...); return its id."""
        ...

    def task(self) -> str:
        """A task writes may use (an existing card, issue or project)."""
        ...

    def other_task(self) -> str:
        """A second existing task (for moves and filters)."""
        ...

    def author_filter(self, author: str) -> dict[str, Any]:
        """Route filters that select only ``author``'s records."""
        ...

    def authors(self) -> tuple[str, str]:
        """Two distinct authors known to the emulator."""
        ...

    def stored(self, record_id: str) -> dict[str, Any] | None:
        """The raw record as the emulator holds it now, or None when it is gone."""
        ...

    def close(self) -> None:
        """Close the connector and stop the server."""
        ...
