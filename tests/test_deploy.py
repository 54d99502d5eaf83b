"""The deployment files in ``deploy/``, checked without a container engine or systemd.

The Dockerfile is parsed into instructions; the unit files are read with
``configparser``; the compose file and the sample config are loaded. When
``systemd-analyze`` is installed the units are also verified by systemd itself.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bridge.config_loader import load_config

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
CONFIG_IN_CONTAINER = "/etc/timebridge/timebridge.toml"
STATE_DIR = "/var/lib/timebridge"
SECRETISH = re.compile(r"token|secret|passw|api_?key|credential", re.IGNORECASE)


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def unit(name: str) -> configparser.ConfigParser:
    # strict=False: systemd allows a key twice (SystemCallFilter=); the last one is kept.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(DEPLOY / name, encoding="utf-8")
    return parser


def test_dockerfile_builds_a_non_root_daemon_image_without_secrets() -> None:
    steps = dockerfile()
    names = [word for word, _ in steps]
    assert [args for word, args in steps if word == "FROM"][-1] == "python:3.11-slim"
    assert any(word == "RUN" and "pip install /src" in args for word, args in steps)
    user = [args for word, args in steps if word == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert names.index("USER") < names.index("ENTRYPOINT")
    assert json.loads(dict(steps)["ENTRYPOINT"]) == ["timebridge"]
    assert json.loads(dict(steps)["CMD"]) == ["daemon", "--config", CONFIG_IN_CONTAINER]
    assert STATE_DIR in json.loads(dict(steps)["VOLUME"])
    assert dict(steps)["STOPSIGNAL"] == "SIGTERM"
    assert "org.opencontainers.image.title" in dict(steps)["LABEL"]
    for word, args in steps:
        if word in ("ENV", "ARG"):
            names_set = re.findall(r"(\w+)=", args) or [args.split()[0]]
            assert not [n for n in names_set if SECRETISH.search(n)], (word, args)
        if word in ("COPY", "ADD"):
            sources = shlex.split(args)[:-1]
            assert sources and all(s in ("pyproject.toml", "README.md", "bridge", "connectors")
                                   for s in sources), f"{word} {args} may bake in a secret"


def test_dockerignore_keeps_the_context_to_the_package() -> None:
    lines = [line for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines[0] == "*"
    assert {"!bridge", "!connectors", "!pyproject.toml", "!README.md"} <= set(lines)


def test_daemon_unit_is_hardened_and_stops_with_sigterm() -> None:
    service = unit("timebridge.service")["Service"]
    assert shlex.split(service["ExecStart"])[1:] == ["daemon", "--config", CONFIG_IN_CONTAINER]
    assert service["DynamicUser"] == "yes" and service["User"] not in ("root", "0")
    assert service["StateDirectory"] == "timebridge"
    assert service["EnvironmentFile"] == "-/etc/timebridge/env"
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"  # bad config: restarting cannot help
    assert service["KillSignal"] == "SIGTERM" and service["KillMode"] == "mixed"
    assert service["TimeoutStopSec"].endswith("s")
    hardening = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                 "PrivateTmp": "yes", "CapabilityBoundingSet": ""}
    for key, value in hardening.items():
        assert service[key] == value, key
    assert unit("timebridge.service")["Install"]["WantedBy"] == "multi-user.target"


def test_sync_timer_runs_a_oneshot_sync_every_15_minutes() -> None:
    service = unit("timebridge-sync.service")["Service"]
    assert service["Type"] == "oneshot"
    assert shlex.split(service["ExecStart"])[1] == "sync"
    daemon = unit("timebridge.service")["Service"]
    for key in ("User", "DynamicUser", "StateDirectory", "EnvironmentFile", "NoNewPrivileges",
                "ProtectSystem"):
        assert service[key] == daemon[key], key  # same user, state and hardening as the daemon
    timer = unit("timebridge-sync.timer")
    assert timer["Timer"]["OnCalendar"] == "*:0/15"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"]["Unit"] == "timebridge-sync.service"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the units were only parsed")
    # verify insists that ExecStart exists: point it at this environment's timebridge.
    here = Path(sys.executable).parent / "timebridge"
    if not here.exists():
        pytest.skip(f"no timebridge script at {here} to stand in for /usr/local/bin/timebridge")
    names = ["timebridge.service", "timebridge-sync.service", "timebridge-sync.timer"]
    for name in names:
        text = (DEPLOY / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace("/usr/local/bin/timebridge", str(here)))
    result = subprocess.run([analyze, "verify", *(f"./{n}" for n in names)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    # Unknown keys are only warnings (exit 0): any line about our units is a failure.
    ours = [line for line in (result.stdout + result.stderr).splitlines()
            if "timebridge" in line]
    assert result.returncode == 0 and not ours, result.stdout + result.stderr


def test_compose_mounts_the_config_and_the_state_volume() -> None:
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    # PyYAML is not a dependency: the lines that matter are checked as text, and the
    # structure too when PyYAML happens to be installed.
    for line in ("dockerfile: deploy/Dockerfile", f"./timebridge.toml:{CONFIG_IN_CONTAINER}:ro",
                 f"timebridge-state:{STATE_DIR}", "stop_signal: SIGTERM"):
        assert line in text, line
    assert not SECRETISH.search(re.sub(r"#.*", "", text).replace("timebridge.env", ""))
    try:
        import yaml
    except ImportError:
        return
    compose = yaml.safe_load(text)
    (service,) = compose["services"].values()
    mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
    assert mounts[CONFIG_IN_CONTAINER] == "./timebridge.toml"
    assert mounts[STATE_DIR] in compose["volumes"]


def test_sample_config_is_valid_and_keeps_state_in_the_state_directory(
        monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tomllib.loads((DEPLOY / "timebridge.toml").read_text(encoding="utf-8"))
    for connector in raw["connectors"].values():
        assert "token" not in connector, "a token in the sample config"
        monkeypatch.setenv(connector["token_env"], "t-sample")
    loaded = load_config(DEPLOY / "timebridge.toml")
    assert loaded.state_url == f"sqlite:///{STATE_DIR}/timebridge.sqlite"
    assert {r.name for r in loaded.config.routes} == {"kaiten-billing", "tracker-billing"}
