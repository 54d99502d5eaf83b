"""The contract-test harness for the contracting API: its emulator plus a connector on it.

``make_harness(**emulator_options)`` passes the options to
:class:`ContractingEmulator`. Unless told otherwise the emulator pages its list
(``page_size`` 50, chained by ``Link`` headers) so the shared suite exercises the
connector's link-following too; ``page_size=None`` gives the documented unpaged list.
Contracting entries have no author: the author parts of the suite are skipped.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from harness import TOKEN, Harness
from support.retry import FAST_RETRY

from connectors.contracting.client import ContractingConnector
from connectors.contracting.config import ContractingConfig
from connectors.contracting.emulator import ContractingEmulator
from connectors.emulator import EmulatorServer

DEFAULT_PAGE_SIZE = 50
NO_AUTHORS = "contracting time entries have no author (the documented entry has no user field)"


class RecordingTransport(httpx.HTTPTransport):
    """Real HTTP that also keeps every request sent, in order.

    Tests read requests here, not in the server's log: the server logs a request
    after answering it, so its log may lag the answer the client already has.
    """

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)


class ContractingHarness:
    """A running :class:`ContractingEmulator` with two projects and a connector pointed at it."""

    system = "contracting"
    write_path = "/api/v1/time-entries"

    def __init__(self, **emulator_options: Any) -> None:
        emulator_options.setdefault("page_size", DEFAULT_PAGE_SIZE)
        emulator_options.setdefault("tokens", {TOKEN: "harness-user"})
        self.emulator = ContractingEmulator(**emulator_options)
        # "The page size the connector asks for" is the server's here: none is sent.
        self.page_size: int = self.emulator.page_size or 1000
        self.paged = self.emulator.page_size is not None
        self._task = self.emulator.add_project("Harness project")
        self._other_task = self.emulator.add_project("Other project")
        self.server: EmulatorServer = self.emulator.serve().start()
        self.config = ContractingConfig(
            type="contracting", base_url=self.server.base_url, token=TOKEN,
            tenant_id=self.emulator.tenant_id,
        )
        self.transport = RecordingTransport()
        self.connector = ContractingConnector("billing", self.config, TOKEN, retry=FAST_RETRY,
                                              transport=self.transport)

    def seed_record(self, *, work_date: date, seconds: int, task: str | None = None,
                    comment: str = "", author: str | None = None) -> str:
        """Add an original entry (no reference); ``author`` has nowhere to go and is ignored."""
        return self.emulator.add_entry(project=task or self._task, date=work_date,
                                       duration_seconds=seconds, description=comment)

    def seed_malformed(self, *, work_date: date) -> str:
        """An entry with a null ``durationSeconds``."""
        return self.emulator.add_malformed_entry(project=self._task, date=work_date)

    def task(self) -> str:
        return self._task

    def other_task(self) -> str:
        return self._other_task

    def author_filter(self, author: str) -> dict[str, Any]:
        pytest.skip(NO_AUTHORS)

    def authors(self) -> tuple[str, str]:
        pytest.skip(NO_AUTHORS)

    def stored(self, record_id: str) -> dict[str, Any] | None:
        return self.emulator.entry(record_id)

    def close(self) -> None:
        self.connector.close()
        self.server.stop()


def make_harness(**emulator_options: Any) -> Harness:
    """Start an emulator with ``emulator_options`` and return the harness around it."""
    return ContractingHarness(**emulator_options)
