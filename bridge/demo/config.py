"""Writing the demo world's config: connectors pointing at the emulators, and four routes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.demo.seed import (
    CONTRACTING_TOKEN,
    KAITEN_TOKEN,
    TENANT,
    TIMEZONE,
    TRACKER_ORG,
    TRACKER_TOKEN,
    WINDOW_DAYS,
    WORKDAY_HOURS,
)

if TYPE_CHECKING:
    from connectors.contracting.emulator import ContractingEmulator
    from connectors.emulator import EmulatorServer
    from connectors.kaiten.emulator import KaitenEmulator
    from connectors.tracker.emulator import TrackerEmulator


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are valid TOML basic-string escapes
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _key(key: object) -> str:
    text = str(key)
    # Ids as keys are quoted (like config.example.toml's "1001"); plain words are bare.
    bare = text.replace("_", "").replace("-", "").isalpha() and text.isascii()
    return text if bare else json.dumps(text)


def _table(lines: list[str], header: str, values: dict[str, Any],
           notes: dict[str, str] | None = None) -> None:
    lines.append(header)
    for key, value in values.items():
        if value is not None:
            note = (notes or {}).get(str(key))
            lines.append(f"{_key(key)} = {_toml(value)}" + (f"  # {note}" if note else ""))
    lines.append("")


class DemoConfigWriter:
    """Writes the config of a :class:`bridge.demo.world.DemoWorld` (a mixin of it)."""

    # Set by DemoWorld.__init__ and its seeding (declared here for the type checker).
    folder: Path
    config_path: Path
    state_url: str
    kaiten_rate: float
    kaiten: KaitenEmulator
    tracker: TrackerEmulator
    contracting: ContractingEmulator
    kaiten_server: EmulatorServer
    tracker_server: EmulatorServer
    contracting_server: EmulatorServer
    routes: list[dict[str, Any]]
    cards: dict[str, int]
    spaces: dict[str, int]
    issues: dict[str, str]
    projects: dict[str, str]
    billable: str

    def default_routes(self) -> list[dict[str, Any]]:
        """The demo's four routes, as config tables (see the module docstring)."""
        cards, projects = self.cards, self.projects
        return [
            {"name": "kaiten-billing", "source": "kaiten", "target": "billing",
             "schedule": "*/15 * * * *", "window_days": WINDOW_DAYS,
             "description": "{comment}", "default_task": projects["retainer"],
             "billable": self.billable,
             "filter": {"space_ids": [self.spaces["engineering"], self.spaces["design"]]},
             "tasks": {str(cards["login"]): projects["website"],
                       str(cards["onboarding"]): projects["website"],
                       str(cards["export"]): projects["mobile"],
                       str(cards["incident"]): projects["retainer"]}},
            {"name": "tracker-billing", "source": "tracker", "target": "billing",
             "schedule": "every 10m", "window_days": WINDOW_DAYS,
             "description": "{task}: {comment}", "default_task": projects["retainer"],
             "billable": self.billable,
             "tasks": {"WEB-101": projects["website"], "WEB-102": projects["website"],
                       "API-7": projects["mobile"]}},
            {"name": "kaiten-tracker", "source": "kaiten", "target": "tracker",
             "schedule": "every 10m", "window_days": WINDOW_DAYS,
             "description": "{comment}", "default_task": "INT-1",
             "tasks": {str(cards["login"]): "WEB-101", str(cards["export"]): "API-7",
                       str(cards["incident"]): "OPS-3"}},
            {"name": "tracker-kaiten", "source": "tracker", "target": "kaiten",
             "schedule": "every 10m", "window_days": WINDOW_DAYS,
             "description": "{comment}", "default_task": cards["tracker_inbox"],
             "tasks": {"WEB-101": cards["login"], "WEB-102": cards["login"],
                       "API-7": cards["export"], "OPS-3": cards["incident"]}},
        ]

    def config_text(self, *, routes: list[dict[str, Any]] | None = None,
                    state_url: str | None = None, kaiten_rps: float | None = None) -> str:
        """The TOML of a config for this world (``routes`` default to :attr:`routes`)."""
        lines = ["# timebridge demo: the bridge against local emulators of the three APIs.",
                 "# Written by `timebridge demo`; the emulators stop when the demo exits.", ""]
        _table(lines, "[state]", {"url": state_url or self.state_url})
        _table(lines, "[connectors.kaiten]", {
            "type": "kaiten", "base_url": self.kaiten_server.base_url, "token": KAITEN_TOKEN,
            "role_id": -1, "rounding": "nearest",
            "requests_per_second": float(kaiten_rps or self.kaiten_rate),
            "reference_source": "KAITEN"})
        _table(lines, "[connectors.tracker]", {
            "type": "tracker", "base_url": self.tracker_server.base_url, "token": TRACKER_TOKEN,
            "auth_scheme": "OAuth", "org_id": TRACKER_ORG, "timezone": TIMEZONE,
            "workday_hours": WORKDAY_HOURS, "day_start": "09:00", "created_lookback_days": 90,
            "reference_source": "YANDEX_TRACKER"})
        _table(lines, "[connectors.billing]", {
            "type": "contracting", "base_url": self.contracting_server.base_url,
            "token": CONTRACTING_TOKEN, "tenant_id": TENANT})
        for route in self.routes if routes is None else routes:
            scalars = {k: v for k, v in route.items() if k not in ("filter", "tasks")}
            _table(lines, "[[routes]]", scalars,
                   {"default_task": self._name(route.get("default_task")),
                    "billable": "open for new entries" if route.get("billable") else ""})
            if route.get("filter"):
                _table(lines, "[routes.filter]", route["filter"])
            if route.get("tasks"):
                _table(lines, "[routes.tasks]", route["tasks"],
                       {k: f"{self._name(k)} -> {self._name(v)}"
                        for k, v in route["tasks"].items()})
        return "\n".join(lines)

    def _name(self, task: object) -> str:
        """What a card id, issue key or project id is called (for comments in the config)."""
        text = str(task)
        if text.isdigit() and int(text) in self.kaiten.cards:
            return f"card {self.kaiten.cards[int(text)]['title']!r}"
        if text in self.issues:
            return f"{text} {self.tracker._issues[text]['display']!r}"
        if text in self.contracting.projects:
            return f"project {self.contracting.projects[text]['name']!r}"
        return ""

    def write_config(self, path: Path | str | None = None, **options: Any) -> Path:
        """Write :meth:`config_text` (``options`` go to it) to ``path`` (default
        :attr:`config_path`); returns the path."""
        target = Path(path) if path is not None else self.config_path
        if not target.is_absolute():
            target = self.folder / target
        target.write_text(self.config_text(**options), encoding="utf-8")
        return target
