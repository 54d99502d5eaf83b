"""The configuration as typed models: TOML in, validated config out.

Connectors are a discriminated union on ``type``; every model forbids unknown
keys, because a typo must never be silently ignored. Defaults are the ones
``INTERFACE.md`` shows. Loading a file (paths, secrets, one-line errors) lives in
:mod:`bridge.config_loader`; this module only says what a valid config is.
"""

from __future__ import annotations

import re
import string
from datetime import timedelta
from typing import Annotated, Any, Literal

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

from connectors.config import Strict
from connectors.contracting.config import ContractingConfig, ContractingFilter
from connectors.kaiten.config import KaitenConfig, KaitenFilter
from connectors.tracker.config import TrackerConfig, TrackerFilter

DESCRIPTION_FIELDS = {"comment", "author", "task", "date", "origin"}
_INTERVAL = re.compile(r"^every\s+(\d+)\s*(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class StateConfig(Strict):
    url: str = "sqlite:///timebridge.sqlite"


ConnectorConfig = Annotated[
    KaitenConfig | TrackerConfig | ContractingConfig, Field(discriminator="type")
]


FILTER_MODELS: dict[str, type[Strict]] = {
    "kaiten": KaitenFilter, "tracker": TrackerFilter, "contracting": ContractingFilter,
}

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
    schedule: str = "*/15 * * * *"
    window_days: int = Field(default=30, ge=0)
    propagate_deletes: bool = True
    max_delete_share: float = Field(default=0.2, ge=0, le=1)
    on_conflict: Literal["report", "source-wins"] = "report"
    description: str = "{comment}"
    default_task: TaskId | None = None
    billable: str | None = None
    filter: dict[str, Any] = {}
    tasks: dict[str, TaskId] = {}

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @field_validator("description")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        except ValueError as exc:
            raise ValueError(f"broken template {value!r}: {exc}") from None
        unknown = names - DESCRIPTION_FIELDS
        if unknown:
            raise ValueError(f"unknown field {{{sorted(unknown)[0]}}}; use "
                             + " ".join(f"{{{f}}}" for f in sorted(DESCRIPTION_FIELDS)))
        return value

    @property
    def parsed_schedule(self) -> Schedule:
        return parse_schedule(self.schedule)


class Config(Strict):
    """The whole file. Cross-references (routes -> connectors) are checked here."""

    state: StateConfig = StateConfig()
    connectors: dict[str, ConnectorConfig] = Field(min_length=1)
    routes: list[RouteConfig] = []

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        refs: dict[str, str] = {}
        for name, conn in self.connectors.items():
            if conn.reference_source in refs:
                raise ValueError(f"connectors.{name}.reference_source: {conn.reference_source!r} "
                                 f"is already used by connectors.{refs[conn.reference_source]}")
            refs[conn.reference_source] = name
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

    def _check_route_values(self, where: str, route: RouteConfig) -> None:
        source_type = self.connectors[route.source].type
        target_type = self.connectors[route.target].type
        model = FILTER_MODELS[source_type]
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
        if target_type != "kaiten":
            for key, value in [("default_task", route.default_task), *route.tasks.items()]:
                if isinstance(value, int):
                    label = "default_task" if key == "default_task" else f"tasks.{key}"
                    raise ValueError(f"{where}.{label}: must be a string for a "
                                     f"{target_type} target (got {value})")
        if route.billable is not None and target_type != "contracting":
            raise ValueError(f"{where}.billable: only for contracting targets")

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
        warnings = []
        for first in self.routes:
            for second in self.routes:
                if first.target == second.source and second.target != first.source:
                    direct = any(r.source == first.source and r.target == second.target
                                 for r in self.routes)
                    if not direct:
                        warnings.append(
                            f"routes {first.name!r} and {second.name!r} chain "
                            f"{first.source} -> {first.target} -> {second.target}: copies made "
                            f"by {first.name!r} are not carried on, so {first.source} hours do "
                            f"not reach {second.target}; add a route {first.source} -> "
                            f"{second.target} to bill them")
        return warnings
