"""A stateful local emulator of the Kaiten API's time tracking (Starlette).

Serves, under ``/api/latest`` and ``/api/v1``, what the connector uses: the
timesheet ``GET /time-logs``, a card's time logs (``GET``/``POST
/cards/{card_id}/time-logs``, ``PATCH``/``DELETE .../{id}``) and ``GET
/users/current``, with the documented answers: 400 ``{"message": ...}`` for
validation, 401 ``Invalid token`` as plain text, 402 for a card whose space has
no time tracking in its tariff, 404 with no body, and a per-token rate limit
(429 when exceeded) with ``X-RateLimit-Remaining``/``X-RateLimit-Reset`` on every
answer. Choices where the documents are silent: ``limit`` above 200 is a 400,
``from`` after ``to`` is a 400, the list is ordered by id, and any known user
may change any log. Faults come from the shared runtime (``server.faults``).
Keyword options of :class:`KaitenEmulator` switch to other real-world behaviours
the documents leave open (defaults: the choices above), so a client is proven
against more than its own assumptions. Each time-log change made through the API is
delivered as a webhook (``timelog:add|update|remove``) to the subscribers of
``emulator.webhooks`` (see :mod:`connectors.kaiten.emulator_webhooks`).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
import time
from datetime import UTC, date, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from connectors.emulator import RATE_WINDOWS, EmulatorServer, rate_model
from connectors.kaiten.emulator_webhooks import KaitenWebhooks

MAX_LIMIT, DEFAULT_LIMIT, COMMENT_LIMIT = 200, 100, 4096
_IDS, _NUMBER = re.compile(r"[0-9]+(,[0-9]+)*"), re.compile(r"[0-9]+")
_CHOICES = {"limit_mode": ("refuse", "clamp"), "reset_unit": ("s", "ms", "delta"),
            "card_logs_paging": ("none", "offset"), "rate_window": RATE_WINDOWS}
_FILTERS = {f"{key}_ids": f"{key}_id" for key in ("user", "card", "space", "board")}


class _Invalid(Exception):
    """A request the API refuses: answered as ``status`` with ``{"message": ...}`` (or empty)."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _int(value: Any) -> bool:  # bool is an int subclass; JSON true is not a number
    return isinstance(value, int) and not isinstance(value, bool)


def _date(text: Any, name: str) -> str:
    try:
        if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text, re.ASCII):
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise _Invalid(400, f"{name} must be a date in format YYYY-MM-DD") from None


def _window(query: Any, *, refuse_above: int | None, clamp_to: int | None) -> slice:
    """``limit``/``offset``: a limit above ``refuse_above`` is a 400, above ``clamp_to`` cut."""
    limit, offset = query.get("limit", str(DEFAULT_LIMIT)), query.get("offset", "0")
    if not _NUMBER.fullmatch(limit) or not 1 <= int(limit) <= (refuse_above or int(limit)):
        raise _Invalid(400, f"limit must be an integer from 1 to {refuse_above or 'any'}")
    if not _NUMBER.fullmatch(offset):
        raise _Invalid(400, "offset must be a non-negative integer")
    start = int(offset)
    return slice(start, start + min(int(limit), clamp_to or int(limit)))


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        raise _Invalid(400, "request body is not valid JSON") from None


