"""From a loaded config to live parts: connectors (one per name, shared by routes) and rules."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

from bridge.config.loader import LoadedConfig
from bridge.config.models import RouteConfig
from bridge.engine.actions import RouteRules
from bridge.engine.closed import effective
from bridge.store.rate_budget import PostgresBudgets, shared_budgets
from bridge.store.state import StateStore
from bridge.vocab import OnConflict
from connectors.base import Connector, DateWindow
from connectors.registry import build_connector, connector_type


class Runtime:
    """Builds each connector once, lazily, so routes on one API share its client and budget."""

    def __init__(self, loaded: LoadedConfig, **connector_options: Any) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self._options = connector_options
        self._connectors: dict[str, Connector] = {}
        self._lock = threading.Lock()  # daemon routes build connectors from several threads
        self._budgets: PostgresBudgets | None = None

    def share_rate_budgets(self, store: StateStore) -> None:
        """On a PostgreSQL store, pace each API account with every process on the store
        (replicas, a one-shot sync beside a daemon): its budget is kept in the store.

        Call before the first connector is built. An SQLite store has one process.
        """
        budgets = shared_budgets(store.url)
        if budgets is not None:
            self._budgets = budgets
            self._options["rate_budgets"] = budgets

    def connector(self, name: str) -> Connector:
        """The connector ``name``, built on first use and shared from then on."""
        with self._lock:
            if name not in self._connectors:
                self._connectors[name] = build_connector(
                    name, self.config.connectors[name], self.loaded.credential(name),
                    **self._options)
            return self._connectors[name]

    def routes(self, names: list[str] | None = None) -> list[RouteConfig]:
        """The routes to run, in config order; unknown names raise KeyError."""
        if not names:
            return list(self.config.routes)
        for name in names:
            self.config.route(name)
        return [r for r in self.config.routes if r.name in set(names)]

    def window(self, route: RouteConfig, today: date) -> DateWindow:
        return DateWindow(today - timedelta(days=route.window_days), today)

    def rules(self, route: RouteConfig, window: DateWindow, *,
              allow_deletes: bool = False) -> RouteRules:
        target = self.connector(route.target)
        return RouteRules(
            name=route.name, source=route.source,
            source_ref=self.config.connectors[route.source].reference_source,
            window=window, fit=target.fit, capabilities=target.capabilities,
            tasks={str(k): str(v) for k, v in route.tasks.items()},
            default_task=None if route.default_task is None else str(route.default_task),
            description=route.description, propagate_deletes=route.propagate_deletes,
            on_conflict=OnConflict(route.on_conflict), max_delete_share=route.max_delete_share,
            allow_deletes=allow_deletes, billable=route.billable,
            known_refs=frozenset(c.reference_source for c in self.config.connectors.values()),
            write_concurrency=self.config.connectors[route.target].max_concurrent_writes,
            closed_through=effective(route.closed_through,
                                     self.config.connectors[route.target].closed_through))

    def source_filters(self, route: RouteConfig) -> dict[str, Any]:
        return {k: v for k, v in route.filter.items() if v}

    def target_filters(self, route: RouteConfig) -> dict[str, Any]:
        """Narrow the target read to the bridge's copies where the API can filter for them.

        Each type says how (``ConnectorType.copies_filter``): contracting by the copies'
        reference; Tracker and Kaiten by their author (the bridge's own token's user), so
        a large organisation is never read whole, and a token that may not read other
        people's records still reads its own.
        """
        target = connector_type(self.config.connectors[route.target].type)
        return target.copies_filter(self.config.connectors[route.source].reference_source)

    def close(self) -> None:
        with self._lock:
            for connector in self._connectors.values():
                connector.close()
            self._connectors.clear()
            if self._budgets is not None:
                self._budgets.close()
