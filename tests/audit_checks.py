"""A check of the audit trail shared by end-to-end tests: every link is explained by
its latest event (see :mod:`bridge.store.events`)."""

from __future__ import annotations

from e2e_helpers import ROUTES

from bridge.demo.world import DemoWorld
from bridge.store.state import StateStore

LINKING = ("create", "update", "adopt", "confirm", "conflict", "resolve")


def assert_links_explained(world: DemoWorld) -> None:
    """Every link is what its latest event left: a linked copy was linked by an event
    naming that copy; an intent replacing a copy follows the event that linked the copy;
    any other intent follows no event or one that removed the link. And an event that
    removed a link is followed by no linked row."""
    with StateStore(world.resolved_state_url) as store:
        for route in ROUTES:
            links = store.links(route)
            last = {e.origin: e for e in store.events(routes=[route])}
            for origin, link in links.items():
                event = last.get(origin)
                if link.status == "linked":
                    assert event is not None and event.action in LINKING, (route, origin)
                    assert event.copy_id == link.target_record_id, (route, origin, event)
                elif link.replaces_record_id is not None:
                    assert event is not None and event.copy_id == link.replaces_record_id
                else:
                    assert event is None or event.action in ("delete", "forget"), event
            for origin, event in last.items():
                if event.action in ("delete", "forget"):
                    assert origin not in links or links[origin].status == "intent"
