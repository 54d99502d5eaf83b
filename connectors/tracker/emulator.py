"""A stateful local emulator of the Yandex Tracker worklog API (``/v2``), as documented.

Serves ``POST /v2/worklog/_search``, ``GET /v2/worklog``, ``GET``/``POST
/v2/issues/{key}/worklog``, ``GET``/``PATCH``/``DELETE /v2/issues/{key}/worklog/{id}``,
and ``GET /v2/issues/{key}``, ``/v2/users/{id}``, ``/v2/myself``, ``/v2/fields``, which the
official ``yandex_tracker_client`` reads on its way (every path also with the trailing
slash that client sends). Durations (kept in seconds, answered normalised: ``PT8H`` ->
``P1D``) and UTC datetimes are the emulator's own code (:mod:`.emulator_durations`), not
the bridge's. Errors carry Tracker's ``{"errors", "errorMessages", "statusCode"}`` body.
Real-world behaviours are constructor options (see :class:`TrackerEmulator`); faults and
the request log come from :class:`connectors.emulator.EmulatorServer` (:meth:`serve`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.emulator import EmulatorServer, TokenBucket
from connectors.tracker import emulator_durations as text

_EDITABLE = frozenset({"duration", "comment"})  # what PATCH takes (see the connector docstring)
_MODES = {"search_paging": ("headers", "link", "count", "bare", "ignore-page"),
          "issue_paging": ("link", "none"), "cap_mode": ("page", "total")}
_FIELDS = (("summary", "Summary", "string", True), ("description", "Description", "string",
                                                   False), ("tags", "Tags", "array", False))


class _ApiError(Exception):
    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.errors, self.headers = status, errors or {}, headers

    def response(self) -> JSONResponse:
        body = {"errors": self.errors, "errorMessages": [str(self)], "statusCode": self.status}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _invalid(field: str, why: str) -> _ApiError:
    return _ApiError(400, f"Invalid value of field {field}", {field: why})


def _moment(value: Any, field: str) -> datetime:
    try:  # the documents' own search example has no offset; Tracker reads that as UTC
        return text.parse_stamp(value)
    except ValueError as error:
        raise _invalid(field, str(error)) from None


class TrackerEmulator:
    """Tracker's worklog API over an in-memory, thread-safe store.

    ``org_id``/``cloud_org_id``: what ``X-Org-ID``/``X-Cloud-Org-ID`` must say;
    ``workday_hours``: the length of ``P1D`` (``P1W`` is five of them); ``clock``: the
    server time given to new records. ``perPage`` is ``default_per_page`` unless asked,
    and silently cut to ``max_per_page``. ``search_paging`` (both search endpoints):
    ``headers`` (``X-Total-Pages``, ``X-Total-Count``, ``Link`` first/next/last), ``link``
    (only ``Link`` with rel="next", while more pages exist), ``count`` (only
    ``X-Total-Count``), ``bare`` (no paging headers) or ``ignore-page`` (``page`` ignored:
    always the first page; no headers). ``issue_paging``: ``link`` (an issue's worklogs
    paged, with a ``Link`` rel="next" to follow) or ``none`` (all in one array).
    ``items_cap``/``cap_mode``: a search refuses (400) to page past ``items_cap`` items
    (``page``) or to match more than that (``total``). ``rate``: requests per second
    per token (429 with ``Retry-After: 1`` beyond it); None for no limit.
    ``check_if_match``: PATCH/DELETE whose ``If-Match`` names another version are 412.
    """

    def __init__(self, *, org_id: str | None = "7654321", cloud_org_id: str | None = None,
                 workday_hours: float = 8, default_per_page: int = 50, max_per_page: int = 100,
                 search_paging: str = "headers", issue_paging: str = "link",
                 items_cap: int = 10000, cap_mode: str = "page", rate: float | None = None,
                 check_if_match: bool = True,
                 clock: Callable[[], datetime] | None = None) -> None:
        for name, value in (("search_paging", search_paging), ("issue_paging", issue_paging),
                            ("cap_mode", cap_mode)):
            if value not in _MODES[name]:
                raise ValueError(f"{name} must be one of {_MODES[name]}, not {value!r}")
        self.org_id, self.cloud_org_id = org_id, cloud_org_id
        self.workday_hours, self.max_per_page = workday_hours, max_per_page
        self.default_per_page, self.search_paging = default_per_page, search_paging
        self.issue_paging, self.items_cap, self.cap_mode = issue_paging, items_cap, cap_mode
        self.bucket = None if rate is None else TokenBucket(rate)
        self.check_if_match = check_if_match
        self.clock = clock or (lambda: datetime.now(UTC))
        self.public_url = "https://api.tracker.yandex.net"  # base of "self" links
        self._lock = threading.RLock()
        self._users: dict[str, dict[str, Any]] = {}  # login -> user
        self._tokens: dict[str, tuple[str, str | None]] = {}  # token -> (login, scheme)
        self._issues: dict[str, dict[str, Any]] = {}
        self._worklogs: dict[int, dict[str, Any]] = {}
        self._next_id, self._version = 1, 0
        routes = [("/v2/myself", self._myself, "GET"), ("/v2/users/{user}", self._user, "GET"),
                  ("/v2/fields", self._fields, "GET"), ("/v2/issues/{key}", self._issue, "GET"),
                  ("/v2/worklog/_search", self._search, "POST"),
                  ("/v2/worklog", self._search, "GET"),
                  ("/v2/issues/{key}/worklog", self._issue_logs, "GET POST"),
                  ("/v2/issues/{key}/worklog/{wid}", self._one_log, "GET PATCH DELETE")]
        self.app = Starlette(routes=[
            Route(path + slash, self._guard(handler), methods=methods.split())
            for path, handler, methods in routes for slash in ("", "/")])

    def serve(self) -> EmulatorServer:
        """A loopback server for this emulator (use it as a context manager)."""
        server = EmulatorServer(self.app)
        self.public_url = server.base_url
        return server

    def add_user(self, login: str, *, display: str | None = None, uid: str | None = None,
                 token: str | None = None, scheme: str | None = None) -> dict[str, Any]:
        """Add a user; ``token`` acts as them (with ``scheme``, only as "OAuth" or "Bearer")."""
        with self._lock:
            user = {"uid": uid or str(1120000000014900 + len(self._users)), "login": login,
                    "display": display or login.title()}
            self._users[login] = user
            if token is not None:
                self._tokens[token] = (login, scheme)
            return dict(user)

    def add_issue(self, key: str, *, display: str | None = None) -> dict[str, Any]:
        """Add an issue such as ``TEST-324``; returns how worklogs refer to it."""
        with self._lock:
            number = 0x515EC9EAE4B09CFA984E2000 + len(self._issues)
            self._issues[key] = {"id": f"{number:024x}", "key": key,
                                 "display": display or f"Issue {key}"}
            return dict(self._issues[key])

    def add_worklog(self, issue: str, *, start: Any, duration: Any, comment: str | None = None,
                    author: str | None = None, created_at: datetime | None = None,
                    raw: bool = False) -> str:
        """Add a worklog (``duration`` in seconds or ISO 8601); returns its id.

        ``raw=True`` keeps ``start``/``duration`` unchecked, to answer ``"P1Y"`` or None.
        """
        if not raw:
            duration = duration if isinstance(duration, int) else self._seconds(duration)
            start = start if isinstance(start, datetime) else _moment(start, "start")
        return self._insert(issue, author, created_at, start=start, duration=duration,
                            comment=comment)

    def get_worklog(self, worklog_id: str | int) -> dict[str, Any] | None:
        """The worklog as the API answers it, or None when there is none."""
        with self._lock:
            stored = self._worklogs.get(int(worklog_id)) if str(worklog_id).isdigit() else None
            return None if stored is None else self._render(stored)

    def _insert(self, issue: str, author: str | None, created_at: datetime | None,
                **fields: Any) -> str:
        with self._lock:
            if issue not in self._issues:
                raise KeyError(f"no issue {issue}")
            login = author or next(iter(self._users))
            now = created_at or self.clock()
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # Tracker keeps ms
            wid, self._next_id = self._next_id, self._next_id + 1
            self._worklogs[wid] = {**fields, "id": wid, "issue": issue, "createdBy": login,
                                   "updatedBy": login, "createdAt": now, "updatedAt": now,
                                   "version": self._bump(now)}
            return str(wid)

    def _bump(self, now: datetime) -> int:
        # Tracker's versions look like epoch milliseconds; they only ever grow.
        self._version = max(self._version + 1, int(now.timestamp() * 1000))
        return self._version

    def _user_ref(self, login: str) -> dict[str, Any]:
        user = self._users[login]
        return {"self": f"{self.public_url}/v2/users/{user['uid']}", "id": login,
                "display": user["display"]}

    def _render(self, w: dict[str, Any]) -> dict[str, Any]:
        issue = self._issues[w["issue"]]
        url = f"{self.public_url}/v2/issues/{issue['key']}"
        start, duration = w["start"], w["duration"]
        body: dict[str, Any] = {"self": f"{url}/worklog/{w['id']}", "id": w["id"],
                                "version": w["version"], "issue": {"self": url, **issue}}
        if w["comment"] is not None:
            body["comment"] = w["comment"]
        return {**body, "createdBy": self._user_ref(w["createdBy"]),
                "updatedBy": self._user_ref(w["updatedBy"]),
                "createdAt": text.format_stamp(w["createdAt"]),
                "updatedAt": text.format_stamp(w["updatedAt"]),
                "start": text.format_stamp(start) if isinstance(start, datetime) else start,
                "duration": text.format_duration(duration, self.workday_hours)
                if type(duration) is int and duration > 0 else duration}

    def _guard(self, handler: Callable[..., Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                self._throttle(request)
                return await handler(request, self._authorize(request))
            except _ApiError as error:
                return error.response()
        return endpoint

    def _throttle(self, request: Request) -> None:
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        key = token or (request.client.host if request.client else "anonymous")
        if self.bucket is not None and not self.bucket.acquire(key)[0]:
            raise _ApiError(429, "Too many requests.", headers={"Retry-After": "1"})

    def _authorize(self, request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            login, only = self._tokens.get(token.strip(), (None, None))
        if scheme not in ("OAuth", "Bearer") or login is None or only not in (None, scheme):
            raise _ApiError(401, "Not authorized. Use an OAuth or IAM token.")
        org, cloud = request.headers.get("x-org-id"), request.headers.get("x-cloud-org-id")
        if not ((org and org == self.org_id) or (cloud and cloud == self.cloud_org_id)):
            raise _ApiError(403, "Organization is not specified or not available to the user.")
        return login

    @staticmethod
    async def _json(request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _ApiError(400, "Request body must be a JSON object")
        return body

    def _user_body(self, login: str) -> dict[str, Any]:
        user = self._users[login]
        first, _, last = user["display"].partition(" ")
        uid = int(user["uid"])
        return {"self": f"{self.public_url}/v2/users/{uid}", "uid": uid, "login": login,
                "trackerUid": uid, "passportUid": uid, "firstName": first, "lastName": last,
                "display": user["display"], "email": f"{login}@example.com",
                "external": False, "dismissed": False}

    async def _myself(self, request: Request, login: str) -> Response:
        return JSONResponse(self._user_body(login))

    async def _user(self, request: Request, login: str) -> Response:
        wanted = request.path_params["user"]
        with self._lock:
            found = [name for name, user in self._users.items() if wanted in (name, user["uid"])]
        if not found:
            raise _ApiError(404, "User does not exist.")
        return JSONResponse(self._user_body(found[0]))

    async def _fields(self, request: Request, login: str) -> Response:
        # The official client reads these before it answers any attribute of an issue.
        return JSONResponse([
            {"self": f"{self.public_url}/v2/fields/{fid}", "id": fid, "name": name, "version": 1,
             "schema": {"type": kind, "required": required}, "readonly": False,
             "options": False, "suggest": False} for fid, name, kind, required in _FIELDS])

    async def _issue(self, request: Request, login: str) -> Response:
        issue = self._issues[self._issue_key(request)]
        return JSONResponse({"self": f"{self.public_url}/v2/issues/{issue['key']}", **issue,
                             "version": 1, "summary": issue["display"], "description": None})

    async def _search(self, request: Request, login: str) -> Response:
        if request.method == "POST":
            body = await self._json(request)
        else:  # GET ?createdBy=...&createdAt=from:...&createdAt=to:...
            bounds = [v.split(":", 1) for v in request.query_params.getlist("createdAt")]
            body = {"createdBy": request.query_params.get("createdBy"),
                    "createdAt": {k: v for k, v in bounds if k in ("from", "to")}}
        author, created = body.get("createdBy"), body.get("createdAt") or {}
        if author is not None and not isinstance(author, str):
            raise _invalid("createdBy", "expected a user id or login")
        if not isinstance(created, dict) or set(created) - {"from", "to"}:
            raise _invalid("createdAt", "expected an object with from and to")
        low, high = (None if created.get(k) is None else _moment(created[k], f"createdAt.{k}")
                     for k in ("from", "to"))
        page, per_page = self._paging(request, use_page=self.search_paging != "ignore-page")
        with self._lock:
            uids = {user["uid"]: name for name, user in self._users.items()}
            found = [self._render(w) for _, w in sorted(self._worklogs.items())
                     if (author is None or w["createdBy"] in (author, uids.get(author)))
                     and (low is None or w["createdAt"] >= low)
                     and (high is None or w["createdAt"] <= high)]
        over = len(found) if self.cap_mode == "total" else page * per_page
        if over > self.items_cap:
            raise _ApiError(400, f"Request exceeds {self.items_cap} items limit")
        pages, mode = max(1, -(-len(found) // per_page)), self.search_paging
        rels = [(1, "first"), *([(page + 1, "next")] if page < pages else []), (pages, "last")]
        headers = {"X-Total-Pages": str(pages), "X-Total-Count": str(len(found)),
                   "Link": self._links(request, rels if mode == "headers" else rels[1:-1])}
        # Which of them the mode sends ("link": rel="next" alone, and only while there is one).
        keep = {"headers": headers, "link": ["Link"] if page < pages else [],
                "count": ["X-Total-Count"]}.get(mode, [])
        return JSONResponse(found[(page - 1) * per_page: page * per_page],
                            headers={name: headers[name] for name in keep})

    def _paging(self, request: Request, use_page: bool = True) -> tuple[int, int]:
        query = request.query_params
        try:
            page = int(query.get("page", "1")) if use_page else 1
            per_page = min(int(query.get("perPage", self.default_per_page)), self.max_per_page)
        except ValueError:
            raise _ApiError(400, "page and perPage must be whole numbers") from None
        if page < 1 or per_page < 1:
            raise _ApiError(400, "page and perPage must be at least 1")
        return page, per_page

    @staticmethod
    def _links(request: Request, rels: list[tuple[int, str]]) -> str:
        return ", ".join(f'<{request.url.include_query_params(page=n)}>; rel="{rel}"'
                         for n, rel in rels)

    def _issue_key(self, request: Request) -> str:
        if (key := request.path_params["key"]) not in self._issues:
            raise _ApiError(404, "Issue does not exist.")
        return key

    async def _issue_logs(self, request: Request, login: str) -> Response:
        key = self._issue_key(request)
        if request.method == "GET":
            with self._lock:
                found = [self._render(w) for _, w in sorted(self._worklogs.items())
                         if w["issue"] == key]
            if self.issue_paging == "none":
                return JSONResponse(found)
            page, per_page = self._paging(request)
            more = page * per_page < len(found)
            return JSONResponse(found[(page - 1) * per_page: page * per_page], headers={
                "Link": self._links(request, [(page + 1, "next")])} if more else None)
        body = await self._json(request)
        for field in ("start", "duration"):
            if body.get(field) is None:
                raise _ApiError(400, f"Field {field} is required", {field: "required"})
        wid = self._insert(key, login, None, start=_moment(body["start"], "start"),
                           **{"comment": None, **self._editable(body)})
        return JSONResponse(self.get_worklog(wid), status_code=201)

    def _seconds(self, value: Any) -> int:
        try:
            return text.parse_duration(value, self.workday_hours)
        except ValueError as error:
            raise _invalid("duration", str(error)) from None

    def _editable(self, body: dict[str, Any]) -> dict[str, Any]:
        """The validated ``duration`` (as seconds) and ``comment`` that ``body`` holds."""
        found = {key: body[key] for key in _EDITABLE if key in body}
        if "duration" in found:
            found["duration"] = self._seconds(found["duration"])
        if found.get("comment") is not None and not isinstance(found["comment"], str):
            raise _invalid("comment", "expected a string")
        return found

    def _precondition(self, request: Request, stored: dict[str, Any]) -> None:
        """412 when ``If-Match`` names a version the worklog no longer has (hold the lock)."""
        header = request.headers.get("if-match")
        if not self.check_if_match or header is None or "*" in (tags := text.etags(header)):
            return
        if str(stored["version"]) not in tags:
            raise _ApiError(412, f"Worklog {stored['id']} was changed: its version is "
                                 f"{stored['version']}, not {header}.")

    async def _one_log(self, request: Request, login: str) -> Response:
        key, wid = self._issue_key(request), request.path_params["wid"]
        with self._lock:
            stored = self._worklogs.get(int(wid)) if wid.isdigit() else None
        if stored is None or stored["issue"] != key:
            raise _ApiError(404, "Worklog does not exist.")
        if request.method == "DELETE":
            with self._lock:  # never while a search walks the store
                self._precondition(request, stored)
                self._worklogs.pop(stored["id"], None)
            return Response(status_code=204)
        if request.method == "PATCH":
            body = await self._json(request)
            if fixed := sorted(set(body) - _EDITABLE):
                raise _ApiError(400, f"Field {fixed[0]} cannot be changed",
                                {field: "not editable" for field in fixed})
            change = self._editable(body)
            with self._lock:
                self._precondition(request, stored)
                if change and stored["id"] in self._worklogs:
                    now = self.clock()
                    change.update(updatedBy=login, updatedAt=now, version=self._bump(now))
                    stored.update(change)
        return JSONResponse(self.get_worklog(wid))
