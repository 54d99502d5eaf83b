"""Labels for a report: which target each route writes to, and names for ids.

Hours are totalled per target, never across routes that carry the same hours (an hour
logged in Kaiten travels on kaiten->billing and on kaiten->tracker): :class:`Labels`
says which target a route writes to, from the config.

Names (card titles, issue summaries, project and user names) are read only for a
``report`` in a format people read, after its passes, through each connector's
``display_names`` (see :mod:`connectors.display_names`): one request per distinct id
at most, each id once per run; a name that cannot be read leaves the id shown, and
no look-up can fail the report.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.config.models import RouteConfig
from bridge.engine.sync import RouteResult

log = logging.getLogger("timebridge.names")


@dataclass
class Labels:
    """Route -> (source, target) connector names, and names read for ids.

    Without a route's connectors (a report made from results alone), that route is
    its own group: totals are then per route.
    """

    connectors: dict[str, tuple[str, str]] = field(default_factory=dict)
    names: dict[tuple[str, str, str], str] = field(default_factory=dict)

    @classmethod
    def of(cls, routes: Sequence[RouteConfig]) -> Labels:
        """The labels the config gives, no names read."""
        return cls({r.name: (r.source, r.target) for r in routes})

    @property
    def grouping(self) -> str:
        """``target`` when every total is per target, else ``route``."""
        return "target" if self.connectors else "route"

    def target(self, route: str) -> str:
        """The group of ``route``'s hours: its target connector (or the route itself)."""
        return self.connectors[route][1] if route in self.connectors else route

    def routes_into(self, group: str, routes: Sequence[str]) -> list[str]:
        return [r for r in routes if self.target(r) == group]

    def task(self, route: str, task: str | None) -> str:
        """The target task as people read it: ``name (id)``, or the id alone."""
        if task is None:
            return "(no task)"
        return self._named(self.connectors.get(route, ("", ""))[1], "task", task)

    def person(self, route: str, author: str | None) -> str:
        """A source record's author as people read it: ``name (id)``, or the id alone."""
        if not author:
            return "unknown"
        return self._named(self.connectors.get(route, ("", ""))[0], "user", author)

    def _named(self, connector: str, kind: str, value: str) -> str:
        name = self.names.get((connector, kind, value))
        return f"{name} ({value})" if name and name != value else value


def wanted(labels: Labels, results: Sequence[RouteResult]) -> dict[tuple[str, str], list[str]]:
    """(connector, kind) -> the distinct ids the report shows, in order of appearance."""
    ids: dict[tuple[str, str], dict[str, None]] = defaultdict(dict)
    for result in results:
        if result.route not in labels.connectors:
            continue
        source, target = labels.connectors[result.route]
        for outcome in result.listed:
            a = outcome.action
            task = a.task if a.task is not None else (outcome.copy.task if outcome.copy else None)
            if task is not None:
                ids[(target, "task")][str(task)] = None
            if a.source is not None and a.source.author:
                ids[(source, "user")][a.source.author] = None
    return {key: list(found) for key, found in ids.items()}


def read_names(labels: Labels, results: Sequence[RouteResult],
               connector: Callable[[str], Any]) -> None:
    """Fill ``labels.names`` for the ids of ``results``; ``connector(name)`` gives a
    connector. Never raises: a connector without names, or one that fails, keeps ids."""
    for (name, kind), ids in wanted(labels, results).items():
        try:
            lookup = getattr(connector(name), "display_names", None)
            found = lookup(kind, ids) if lookup is not None else {}
        except Exception as error:   # a courtesy: never the report's failure
            log.info("%s: %s names not read (ids are shown instead): %s", name, kind, error)
            continue
        for value, shown in found.items():
            labels.names[(name, kind, value)] = shown
