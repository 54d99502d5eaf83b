"""The planner's part of settling conflicts: what a conflict says differs, and a person's
``resolve --keep source`` turning the next decision into a rewrite (pure, no I/O)."""

from __future__ import annotations

from datetime import date

from support.world import ROUTE, World, rules

from bridge.engine.actions import Kind

DAY = date(2026, 11, 3)


def synced_world(**kw) -> tuple[World, str]:
    w = World(rules(**kw))
    rid = w.add_source(DAY, 3600, comment="Fixed login")
    w.sync()
    return w, rid


def resolved(w: World, rid: str) -> None:
    """A person's ``resolve --keep source`` of the conflict of ``rid``."""
    w.store.keep_source(ROUTE, w.links[f"KAITEN:{rid}"], "rewritten at the next pass")


def test_a_hand_edit_conflict_says_what_differs_as_copy_then_origin() -> None:
    w, rid = synced_world()
    w.edit(w.target, w.copies_of(rid)[0].record_id, seconds=4200, comment="mine")
    (conflict,) = w.sync().actions
    assert conflict.kind is Kind.CONFLICT
    assert dict(conflict.changes) == {"seconds": (4200, 3600),
                                      "comment": ("mine", "Fixed login")}


def test_a_deleted_copy_conflict_says_the_copy_holds_nothing() -> None:
    w, rid = synced_world()
    del w.target[w.copies_of(rid)[0].record_id]
    (conflict,) = w.sync().actions
    assert conflict.kind is Kind.CONFLICT
    assert dict(conflict.changes) == {"task": (None, "T-1"), "work_date": (None, "2026-11-03"),
                                      "seconds": (None, 3600), "comment": (None, "Fixed login")}


def test_keep_source_turns_the_conflict_into_a_rewrite_once() -> None:
    w, rid = synced_world()
    w.edit(w.target, w.copies_of(rid)[0].record_id, seconds=4200)
    assert [a.kind for a in w.sync().actions] == [Kind.CONFLICT]
    resolved(w, rid)
    result = w.sync()
    assert [(a.kind, a.reason) for a in result.actions] == [
        (Kind.UPDATE, "rewritten from its origin (resolve --keep source)")]
    assert w.copies_of(rid)[0].seconds == 3600
    assert w.links[f"KAITEN:{rid}"].resolution is None   # the link was recorded anew
    assert w.sync().actions == []
    w.edit(w.target, w.copies_of(rid)[0].record_id, seconds=60)   # a new hand edit
    assert [a.kind for a in w.sync().actions] == [Kind.CONFLICT]


def test_keep_source_makes_a_copy_deleted_by_hand_again() -> None:
    w, rid = synced_world()
    del w.target[w.copies_of(rid)[0].record_id]
    resolved(w, rid)
    (create,) = w.sync().actions
    assert create.kind is Kind.CREATE and create.forget_link
    assert "resolve --keep source" in create.reason
    assert len(w.copies_of(rid)) == 1


def test_a_resolution_is_carried_out_even_where_both_sides_look_in_step() -> None:
    """A copy the link says is in step (a create that did not store what was sent) is
    still compared with its origin once a person asked for the rewrite."""
    w, rid = synced_world()
    copy = w.copies_of(rid)[0]
    w.target[copy.record_id] = copy.model_copy(update={"seconds": 4200})  # same version
    key = f"KAITEN:{rid}"
    link = w.links[key]   # the link recorded what the target holds, not what was sent
    w.store.record_link(ROUTE, key, source_record_id=link.source_record_id,
                        source_task=link.source_task, target_record_id=copy.record_id,
                        target_task=link.target_task, source_hash=link.source_hash,
                        target_hash=w.target[copy.record_id].content_hash,
                        source_version=link.source_version,
                        target_version=link.target_version, work_date=link.work_date)
    assert w.sync().actions == []     # in step: nothing, as before
    resolved(w, rid)
    assert [a.kind for a in w.sync().actions] == [Kind.UPDATE]
    assert w.copies_of(rid)[0].seconds == 3600
    resolved(w, rid)                  # already equal: only the link is recorded
    (same,) = w.sync().actions
    assert same.kind is Kind.UNCHANGED and same.record_link
