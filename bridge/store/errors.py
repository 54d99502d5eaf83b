"""The state store's errors, shared by the store and its parts (runs, conflicts, events)."""

from __future__ import annotations


class StateError(Exception):
    """The state store cannot be opened, migrated or used; ``str()`` is one line to print."""


class RouteHeld(StateError):
    """Another run (another process, or another store in this one) holds the route."""

    def __init__(self, route: str) -> None:
        self.route = route
        super().__init__(f"route {route} is held by another run")
