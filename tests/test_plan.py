"""The planner: scenarios, and hypothesis properties over random worlds.

Each ``World`` (``support.world``) is one route synced by the bridge's own pass: in-memory
connectors, the real executor and a real state store. Properties are checked over many
syncs: convergence, exactly one copy per origin, foreign records never touched, no
deletes without proof, and the delete brake. Tests that change what the planner sees
call :func:`bridge.engine.plan.plan` on the world's inputs themselves.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from support.world import ROUTE, WINDOW, World, days, minute_fit, records, rules, writes

from bridge.engine.actions import Kind
from bridge.engine.plan import BrakeBasis, plan, proofs_needed
from connectors.base import EntryDraft
from connectors.model import CanonicalEntry, Origin

# --- scenarios ---------------------------------------------------------------------------

def test_new_records_are_created_once_and_a_second_sync_plans_nothing() -> None:
    w = World(rules())
    a = w.add_source(date(2026, 11, 3), 5445, comment="Fixed login")
    first = w.sync()
    assert [(x.kind, x.reason) for x in first.actions] == [(Kind.CREATE, "new in source")]
    (copy,) = w.copies_of(a)
    assert (copy.seconds, copy.task, copy.comment) == (5460, "T-1", "Fixed login")
    assert writes(w.sync()) == []


def test_no_target_task_is_a_skip_never_a_guess() -> None:
    w = World(rules(default_task=None))
    w.add_source(date(2026, 11, 3), 600, task="42")
    mapped = w.add_source(date(2026, 11, 3), 600, task="99")
    result = w.sync()
    skip = [a for a in result.actions if a.kind is Kind.SKIP]
    assert len(skip) == 1 and "no target task for source task 42" in skip[0].reason
    assert [c.task for c in w.copies_of(mapped)] == ["T-99"]


def test_source_edit_updates_and_a_hand_edit_is_a_conflict_left_alone() -> None:
    w = World(rules())
    a = w.add_source(date(2026, 11, 3), 3600)
    w.sync()
    w.edit(w.source, a, seconds=7200)
    assert [x.kind for x in w.sync().actions] == [Kind.UPDATE]
    assert w.copies_of(a)[0].seconds == 7200
    w.edit(w.target, w.copies_of(a)[0].record_id, seconds=60)
    result = w.sync()
    assert [(x.kind, x.reason) for x in result.actions] == [
        (Kind.CONFLICT, "the copy was edited in the target by hand")]
    assert w.copies_of(a)[0].seconds == 60


def test_a_copy_deleted_by_hand_is_a_conflict_or_recreated_with_source_wins() -> None:
    for policy, expected in (("report", Kind.CONFLICT), ("source-wins", Kind.CREATE)):
        w = World(rules(on_conflict=policy))
        a = w.add_source(date(2026, 11, 3), 3600)
        w.sync()
        del w.target[w.copies_of(a)[0].record_id]
        result = w.sync()
        assert [x.kind for x in result.actions] == [expected], policy
        assert result.actions[0].forget_link == (policy == "source-wins")
        assert len(w.copies_of(a)) == (0 if policy == "report" else 1)


def test_source_wins_overwrites_a_hand_edit() -> None:
    w = World(rules(on_conflict="source-wins"))
    a = w.add_source(date(2026, 11, 3), 3600)
    w.sync()
    w.edit(w.target, w.copies_of(a)[0].record_id, comment="mine now")
    assert [x.kind for x in w.sync().actions] == [Kind.UPDATE]
    assert w.copies_of(a)[0].comment == ""


def test_delete_needs_proof_and_a_redate_out_of_the_window_is_followed() -> None:
    w = World(rules())
    gone, moved = w.add_source(date(2026, 11, 3), 600), w.add_source(date(2026, 11, 4), 600)
    keep = [w.add_source(date(2026, 11, 5), 600) for _ in range(8)]
    w.sync()
    del w.source[gone]
    w.edit(w.source, moved, work_date=date(2026, 10, 1))
    result = w.sync()
    kinds = sorted((str(x.origin), x.kind) for x in result.actions)
    assert kinds == [(f"KAITEN:{gone}", Kind.DELETE), (f"KAITEN:{moved}", Kind.UPDATE)]
    assert w.copies_of(gone) == [] and w.copies_of(moved)[0].work_date == date(2026, 10, 1)
    assert all(len(w.copies_of(k)) == 1 for k in keep)
    assert writes(w.sync()) == []


def test_without_propagate_deletes_a_copy_outlives_its_origin() -> None:
    w = World(rules(propagate_deletes=False, allow_deletes=True))
    a = w.add_source(date(2026, 11, 3), 600)
    w.sync()
    del w.source[a]
    assert writes(w.sync()) == [] and len(w.copies_of(a)) == 1


def test_a_failed_source_read_looks_nothing_up_and_deletes_nothing() -> None:
    w = World(rules())
    ids = [w.add_source(date(2026, 11, 3), 600) for _ in range(3)]
    w.sync()
    w.source.clear()   # everything looks gone, but the read failed part-way
    inputs = w.inputs(source_complete=False)
    assert proofs_needed(w.rules, inputs)[0] == []
    assert writes(plan(w.rules, inputs, w.proofs(inputs))) == []
    assert all(w.copies_of(i) for i in ids)


def test_a_failed_target_read_deletes_nothing_and_creates_nothing_unlinked() -> None:
    w = World(rules(allow_deletes=True))
    ids = [w.add_source(date(2026, 11, 3), 600) for _ in range(4)]
    w.sync()
    del w.source[ids[0]]                      # proved gone only by a look-up...
    w.lose_store()                             # ...and the state store lost
    inputs = w.inputs()
    inputs.target_complete = False             # the target read stopped part-way
    inputs.target = inputs.target[:2]          # only some copies were read
    assert proofs_needed(w.rules, inputs)[0] == []
    result = plan(w.rules, inputs, w.proofs(inputs))
    assert not [a for a in result.actions if a.kind in (Kind.DELETE, Kind.CREATE)]
    # the copies that were read are adopted again; the rest waits for a complete read
    assert result.actions and all(a.kind is Kind.UNCHANGED and a.record_link
                                  for a in result.actions)


def test_a_lost_store_asks_by_origin_before_creating_what_it_does_not_see() -> None:
    w = World(rules())
    seen = w.add_source(date(2026, 11, 3), 600)
    away = w.add_source(date(2026, 11, 4), 600)
    w.sync()
    w.edit(w.source, away, work_date=date(2026, 10, 20))   # its copy follows it out
    w.sync()
    w.lose_store()                                          # the state store is lost
    w.edit(w.source, away, work_date=date(2026, 11, 6))    # and the origin comes back
    inputs = w.inputs()
    asked = [r.origin for r in proofs_needed(w.rules, inputs)[1] if r.record_id is None]
    assert asked == [Origin(source="KAITEN", record_id=away)]
    result = w.sync()
    assert not any(a.kind is Kind.CREATE for a in result.actions)
    assert [(c.work_date) for c in w.copies_of(away)] == [date(2026, 11, 6)]
    assert len(w.copies_of(seen)) == 1


def test_a_fresh_backfill_asks_nothing_by_origin() -> None:
    w = World(rules())
    for i in range(5):
        w.add_source(date(2026, 11, 1 + i), 600)
    # someone else's record referring to an origin that does not exist is no evidence
    w.add_target(origin=Origin(source="KAITEN", record_id="404"), task="T-1",
                 day=date(2026, 11, 3), seconds=60)
    assert proofs_needed(w.rules, w.inputs()) == ([], [])


def test_the_delete_brake_refuses_a_mass_delete_unless_allowed() -> None:
    w = World(rules(max_delete_share=0.2))
    ids = [w.add_source(date(2026, 11, 3), 600) for _ in range(10)]
    w.sync()
    for rid in ids[:3]:
        del w.source[rid]
    braked = w.sync()
    assert braked.brake and "refused 3 deletes of 10 copies" in braked.brake
    assert all(w.copies_of(i) for i in ids[:3])
    w.rules = rules(max_delete_share=0.2, allow_deletes=True)
    assert w.sync().brake is None and not any(w.copies_of(i) for i in ids[:3])


def test_a_narrow_pass_weighs_its_deletes_against_the_routes_copies_and_earlier_ones(
        ) -> None:
    w = World(rules(max_delete_share=0.2))
    gone = w.add_source(date(2026, 11, 3), 600, task="7")
    w.sync()
    del w.source[gone]
    # The card's only copy: against its own links it would be 100%, always refused.
    alone = dataclasses.replace(w.inputs(), brake=BrakeBasis(copies=1))
    assert plan(w.rules, alone, w.proofs(alone)).brake is not None
    # Against the route's 10 copies in the window, one delete is within the share ...
    route = dataclasses.replace(w.inputs(), brake=BrakeBasis(copies=10))
    assert plan(w.rules, route, w.proofs(route)).brake is None
    # ... unless narrow passes since the last full pass deleted their share already.
    spent = dataclasses.replace(w.inputs(), brake=BrakeBasis(copies=8, deleted=2))
    braked = plan(w.rules, spent, w.proofs(spent))
    assert "refused 1 deletes (2 more since the last full pass) of 10 copies" in braked.brake
    assert [a.refused for a in braked.actions if a.kind is Kind.DELETE] == [True]
    allowed = rules(max_delete_share=0.2, allow_deletes=True)
    assert plan(allowed, spent, w.proofs(spent)).brake is None


def test_unlinked_copy_is_adopted_not_duplicated_and_foreign_records_are_left_alone() -> None:
    w = World(rules())
    a = w.add_source(date(2026, 11, 3), 600, comment="x")
    w.add_target(origin=Origin(source="KAITEN", record_id=a), task="T-1",
                 day=date(2026, 11, 3), seconds=600, comment="x")   # state store lost
    foreign = w.add_target(origin=None, task="T-1", day=date(2026, 11, 3), seconds=60)
    other = w.add_target(origin=Origin(source="KAITEN", record_id="404"), task="T-1",
                         day=date(2026, 11, 3), seconds=60)  # refers to nothing that exists
    before = dict(w.target)
    result = w.sync()
    assert writes(result) == [] and w.links[f"KAITEN:{a}"].status == "linked"
    assert w.target[foreign] == before[foreign] and w.target[other] == before[other]


def test_the_bridges_own_copies_in_the_source_are_never_sources() -> None:
    w = World(rules())
    rid = w.add_source(date(2026, 11, 3), 600)
    w.source[rid] = w.source[rid].model_copy(update={"origin": Origin(source="TRACKER",
                                                                      record_id="7")})
    assert w.sync().actions == []


def test_a_lost_create_answer_is_found_by_origin_and_adopted() -> None:
    w = World(rules())
    a = w.add_source(date(2026, 11, 3), 600)
    w.store.record_intent(ROUTE, f"KAITEN:{a}", source_record_id=a, source_task="1",
                          target_task="T-1", work_date=date(2026, 11, 3))
    w.add_target(origin=Origin(source="KAITEN", record_id=a), task="T-1",
                 day=date(2026, 10, 3), seconds=600)  # outside the read: found by origin
    inputs = w.inputs()
    assert [r.record_id for r in proofs_needed(w.rules, inputs)[1]] == [None]
    result = w.sync()
    assert not any(x.kind is Kind.CREATE for x in result.actions)
    assert len(w.copies_of(a)) == 1


def test_a_task_change_the_target_cannot_make_in_place_is_delete_plus_create() -> None:
    w = World(rules())
    a = w.add_source(date(2026, 11, 3), 600, task="1")
    w.sync()
    w.edit(w.source, a, task="99")
    result = w.sync()
    assert [x.kind for x in result.actions] == [Kind.DELETE, Kind.CREATE]
    assert [c.task for c in w.copies_of(a)] == ["T-99"]
    assert result.brake is None  # half of a move, not a deletion of billed time


# --- properties ----------------------------------------------------------------------------

edits = st.lists(st.tuples(st.sampled_from(["edit", "delete", "redate", "hand", "handdel",
                                            "foreign"]),
                           st.integers(0, 30), st.integers(1, 40_000), days), max_size=12)


@settings(max_examples=150, deadline=None)
@given(records, edits, st.sampled_from(["report", "source-wins"]))
def test_property_sync_converges_to_exactly_one_copy_and_leaves_foreign_alone(
        recs, changes, on_conflict) -> None:
    w = World(rules(on_conflict=on_conflict, allow_deletes=True))
    for day, seconds, task, comment in recs:
        w.add_source(day, seconds, task, comment)
    w.sync()
    foreign: dict[str, CanonicalEntry] = {}
    for what, pick, seconds, day in changes:
        src_ids, copy_ids = sorted(w.source), sorted(k for k in w.target if k not in foreign)
        if what == "foreign":
            rid = w.add_target(origin=None, task="T-1", day=day, seconds=seconds)
            foreign[rid] = w.target[rid]
        elif what in ("edit", "delete", "redate") and src_ids:
            rid = src_ids[pick % len(src_ids)]
            if what == "edit":
                w.edit(w.source, rid, seconds=seconds)
            elif what == "delete":
                del w.source[rid]
            else:
                w.edit(w.source, rid, work_date=day)
        elif what in ("hand", "handdel") and copy_ids:
            rid = copy_ids[pick % len(copy_ids)]
            if what == "hand":
                w.edit(w.target, rid, seconds=seconds)
            else:
                del w.target[rid]
    w.sync()
    second = w.sync()
    assert writes(second) == [], "a sync right after a sync must plan no write"
    conflicted = {str(a.origin) for a in second.actions if a.kind is Kind.CONFLICT}
    for rid, entry in w.source.items():
        copies = w.copies_of(rid)
        assert len(copies) <= 1, "never two copies of one origin"
        in_scope = entry.work_date in WINDOW
        if in_scope and f"KAITEN:{rid}" not in conflicted:
            assert len(copies) == 1, f"in-scope origin {rid} has no copy"
            if f"KAITEN:{rid}" in w.links:
                wanted = minute_fit(EntryDraft(
                    origin=entry.ref, task=w.rules.target_task(entry.task), seconds=entry.seconds,
                    work_date=entry.work_date, comment=entry.comment))
                assert (copies[0].seconds, copies[0].work_date, copies[0].task) == \
                    (wanted.seconds, wanted.work_date, wanted.task)
    for rid, before in foreign.items():
        assert w.target[rid] == before, "a foreign record was touched"


@settings(max_examples=100, deadline=None)
@given(records)
def test_property_plan_is_deterministic_and_pure(recs) -> None:
    w = World(rules())
    for day, seconds, task, comment in recs:
        w.add_source(day, seconds, task, comment)
    inputs = w.inputs()
    snapshot = (dict(w.source), dict(w.target), dict(w.links))
    first, second = plan(w.rules, inputs), plan(w.rules, inputs)
    assert first.actions == second.actions
    assert (dict(w.source), dict(w.target), dict(w.links)) == snapshot


@settings(max_examples=100, deadline=None)
@given(records, st.data())
def test_property_an_incomplete_source_read_never_deletes(recs, data) -> None:
    w = World(rules(allow_deletes=True))
    for day, seconds, task, comment in recs:
        w.add_source(day, seconds, task, comment)
    w.sync()
    kept = data.draw(st.lists(st.sampled_from(sorted(w.source)), unique=True)) if w.source else []
    w.source = {k: v for k, v in w.source.items() if k in kept}
    before = dict(w.target)
    result = w.sync(source_complete=False)
    assert not any(a.kind is Kind.DELETE for a in result.actions)
    assert all(k in w.target for k in before)


def test_window_bounds_are_inclusive_for_scope() -> None:
    w = World(rules())
    edge = [w.add_source(WINDOW.start, 60), w.add_source(WINDOW.end, 60)]
    outside = w.add_source(WINDOW.end + timedelta(days=1), 60)
    w.sync()
    assert all(w.copies_of(e) for e in edge) and not w.copies_of(outside)
