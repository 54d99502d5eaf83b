"""The configuration as typed models: TOML in, validated config out.

Connectors are a discriminated union on ``type`` of the models the registry names
(:data:`connectors.registry.CONNECTOR_TYPES`); every model forbids unknown
keys, because a typo must never be silently ignored. Defaults are the ones
``INTERFACE.md`` shows. Loading a file (paths, secrets, one-line errors) lives in
:mod:`bridge.config.loader`; this module only says what a valid config is.
"""

from __future__ import annotations

import operator
import re
import string
from collections import defaultdict
from datetime import timedelta
from functools import reduce
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from bridge.config.daemon import DaemonConfig
from connectors.config import ClosedThrough, ConnectorBase, Strict, checked
from connectors.registry import CONNECTOR_TYPES, connector_type

DESCRIPTION_FIELDS = {"comment", "author", "task", "date", "origin"}
# What a description template is formatted with: every field is a string (decide._draft).
_SAMPLE_FIELDS = {"comment": "Fixed login", "author": "veikus", "task": "TEST-324",
                  "date": "2026-11-20", "origin": "kaiten:123"}
_INTERVAL = re.compile(r"^every\s+(\d+)\s*(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_INTERVAL_DAYS = 366          # "every N": at most a year between passes
MAX_WINDOW_DAYS = 3660           # ten years of work dates in one pass
MAX_TEMPLATE_WIDTH = 10_000      # a description's width or precision (Kaiten keeps 4096)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_base_url(url: str) -> str:
    """``url`` as an account key: scheme and host lower-cased, the default port dropped, no
    trailing slash (so ``HTTPS://Example.COM:443/`` and ``https://example.com`` are one)."""
    parsed = urlsplit(url.strip())
    scheme = parsed.scheme.lower()
    host = (parsed.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    try:
        port = parsed.port
    except ValueError:
        port = None
    # Any user:password@ is left out: it names no other account, and must not be shown.
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    path = parsed.path.rstrip("/")
    query = f"?{parsed.query}" if parsed.query else ""
    return f"{scheme}://{netloc}{path}{query}"


def account_key(conn: ConnectorBase) -> tuple[str, ...]:
    """What says two connectors reach one API account: the type, the host, and what the
    type's config names inside it (:meth:`ConnectorBase.account`: Tracker's organisation,
    the contracting tenant)."""
    return (conn.type, normalise_base_url(conn.base_url), *conn.account())


def describe_account(conn: ConnectorBase) -> str:
    """The account of :func:`account_key` in words: ``url, org_id '7654321'``."""
    _, url, *labelled = account_key(conn)
    return ", ".join([url, *(f"{name} {value!r}" for name, value in
                             zip(labelled[::2], labelled[1::2], strict=True))])


class StateConfig(Strict):
    url: str = "sqlite:///timebridge.sqlite"


if TYPE_CHECKING:
    # The union is built at run time from the registry; a type checker sees the base
    # every member extends.
    ConnectorConfig = ConnectorBase
else:
    # One model per registered type, told apart by ``type`` (connectors.registry).
    ConnectorConfig = Annotated[reduce(operator.or_, (t.config_model for t in
                                                      CONNECTOR_TYPES.values())),
                                Field(discriminator="type")]

TaskId = StrictStr | StrictInt


class Schedule(BaseModel):
    """A parsed ``schedule``: a crontab, or a fixed interval (``every 30s``)."""

    model_config = ConfigDict(frozen=True)

    text: str
    interval: timedelta | None = None

    @property
    def crontab(self) -> str | None:
        return None if self.interval else self.text


def parse_schedule(text: str) -> Schedule:
    """Validate a crontab (5 fields) or ``every N[s|m|h|d]``; ValueError with the reason."""
    text = text.strip()
    match = _INTERVAL.fullmatch(text)
    if match:
        seconds = int(match[1]) * _UNIT_SECONDS[match[2]]
        if seconds <= 0:
            raise ValueError(f"interval must be positive (got {text!r})")
        if seconds > MAX_INTERVAL_DAYS * 86400:
            raise ValueError(f"interval must be at most {MAX_INTERVAL_DAYS} days "
                             f"(got {text!r})")
        return Schedule(text=text, interval=timedelta(seconds=seconds))
    try:
        CronTrigger.from_crontab(text)
    except ValueError as exc:
        raise ValueError(f"not a crontab or 'every N[s|m|h|d]': {text!r} ({exc})") from None
    return Schedule(text=text)


class RouteConfig(Strict):
    name: str = Field(min_length=1)
    source: str
    target: str
    schedule: Annotated[str, checked(parse_schedule)] = "*/15 * * * *"
    window_days: int = Field(default=30, ge=0)
    # A longer window (a backfill) runs as chunks of this many days; 0: never chunked.
    chunk_days: int = Field(default=31, ge=0, le=MAX_WINDOW_DAYS)
    propagate_deletes: bool = True
    max_delete_share: float = Field(default=0.2, ge=0, le=1)
    on_conflict: Literal["report", "source-wins"] = "report"
    description: str = "{comment}"
    default_task: TaskId | None = None
    billable: str | None = None
    # No copy dated on or before it is written; the target connector's may be later.
    closed_through: ClosedThrough = None
    filter: dict[str, Any] = {}
    tasks: dict[str, TaskId] = {}

    @field_validator("window_days")
    @classmethod
    def _window(cls, value: int) -> int:
        if value > MAX_WINDOW_DAYS:
            raise ValueError(f"at most {MAX_WINDOW_DAYS} days (ten years) (got {value}); "
                             "use backfill --from/--to for older work dates")
        return value

    @field_validator("description")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            parsed = [(f, spec) for _, f, spec, _ in string.Formatter().parse(value)
                      if f is not None]
        except ValueError as exc:
            raise ValueError(f"broken template {value!r}: {exc}") from None
        names = {f for f, _ in parsed}
        for field, spec in parsed:
            if spec and "{" in spec:
                raise ValueError(f"the format of {{{field}}} holds a field ({spec!r}); a "
                                 "record's own text must not decide how it is formatted")
            if any(int(n) > MAX_TEMPLATE_WIDTH for n in re.findall(r"\d+", spec or "")):
                raise ValueError(f"the format of {{{field}}} ({spec!r}) asks for more than "
                                 f"{MAX_TEMPLATE_WIDTH} characters")
        unknown = names - DESCRIPTION_FIELDS
        if unknown:
            raise ValueError(f"unknown field {{{sorted(unknown)[0]}}}; use "
                             + " ".join(f"{{{f}}}" for f in sorted(DESCRIPTION_FIELDS)))
        try:  # a format spec or conversion that fails on real values fails here instead
            value.format_map(_SAMPLE_FIELDS)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
                MemoryError) as exc:
            raise ValueError(f"template {value!r} cannot be filled ({exc}); every field is "
                             "text: use {comment}, or a text format such as {comment:.200}"
                             ) from None
        return value

    @property
    def parsed_schedule(self) -> Schedule:
        return parse_schedule(self.schedule)


class Config(Strict):
    """The whole file. Cross-references (routes -> connectors) are checked here."""

    state: StateConfig = StateConfig()
    connectors: dict[str, ConnectorConfig] = Field(min_length=1)
    routes: list[RouteConfig] = []
    daemon: DaemonConfig | None = None  # optional: without it the daemon opens no port

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        refs: dict[str, str] = {}
        for name, conn in self.connectors.items():
            if conn.reference_source in refs:
                raise ValueError(f"connectors.{name}.reference_source: {conn.reference_source!r} "
                                 f"is already used by connectors.{refs[conn.reference_source]}")
            refs[conn.reference_source] = name
        self._check_one_connector_per_account()
        seen: set[str] = set()
        for i, route in enumerate(self.routes):
            where = f"routes[{i}] ({route.name})"
            if route.name in seen:
                raise ValueError(f"{where}.name: route name {route.name!r} is used twice")
            seen.add(route.name)
            for end in ("source", "target"):
                if getattr(route, end) not in self.connectors:
                    known = ", ".join(sorted(self.connectors))
                    raise ValueError(f"{where}.{end}: no connector named "
                                     f"{getattr(route, end)!r} (known: {known})")
            if route.source == route.target:
                raise ValueError(f"{where}: source and target are the same connector")
            self._check_route_values(where, route)
        return self

    def _check_one_connector_per_account(self) -> None:
        """Two names for one API account would let routes run both ways over it and turn
        one logged hour into several: one account, one connector."""
        accounts: dict[tuple[str, ...], str] = {}
        for name, conn in self.connectors.items():
            account = account_key(conn)
            if account in accounts:
                other = accounts[account]
                raise ValueError(
                    f"connectors.{name}: the same {conn.type} account as connectors.{other} "
                    f"({describe_account(conn)}); one account, one connector: routes over "
                    f"two names for one API copy the same hours again; keep one of "
                    f"{other!r} and {name!r} and point the other's routes at it")
            accounts[account] = name

    def _check_route_values(self, where: str, route: RouteConfig) -> None:
        source_type = self.connectors[route.source].type
        target_type = self.connectors[route.target].type
        target = connector_type(target_type)
        model = connector_type(source_type).filter_model
        unknown = set(route.filter) - set(model.model_fields)
        if unknown:
            raise ValueError(f"{where}.filter.{sorted(unknown)[0]}: not a filter of a "
                             f"{source_type} source (known: {', '.join(model.model_fields)})")
        try:
            model.model_validate(route.filter)
        except ValueError as exc:
            first = exc.errors()[0] if hasattr(exc, "errors") else {"loc": (), "msg": str(exc)}
            key = ".".join(str(p) for p in first["loc"][:1])
            raise ValueError(f"{where}.filter.{key}: {first['msg']}") from None
        if not target.integer_tasks:
            for key, value in [("default_task", route.default_task), *route.tasks.items()]:
                if isinstance(value, int):
                    label = "default_task" if key == "default_task" else f"tasks.{key}"
                    raise ValueError(f"{where}.{label}: must be a string for a "
                                     f"{target_type} target (got {value})")
        if route.billable is not None and not target.billable:
            kinds = " or ".join(t.name for t in CONNECTOR_TYPES.values() if t.billable)
            raise ValueError(f"{where}.billable: only for {kinds} targets")

    def route(self, name: str) -> RouteConfig:
        for route in self.routes:
            if route.name == name:
                return route
        raise KeyError(name)

    def chain_warnings(self) -> list[str]:
        """Routes whose copies land in a system that another route reads from.

        The bridge never reads its own copies as sources (that would bill twice),
        so A -> B plus B -> C does not carry A's hours to C; say so.
        """
        # Linear in routes plus warnings: an index of the direct (source, target) pairs,
        # and of the routes by pair; each distinct pair's list of chained routes is built
        # once, in file order, and reused by every route of that pair.
        by_pair: dict[tuple[str, str], list[int]] = defaultdict(list)
        for index, route in enumerate(self.routes):
            by_pair[(route.source, route.target)].append(index)
        targets_of: dict[str, list[str]] = defaultdict(list)
        for source, target in by_pair:
            targets_of[source].append(target)
        chained: dict[tuple[str, str], list[int]] = {}
        warnings = []
        for first in self.routes:
            pair = (first.source, first.target)
            if pair not in chained:
                found: list[int] = []
                for target in targets_of.get(first.target, ()):
                    if target != first.source and (first.source, target) not in by_pair:
                        found.extend(by_pair[(first.target, target)])
                chained[pair] = sorted(found)
            warnings += [chain_warning(first, self.routes[i]) for i in chained[pair]]
        return warnings


def chain_warning(first: RouteConfig, second: RouteConfig) -> str:
    """The warning for ``first`` (A -> B) chained with ``second`` (B -> C)."""
    return (f"routes {first.name!r} and {second.name!r} chain "
            f"{first.source} -> {first.target} -> {second.target}: copies made "
            f"by {first.name!r} are not carried on, so {first.source} hours do "
            f"not reach {second.target}; add a route {first.source} -> "
            f"{second.target} to bill them")
