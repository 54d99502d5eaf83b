"""A local, stateful emulator of the contracting API's time entries.

Serves the documented list ``GET /api/v1/time-entries`` (its filters, ``data``
wrapper and date pattern) plus the endpoints the connector assumes (``POST``,
``GET``/``PUT``/``DELETE /{id}``). Where the document is silent it chooses:

* auth: ``Bearer <token>`` from ``tokens`` else 401; the ``tenant-id`` header
  missing -> 400, a tenant other than ``tenant_id`` -> 403;
* a malformed query or body -> 400 ``{"message", "errors": {field: [...]}}``
  (unknown body fields too, so a typo is never silently dropped); an unknown
  project or billable -> 422 in the same shape;
* ``PUT`` replaces the entry: an optional field left out is erased (null);
* an entry on an invoiced billable refuses PUT/DELETE: 409; so does a new entry
  put on an invoiced billable;
* the list is unpaged; with ``page_size`` set, it is paged by ``paging``: a
  ``Link: <...>; rel="next"`` header (a ``cursor`` offset) unless another scheme is
  chosen (see :mod:`connectors.contracting.emulator_paging`); ``expand`` is validated,
  and ``project`` is expanded to the project's ``{id, name}`` (an unknown one stays an id);
* ``get_by_id=False``: ``GET /{id}`` is no route at all: a framework-style 404 for any id.
"""

from __future__ import annotations

import random
import re
import string
import threading
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.contracting import emulator_paging
from connectors.emulator import EmulatorServer, TokenBucket

# The document's own pattern for dateFrom/dateTo (leap years included).
DATE_PATTERN = re.compile(
    r"^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|"
    r"\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|"
    r"(?:02)-(?:0[1-9]|1\d|2[0-8])))$"
)
EXPAND_VALUES = frozenset({"project", "project.contract", "project.contract.client", "billable",
                           "billable.invoice", "billable.invoice.contract",
                           "billable.invoice.contract.client"})
DEFAULT_TENANT = "tnt_pfh0haxfpzowht3oi213cqos"
INVOICED = "time entry is invoiced and cannot be changed"
BODY_FIELDS = ("projectId", "date", "durationSeconds", "description", "referenceSource",
               "referenceId", "billableId")
_FILTERS = {"projectId": "project", "billableId": "billable",
            "referenceSource": "referenceSource", "referenceId": "referenceId"}
_ALPHABET = string.ascii_lowercase + string.digits
_BASE = "/api/v1/time-entries"


def _error(status: int, message: str, errors: Mapping[str, list[str]] | None = None) -> Response:
    return JSONResponse({"message": message, **({"errors": dict(errors)} if errors else {})},
                        status_code=status)


def _check_date(value: object) -> str | None:
    ok = isinstance(value, str) and DATE_PATTERN.match(value)
    return None if ok else "must be a date as YYYY-MM-DD"


def _check_text(value: object, *, required: bool = False, limit: int | None = None) -> str | None:
    if value is None:
        return "is required" if required else None
    if not isinstance(value, str) or (required and not value):
        return "must be a non-empty string" if required else "must be a string"
    return f"must be at most {limit} characters" if limit and len(value) > limit else None


def validate_body(body: object) -> dict[str, list[str]]:
    """Field errors of a POST/PUT body (empty when it is well formed)."""
    if not isinstance(body, dict):
        return {"body": ["must be a JSON object"]}
    errors = {key: ["is not an allowed field"] for key in body if key not in BODY_FIELDS}
    seconds = body.get("durationSeconds")
    integral = isinstance(seconds, int) or (isinstance(seconds, float) and seconds.is_integer())
    checks = {
        "projectId": _check_text(body.get("projectId"), required=True),
        "date": "is required" if body.get("date") is None else _check_date(body.get("date")),
        "durationSeconds": "is required" if seconds is None else (
            None if integral and not isinstance(seconds, bool) and seconds > 0
            else "must be a positive integer"),
        "description": _check_text(body.get("description")),
        "referenceSource": _check_text(body.get("referenceSource"), limit=255),
        "referenceId": _check_text(body.get("referenceId"), limit=255),
        "billableId": _check_text(body.get("billableId")),
    }
    errors.update({key: [problem] for key, problem in checks.items() if problem})
    return errors


def stored_entry(entry_id: str, body: Mapping[str, Any], *, created: str,
                 updated: str) -> dict[str, Any]:
    """The entry kept for a valid POST/PUT ``body``; PUT replaces: a field not sent is null."""
    return {
        "id": entry_id, "project": body["projectId"], "billable": body.get("billableId"),
        "date": body["date"], "durationSeconds": int(body["durationSeconds"]),
        "createdAt": created, "updatedAt": updated, "description": body.get("description"),
        "referenceSource": body.get("referenceSource"), "referenceId": body.get("referenceId"),
    }


