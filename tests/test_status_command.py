"""`timebridge status` as a monitor uses it: no token needed, no store created, and its
exit code says whether the last run of a route failed (INTERFACE.md, Commands)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bridge.demo.world import DemoWorld

REPO = Path(__file__).resolve().parent.parent


def status(config: Path, *args: str) -> subprocess.CompletedProcess:
    """``status`` with no token variable set at all (nor any TIMEBRIDGE_ setting)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TIMEBRIDGE_", "KAITEN_", "TRACKER_", "CONTRACTING_"))}
    return subprocess.run([sys.executable, "-m", "bridge", "status", "-c", str(config), *args],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=60)


def sync(world: DemoWorld, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBRIDGE_")}
    env["TIMEBRIDGE_TODAY"] = world.today.isoformat()
    return subprocess.run([sys.executable, "-m", "bridge", "sync", "-c",
                           str(world.config_path), "--format", "json", *args],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)


def test_status_before_any_run_needs_no_token_and_creates_no_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text((REPO / "config.example.toml").read_text())
    result = status(config, "--format", "json")
    assert result.returncode == 0, result.stderr
    routes = json.loads(result.stdout)["routes"]
    assert routes and all(r["last_run"] is None for r in routes)
    assert "no state store at" in result.stderr and "no route has run" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]   # nothing created


def test_status_exits_1_while_the_last_run_of_a_route_failed(workdir: Path) -> None:
    with DemoWorld(workdir) as world:
        assert sync(world, "--route", "kaiten-billing").returncode == 0
        good = status(world.config_path, "--format", "json")
        assert good.returncode == 0, good.stderr
        [route] = [r for r in json.loads(good.stdout)["routes"] if r["route"] == "kaiten-billing"]
        assert route["last_run"]["error"] is None

        world.servers["billing"].faults.add("status", status=401, times=1000)
        assert sync(world, "--route", "kaiten-billing").returncode == 1
        bad = status(world.config_path, "--format", "json")
        assert bad.returncode == 1, bad.stderr
        [route] = [r for r in json.loads(bad.stdout)["routes"] if r["route"] == "kaiten-billing"]
        assert route["last_run"]["error"]
        assert "Traceback" not in bad.stderr and "error:" not in bad.stderr

        world.servers["billing"].faults.clear()
        assert sync(world, "--route", "kaiten-billing").returncode == 0
        assert status(world.config_path).returncode == 0   # the last run is good again
