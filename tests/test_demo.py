"""``timebridge demo`` (``bridge.cli.demo.run_demo``): a backfill, then a sync with nothing left to
do, against the built-in emulators; what it prints, and what the systems and the state file
hold afterwards. The demo runs once for the module; its world is kept for inspection."""

from __future__ import annotations

import io
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from e2e_helpers import (
    REF,
    ROUTES,
    TODAY,
    assert_exactly_once,
    kaiten_records,
    route_state,
    tracker_records,
)

from bridge.cli import demo as demo_run
from bridge.demo import world as demo
from bridge.store.state import StateStore


@dataclass
class Demo:
    code: int
    output: str
    world: demo.DemoWorld
    env_after: str | None


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    worlds: list[demo.DemoWorld] = []

    class Recorded(demo.DemoWorld):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            worlds.append(self)

    workdir = tmp_path_factory.mktemp("demo")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(demo, "DemoWorld", Recorded)
        mp.delenv("TIMEBRIDGE_TODAY", raising=False)
        code = demo_run.run_demo(workdir, today=TODAY, out=out)
        env_after = os.environ.get("TIMEBRIDGE_TODAY")
    assert len(worlds) == 1
    yield Demo(code, out.getvalue(), worlds[0], env_after)


def test_the_demo_succeeds_and_says_where_to_look(ran: Demo) -> None:
    assert ran.code == 0, ran.output
    world = ran.world
    assert not world.servers  # the emulators stopped with the demo
    text = ran.output
    # The verdict first, then one row per route, then where to go next.
    assert text.index("Converged:") < text.index("then unchanged") < text.index("next:")
    assert f"Kept: {world.folder}" in text   # a folder the caller named is never removed
    assert f"timebridge status --config {world.config_path}" in text
    assert "timebridge demo --serve" in text
    assert "next: copy config.example.toml and run timebridge check" in text
    assert world.config_path.is_file() and world.state_path.is_file()
    assert f"backfill --from {world.first_day} --to {world.today}" in text
    for name in ROUTES:
        assert name in text
    assert "Traceback" not in text
    assert ran.env_after is None  # the pinned "today" does not outlive the demo


def test_the_demo_fits_an_80_column_terminal(ran: Demo) -> None:
    lines = [line for line in ran.output.splitlines() if str(ran.world.folder) not in line]
    assert len(lines) < 40
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)


def test_the_second_pass_plans_no_create_update_or_delete(ran: Demo) -> None:
    world = ran.world
    with sqlite3.connect(world.state_path) as db:
        rows = db.execute("select route, dry_run, summary, error from runs order by id").fetchall()
    by_route: dict[str, list[tuple]] = {}
    for route, dry_run, summary, error in rows:
        by_route.setdefault(route, []).append((bool(dry_run), json.loads(summary), error))
    assert set(by_route) == set(ROUTES)
    for name, runs in by_route.items():
        (dry1, backfill, err1), (dry2, second, err2) = runs
        assert not dry1 and not dry2 and err1 is None and err2 is None
        assert backfill["create"] > 0 and backfill["failed"] == 0
        assert {k: second[k] for k in ("create", "update", "delete", "failed")} == {
            "create": 0, "update": 0, "delete": 0, "failed": 0}, name
        assert second["unchanged"] == backfill["create"]
        [row] = [line.split() for line in ran.output.splitlines()
                 if line.split()[:1] == [name]]
        assert row == [name, str(backfill["create"]), str(backfill["skip"]),
                       str(backfill["conflict"]), "0", str(second["unchanged"])]
    assert "sent 0 write requests" in ran.output


def test_the_state_file_links_every_copied_origin(ran: Demo) -> None:
    world = ran.world
    assert_exactly_once(world)
    with StateStore(world.resolved_state_url) as store:
        for name in ROUTES:
            links = store.links(name)
            copies = route_state(world, name)[1]
            source = REF[name.split("-")[0]]
            assert set(links) == {f"{source}:{c.origin_id}" for c in copies}, name
            assert {link.status for link in links.values()} == {"linked"}
            by_origin = {f"{source}:{c.origin_id}": c.id for c in copies}
            assert {o: link.target_record_id for o, link in links.items()} == by_origin


def test_odd_tracker_durations_landed_in_kaiten_as_whole_minutes(ran: Demo) -> None:
    world = ran.world
    originals = tracker_records(world)[0]
    in_kaiten = {c.origin_id: c for c in kaiten_records(world)[1]}
    assert set(in_kaiten) == set(originals)
    minutes = {i: world.kaiten.time_logs[int(c.id)]["time_spent"] for i, c in in_kaiten.items()}
    assert all(isinstance(m, int) and m >= 1 for m in minutes.values())
    special = world.tracker_special
    assert originals[special["odd_seconds"]].seconds == 5445          # PT1H30M45S
    assert minutes[special["odd_seconds"]] == 91                       # nearest minute
    assert minutes[special["one_day"]] == 8 * 60                       # P1D = 8 h
    assert minutes[special["one_week"]] == 5 * 8 * 60                  # P1W = 5 workdays
    by_seconds = {originals[i].seconds: m for i, m in minutes.items()}
    assert by_seconds[29] == 1        # PT29S: never below one minute
    assert by_seconds[150] == 3       # PT2M30S: half a minute rounds up
    assert by_seconds[3010] == 50     # PT50M10S
    odd = [i for i, r in originals.items() if r.seconds % 60]
    assert len(odd) >= 4
    for i in odd:  # Kaiten holds whole minutes; billing keeps every second
        assert minutes[i] * 60 != originals[i].seconds
    billed = {c.origin_id: c.seconds for c in route_state(world, "tracker-billing")[1]}
    assert all(billed[i] == originals[i].seconds for i in originals)


def test_the_long_comment_fits_kaiten_with_its_marker(ran: Demo) -> None:
    world = ran.world
    worklog = world.tracker_special["long_comment"]
    log = next(v for v in world.kaiten.time_logs.values()
               if (v["comment"] or "").endswith(f"[timebridge:YANDEX_TRACKER:{worklog}]"))
    assert 4000 < len(log["comment"]) <= 4096
    assert "…" in log["comment"]


def test_the_demo_config_is_valid_and_chains_nothing_unbilled(ran: Demo) -> None:
    from bridge.config.loader import load_config

    loaded = load_config(ran.world.config_path)
    assert [r.name for r in loaded.config.routes] == list(ROUTES)
    assert loaded.config.connectors["kaiten"].requests_per_second == ran.world.kaiten_rate
    assert ran.world.kaiten.bucket.rate == ran.world.kaiten_rate
    assert loaded.config.chain_warnings() == []  # every source is billed directly
