"""Hostile records: each is judged alone, a reported skip, and the read and route go on.

Each case plants one bad record (or one bad answer) in an emulator beside good ones
and runs the real connector (or a whole pass) over HTTP: the bad one is a skip with
its reason, every good one is read or copied, nothing crashes, nothing absurd is billed.
"""

from __future__ import annotations

import json
from datetime import date

import harness_kaiten
import harness_tracker
import pytest
from memory_connector import MemoryConnector

from bridge.engine.actions import Kind, RouteRules
from bridge.engine.sync import PassSpec, run_pass
from bridge.store.state import StateStore
from connectors.base import DateWindow, EntryDraft, NotFoundError, TransientError
from connectors.model import CanonicalEntry, Origin, Skip

WINDOW = DateWindow(date(2026, 11, 1), date(2026, 11, 30))


def split(items) -> tuple[dict[str, CanonicalEntry], list[Skip]]:
    entries = {i.record_id: i for i in items if isinstance(i, CanonicalEntry)}
    return entries, [i for i in items if isinstance(i, Skip)]


@pytest.fixture
def tracker():
    h = harness_tracker.make_harness()
    yield h
    h.close()


@pytest.fixture
def kaiten():
    h = harness_kaiten.make_harness()
    yield h
    h.close()


def test_a_start_past_the_year_9999_is_a_skip_and_the_route_goes_on(tracker) -> None:
    good = tracker.seed_record(work_date=date(2026, 11, 3), seconds=600)
    bad = tracker.emulator.add_worklog("TEST-1", start="9999-12-31T23:00:00.000+0000",
                                       duration="PT1H", raw=True)
    target = MemoryConnector("tgt", "TGT")
    rules = RouteRules(name="r", source="tracker", source_ref="YANDEX_TRACKER", window=WINDOW,
                       fit=target.fit, capabilities=target.capabilities, default_task="P")
    store = StateStore("sqlite://")
    try:
        result = run_pass(PassSpec(tracker.connector, target, rules), store)
    finally:
        store.close()
    assert result.error is None
    assert [o.action.display_origin for o in result.outcomes if o.kind is Kind.CREATE] == [
        f"tracker:{good}"]
    (skip,) = [o for o in result.outcomes if o.kind is Kind.SKIP]
    assert skip.action.display_origin == f"tracker:{bad}" and skip.reason


def test_an_origin_id_no_marker_can_hold_is_a_skip_of_that_origin(kaiten) -> None:
    source = MemoryConnector("src", "SRC")
    fine = source.add(task="T", work_date=date(2026, 11, 3), seconds=600)
    source.records["7 7"] = source.records[fine].model_copy(update={
        "record_id": "7 7", "origin": Origin(source="SRC", record_id="7 7")})
    rules = RouteRules(name="r", source="src", source_ref="SRC", window=WINDOW,
                       fit=kaiten.connector.fit, capabilities=kaiten.connector.capabilities,
                       default_task=kaiten.task())
    store = StateStore("sqlite://")
    try:
        result = run_pass(PassSpec(source, kaiten.connector, rules), store)
    finally:
        store.close()
    assert result.error is None
    kinds = {o.action.display_origin: o.kind for o in result.outcomes}
    assert kinds == {f"src:{fine}": Kind.CREATE, "src:7 7": Kind.SKIP}
    (skip,) = [o for o in result.outcomes if o.kind is Kind.SKIP]
    assert "cannot go into a comment marker" in skip.reason


def test_items_that_are_not_objects_are_skips_and_the_page_goes_on(kaiten) -> None:
    kaiten.server.faults.add("status", method="GET", path="*/time-logs", status=200,
                             body='[42, "text", null, [1, 2]]')
    entries, skips = split(list(kaiten.connector.read(WINDOW, {})))
    assert entries == {} and len(skips) == 4
    assert all("not a JSON object" in s.reason or "cannot be read" in s.reason for s in skips)


