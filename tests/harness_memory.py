"""The contract-test harness for the in-memory connector the planner and exactly-once tests use.

:class:`memory_connector.MemoryConnector` stands in for a real system in those tests, so
it must keep the same contract the real connectors keep; ``tests/test_contract.py`` runs
over it too. It has no server: ``server`` is None, and the tests that are about HTTP
(retries, status codes, paging, tokens in requests) are marked ``over_http`` and skipped
for it. Faults it does have (a lost create answer, a read failing part-way) are armed on
the connector itself. Kaiten-like: whole minutes, so ``fit`` has something to do.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from memory_connector import MemoryConnector

AUTHORS = ("ada", "grace")
TASKS = ("T-1", "T-2")
#: What a read "page" is for the tests that count in pages (the connector reads in one go).
PAGE_SIZE = 50


class MemoryHarness:
    """A :class:`MemoryConnector`; see :class:`harness.Harness` (``server`` is None)."""

    system = "memory"
    server = None
    page_size = PAGE_SIZE

    def __init__(self) -> None:
        self.connector = MemoryConnector("memory", "MEMORY", granularity=60)

    def seed_record(self, *, work_date: date, seconds: int, task: str | None = None,
                    comment: str = "", author: str | None = None) -> str:
        """Add an original record, as a person would; return its id."""
        return self.connector.add(task=task or TASKS[0], work_date=work_date, seconds=seconds,
                                  comment=comment, author=author or AUTHORS[0])

    def seed_malformed(self, *, work_date: date) -> str:
        """Add a record no mapper could read (its duration is null)."""
        return self.connector.add_malformed(work_date=work_date, author=AUTHORS[0])

    def task(self) -> str:
        return TASKS[0]

    def other_task(self) -> str:
        return TASKS[1]

    def author_filter(self, author: str) -> dict[str, Any]:
        return {"author": author}

    def authors(self) -> tuple[str, str]:
        return AUTHORS

    def stored(self, record_id: str) -> dict[str, Any] | None:
        """The record as the connector holds it, or None when it is gone."""
        entry = self.connector.records.get(record_id)
        return None if entry is None else dataclasses.asdict(entry)

    def close(self) -> None:
        self.connector.close()


def make_harness(**options: Any) -> MemoryHarness:
    """A memory harness; it takes no emulator options (it has no emulator)."""
    if options:
        raise TypeError(f"the memory harness has no emulator options: {sorted(options)}")
    return MemoryHarness()
