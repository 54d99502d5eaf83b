"""Tracker's worklog search, below its 10,000-item cap: split by creation time until it fits.

Tracker refuses to page a search past 10,000 items ("Request exceeds 10000 items
limit"). :class:`CappedSearch` reads a ``createdAt`` range as one search when it fits;
a range whose ``X-Total-Count`` is above the cap, or that the server refuses so, is
split in two halves (both keep the middle millisecond), again and again. The caller
reports each worklog once by its id, so one read twice at a boundary, or on the pages
of a range read before its refusal came, costs nothing but the request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from connectors.base import BadRequestError, IncompleteReadError
from connectors.http import HttpClient
from connectors.paging import HeaderSignals, PageNumberPaginator
from connectors.units import format_tracker_datetime

SEARCH_CAP = 10_000  # items one search may page through
_REFUSAL = re.compile(r"exceeds\s+(\d+)\s+items", re.IGNORECASE)
_ONE_MS = timedelta(milliseconds=1)
log = logging.getLogger("timebridge.tracker")


class CappedSearch:
    """``POST /worklog/_search`` over any ``createdAt`` range, split below the cap.

    ``cap`` starts at :data:`SEARCH_CAP` and is lowered to the number a refusal names.
    """

    def __init__(self, http: HttpClient, pages: PageNumberPaginator) -> None:
        self._http, self._pages = http, pages
        self.cap = SEARCH_CAP

    def worklogs(self, author: str | None, low: datetime, high: datetime) -> Iterator[Any]:
        """The raw worklogs created in [low, high] (by ``author``); may repeat one."""
        body: dict[str, Any] = {"createdAt": {"from": format_tracker_datetime(low),
                                              "to": format_tracker_datetime(high)}}
        if author is not None:
            body["createdBy"] = author
        try:
            for page in self._pages.pages(self._http, "POST", "/worklog/_search", json=body,
                                          on_page=self._under_cap):
                yield from page
            return
        except _OverCap as over:
            reason = f"the server counts {over.total} worklogs"
        except BadRequestError as error:
            refused = _REFUSAL.search(str(error))
            if refused is None:
                raise
            self.cap = min(self.cap, int(refused.group(1)))
            reason = f"the server refused to page past {refused.group(1)} items"
        if high - low <= _ONE_MS:
            raise IncompleteReadError(
                f"POST /worklog/_search: more than {self.cap} worklogs were created within "
                f"one millisecond ({format_tracker_datetime(low)}); they cannot be searched "
                "below the cap", connector=self._http.connector)
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=middle.microsecond // 1000 * 1000)
        log.info("%s: splitting a worklog search at %s: %s", self._http.connector,
                 format_tracker_datetime(middle), reason)
        yield from self.worklogs(author, low, middle)
        yield from self.worklogs(author, middle, high)

    def _under_cap(self, signals: HeaderSignals) -> None:
        if signals.total_count is not None and signals.total_count > self.cap:
            raise _OverCap(signals.total_count)


class _OverCap(Exception):
    """A search whose total is above the cap: it must be split before it is paged."""

    def __init__(self, total: int) -> None:
        super().__init__(total)
        self.total = total