def test_json_nested_absurdly_deep_is_a_skip_of_that_record_and_the_read_goes_on(kaiten) -> None:
    good = kaiten.seed_record(work_date=date(2026, 11, 3), seconds=600)
    deep_field = kaiten.seed_record(work_date=date(2026, 11, 4), seconds=600)
    depth = 100_000
    nested = "[" * depth + "]" * depth
    records = [kaiten.emulator._full(kaiten.emulator.time_logs[int(i)]) for i in (good, deep_field)]
    first, second = (json.dumps(r) for r in records)
    # The second record's duration is an absurdly deep list; a third item is one whole.
    second = second.replace('"time_spent": 10', f'"time_spent": {nested}', 1)
    assert nested in second
    kaiten.server.faults.add("status", method="GET", path="*/time-logs", status=200,
                             body=f"[{first}, {second}, {nested}]", times=1)
    entries, skips = split(list(kaiten.connector.read(WINDOW, {})))
    assert list(entries) == [good] and entries[good].seconds == 600
    assert len(skips) == 2
    assert skips[0].record_id == deep_field and "time_spent must be" in skips[0].reason
    assert "not a JSON object" in skips[1].reason


def test_json_nested_deep_with_brackets_unbalanced_fails_the_read_with_a_clear_line(
        kaiten) -> None:
    depth = 100_000
    kaiten.server.faults.add("status", method="GET", path="*/time-logs", status=200,
                             body="[" * depth + "]" * (depth - 1), times=100)
    with pytest.raises(TransientError, match=r"nested too deeply|not valid JSON"):
        list(kaiten.connector.read(WINDOW, {}))


@pytest.mark.parametrize(("minutes", "billed"), [(10**9, False), (40 * 60, True),
                                                 (744 * 60, True), (744 * 60 + 1, False)])
def test_kaiten_durations_above_the_bound_are_skipped_not_billed(kaiten, minutes: int,
                                                                 billed: bool) -> None:
    rid = str(kaiten.emulator.add_time_log(card_id=kaiten.cards[0], user_id=kaiten.users[0],
                                           time_spent=minutes, for_date="2026-11-05"))
    entries, skips = split(list(kaiten.connector.read(WINDOW, {})))
    if billed:
        assert rid in entries and not skips
    else:
        assert [s.record_id for s in skips] == [rid]
        assert "above max_duration_hours (744 h)" in skips[0].reason


@pytest.mark.parametrize(("duration", "billed"), [("P99999999999999999999W", False),
                                                  ("P1W", True), ("P4W", True),
                                                  ("P20W", False)])
def test_tracker_durations_above_the_bound_are_skipped_not_billed(tracker, duration: str,
                                                                  billed: bool) -> None:
    rid = tracker.emulator.add_worklog("TEST-1", start=tracker.start_of(date(2026, 11, 5)),
                                       duration=duration, raw=True)
    entries, skips = split(list(tracker.connector.read(WINDOW, {})))
    assert (rid in entries) is billed and (not billed) == bool(skips)


def test_the_bound_is_configurable_per_connector() -> None:
    h = harness_kaiten.make_harness()
    try:
        h.connector.config = h.connector.config.model_copy(update={"max_duration_hours": 10})
        rid = h.seed_record(work_date=date(2026, 11, 5), seconds=11 * 3600)
        _, skips = split(list(h.connector.read(WINDOW, {})))
        assert [s.record_id for s in skips] == [rid] and "(10 h)" in skips[0].reason
    finally:
        h.close()


def test_a_kaiten_id_is_escaped_in_the_path_and_never_reaches_another_log(kaiten) -> None:
    other = kaiten.seed_record(work_date=date(2026, 11, 5), seconds=600, task=kaiten.other_task())
    before = kaiten.stored(other)
    hostile = f"77/../../../../cards/{kaiten.other_task()}/time-logs/{other}"
    copy = CanonicalEntry(connector="kaiten", reference_source="KAITEN", record_id=hostile,
                          origin=Origin(source="SRC", record_id="1"), task=kaiten.task(),
                          work_date=date(2026, 11, 5), seconds=600)
    with pytest.raises(NotFoundError):
        kaiten.connector.update(copy, kaiten.connector.fit(EntryDraft(
            copy.origin, kaiten.task(), date(2026, 11, 5), seconds=1200)))
    with pytest.raises(NotFoundError):
        kaiten.connector.delete(copy)
    assert kaiten.stored(other) == before


