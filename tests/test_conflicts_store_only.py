"""``timebridge conflicts`` reads the state store only, as ``status`` does: no token has to
be there, no API is asked, and no store is created where none exists yet (INTERFACE.md,
Commands; docs/reference.md). On SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_helpers import TODAY, People, backfill_args, cli, route_state

from bridge.demo.world import DemoWorld
from bridge.report.conflicts import CSV_COLUMNS

REPO = Path(__file__).resolve().parent.parent
UNSET = "TIMEBRIDGE_TEST_NO_SUCH_TOKEN"   # a token variable no test ever sets


def tokenless(config: Path) -> Path:
    """The same config (same store) with every secret in a variable that is not set."""
    assert UNSET not in os.environ
    text = re.sub(r'^token = ".*"$', f'token_env = "{UNSET}"', config.read_text(),
                  flags=re.MULTILINE)
    assert "token =" not in text
    path = config.with_name("tokenless.toml")   # same folder: a relative store path holds
    path.write_text(text)
    return path


def conflicts_process(config: Path, *args: str) -> subprocess.CompletedProcess:
    """``timebridge conflicts`` as a real process with no token variable set at all."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TIMEBRIDGE_", "KAITEN_", "TRACKER_", "CONTRACTING_"))}
    return subprocess.run([sys.executable, "-m", "bridge", "conflicts", "-c", str(config),
                           *args], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=60)


def example(tmp_path: Path) -> Path:
    config = tmp_path / "c.toml"
    config.write_text((REPO / "config.example.toml").read_text())
    return config


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_before_any_run_it_needs_no_token_and_creates_no_file(tmp_path: Path,
                                                               fmt: str) -> None:
    result = conflicts_process(example(tmp_path), "--format", fmt)
    assert result.returncode == 0, result.stderr
    assert "no state store at" in result.stderr and "no route has run" in result.stderr
    assert "Traceback" not in result.stderr and "error:" not in result.stderr
    if fmt == "json":
        assert json.loads(result.stdout) == {"conflicts": []}
    elif fmt == "csv":
        assert list(csv.reader(io.StringIO(result.stdout))) == [CSV_COLUMNS]
    else:
        assert "No conflicts waiting." in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]   # nothing created


def test_an_unknown_route_is_still_refused_without_a_store(tmp_path: Path) -> None:
    result = conflicts_process(example(tmp_path), "--route", "no-such-route")
    assert result.returncode == 2
    assert "no route named 'no-such-route'" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres",
                                                          marks=pytest.mark.postgres)])
def test_a_waiting_conflict_is_listed_without_any_token(workdir: Path, store: str,
                                                        request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("postgres_schema") if store == "postgres" else None
    with DemoWorld(workdir, today=TODAY, days=5, state_url=url) as world:
        assert cli(world.config_path, *backfill_args(world)).code == 0
        originals = route_state(world, "kaiten-billing")[0]
        origin = min((i for i, r in originals.items()
                      if world.first_day <= r.day <= world.today), key=int)
        entry = next(c for c in route_state(world, "kaiten-billing")[1]
                     if c.origin_id == origin)
        people = People(world)
        try:
            people.contracting_edit(entry.id, description="Corrected by accounting")
        finally:
            people.close()
        assert cli(world.config_path, "sync", "--route", "kaiten-billing").code == 0
        asked = {name: server.log.count() for name, server in world.servers.items()}

        bare = conflicts_process(tokenless(world.config_path), "--format", "json")
        assert bare.returncode == 0, bare.stderr
        listed = json.loads(bare.stdout)["conflicts"]
        assert [(c["route"], c["origin"], c["target_id"]) for c in listed] == [
            ("kaiten-billing", f"kaiten:{origin}", entry.id)]
        assert listed[0]["differences"]["comment"]["copy"] == "Corrected by accounting"
        assert {name: server.log.count() for name, server in world.servers.items()} == asked
