"""The planner's typed vocabulary: the words it writes, the role of each action, the copy
look-up that replaced an untyped marker, and plain (not generated) constructors.

The words are the user contract (INTERFACE.md) and the store's stored values, so they
are checked as the exact strings, written through JSON, CSV and the store itself.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from hypothesis import event, given, settings
from hypothesis import strategies as st
from test_plan import WINDOW, rules

from bridge.engine.actions import COPY_GONE, COPY_UNKNOWN, Action, CopyLookup, Proofs, Seen
from bridge.engine.execute import Outcome
from bridge.engine.plan import Inputs, plan, proofs_needed
from bridge.report.render import action_dict
from bridge.store.schema import Link, links
from bridge.store.state import StateStore
from bridge.vocab import (
    ActionRole,
    Keep,
    Kind,
    LinkStatus,
    OnConflict,
    OutcomeStatus,
    PassOutcome,
    RouteState,
    VerdictLevel,
)
from connectors.base import Capabilities
from connectors.model import CanonicalEntry, Origin

ORIGIN = Origin(source="KAITEN", record_id="1")
KEY = "KAITEN:1"


def source(day: date = date(2026, 11, 3), seconds: int = 600, task: str = "1",
           version: str = "v1") -> CanonicalEntry:
    return CanonicalEntry(connector="kaiten", reference_source="KAITEN", record_id="1",
                          origin=ORIGIN, task=task, work_date=day, seconds=seconds,
                          version=version)


def copy(rid: str, day: date = date(2026, 11, 3), seconds: int = 600, task: str = "T-1",
         version: str = "u1") -> CanonicalEntry:
    return CanonicalEntry(connector="tracker", reference_source="TRACKER", record_id=rid,
                          origin=ORIGIN, task=task, work_date=day, seconds=seconds,
                          version=version)


# --- the words --------------------------------------------------------------------------


@pytest.mark.parametrize(("enum", "words"), [
    (Kind, ["create", "update", "delete", "conflict", "skip", "unchanged"]),
    (OutcomeStatus, ["planned", "done", "failed", "held", "stale"]),
    (LinkStatus, ["intent", "linked"]),
    (Keep, ["source", "target"]),
    (OnConflict, ["report", "source-wins"]),
    (ActionRole, ["plain", "replace-delete", "replace-create"]),
    (RouteState, ["ok", "failed", "held"]),
    (VerdictLevel, ["incomplete", "failed", "work", "nothing"]),
    (PassOutcome, ["ok", "partial", "failed", "interrupted", "held"]),
])
def test_every_status_is_the_contracts_word(enum, words) -> None:
    assert [m.value for m in enum] == words
    for member, word in zip(enum, words, strict=True):
        # A member is its word wherever it is written or compared.
        assert member == word and str(member) == word and f"{member}" == word
        assert enum(word) is member


def test_a_reports_json_and_csv_hold_the_plain_words() -> None:
    action = Action(Kind.CREATE, ORIGIN, "kaiten:1", "new in source", source())
    row = action_dict(Outcome(action, Kind.CREATE, OutcomeStatus.DONE, "t9", "new in source"))
    assert json.loads(json.dumps(row))["action"] == "create"
    assert json.loads(json.dumps(row))["status"] == "done"
    out = io.StringIO()
    csv.writer(out).writerow([row["action"], row["status"]])
    assert out.getvalue().strip() == "create,done"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path):
    url = f"sqlite:///{tmp_path / 'state.sqlite'}" if request.param == "sqlite" else \
        request.getfixturevalue("postgres_schema")
    opened = StateStore(url)
    yield opened, url
    opened.close()


def _stored(url: str, column: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(links.c[column])).scalar_one()
    finally:
        engine.dispose()


def test_the_store_keeps_the_words_and_gives_back_the_members(store) -> None:
    opened, url = store
    opened.record_intent("r", KEY, source_record_id="1", source_task="1", target_task="T-1",
                         work_date=date(2026, 11, 3))
    assert _stored(url, "status") == "intent" and type(_stored(url, "status")) is str
    assert opened.link("r", KEY).status is LinkStatus.INTENT
    opened.record_link("r", KEY, source_record_id="1", source_task="1",
                       target_record_id="t1", target_task="T-1", source_hash="s",
                       target_hash="t", source_version="v1", target_version="u1",
                       work_date=date(2026, 11, 3))
    linked = opened.link("r", KEY)
    assert _stored(url, "status") == "linked" and linked.status is LinkStatus.LINKED
    assert linked.resolution is None
    opened.keep_source("r", linked, "rewritten at the next pass")
    assert _stored(url, "resolution") == "source"
    assert opened.link("r", KEY).resolution is Keep.SOURCE
    assert [r.keep for r in opened.resolutions("r")] == ["source"]


# --- the copy look-up -------------------------------------------------------------------


def test_a_look_up_is_found_proved_gone_or_unknown() -> None:
    one, two = copy("t1"), copy("t2")
    answers = {"a": None, "b": [], "c": one, "d": [one, two]}
    assert CopyLookup.answer(answers, "missing") is COPY_UNKNOWN
    assert CopyLookup.answer(answers, "a") is COPY_GONE
    assert CopyLookup.answer(answers, "b") is COPY_GONE
    assert CopyLookup.answer(answers, "c") == CopyLookup(Seen.FOUND, (one,))
    assert CopyLookup.answer(answers, "d") == CopyLookup(Seen.FOUND, (one, two))
    # The copy a replace was deleting is not the origin's copy.
    assert CopyLookup.answer(answers, "d", exclude="t1") == CopyLookup(Seen.FOUND, (two,))
    assert CopyLookup.answer(answers, "c", exclude="t1") is COPY_GONE
    assert CopyLookup.of([]) is COPY_GONE


# --- plain constructors -----------------------------------------------------------------


def test_actions_and_links_are_built_by_plain_code() -> None:
    # A function made by exec() has no file of its own.
    assert Action.__init__.__code__.co_filename.endswith("actions.py")
    assert Link.__init__.__code__.co_filename.endswith("schema.py")
    made = Action(Kind.DELETE, ORIGIN, "kaiten:1", "r", copy=copy("t1"),
                  role=ActionRole.REPLACE_DELETE)
    assert made == Action(Kind.DELETE, ORIGIN, "kaiten:1", "r", None, copy("t1"), None, None,
                          False, False, None, False, None, None, ActionRole.REPLACE_DELETE)
    assert Action(Kind.SKIP, ORIGIN, "kaiten:1", "r").role is ActionRole.PLAIN
    assert dataclasses.replace(made, refused=True).role is ActionRole.REPLACE_DELETE
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.role = ActionRole.PLAIN  # type: ignore[misc]
    link = Link("r", KEY, "1", "1", None, "T-1", None, None, None, None, None,
                LinkStatus.INTENT, None, None, None)
    assert (link.replaces_record_id, link.resolution) == (None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        link.status = LinkStatus.LINKED  # type: ignore[misc]


# --- the role of each action, over random single-origin worlds ---------------------------

days = st.dates(WINDOW.start, WINDOW.end)
copies_st = st.lists(st.tuples(days, st.sampled_from([600, 1200]),
                               st.sampled_from(["T-1", "T-99", "T-2"])), max_size=3)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_property_every_half_of_a_replace_says_so_and_no_other_action_does(data) -> None:
    route = rules(
        capabilities=Capabilities(updatable=data.draw(st.sampled_from(
            [frozenset(), frozenset({"seconds"}), frozenset({"seconds", "comment",
                                                              "work_date"})]))),
        on_conflict=data.draw(st.sampled_from(list(OnConflict))),
        default_task=data.draw(st.sampled_from([None, "T-1"])))
    src = source(data.draw(days), data.draw(st.sampled_from([600, 1200])),
                 data.draw(st.sampled_from(["1", "99", "5"])))
    present = data.draw(st.booleans())
    target = [copy(f"t{i}", d, s, t) for i, (d, s, t) in enumerate(data.draw(copies_st))]
    links = {}
    shape = data.draw(st.sampled_from(["none", "linked", "intent", "replacing"]))
    if shape != "none" or not present:
        old = target[0] if target else copy("t-old")
        linked = shape in ("none", "linked")
        links[KEY] = Link(
            "r", KEY, "1", "1", old.record_id if linked else None, old.task,
            data.draw(st.sampled_from([src.content_hash, "stale"])),
            data.draw(st.sampled_from([old.content_hash, "stale"])), None, None,
            src.work_date, LinkStatus.LINKED if linked else LinkStatus.INTENT, None, None,
            datetime.now(UTC),
            replaces_record_id=old.record_id if shape == "replacing" else None,
            replaces_task=old.task if shape == "replacing" else None,
            resolution=data.draw(st.sampled_from([None, Keep.SOURCE])) if linked else None)
    inputs = Inputs([src] if present else [], target, links,
                    target_complete=data.draw(st.booleans()))
    wanted_source, wanted_target = proofs_needed(route, inputs)
    answered = data.draw(st.booleans())   # every look-up made, or every one failed

    def by_id(rid):
        return next((c for c in target if c.record_id == rid), None)
    proofs = Proofs(
        {r.key: None for r in wanted_source} if answered else {},
        {r.key: (by_id(r.record_id) if r.record_id else list(target))
         for r in wanted_target if not r.replaced} if answered else {},
        {r.key: by_id(r.record_id) for r in wanted_target if r.replaced} if answered else {})
    actions = plan(route, inputs, proofs).actions
    event(" ".join(sorted({a.role.value for a in actions})) or "no actions")  # what was met

    for i, a in enumerate(actions):
        if a.role is ActionRole.REPLACE_DELETE:
            # The old copy goes without forgetting the link, and says what follows.
            assert a.kind is Kind.DELETE and not a.forget_link and a.replacement is not None
        elif a.role is ActionRole.REPLACE_CREATE:
            assert a.kind is Kind.CREATE
            assert any(b.role is ActionRole.REPLACE_DELETE and b.origin == a.origin
                       for b in actions[:i]), "a replace's create follows its delete"
        else:
            # A delete on its own is of an origin proved gone: its link goes with it.
            assert a.kind is not Kind.DELETE or a.forget_link