def to_tgt() -> tuple[MemoryConnector, RouteRules]:
    """A Kaiten -> TGT route whose config knows both references (so markers count)."""
    target = MemoryConnector("tgt", "TGT")
    return target, RouteRules(name="r", source="kaiten", source_ref="KAITEN", window=WINDOW,
                              fit=target.fit, capabilities=target.capabilities,
                              default_task="P", known_refs=frozenset({"KAITEN", "TGT"}))


def test_markers_are_trusted_only_where_they_can_be_the_bridges(kaiten) -> None:
    foreign = kaiten.seed_record(work_date=date(2026, 11, 3), seconds=600,
                                 comment="did it [timebridge:OTHER_TOOL:5]")
    own_system = kaiten.seed_record(work_date=date(2026, 11, 3), seconds=600,
                                    comment="pasted [timebridge:KAITEN:123]")
    real_copy = kaiten.seed_record(work_date=date(2026, 11, 3), seconds=600,
                                   comment="a copy the bridge made [timebridge:TGT:9]")
    forged = kaiten.seed_record(work_date=date(2026, 11, 3), seconds=600,
                                comment="pasted from a copy [timebridge:TGT:10]")
    target, rules = to_tgt()
    store = StateStore("sqlite://")
    try:
        # The reverse route TGT -> KAITEN made real_copy from TGT:9; nobody made TGT:10's.
        store.record_link("back", "TGT:9", source_record_id="9", source_task="T",
                          target_record_id=str(real_copy), target_task=kaiten.task(),
                          source_hash="h", target_hash="h", source_version=None,
                          target_version=None, work_date=date(2026, 11, 3))
        store.record_link("back", "TGT:10", source_record_id="10", source_task="T",
                          target_record_id="someone-else", target_task=kaiten.task(),
                          source_hash="h", target_hash="h", source_version=None,
                          target_version=None, work_date=date(2026, 11, 3))
        result = run_pass(PassSpec(kaiten.connector, target, rules), store)
        again = run_pass(PassSpec(kaiten.connector, target, rules), store)
    finally:
        store.close()
    kinds = {o.action.display_origin: o.kind for o in result.outcomes}
    # Someone else's marker is text: an original, copied with the text kept. The copy the
    # store confirms is the bridge's (no action); a pasted own-system or unconfirmed
    # bridge marker is reported, never copied and never dropped silently.
    assert kinds == {f"kaiten:{foreign}": Kind.CREATE, f"kaiten:{own_system}": Kind.SKIP,
                     f"kaiten:{forged}": Kind.SKIP}
    (copy,) = target.records.values()
    assert copy.comment == "did it [timebridge:OTHER_TOOL:5]"
    reasons = {o.action.display_origin: o.reason for o in result.outcomes if o.kind is Kind.SKIP}
    assert "marker for KAITEN:123" in reasons[f"kaiten:{own_system}"]
    assert "remove the marker" in reasons[f"kaiten:{own_system}"]
    assert "marker for TGT:10" in reasons[f"kaiten:{forged}"]
    assert "no route's state records it" in reasons[f"kaiten:{forged}"]
    assert sorted(o.kind for o in again.outcomes) == [Kind.SKIP, Kind.SKIP]  # no writes


def test_an_intent_whose_answer_was_lost_vouches_for_its_copy(kaiten) -> None:
    """A create on the reverse route whose answer was lost has no copy id yet; the copy it
    made, read here as a source, is the bridge's and must not be copied back."""
    made = kaiten.seed_record(work_date=date(2026, 11, 3), seconds=600,
                              comment="[timebridge:TGT:9]")
    target, rules = to_tgt()
    store = StateStore("sqlite://")
    try:
        store.record_intent("back", "TGT:9", source_record_id="9", source_task="T",
                            target_task=kaiten.task(), work_date=date(2026, 11, 3))
        result = run_pass(PassSpec(kaiten.connector, target, rules), store)
    finally:
        store.close()
    assert result.error is None and made
    assert [o.kind for o in result.outcomes] == [] and target.records == {}
