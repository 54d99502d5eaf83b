"""One route's world for the planner tests, synced by the bridge's own pass.

A :class:`World` is a source and a target (:class:`memory_connector.MemoryConnector`,
the in-memory connector that keeps the connector contract) and a real
:class:`bridge.store.state.StateStore` (SQLite in memory). :meth:`World.sync` is
:func:`bridge.engine.sync.run_pass`: read both sides, ask the look-ups the planner wants, plan,
and apply through the real :class:`bridge.engine.execute.Executor`, which records intents and
links in the store. The planned actions are kept for the test to look at (through the
pass's ``select`` hook, which executes what it returns: here all of them).

:meth:`World.inputs` and :meth:`World.proofs` give what such a pass plans from, for
tests that call :func:`bridge.engine.plan.plan` on inputs they change: the inputs as a dry-run
pass gathers them, the proofs asked of the connectors with the pass's own functions.
"""

from __future__ import annotations

import dataclasses
from datetime import date

from hypothesis import strategies as st
from memory_connector import MemoryConnector

from bridge.engine.actions import Action, Kind, Proofs, RouteRules
from bridge.engine.plan import Inputs, plan, proofs_needed
from bridge.engine.reads import prove_sources, prove_targets
from bridge.engine.sync import PassSpec, RouteResult, run_pass
from bridge.store.schema import Link
from bridge.store.state import StateStore
from connectors.base import Capabilities, DateWindow, EntryDraft
from connectors.model import CanonicalEntry, Origin, normalise_comment
from connectors.units import fit_seconds

WINDOW = DateWindow(date(2026, 11, 1), date(2026, 11, 30))
CAPS = Capabilities(updatable=frozenset({"seconds", "comment", "work_date"}),
                    granularity_seconds=60, comment_limit=100)
ROUTE = "r"

# Random worlds for the properties: records as (day, seconds, source task, comment).
days = st.dates(date(2026, 10, 25), date(2026, 12, 5))
records = st.lists(st.tuples(days, st.integers(1, 40_000), st.sampled_from(["1", "2", "99"]),
                             st.text(max_size=120)), max_size=25)


def minute_fit(draft: EntryDraft) -> EntryDraft:
    """A Kaiten-like target: whole minutes, comments of at most 100 characters."""
    return draft.model_copy(update={"seconds": fit_seconds(draft.seconds, 60),
                                    "comment": normalise_comment(draft.comment)[:100]})


def rules(**kw) -> RouteRules:
    """Route ``r`` from Kaiten-like ``kaiten`` to a minute-granular target."""
    base = dict(name=ROUTE, source="kaiten", source_ref="KAITEN", window=WINDOW,
                fit=minute_fit, capabilities=CAPS, default_task="T-1", tasks={"99": "T-99"})
    return RouteRules(**{**base, **kw})


@dataclasses.dataclass
class Synced:
    """One pass: the actions it planned (executed unless held or refused), its plan's
    brake, and the pass's result as the reports get it."""

    actions: list[Action]
    brake: str | None
    result: RouteResult


class World:
    """One route: a source, a target and a state store; :meth:`sync` runs the real pass."""

    def __init__(self, route: RouteRules) -> None:
        self.rules = route
        self.source_connector = MemoryConnector("kaiten", "KAITEN")
        caps = route.capabilities
        self.target_connector = MemoryConnector(
            "tracker", "TRACKER", granularity=caps.granularity_seconds,
            comment_limit=caps.comment_limit, updatable=caps.updatable, id_prefix="t")
        self.store = StateStore("sqlite://")

    # --- the two systems, as dicts of records by id (a test may edit them by hand) ---------

    @property
    def source(self) -> dict[str, CanonicalEntry]:
        return self.source_connector.records

    @source.setter
    def source(self, records: dict[str, CanonicalEntry]) -> None:
        self.source_connector.records = records

    @property
    def target(self) -> dict[str, CanonicalEntry]:
        return self.target_connector.records

    @property
    def links(self) -> dict[str, Link]:
        """The route's links as the store holds them now (a snapshot)."""
        return self.store.links(ROUTE)

    def add_source(self, day: date, seconds: int, task: str = "1", comment: str = "") -> str:
        return self.source_connector.add(task=task, work_date=day, seconds=seconds,
                                         comment=comment)

    def add_target(self, *, origin: Origin | None, task: str, day: date, seconds: int,
                   comment: str = "") -> str:
        return self.target_connector.add(task=task, work_date=day, seconds=seconds,
                                         comment=comment, origin=origin)

    def edit(self, records: dict[str, CanonicalEntry], rid: str, **changes) -> None:
        """A person's edit of ``rid`` in ``records`` (``w.source`` or ``w.target``)."""
        side = self.source_connector if records is self.source else self.target_connector
        side.edit(rid, **changes)

    def lose_store(self) -> None:
        """The state store is lost: the next pass starts from an empty one."""
        self.store.close()
        self.store = StateStore("sqlite://")

    def close(self) -> None:
        self.store.close()

    def copies_of(self, rid: str) -> list[CanonicalEntry]:
        return self.target_connector.copies_of(Origin(source="KAITEN", record_id=rid))

    # --- passes ---------------------------------------------------------------------------

    def _pass(self, *, dry_run: bool, source_complete: bool) -> tuple[RouteResult, list]:
        seen: list = []

        def keep(rules: RouteRules, inputs: Inputs, proofs: Proofs,
                 actions: list[Action]) -> list[Action]:
            seen.append((inputs, proofs, actions))
            return actions

        if not source_complete:   # the source read fails after its last record
            self.source_connector.fail_reads_after = sum(
                e.work_date in self.rules.window for e in self.source.values())
        try:
            result = run_pass(PassSpec(self.source_connector, self.target_connector,
                                       self.rules, select=keep), self.store, dry_run=dry_run)
        finally:
            self.source_connector.fail_reads_after = None
        assert len(seen) == 1, "the window is one chunk: one plan per pass"
        return result, seen[0]

    def sync(self, *, source_complete: bool = True) -> Synced:
        """One pass of the bridge; ``source_complete`` False: the source read fails at its end."""
        result, (inputs, proofs, actions) = self._pass(dry_run=False,
                                                       source_complete=source_complete)
        failed = [(o.kind.value, o.error) for o in result.outcomes
                  if o.status == "failed" and not o.action.refused]  # refused: the brake
        assert not failed, f"a write failed in a pass without faults: {failed}"
        assert not self.target_connector.violations, self.target_connector.violations
        # plan is pure (a property below): planned again, it says the pass's brake, which
        # the pass reports among its errors.
        brake = plan(self.rules, inputs, proofs).brake
        assert brake is None or brake in (result.error or ""), result.error
        return Synced(actions, brake, result)

    def inputs(self, *, source_complete: bool = True) -> Inputs:
        """What a pass now plans from, as a dry-run pass gathers it (nothing written)."""
        _, (inputs, _, _) = self._pass(dry_run=True, source_complete=source_complete)
        return inputs

    def proofs(self, inputs: Inputs) -> Proofs:
        """The look-ups the planner asks for ``inputs``, made as a pass makes them."""
        wanted_source, wanted_target = proofs_needed(self.rules, inputs)
        copies, replaced = prove_targets(self.target_connector, wanted_target)
        return Proofs(prove_sources(self.source_connector, wanted_source), copies, replaced)


def writes(result: Synced | object) -> list[Action]:
    """The creates, updates and deletes a plan makes (not those the brake refused)."""
    return [a for a in result.actions  # type: ignore[attr-defined]
            if a.kind in (Kind.CREATE, Kind.UPDATE, Kind.DELETE) and not a.refused]
