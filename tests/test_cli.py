"""The CLI frame, run as a real process: commands, options, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge import __version__

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.toml"
ENV_TOKENS = {"KAITEN_TOKEN": "k-secret-token", "TRACKER_TOKEN": "t-secret-token",
              "CONTRACTING_TOKEN": "c-secret-token"}


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run ``python -m bridge`` with a clean environment plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TIMEBRIDGE_", "KAITEN_",
                                                                   "TRACKER_", "CONTRACTING_"))}
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, cwd=cwd or REPO, timeout=60)


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, *words: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("timebridge: error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in lines[0]


def test_version_and_help() -> None:
    assert run("--version").stdout.strip() == f"timebridge {__version__}"
    assert run("-V").stdout.strip() == f"timebridge {__version__}"
    help_text = run("--help").stdout
    for command in ("check", "sync", "backfill", "report", "daemon", "status", "demo",
                    "apply", "conflicts", "resolve"):
        assert command in help_text
    assert "--install-completion" in help_text


def _every_parameter() -> list[tuple[str, object]]:
    """(where, click parameter) for the root options and every command's parameters."""
    import typer

    from bridge.cli.app import app

    root = typer.main.get_command(app)
    found = [(f"timebridge {p.opts[0]}", p) for p in root.params]
    for name, command in root.commands.items():   # type: ignore[attr-defined]
        found += [(f"{name} {p.opts[0]}", p) for p in command.params]
    return found


def test_every_option_and_command_says_what_it_does() -> None:
    import typer

    from bridge.cli.app import app

    commands = typer.main.get_command(app).commands   # type: ignore[attr-defined]
    assert {"sync", "report", "apply", "resolve", "conflicts", "status"} <= commands.keys()
    params = _every_parameter()
    assert len(params) > 30   # the walk reached every command's options
    missing = [where for where, param in params
               if not (getattr(param, "help", None) or "").strip()]
    missing += [name for name, command in commands.items() if not command.help]
    assert missing == []


def test_every_help_text_is_a_capitalised_sentence() -> None:
    """``--help`` reads as prose: each option's and argument's help starts with a capital
    letter and ends with a full stop (``--install-completion`` and ``--help`` included)."""
    wrong = [f"{where}: {param.help!r}" for where, param in _every_parameter()
             if param.help and not (param.help[0].isupper() and param.help.rstrip().endswith("."))]
    assert wrong == []


def test_shell_completion_script_is_offered() -> None:
    result = run("--show-completion", "bash")
    assert result.returncode == 0 and "COMP_WORDS" in result.stdout


def test_debug_works_after_the_command_too(tmp_path) -> None:
    missing = tmp_path / "nope.toml"
    for args in (("--debug", "status", "-c", str(missing)),
                 ("status", "-c", str(missing), "--debug")):
        result = run(*args)
        assert result.returncode == 2, result.stderr
        assert "no such option" not in result.stderr
        assert "timebridge: error:" in result.stderr and "no such file" in result.stderr


@pytest.mark.parametrize(("command", "options"), [
    ("check", ["--offline"]),
    ("sync", ["--route", "--dry-run", "--format", "--allow-deletes"]),
    ("backfill", ["--from", "--to", "--route", "--dry-run", "--format", "--allow-deletes"]),
    ("report", ["--from", "--to", "--route", "--format", "--output"]),
    ("daemon", ["--config"]),
    ("status", ["--format"]),
])
def test_every_command_has_its_documented_options(command: str, options: list[str]) -> None:
    result = run(command, "--help")
    assert result.returncode == 0
    for option in [*options, "--config"] if command != "demo" else options:
        assert option in result.stdout, f"{command} lacks {option}"


def test_check_offline_validates_the_example() -> None:
    result = run("check", "--offline", "--config", str(EXAMPLE), env=ENV_TOKENS)
    assert result.returncode == 0, result.stderr
    assert "config is valid: 3 connector(s), 2 route(s)" in result.stdout