class KaitenEmulator:
    """In-memory Kaiten: users (tokens), spaces, boards, cards and time logs; thread-safe.

    ``rate``: requests per second per token, as Kaiten enforces it (5 by default).
    ``rate_window``: how they are counted, which Kaiten does not document: ``"bucket"``
    (a token bucket of ``rate``, the default), ``"fixed"`` (whole epoch seconds) or
    ``"sliding"`` (any one-second span); see :mod:`connectors.emulator_rate`.
    ``limit_mode``: ``"refuse"``: a ``GET /time-logs`` ``limit`` above 200 is a 400;
    ``"clamp"``: any ``limit`` above ``clamp_to`` is silently cut to it (no error, no header).
    ``reset_unit``: ``X-RateLimit-Reset`` as epoch seconds ``"s"``, epoch milliseconds
    ``"ms"`` or whole seconds until it ``"delta"``; always the same moment: the whole second
    after which the token may send again. ``own_logs_only``: a non-admin token: a
    ``GET /time-logs`` whose ``user_ids`` is not just its user, or a PATCH/DELETE of another
    user's log, is a 403 ``{"message": "Forbidden"}`` (a card's logs stay readable).
    ``patch_ignores_for_date``: PATCH silently drops ``for_date``. ``card_logs_paging``:
    ``"none"`` (documented) lists all a card's logs; ``"offset"`` honours ``limit`` (default
    100, silently cut to 100) and ``offset``, and nothing says that more logs exist.
    ``webhooks``: who is told of each time-log change made through the API, and how
    (:class:`~connectors.kaiten.emulator_webhooks.KaitenWebhooks`; by default nobody until
    ``emulator.webhooks.subscribe(url)``).
    """

    def __init__(self, *, rate: float = 5.0, limit_mode: str = "refuse",
                 clamp_to: int = DEFAULT_LIMIT, reset_unit: str = "s",
                 own_logs_only: bool = False, patch_ignores_for_date: bool = False,
                 card_logs_paging: str = "none", rate_window: str = "bucket",
                 webhooks: KaitenWebhooks | None = None) -> None:
        chosen = (limit_mode, reset_unit, card_logs_paging, rate_window)
        for name, value in zip(_CHOICES, chosen, strict=True):
            if value not in _CHOICES[name]:
                raise ValueError(f"{name} must be one of {', '.join(_CHOICES[name])}")
        if clamp_to < 1:
            raise ValueError("clamp_to must be at least 1")
        self.limit_mode, self.clamp_to, self.reset_unit = limit_mode, clamp_to, reset_unit
        self.own_logs_only, self.patch_ignores_for_date = own_logs_only, patch_ignores_for_date
        self.card_logs_paging = card_logs_paging
        self.webhooks = webhooks or KaitenWebhooks()
        self._lock = threading.RLock()
        self._ids = itertools.count(1001)
        self._last_stamp = 0.0
        self.tokens: dict[str, int] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.spaces: dict[int, dict[str, Any]] = {}
        self.boards: dict[int, dict[str, Any]] = {}
        self.cards: dict[int, dict[str, Any]] = {}
        self.time_logs: dict[int, dict[str, Any]] = {}
        self.rate_window = rate_window
        self.bucket = rate_model(rate_window, rate)
        logs, log = "/cards/{card_id:int}/time-logs", "/cards/{card_id:int}/time-logs/{log_id:int}"
        routes = [
            Route("/time-logs", self._endpoint(self._list), methods=["GET"]),
            Route(logs, self._endpoint(self._card_logs), methods=["GET"]),
            Route(logs, self._endpoint(self._add), methods=["POST"]),
            Route(log, self._endpoint(self._patch), methods=["PATCH"]),
            Route(log, self._endpoint(self._remove), methods=["DELETE"]),
            Route("/users/current", self._endpoint(self._current_user), methods=["GET"]),
            Route("/users", self._endpoint(self._users), methods=["GET"]),
            Route("/cards/{card_id:int}", self._endpoint(self._one_card), methods=["GET"]),
        ]
        self.app = Starlette(routes=[Mount("/api/latest", routes=routes),
                                     Mount("/api/v1", routes=routes)])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def serve(self) -> EmulatorServer:
        """An (unstarted) server for this emulator: ``with emulator.serve() as server: ...``."""
        return EmulatorServer(self)

    # -- seeding -------------------------------------------------------------------

    def add_user(self, full_name: str = "Test User", email: str | None = None, *,
                 token: str | None = None) -> int:
        """Add a user (and the token that logs in as them, if given); returns the id."""
        with self._lock:
            uid = next(self._ids)
            username = f"user{uid}"
            self.users[uid] = {"id": uid, "full_name": full_name, "username": username,
                               "email": email or f"{username}@example.com", "activated": True}
            if token is not None:
                self.tokens[token] = uid
            return uid

    def add_space(self, title: str = "Space", *, time_tracking: bool = True) -> int:
        """Add a space; without ``time_tracking`` its cards' time-log writes answer 402."""
        with self._lock:
            sid = next(self._ids)
            self.spaces[sid] = {"id": sid, "title": title, "time_tracking": time_tracking}
            return sid

    def add_board(self, space_id: int, title: str = "Board") -> int:
        """Add a board to a space; returns its id."""
        with self._lock:
            bid = next(self._ids)
            self.boards[bid] = {"id": bid, "space_id": space_id, "title": title}
            return bid

    def add_card(self, *, space_id: int | None = None, board_id: int | None = None,
                 title: str = "Card") -> int:
        """Add a card on ``board_id`` (or a new board of ``space_id``, or of a new space)."""
        with self._lock:
            if board_id is None:
                board_id = self.add_board(space_id if space_id is not None else self.add_space())
            cid = next(self._ids)
            board = self.boards[board_id]
            self.cards[cid] = {"id": cid, "title": title, "board_id": board_id,
                               "space_id": board["space_id"]}
            return cid

    def remove_card(self, card_id: int) -> None:
        """Delete a card and its time logs (as deleting a card in Kaiten does)."""
        with self._lock:
            self.cards.pop(card_id, None)
            for lid in [i for i, log in self.time_logs.items() if log["card_id"] == card_id]:
                del self.time_logs[lid]

    def add_time_log(self, *, card_id: int, user_id: int, time_spent: Any, for_date: Any,
                     comment: str | None = None, role_id: int = -1) -> int:
        """Store a time log as given, unvalidated (so malformed ones can be seeded too)."""
        with self._lock:
            lid, stamp = next(self._ids), self._stamp()
            self.time_logs[lid] = {
                "id": lid, "card_id": card_id, "user_id": user_id, "role_id": role_id,
                "author_id": user_id, "updater_id": user_id, "time_spent": time_spent,
                "for_date": for_date, "comment": comment, "created": stamp, "updated": stamp}
            return lid

    def add_malformed_time_log(self, *, card_id: int, user_id: int, for_date: str) -> int:
        """A log with a null ``time_spent``, which a reader must skip."""
        return self.add_time_log(card_id=card_id, user_id=user_id, time_spent=None,
                                 for_date=for_date)

    def get_time_log(self, log_id: int) -> dict[str, Any] | None:
        """A copy of the stored log, or None when there is none."""
        with self._lock:
            log = self.time_logs.get(log_id)
            return dict(log) if log is not None else None

    # -- plumbing ------------------------------------------------------------------

    def _stamp(self) -> str:
        # Strictly increasing, so every PATCH gives a new `updated` even within 1 ms.
        now = max(time.time(), self._last_stamp + 0.001)
        self._last_stamp = now
        return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"

    def _full(self, log: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(log["user_id"], {"id": log["user_id"]})
        card = self.cards.get(log["card_id"], {"id": log["card_id"]})
        return {**log, "role": {"id": log["role_id"], "name": "Employee"},
                "user": dict(user), "card": dict(card)}

    def _endpoint(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            return await self._guard(request, handler)

        return endpoint

    async def _guard(self, request: Request, handler: Any) -> Response:
        """Rate limit, auth, then the handler; rate-limit headers on every answer."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        client = request.client.host if request.client else "anonymous"
        allowed, remaining, reset = self.bucket.acquire(token or client)
        if not allowed:
            response: Response = JSONResponse({"message": "Too many requests"}, 429)
        elif token not in self.tokens:
            response = PlainTextResponse("Invalid token", 401)
        else:
            try:
                body = _json(await request.body())
                with self._lock:
                    response = JSONResponse(handler(request, self.tokens[token], body))
            except _Invalid as error:
                response = (JSONResponse({"message": error.message}, error.status)
                            if error.message else Response(status_code=error.status))
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        # `reset` is whole epoch seconds; the same moment in the chosen unit.
        response.headers["X-RateLimit-Reset"] = str(
            reset * 1000 if self.reset_unit == "ms" else max(0, math.ceil(reset - time.time()))
            if self.reset_unit == "delta" else reset)
        return response

    def _card(self, request: Request, *, writing: bool = False) -> dict[str, Any]:
        card = self.cards.get(request.path_params["card_id"])
        if card is None:
            raise _Invalid(404)
        if writing and not self.spaces.get(card["space_id"], {}).get("time_tracking", True):
            raise _Invalid(402, "Feature is not supported by tariff")
        return card

    def _log(self, request: Request, uid: int) -> dict[str, Any]:
        card = self._card(request, writing=True)
        log = self.time_logs.get(request.path_params["log_id"])
        if log is None or log["card_id"] != card["id"]:
            raise _Invalid(404)
        if self.own_logs_only and log["user_id"] != uid:
            raise _Invalid(403, "Forbidden")
        return log

    # -- endpoints -----------------------------------------------------------------

    def _list(self, request: Request, uid: int, body: Any) -> list[dict[str, Any]]:
        query = request.query_params
        for name in ("from", "to"):
            if not query.get(name):
                raise _Invalid(400, f"{name} is required")
        start, end = _date(query["from"], "from"), _date(query["to"], "to")
        if start > end:
            raise _Invalid(400, "from must not be after to")
        clamp = self.limit_mode == "clamp"
        window = _window(query, refuse_above=None if clamp else MAX_LIMIT,
                         clamp_to=self.clamp_to if clamp else None)
        wanted: dict[str, set[int]] = {}
        for name, field in _FILTERS.items():
            if query.get(name):
                if not _IDS.fullmatch(query[name]):
                    raise _Invalid(400, f"{name} must be comma-separated integers")
                wanted[field] = {int(i) for i in query[name].split(",")}
        if self.own_logs_only and wanted.get("user_id") != {uid}:
            raise _Invalid(403, "Forbidden")
        # Filters on the log itself, and on its card (space, board): looked up in place,
        # not by copying each log, since every page scans the whole timesheet (100,000
        # logs in the bench) and a copy each made a page slower than Kaiten's own pace.
        own = [(f, ids) for f, ids in wanted.items() if f not in ("space_id", "board_id")]
        on_card = [(f, ids) for f, ids in wanted.items() if f in ("space_id", "board_id")]
        logs, cards, found = self.time_logs, self.cards, []
        for lid in sorted(logs):
            log = logs[lid]
            day = log["for_date"]
            if not (isinstance(day, str) and start <= day[:10] <= end):
                continue
            if own and not all(log[f] in ids for f, ids in own):
                continue
            if on_card:
                card = cards.get(log["card_id"], {})
                if not all(card.get(f) in ids for f, ids in on_card):
                    continue
            found.append(log)
        # Only the page asked for is dressed with its user and card: a page of a large
        # timesheet must not cost a copy of every log (the bench reads 100,000 of them).
        return [self._full(log) for log in found[window]]

    def _card_logs(self, request: Request, uid: int, body: Any) -> list[dict[str, Any]]:
        cid = self._card(request)["id"]
        found = [self._full(v) for _, v in sorted(self.time_logs.items()) if v["card_id"] == cid]
        if self.card_logs_paging == "offset":
            return found[_window(request.query_params, refuse_above=None,
                                 clamp_to=DEFAULT_LIMIT)]
        return found

    def _add(self, request: Request, uid: int, body: Any) -> dict[str, Any]:
        card = self._card(request, writing=True)
        fields = self._validated(body, required=True)
        lid = self.add_time_log(card_id=card["id"], user_id=uid, **fields)
        self.webhooks.emit("timelog:add", self._full(self.time_logs[lid]))
        return dict(self.time_logs[lid])

    def _patch(self, request: Request, uid: int, body: Any) -> dict[str, Any]:
        log = self._log(request, uid)
        if self.patch_ignores_for_date and isinstance(body, dict):
            body = {key: value for key, value in body.items() if key != "for_date"}
        fields = self._validated(body, required=False)
        before = self._full(log)
        log.update(fields, updater_id=uid, updated=self._stamp())
        self.webhooks.emit("timelog:update", self._full(log), before)
        return dict(log)

    def _remove(self, request: Request, uid: int, body: Any) -> dict[str, Any]:
        log = self._log(request, uid)
        del self.time_logs[log["id"]]
        self.webhooks.emit("timelog:remove", self._full(log))
        return {"id": log["id"]}

    def _current_user(self, request: Request, uid: int, body: Any) -> dict[str, Any]:
        return dict(self.users[uid])

    def _users(self, request: Request, uid: int, body: Any) -> list[dict[str, Any]]:
        # GET /users: every user by id, paged by limit (default and max 100) and offset.
        chosen = _window(request.query_params, refuse_above=None, clamp_to=100)
        return [dict(u) for _, u in sorted(self.users.items())][chosen]

    def _one_card(self, request: Request, uid: int, body: Any) -> dict[str, Any]:
        return dict(self._card(request))

    @staticmethod
    def _validated(body: Any, *, required: bool) -> dict[str, Any]:
        """The writable fields of a POST (all required but comment) or PATCH body."""
        if not isinstance(body, dict):
            raise _Invalid(400, "request body must be a JSON object")
        names = ("role_id", "time_spent", "for_date")
        for name in names if required else ():
            if body.get(name) is None:
                raise _Invalid(400, f"{name} is required")
        if "role_id" in body and not _int(body["role_id"]):
            raise _Invalid(400, "role_id must be an integer")
        if "time_spent" in body and not (_int(body["time_spent"]) and body["time_spent"] >= 1):
            raise _Invalid(400, "time_spent must be an integer, minimum 1")
        comment = body.get("comment")
        if comment is not None and (not isinstance(comment, str) or len(comment) > COMMENT_LIMIT):
            raise _Invalid(400, f"comment must be a string of at most {COMMENT_LIMIT} characters")
        fields = {k: body[k] for k in (*names, "comment") if k in body}
        if "for_date" in fields:
            fields["for_date"] = _date(fields["for_date"], "for_date")
        return fields
