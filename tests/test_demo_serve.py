"""`timebridge demo --serve`, `--keep` and `--verbose`: the demo world to play in after the run,
and a demo that cleans up after itself."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from e2e_helpers import TODAY

from bridge.cli import demo as demo_run

REPO = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBRIDGE_")}
    env["TIMEBRIDGE_TODAY"] = TODAY.isoformat()
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=120)


@pytest.fixture
def own_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the demo takes as its temporary one (so the test can look at it)."""
    folder = tmp_path / "timebridge-demo-x"

    def mkdtemp(prefix: str = "") -> str:
        folder.mkdir()
        return str(folder)

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    return folder


@pytest.mark.parametrize("keep", [False, True])
def test_the_temporary_folder_goes_unless_kept(own_temp: Path, keep: bool) -> None:
    out = io.StringIO()
    assert demo_run.run_demo(today=TODAY, out=out, keep=keep) == 0, out.getvalue()
    assert own_temp.exists() is keep
    assert (f"Kept: {own_temp}" in out.getvalue()) is keep


def test_verbose_lists_every_entry_the_backfill_listed(own_temp: Path) -> None:
    out = io.StringIO()
    assert demo_run.run_demo(today=TODAY, out=out, verbose=True) == 0, out.getvalue()
    text = out.getvalue()
    entries = [line for line in text.splitlines() if " create done " in line]
    created = sum(int(line.split()[1]) for line in text.splitlines()
                  if line.split()[:1] and line.split()[0].endswith(("-billing", "-tracker",
                                                                   "-kaiten"))
                  and len(line.split()) == 6 and line.split()[1].isdigit())
    assert created > 0 and len(entries) == created


def test_serve_keeps_the_emulators_up_for_every_command(tmp_path: Path) -> None:
    out, until = io.StringIO(), threading.Event()
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(demo_run.run_demo(
        tmp_path, today=TODAY, out=out, serve=True, until=until)))
    runner.start()
    try:
        deadline = time.monotonic() + 120
        while "Ctrl-C stops the emulators." not in out.getvalue():
            assert runner.is_alive() and time.monotonic() < deadline, out.getvalue()
            time.sleep(0.1)
        config = str(next(tmp_path.glob("*.toml")))
        for command in ("report", "sync", "status"):
            assert f"timebridge {command} --config {config}" in out.getvalue()
        # The README's quick start: the printed report command, a page to open in a browser.
        [line] = [x.strip() for x in out.getvalue().splitlines() if "--format html" in x]
        page = tmp_path / "report.html"
        html = _cli(*line.split()[1:-1], str(page))
        assert html.returncode == 0, html.stderr
        assert "<h1>timebridge report</h1>" in page.read_text()
        report = _cli("report", "--config", config, "--format", "json")
        assert report.returncode == 0, report.stderr
        routes = json.loads(report.stdout)["routes"]
        assert routes and all(r["error"] is None for r in routes)
        assert all(r["summary"]["create"] == 0 for r in routes)   # converged, and reachable
        assert "retry" not in report.stderr
        assert _cli("status", "--config", config).returncode == 0
    finally:
        until.set()
        runner.join(30)
    assert codes == [0] and "Stopped the emulators." in out.getvalue()
    # The emulators are gone now: every route fails, loudly and soon, each retry said in
    # full (the API, the request, the attempt, the delay), and at most 3 tries a request.
    report = _cli("report", "--config", config, "--format", "json")
    assert report.returncode == 1
    routes = json.loads(report.stdout)["routes"]
    assert all("cannot reach 127.0.0.1" in r["error"] for r in routes)
    retries = [json.loads(line)["message"] for line in report.stderr.splitlines()
               if "trying again" in line]
    assert retries and all(": cannot reach 127.0.0.1:" in m and " of 3 failed, trying again "
                           "in " in m for m in retries)
    assert "stamina" not in report.stderr