def test_config_option_before_or_after_command_and_env_fallback(tmp_path: Path) -> None:
    before = run("--config", str(EXAMPLE), "check", "--offline", env=ENV_TOKENS)
    assert before.returncode == 0, before.stderr
    via_env = run("check", "--offline", env={**ENV_TOKENS, "TIMEBRIDGE_CONFIG": str(EXAMPLE)})
    assert via_env.returncode == 0, via_env.stderr
    (tmp_path / "timebridge.toml").write_text(EXAMPLE.read_text())
    in_cwd = run("check", "--offline", env=ENV_TOKENS, cwd=tmp_path)
    assert in_cwd.returncode == 0 and str(tmp_path) not in in_cwd.stderr


def test_missing_config_is_exit_2(tmp_path: Path) -> None:
    assert_one_line_error(run("check", "--offline", cwd=tmp_path), 2, "no config found")
    assert_one_line_error(run("check", "-c", str(tmp_path / "nope.toml")), 2, "nope.toml",
                          "no such file")


def test_bad_config_is_exit_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(EXAMPLE.read_text().replace('rounding = "nearest"', 'rounding = "sideways"'))
    assert_one_line_error(run("check", "--offline", "-c", str(path), env=ENV_TOKENS), 2,
                          str(path), "connectors.kaiten.rounding", "sideways")
    path.write_text("[state\n")
    assert_one_line_error(run("sync", "-c", str(path)), 2, "invalid TOML")


def test_missing_variable_is_exit_2_and_no_secret_is_printed() -> None:
    env = {k: v for k, v in ENV_TOKENS.items() if k != "TRACKER_TOKEN"}
    result = run("check", "--offline", "-c", str(EXAMPLE), env=env)
    assert_one_line_error(result, 2, "TRACKER_TOKEN is not set")
    for secret in env.values():
        assert secret not in result.stdout + result.stderr


def test_bad_dates_and_usage_are_exit_2() -> None:
    args = ["-c", str(EXAMPLE)]
    assert_one_line_error(run("backfill", "--from", "2026-13-01", "--to", "2026-12-01", *args,
                              env=ENV_TOKENS), 2, "--from", "2026-13-01")
    assert_one_line_error(run("backfill", "--from", "2026-12-02", "--to", "2026-12-01", *args,
                              env=ENV_TOKENS), 2, "before")
    assert_one_line_error(run("report", "--from", "2026-12-01", *args, env=ENV_TOKENS), 2,
                          "both --from and --to")
    assert run("sync", "--format", "xml", *args, env=ENV_TOKENS).returncode == 2
    assert run("frobnicate").returncode == 2


def test_unknown_route_is_exit_2(tmp_path: Path) -> None:
    result = run("sync", "--route", "nope", "-c", str(EXAMPLE), env=ENV_TOKENS, cwd=tmp_path)
    assert_one_line_error(result, 2, "--route", "'nope'", "kaiten-billing")


def test_check_online_reports_an_unreachable_host_per_connector_with_exit_1(
        tmp_path: Path) -> None:
    # Port 9 on loopback: nothing listens, so every connector fails to connect at once.
    text = EXAMPLE.read_text()
    for url in ("https://example.kaiten.ru", "https://api.tracker.yandex.net",
                "https://api.contracting.kukkingu.software"):
        text = text.replace(f'base_url = "{url}"', 'base_url = "http://127.0.0.1:9"')
    path = tmp_path / "down.toml"
    path.write_text(text + "\n")
    result = run("check", "-c", str(path), env=ENV_TOKENS)
    assert result.returncode == 1, result.stderr
    failures = [line for line in result.stderr.splitlines() if ": FAILED: " in line]
    assert sorted(line.split(":")[0] for line in failures) == ["billing", "kaiten", "tracker"]
    assert all("127.0.0.1" in line for line in failures)
    assert "Traceback" not in result.stderr
    for secret in ENV_TOKENS.values():
        assert secret not in result.stdout + result.stderr
