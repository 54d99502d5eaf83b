"""The plan file (bridge.engine.saved_plan): a round trip through JSON keeps every plan as it was;
the route fingerprint follows what gives a plan its meaning, and never a secret."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.cli.apply import parse_age
from bridge.cli.commands import UsageError
from bridge.config.models import Config
from bridge.engine.saved_plan import (
    ACTIONS,
    Holds,
    PlanError,
    PlannedAction,
    Record,
    RoutePlan,
    SavedPlan,
    read_plan,
    route_fingerprint,
    write_plan,
)

text = st.text(max_size=30)
ids = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=12)
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)).map(date.isoformat)
seconds = st.integers(min_value=1, max_value=10**9)
zones = st.sampled_from([UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-5))])
starts = st.builds(lambda d, z: d.replace(tzinfo=z).isoformat(),
                   st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
                   zones)
records = st.builds(Record, ids, ids, days, seconds, st.none() | text, text)
holds = st.builds(Holds, ids, days, seconds, text, st.none() | starts, st.none() | ids)
values = st.none() | st.integers(min_value=-10**6, max_value=10**6) | text
changes = st.none() | st.dictionaries(st.sampled_from(["task", "date", "seconds", "comment"]),
                                      st.tuples(values, values), max_size=4)
planned_actions = st.builds(
    PlannedAction, st.sampled_from(ACTIONS), st.sampled_from(["planned", "failed", "held"]),
    text, st.builds(lambda a, b: f"{a}:{b}", ids, ids), text, st.none() | records,
    st.none() | records, st.none() | holds, changes, st.booleans(), st.booleans(),
    st.none() | text, st.none() | text)
routes = st.builds(
    lambda name, fp, start, length, error, acts: RoutePlan(
        name, fp, start, start + timedelta(days=length), error, tuple(acts)),
    ids, text, st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
    st.integers(0, 400), st.none() | text, st.lists(planned_actions, max_size=4))
plans = st.builds(
    lambda made, by, rs: SavedPlan(made, by, tuple(rs)),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                 timezones=st.just(UTC)),
    text, st.lists(routes, max_size=3))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans)
def test_a_plan_survives_a_round_trip_through_its_file_unchanged(plan: SavedPlan,
                                                                  tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    write_plan(plan, path)
    assert read_plan(path) == plan
    # Written atomically: nothing but the plan is left in the folder.
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_reading_names_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    plan = SavedPlan(datetime(2026, 12, 1, tzinfo=UTC), "report", (RoutePlan(
        "r", "sha256:x", date(2026, 11, 1), date(2026, 11, 30), None, (PlannedAction(
            "create", "planned", "kaiten:1", "KAITEN:1", "new in source"),)),))
    path = tmp_path / "plan.json"
    write_plan(plan, path)
    good = json.loads(path.read_text())
    for change, words in [
        (lambda d: d["routes"][0]["actions"][0].update(action="explode"), "must be one of"),
        (lambda d: d["routes"][0]["actions"][0].update(origin_key="nocolon"), "SOURCE:ID"),
        (lambda d: d["routes"][0].update({"from": "2026-13-01"}), "routes[0].from"),
        (lambda d: d["routes"][0]["actions"][0].update(refused=1), "refused"),
        (lambda d: d.update(made_at="2026-12-01T00:00:00"), "no zone"),
        (lambda d: d["routes"][0]["actions"][0].pop("reason"), "reason: missing"),
    ]:
        broken = json.loads(json.dumps(good))
        change(broken)
        path.write_text(json.dumps(broken))
        with pytest.raises(PlanError) as caught:
            read_plan(path)
        assert words in str(caught.value) and "\n" not in str(caught.value)


CONFIG = {
    "connectors": {
        "kaiten": {"type": "kaiten", "base_url": "https://k.example", "token": "sekrit-k"},
        "billing": {"type": "contracting", "base_url": "https://b.example",
                    "token_env": "SEKRIT_ENV", "tenant_id": "tnt_1"}},
    "routes": [{"name": "kb", "source": "kaiten", "target": "billing",
                "default_task": "prj_a", "tasks": {"1": "prj_b"}},
               {"name": "other", "source": "billing", "target": "kaiten", "default_task": 5}],
}


def fingerprint(**changes: object) -> str:
    data = json.loads(json.dumps(CONFIG))
    for where, value in changes.items():
        *path, key = where.split("__")
        node = data
        for part in path:
            node = node[int(part)] if part.isdigit() else node[part]
        node[key] = value
    return route_fingerprint(Config.model_validate(data), "kb")


def test_the_fingerprint_follows_what_a_plan_means_and_nothing_else() -> None:
    base = fingerprint()
    # What decides what an action means changes it...
    for change in ({"routes__0__tasks": {"1": "prj_c"}}, {"routes__0__default_task": "prj_z"},
                   {"routes__0__description": "{comment} {origin}"},
                   {"routes__0__on_conflict": "source-wins"},
                   {"routes__0__propagate_deletes": False}, {"routes__0__billable": "bil_1"},
                   {"connectors__kaiten__rounding": "up"},
                   {"connectors__billing__tenant_id": "tnt_2"},
                   {"connectors__billing__base_url": "https://c.example"}):
        assert fingerprint(**change) != base, change
    # ...when and how fast a route runs, another route, and the secrets do not.
    for change in ({"routes__0__schedule": "every 5m"}, {"routes__0__window_days": 3},
                   {"routes__0__chunk_days": 7}, {"routes__1__default_task": 6},
                   {"connectors__kaiten__token": "other-sekrit"},
                   {"connectors__kaiten__requests_per_second": 1.5},
                   {"connectors__billing__base_url": "HTTPS://B.example:443/"}):
        assert fingerprint(**change) == base, change


def test_the_age_limit_reads_units() -> None:
    assert parse_age("24h") == timedelta(hours=24)
    assert parse_age("90m") == timedelta(minutes=90)
    assert parse_age("7d") == timedelta(days=7)
    assert parse_age("3600") == timedelta(hours=1)
    with pytest.raises(UsageError):
        parse_age("a while")