class ContractingEmulator:
    """The contracting API in memory. ``app`` is the Starlette app; :meth:`serve` runs it.

    ``tokens`` maps each valid token to its user; ``page_size`` None is the documented
    unpaged list, else pages of that size by ``paging`` (one of
    :data:`~connectors.contracting.emulator_paging.MODES`; None: ``"link"``);
    ``get_by_id`` False makes ``GET /{id}`` an unknown route (404 for every id, while PUT
    and DELETE work); ``requests_per_second`` turns on a per-token 429 limit. Seed it with
    :meth:`add_project`, :meth:`add_billable`, :meth:`add_entry` (not validated, so bad
    records can be planted) and :meth:`add_malformed_entry`.
    """

    def __init__(self, *, tokens: Mapping[str, str] | None = None,
                 tenant_id: str = DEFAULT_TENANT, page_size: int | None = None,
                 requests_per_second: float | None = None, seed: int | None = None,
                 paging: str | None = None, get_by_id: bool = True) -> None:
        if page_size is not None and page_size < 1:
            raise ValueError("page_size must be at least 1")
        if paging is not None and (page_size is None or paging not in emulator_paging.MODES):
            raise ValueError(f"paging needs a page_size and is one of "
                             f"{', '.join(emulator_paging.MODES)}")
        self.tokens = dict(tokens if tokens is not None else {"demo-token": "demo"})
        self.tenant_id, self.page_size, self.get_by_id = tenant_id, page_size, get_by_id
        # Both may be changed while serving: the list reads them on every request.
        self.paging = paging
        self._bucket = TokenBucket(requests_per_second) if requests_per_second else None
        self._lock = threading.RLock()
        self._random, self._last_ms = random.Random(seed), 0
        self.projects: dict[str, dict[str, Any]] = {}
        self.billables: dict[str, dict[str, Any]] = {}
        self.entries: dict[str, dict[str, Any]] = {}
        self.app = Starlette(routes=[
            Route(_BASE, self._list, methods=["GET"]),
            Route(_BASE, self._create, methods=["POST"]),
            Route(_BASE + "/{entry_id}", self._one, methods=["GET", "PUT", "DELETE"]),
        ])

    def serve(self) -> EmulatorServer:
        """An (unstarted) server for this app: ``with emulator.serve() as server: ...``."""
        return EmulatorServer(self.app)

    # --- seeding and inspection (tests, ``timebridge demo``); safe while serving ---------

    def new_id(self, prefix: str) -> str:
        """A fresh id shaped like the document's (``tsh_`` + 24 lower-case letters/digits)."""
        with self._lock:
            return prefix + "".join(self._random.choice(_ALPHABET) for _ in range(24))

    def _now(self) -> str:
        # Strictly increasing milliseconds: updatedAt is the entry's version, and two
        # writes within one millisecond must still look different.
        with self._lock:
            self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
            moment = datetime.fromtimestamp(self._last_ms / 1000, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def add_project(self, name: str = "Project", *, project_id: str | None = None) -> str:
        """Add a project; returns its id (``prj_...``)."""
        with self._lock:
            project_id = project_id or self.new_id("prj_")
            self.projects[project_id] = {"id": project_id, "name": name}
            return project_id

    def add_billable(self, invoiced: bool = False, *, billable_id: str | None = None) -> str:
        """Add a billable; an invoiced one locks its entries. Returns its id (``bil_...``)."""
        with self._lock:
            billable_id = billable_id or self.new_id("bil_")
            self.billables[billable_id] = {"id": billable_id, "invoiced": invoiced}
            return billable_id

    def invoice(self, billable_id: str) -> None:
        """Mark a billable invoiced: its entries refuse changes from now on."""
        with self._lock:
            self.billables[billable_id]["invoiced"] = True

    def add_entry(self, *, project: Any, date: date | str | Any, duration_seconds: Any,
                  description: Any = None, billable: Any = None, reference_source: Any = None,
                  reference_id: Any = None, entry_id: str | None = None) -> str:
        """Store an entry as given (not validated, so bad ones can be planted); returns its id."""
        with self._lock:
            stamp, entry_id = self._now(), entry_id or self.new_id("tsh_")
            self.entries[entry_id] = {
                "id": entry_id, "project": project, "billable": billable,
                "date": date.isoformat() if hasattr(date, "isoformat") else date,
                "durationSeconds": duration_seconds, "createdAt": stamp, "updatedAt": stamp,
                "description": description, "referenceSource": reference_source,
                "referenceId": reference_id}
            return entry_id

    def add_malformed_entry(self, *, project: str, date: date | str) -> str:
        """An entry the connector must skip: its ``durationSeconds`` is null."""
        return self.add_entry(project=project, date=date, duration_seconds=None)

    def entry(self, entry_id: str) -> dict[str, Any] | None:
        """A copy of the stored entry, or None."""
        with self._lock:
            found = self.entries.get(entry_id)
            return dict(found) if found is not None else None

    # --- HTTP ---------------------------------------------------------------------------

    def _guard(self, request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.tokens:
            return _error(401, "Unauthorized")
        tenant = request.headers.get("tenant-id")
        if not tenant:
            return _error(400, "tenant-id header is required", {"tenant-id": ["is required"]})
        if tenant != self.tenant_id:
            return _error(403, f"no access to tenant {tenant}")
        if self._bucket is not None and not self._bucket.acquire(token.strip())[0]:
            return JSONResponse({"message": "Too Many Requests"}, status_code=429,
                                headers={"Retry-After": "1"})
        return None

    def _locked(self, billable_id: object) -> bool:
        return isinstance(billable_id, str) and bool(
            self.billables.get(billable_id, {}).get("invoiced"))

    async def _list(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        query = request.query_params
        unknown = {v.strip() for v in query.get("expand", "").split(",")} - EXPAND_VALUES - {""}
        size, mode = self.page_size, (self.paging or "link") if self.page_size else None
        problems = {
            **{key: _check_date(query[key]) for key in ("dateFrom", "dateTo") if key in query},
            **{key: _check_text(query.get(key), limit=255)
               for key in ("referenceSource", "referenceId")},
            "expand": f"unknown relation: {', '.join(sorted(unknown))}" if unknown else None,
            **emulator_paging.problems(query, mode),
        }
        if errors := {key: [problem] for key, problem in problems.items() if problem}:
            return _error(400, "invalid query", errors)
        with self._lock:
            found = [dict(e) for e in self.entries.values() if self._matches(e, query)]
        # Strings compare like dates here, and a malformed date still sorts somewhere.
        found.sort(key=lambda e: (str(e.get("date")), str(e.get("createdAt")), e["id"]))
        if "project" in {v.strip() for v in query.get("expand", "").split(",")}:
            with self._lock:
                for e in found:
                    known = self.projects.get(str(e.get("project")))
                    e["project"] = dict(known) if known else e.get("project")
        if size is None or mode is None:
            return JSONResponse({"data": found})
        return emulator_paging.paged(request, found, size, mode)

    @staticmethod
    def _matches(entry: Mapping[str, Any], query: Mapping[str, str]) -> bool:
        day = str(entry.get("date"))
        if ("dateFrom" in query and day < query["dateFrom"]) or (
                "dateTo" in query and day > query["dateTo"]):
            return False
        return all(entry.get(field) is not None and str(entry.get(field)) == query[param]
                   for param, field in _FILTERS.items() if param in query)

    async def _read_body(self, request: Request) -> dict[str, Any] | Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "body is not valid JSON")
        if errors := validate_body(body):
            return _error(400, "invalid time entry", errors)
        with self._lock:
            if body["projectId"] not in self.projects:
                errors["projectId"] = ["unknown project"]
            if body.get("billableId") and body["billableId"] not in self.billables:
                errors["billableId"] = ["unknown billable"]
        return _error(422, "invalid time entry", errors) if errors else body

    def _store(self, entry_id: str, body: Mapping[str, Any], created: str | None) -> Response:
        now = self._now()
        entry = self.entries[entry_id] = stored_entry(entry_id, body, created=created or now,
                                                      updated=now)
        return JSONResponse({"data": entry}, status_code=200 if created else 201,
                            headers={} if created else {"Location": f"{_BASE}/{entry_id}"})

    async def _create(self, request: Request) -> Response:
        body = self._guard(request) or await self._read_body(request)
        if isinstance(body, Response):
            return body
        with self._lock:
            if self._locked(body.get("billableId")):
                return _error(409, "billable is invoiced and cannot take new time entries")
            return self._store(self.new_id("tsh_"), body, None)

    async def _one(self, request: Request) -> Response:
        reading = request.method in ("GET", "HEAD")  # Starlette routes HEAD with GET
        if reading and not self.get_by_id:
            # No such route: the framework answers before any auth or lookup.
            return JSONResponse({"message": f"Route {request.method}:{request.url.path} not found",
                                 "error": "Not Found", "statusCode": 404}, status_code=404)
        put = request.method == "PUT"
        body = self._guard(request) or (await self._read_body(request) if put else {})
        if isinstance(body, Response):
            return body
        entry_id = request.path_params["entry_id"]
        with self._lock:
            entry = self.entries.get(entry_id)
            if entry is None:
                return _error(404, "time entry not found")
            if reading:
                return JSONResponse({"data": entry})
            if self._locked(entry.get("billable")) or self._locked(body.get("billableId")):
                return _error(409, INVOICED)
            if request.method == "DELETE":
                del self.entries[entry_id]
                return Response(status_code=204)
            return self._store(entry_id, body, entry["createdAt"])
