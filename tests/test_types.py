"""The type check of ``bridge/`` and ``connectors/`` passes (mypy, configured in
pyproject.toml: no unused ``type: ignore``, only APScheduler 3 taken as untyped)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_finds_no_error_in_bridge_and_connectors(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout


def test_mypy_reports_a_type_error_it_is_shown(tmp_path: Path) -> None:
    """The check can fail: the same configuration on a module with one wrong type."""
    bad = tmp_path / "bad_module.py"
    bad.write_text("def f() -> int:\n    return 'not an int'\n")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"),
         "--config-file", str(ROOT / "pyproject.toml"), str(bad)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1
    assert "Incompatible return value type" in done.stdout
