"""A saved plan (``--save-plan``): what a dry run decided, for a person to review and
``timebridge apply`` to carry out later, exactly and only that.

The file is a versioned JSON document. Each action keeps what it was decided on: the
origin's version and content hash, the copy's id, version and content hash, and what the
copy will hold. ``apply`` re-checks those against the APIs before writing anything
(:mod:`bridge.cli.apply`). Each route carries a fingerprint of the config that gives its
actions their meaning (:func:`route_fingerprint`), so a plan is never applied under a
config that would have planned differently. Never a secret in the file: no token, no
token file or variable name, and records only as ids, versions and hashes, plus the text
the copy will hold (which the target gets anyway).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bridge.config.models import Config, normalise_base_url
from bridge.vocab import Kind

PLAN_VERSION = 1
PLAN_KEY = "timebridge_plan"   # the version; its presence says "this is a plan"
#: Route keys that change when or how widely a route runs, not what a planned action means.
_ROUTE_NOT_MEANING = {"schedule", "window_days", "chunk_days"}
#: Connector keys that are secrets, or only pace or bound the requests.
_CONNECTOR_NOT_MEANING = {"token", "token_env", "token_file", "requests_per_second",
                          "timeout_seconds", "max_rate_limit_seconds", "max_concurrent_writes",
                          "created_lookback_days", "copies_user_ids", "copies_created_by"}


class PlanError(ValueError):
    """The file is not a plan this version can apply; ``str()`` is one line to print."""


@dataclass(frozen=True)
class Record:
    """A record as an action was decided on (the origin, or its copy)."""

    id: str
    task: str
    date: str
    seconds: int
    version: str | None
    hash: str


@dataclass(frozen=True)
class Holds:
    """What the copy will hold after a create or an update."""

    task: str
    date: str
    seconds: int
    comment: str
    start: str | None
    billable: str | None


@dataclass(frozen=True)
class PlannedAction:
    """One action of the plan: the report's fields plus what it was decided on.

    ``replace``: the delete half of a replace (the create of the same origin follows).
    ``held``: why it may not be written (a closed period); such an action is never applied.
    """

    action: str
    status: str
    origin: str          # as people see it: kaiten:123
    origin_key: str      # as the state store keys it: KAITEN:123
    reason: str
    source: Record | None = None
    copy: Record | None = None
    holds: Holds | None = None
    changes: dict[str, tuple[Any, Any]] | None = None
    replace: bool = False
    refused: bool = False
    held: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class RoutePlan:
    """One route's part of the plan: its window, config fingerprint and actions."""

    route: str
    fingerprint: str
    start: date
    end: date
    error: str | None
    actions: tuple[PlannedAction, ...]


@dataclass(frozen=True)
class SavedPlan:
    """The whole plan file."""

    made_at: datetime
    made_by: str
    routes: tuple[RoutePlan, ...]
    version: int = PLAN_VERSION


def route_fingerprint(config: Config, name: str) -> str:
    """A digest of everything in the config that decides what route ``name``'s actions
    mean: the route (names, tasks, description, billable, filter, policies) and both of
    its connectors (type, account, reference_source, units, time zone). Never secrets."""
    route = config.route(name)
    ends = {}
    for end in ("source", "target"):
        conn = config.connectors[getattr(route, end)]
        shown = conn.model_dump(mode="json", exclude=_CONNECTOR_NOT_MEANING)
        shown["base_url"] = normalise_base_url(conn.base_url)
        ends[end] = shown
    body = {"route": route.model_dump(mode="json", exclude=_ROUTE_NOT_MEANING), **ends}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# --- to and from JSON -------------------------------------------------------------------------


def to_dict(plan: SavedPlan) -> dict[str, Any]:
    """The plan as the file's JSON object."""
    return {PLAN_KEY: plan.version, "made_at": plan.made_at.isoformat(),
            "made_by": plan.made_by, "routes": [_route_dict(r) for r in plan.routes]}


def _route_dict(route: RoutePlan) -> dict[str, Any]:
    return {"route": route.route, "fingerprint": route.fingerprint,
            "from": route.start.isoformat(), "to": route.end.isoformat(), "error": route.error,
            "actions": [_action_dict(a) for a in route.actions]}


def _action_dict(a: PlannedAction) -> dict[str, Any]:
    return {"action": a.action, "status": a.status, "origin": a.origin,
            "origin_key": a.origin_key, "reason": a.reason,
            "source": None if a.source is None else vars(a.source).copy(),
            "copy": None if a.copy is None else vars(a.copy).copy(),
            "holds": None if a.holds is None else vars(a.holds).copy(),
            "changes": None if a.changes is None else
            {k: list(v) for k, v in a.changes.items()},
            "replace": a.replace, "refused": a.refused, "held": a.held, "error": a.error}


def write_plan(plan: SavedPlan, path: str | Path) -> None:
    """Write the plan atomically: a temporary file in the same folder, then a rename, so
    a reader (or a crash) never sees half a plan. Raises OSError."""
    path = Path(path)
    text = json.dumps(to_dict(plan), ensure_ascii=False, indent=1) + "\n"
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_plan(path: str | Path) -> SavedPlan:
    """The plan in ``path``; :class:`PlanError` (one line) when it is not one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: cannot read it: {getattr(exc, 'strerror', None) or exc}") \
            from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PlanError(f"{path}: not a plan (not JSON: {exc})") from None
    if not isinstance(data, dict) or PLAN_KEY not in data:
        raise PlanError(f"{path}: not a plan (no {PLAN_KEY!r} key; make one with "
                        "'timebridge report --save-plan')")
    try:
        return from_dict(data)
    except PlanError as exc:
        raise PlanError(f"{path}: {exc}") from None


def from_dict(data: dict[str, Any]) -> SavedPlan:
    """The plan of the file's JSON object; :class:`PlanError` naming what is wrong."""
    version = data.get(PLAN_KEY)
    if version != PLAN_VERSION or isinstance(version, bool):
        raise PlanError(f"plan version {version!r} is not one this timebridge reads "
                        f"(it reads version {PLAN_VERSION}); re-plan with this version")
    made_at = _datetime(_get(data, "made_at", str, "plan"), "made_at")
    routes = tuple(_route(r, i) for i, r in enumerate(_get(data, "routes", list, "plan")))
    return SavedPlan(made_at, _get(data, "made_by", str, "plan"), routes, version)


def _route(data: object, i: int) -> RoutePlan:
    where = f"routes[{i}]"
    data = _object(data, where)
    actions = tuple(_action(a, f"{where}.actions[{j}]")
                    for j, a in enumerate(_get(data, "actions", list, where)))
    return RoutePlan(_get(data, "route", str, where), _get(data, "fingerprint", str, where),
                     _date(_get(data, "from", str, where), f"{where}.from"),
                     _date(_get(data, "to", str, where), f"{where}.to"),
                     _get(data, "error", (str, None), where), actions)


ACTIONS = tuple(k.value for k in Kind if k is not Kind.UNCHANGED)


def _action(data: object, where: str) -> PlannedAction:
    data = _object(data, where)
    if _get(data, "action", str, where) not in ACTIONS:
        raise PlanError(f"{where}.action: must be one of {', '.join(ACTIONS)}")
    if ":" not in _get(data, "origin_key", str, where):
        raise PlanError(f"{where}.origin_key: must be SOURCE:ID")
    changes = _get(data, "changes", (dict, None), where)
    if changes is not None:
        if not all(isinstance(v, list) and len(v) == 2 for v in changes.values()):
            raise PlanError(f"{where}.changes: each change must be [old, new]")
        changes = {k: (v[0], v[1]) for k, v in changes.items()}
    return PlannedAction(
        _get(data, "action", str, where), _get(data, "status", str, where),
        _get(data, "origin", str, where), _get(data, "origin_key", str, where),
        _get(data, "reason", str, where),
        _record(_get(data, "source", (dict, None), where), f"{where}.source"),
        _record(_get(data, "copy", (dict, None), where), f"{where}.copy"),
        _holds(_get(data, "holds", (dict, None), where), f"{where}.holds"),
        changes, _get(data, "replace", bool, where), _get(data, "refused", bool, where),
        _get(data, "held", (str, None), where), _get(data, "error", (str, None), where))


def _record(data: dict | None, where: str) -> Record | None:
    if data is None:
        return None
    return Record(_get(data, "id", str, where), _get(data, "task", str, where),
                  _day(_get(data, "date", str, where), f"{where}.date"),
                  _get(data, "seconds", int, where),
                  _get(data, "version", (str, None), where), _get(data, "hash", str, where))


def _holds(data: dict | None, where: str) -> Holds | None:
    if data is None:
        return None
    start = _get(data, "start", (str, None), where)
    if start is not None:
        _datetime(start, f"{where}.start")
    return Holds(_get(data, "task", str, where),
                 _day(_get(data, "date", str, where), f"{where}.date"),
                 _get(data, "seconds", int, where), _get(data, "comment", str, where),
                 start, _get(data, "billable", (str, None), where))


def _object(data: object, where: str) -> dict:
    if not isinstance(data, dict):
        raise PlanError(f"{where}: must be an object")
    return data


def _get(data: dict, key: str, kinds: type | tuple, where: str) -> Any:
    """``data[key]``, of one of ``kinds`` (None in ``kinds``: null allowed); else PlanError."""
    if key not in data:
        raise PlanError(f"{where}.{key}: missing")
    value = data[key]
    wanted = kinds if isinstance(kinds, tuple) else (kinds,)
    types = tuple(k for k in wanted if k is not None)
    if value is None and None in wanted:
        return None
    # JSON has no separate bool: true is not a number of seconds here.
    if isinstance(value, bool) and bool not in types:
        raise PlanError(f"{where}.{key}: must not be true/false")
    if not isinstance(value, types):
        names = " or ".join("null" if k is None else k.__name__ for k in wanted)
        raise PlanError(f"{where}.{key}: must be {names}, not {type(value).__name__}")
    return value


def _date(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PlanError(f"{where}: not a date YYYY-MM-DD: {text!r}") from None


def _day(text: str, where: str) -> str:
    """A date kept as the text it was saved as, once checked."""
    _date(text, where)
    return text


def _datetime(text: str, where: str) -> datetime:
    try:
        made = datetime.fromisoformat(text)
    except ValueError:
        raise PlanError(f"{where}: not a time: {text!r}") from None
    if made.utcoffset() is None:
        raise PlanError(f"{where}: the time has no zone: {text!r}")
    return made.astimezone(UTC)
