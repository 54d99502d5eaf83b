"""Configs that look valid but would bill twice, hang, leak or crash: each is refused (or
warned about) in one clear line, by `check --offline` and by every command.

The CLI runs as a real process (``python -m bridge``) where the exit code and stderr are
the point; the loader and the models are called directly where the rule is the point.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from test_config import edited
from typer.testing import CliRunner

from bridge.config.loader import ConfigError, load_config, memory_store_problem
from bridge.config.models import Config, chain_warning, normalise_base_url

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.toml"
TOKENS = {"KAITEN_TOKEN": "k-secret-token", "TRACKER_TOKEN": "t-secret-token",
          "CONTRACTING_TOKEN": "c-secret-token"}


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TIMEBRIDGE_", "KAITEN_",
                                                                   "TRACKER_", "CONTRACTING_"))}
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True,
                          env={**base, **TOKENS, **(env or {})}, cwd=cwd or REPO, timeout=timeout)


def error_line(result: subprocess.CompletedProcess, code: int) -> str:
    """The one error line of a run that failed with ``code`` (warnings may precede it)."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert "internal error" not in result.stderr
    lines = [x for x in result.stderr.splitlines() if not x.startswith("timebridge: warning: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("timebridge: error: "), lines[0]
    return lines[0]


# --- 1. one account, one connector ------------------------------------------------------

SECOND = {
    "kaiten": ('[connectors.kaiten2]\ntype = "kaiten"\nbase_url = "HTTPS://Example.Kaiten.RU:443/"\n'
               'token_env = "KAITEN_TOKEN"\nreference_source = "K2"\n'),
    "tracker": ('[connectors.tracker2]\ntype = "tracker"\n'
                'base_url = "https://api.tracker.yandex.net/"\ntoken_env = "TRACKER_TOKEN"\n'
                'org_id = 7654321\nreference_source = "T2"\n'),
    "billing": ('[connectors.billing2]\ntype = "contracting"\n'
                'base_url = "https://API.contracting.kukkingu.software"\n'
                'token_env = "CONTRACTING_TOKEN"\ntenant_id = "tnt_pfh0haxfpzowht3oi213cqos"\n'
                'reference_source = "C2"\n'),
}


@pytest.mark.parametrize("first", sorted(SECOND))
def test_two_connectors_on_one_account_are_refused_naming_both(tmp_path: Path,
                                                               first: str) -> None:
    path = tmp_path / "twice.toml"
    path.write_text(EXAMPLE.read_text() + "\n" + SECOND[first])
    commands = [["check", "--offline"]]
    if first == "kaiten":   # every command loads the config the same way: try each once
        commands += [["sync"], ["report"], ["status"], ["daemon"]]
    for command in commands:
        line = error_line(run(*command, "-c", str(path), cwd=tmp_path), 2)
        assert f"{path}: connectors.{first}2:" in line
        assert f"connectors.{first}" in line and "same" in line and "account" in line
    assert not (tmp_path / "timebridge.sqlite").exists()   # nothing was opened


@pytest.mark.parametrize(("extra", "why"), [
    ('[connectors.kaiten2]\ntype = "kaiten"\nbase_url = "https://other.kaiten.ru"\n'
     'token_env = "KAITEN_TOKEN"\nreference_source = "K2"\n', "another host"),
    ('[connectors.kaiten2]\ntype = "kaiten"\nbase_url = "https://example.kaiten.ru:8443"\n'
     'token_env = "KAITEN_TOKEN"\nreference_source = "K2"\n', "another port"),
    ('[connectors.tracker2]\ntype = "tracker"\nbase_url = "https://api.tracker.yandex.net"\n'
     'token_env = "TRACKER_TOKEN"\norg_id = "1"\nreference_source = "T2"\n', "another org"),
    ('[connectors.tracker2]\ntype = "tracker"\nbase_url = "https://api.tracker.yandex.net"\n'
     'token_env = "TRACKER_TOKEN"\ncloud_org_id = "7654321"\nreference_source = "T2"\n',
     "a cloud org, not an org"),
    ('[connectors.billing2]\ntype = "contracting"\n'
     'base_url = "https://api.contracting.kukkingu.software"\ntoken_env = "CONTRACTING_TOKEN"\n'
     'tenant_id = "tnt_other"\nreference_source = "C2"\n', "another tenant"),
])
def test_connectors_on_different_accounts_are_fine(tmp_path: Path, extra: str, why: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "two.toml"
    path.write_text(EXAMPLE.read_text() + "\n" + extra)
    assert len(load_config(path).config.connectors) == 4, why


def test_base_urls_compare_normalised() -> None:
    same = ["https://example.com", "HTTPS://EXAMPLE.com/", "https://example.com:443",
            "https://Example.COM:443//"]
    assert {normalise_base_url(u) for u in same} == {"https://example.com"}
    assert normalise_base_url("http://h:80/x/") == "http://h/x"
    assert normalise_base_url("http://h:443") == "http://h:443"
    assert normalise_base_url("https://h/Path") != normalise_base_url("https://h/path")


# --- 2. an in-memory store would forget, and bill twice ---------------------------------

@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:",
                                 "sqlite+pysqlite://", "sqlite:///file::memory:?uri=true"])
def test_an_in_memory_state_store_is_refused(tmp_path: Path, url: str) -> None:
    path = edited(tmp_path, 'url = "sqlite:///timebridge.sqlite"', f'url = "{url}"')
    line = error_line(run("check", "--offline", "-c", str(path)), 2)
    assert f"{path}: state.url: " in line and "in-memory" in line
    assert memory_store_problem(url)


def test_file_and_postgres_stores_are_not_in_memory() -> None:
    for url in ("sqlite:///timebridge.sqlite", "sqlite:////var/lib/tb.sqlite",
                "postgresql+psycopg://u@h/db", "postgresql://u@h/db"):
        assert memory_store_problem(url) is None, url


def test_an_in_memory_store_still_opens_when_built_directly() -> None:
    from bridge.store.state import StateStore

    with StateStore("sqlite://") as store:       # tests and tools use it; only configs may not
        assert store.links("r") == {}


# --- 4. report --output does not destroy what the bridge needs ---------------------------

def test_report_output_refuses_the_config_and_the_state_store(tmp_path: Path) -> None:
    path = edited(tmp_path, "window_days = 30", "window_days = 30")
    before = path.read_text()
    line = error_line(run("report", "-c", str(path), "--output", str(path)), 2)
    assert "--output" in line and "the config file" in line
    # the same file by another name: a relative path from another folder, and a link
    (tmp_path / "sub").mkdir()
    line = error_line(run("report", "-c", str(path), "--output", "../c.toml",
                          cwd=tmp_path / "sub"), 2)
    assert "the config file" in line
    (tmp_path / "link.toml").symlink_to(path)
    line = error_line(run("report", "-c", str(path), "--output", str(tmp_path / "link.toml")), 2)
    assert "the config file" in line
    assert path.read_text() == before
    # the state store file, existing or not yet
    state = tmp_path / "timebridge.sqlite"
    line = error_line(run("report", "-c", str(path), "--output", str(state)), 2)
    assert "the state store" in line and not state.exists()
    state.write_bytes(b"")
    line = error_line(run("report", "-c", str(path), "--output", str(state), "--format",
                          "json"), 2)
    assert "the state store" in line and state.read_bytes() == b""
    line = error_line(run("report", "-c", str(path), "--output", f"{state}-wal"), 2)
    assert "the state store" in line


def test_report_output_refuses_a_token_file(tmp_path: Path) -> None:
    token = tmp_path / "kaiten.token"
    token.write_text("file-token-abcdef\n")
    token.chmod(0o600)
    path = edited(tmp_path, 'token_env = "KAITEN_TOKEN"', 'token_file = "kaiten.token"')
    line = error_line(run("report", "-c", str(path), "--output", str(token)), 2)
    assert "token file" in line and "'kaiten'" in line
    assert token.read_text() == "file-token-abcdef\n"


def test_report_output_into_a_missing_folder_or_a_folder_is_one_line(tmp_path: Path) -> None:
    path = edited(tmp_path, "window_days = 30", "window_days = 30")
    missing = tmp_path / "no" / "such" / "report.html"
    line = error_line(run("report", "-c", str(path), "--format", "html", "--output",
                          str(missing)), 2)
    assert "--output" in line and "does not exist" in line and str(missing.parent) in line
    line = error_line(run("report", "-c", str(path), "--output", str(tmp_path)), 2)
    assert "--output" in line and "folder" in line
    assert not (tmp_path / "timebridge.sqlite").exists()   # refused before anything opened


# --- 5. chain warnings, linear in routes ------------------------------------------------

CONNECTORS = {
    "k": {"type": "kaiten", "base_url": "http://k", "token": "t0ken"},
    "t": {"type": "tracker", "base_url": "http://t", "token": "t0ken", "org_id": "1"},
    "b": {"type": "contracting", "base_url": "http://b", "token": "t0ken", "tenant_id": "x"},
    "b2": {"type": "contracting", "base_url": "http://b2", "token": "t0ken", "tenant_id": "x",
           "reference_source": "C2"},
}


def cubic_chain_warnings(cfg: Config) -> list[str]:
    """The definition, as it was first written (for each pair, scan every route); the
    wording is the product's own, the choice of pairs is what this checks."""
    warnings = []
    for first in cfg.routes:
        for second in cfg.routes:
            if first.target == second.source and second.target != first.source and \
                    not any(r.source == first.source and r.target == second.target
                            for r in cfg.routes):
                warnings.append(chain_warning(first, second))
    return warnings


def config_of(pairs: list[tuple[str, str]]) -> Config:
    routes = [{"name": f"r{i}", "source": s, "target": t} for i, (s, t) in enumerate(pairs)]
    return Config.model_validate({"connectors": CONNECTORS, "routes": routes})


def test_chain_warnings_are_the_same_as_the_definition_on_small_configs() -> None:
    rng = random.Random(7)
    names = list(CONNECTORS)
    seen_some = False
    for _ in range(300):
        pairs = []
        for _ in range(rng.randint(0, 8)):
            source, target = rng.sample(names, 2)
            pairs.append((source, target))
        cfg = config_of(pairs)
        expected = cubic_chain_warnings(cfg)
        assert cfg.chain_warnings() == expected, pairs
        seen_some = seen_some or bool(expected)
    assert seen_some


def test_chain_warnings_of_3000_routes_finish() -> None:
    # A thousand routes on each leg of k -> t -> b, and the direct k -> b: no warning.
    # The cubic definition needs about 2e9 steps here; an index needs a few thousand.
    pairs = [("k", "t")] * 1000 + [("t", "b")] * 1000 + [("k", "b")] * 1000
    assert config_of(pairs).chain_warnings() == []
    # Without the direct route: one warning per chained pair, in file order.
    pairs = [("k", "t")] * 1500 + [("t", "b")] * 2 + [("b2", "t")] * 1498
    warnings = config_of(pairs).chain_warnings()
    assert len(warnings) == 1500 * 2 + 1498 * 2
    assert warnings[0].startswith("routes 'r0' and 'r1500' chain k -> t -> b:")
    assert warnings[1].startswith("routes 'r0' and 'r1501' chain k -> t -> b:")


# --- 6. token hygiene -------------------------------------------------------------------

def test_a_token_file_that_never_ends_is_a_clear_error(tmp_path: Path) -> None:
    path = edited(tmp_path, 'token_env = "KAITEN_TOKEN"', 'token_file = "/dev/zero"')
    line = error_line(run("check", "--offline", "-c", str(path), timeout=30), 2)
    assert f"{path}: connectors.kaiten.token_file: /dev/zero:" in line and "64 KiB" in line


def test_a_huge_token_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.token"
    with big.open("wb") as handle:
        handle.truncate(10 * 1024 ** 3)              # sparse: 10 GiB that take no disk
    big.chmod(0o600)
    path = edited(tmp_path, 'token_env = "KAITEN_TOKEN"', 'token_file = "big.token"')
    with pytest.raises(ConfigError, match=r"connectors\.kaiten\.token_file: .*big\.token: "
                                          r"is 10737418240 bytes.*64 KiB"):
        load_config(path)


def test_a_fifo_without_a_writer_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "token.fifo"
    os.mkfifo(fifo, 0o600)
    path = edited(tmp_path, 'token_env = "KAITEN_TOKEN"', 'token_file = "token.fifo"')
    line = error_line(run("check", "--offline", "-c", str(path), timeout=30), 2)
    assert "connectors.kaiten.token_file" in line


def test_a_token_file_that_is_not_text_or_a_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "bin.token").write_bytes(b"\xff\xfe\x00token")
    path = edited(tmp_path, 'token_env = "KAITEN_TOKEN"', 'token_file = "bin.token"')
    assert "not UTF-8" in error_line(run("check", "--offline", "-c", str(path)), 2)
    (tmp_path / "dir.token").mkdir()
    path = edited(tmp_path, 'token_env = "KAITEN_TOKEN"', 'token_file = "dir.token"')
    assert "connectors.kaiten.token_file" in error_line(
        run("check", "--offline", "-c", str(path)), 2)


@pytest.mark.parametrize(("how", "token", "what"), [
    ("token", "abc\\ndef-token", "line break"),
    ("token", "abcé-token", "non-ASCII"),
    ("token", "abc def-token", "space"),
    ("token", "abc\\u0007def-token", "control character"),
    ("file", "first-line-token\nsecond-line-token\n", "line break"),
    ("env", "tok\u00e9n-value", "non-ASCII"),
])
def test_a_token_no_header_can_carry_is_one_line_naming_the_connector(
        tmp_path: Path, how: str, token: str, what: str) -> None:
    env = {}
    if how == "token":
        path = edited(tmp_path, 'token_env = "TRACKER_TOKEN"', f'token = "{token}"')
        key = "connectors.tracker.token"
    elif how == "file":
        (tmp_path / "t.token").write_text(token, encoding="utf-8")
        (tmp_path / "t.token").chmod(0o600)
        path = edited(tmp_path, 'token_env = "TRACKER_TOKEN"', 'token_file = "t.token"')
        key = "connectors.tracker.token_file"
    else:
        path, env, key = EXAMPLE, {"TRACKER_TOKEN": token}, "connectors.tracker.token_env"
    result = run("sync", "-c", str(path), env=env)
    line = error_line(result, 2)
    assert f"{path}: {key}: " in line and "'tracker'" in line and what in line
    assert "HTTP header" in line
    for piece in ("first-line-token", "tok\u00e9n", "def-token"):
        assert piece not in result.stderr + result.stdout


def test_an_inline_token_and_an_open_token_file_are_warned_about(tmp_path: Path) -> None:
    token = tmp_path / "billing.token"
    token.write_text("billing-file-token\n")
    token.chmod(0o644)
    path = edited(tmp_path, 'token_env = "KAITEN_TOKEN"', 'token = "inline-kaiten-token"')
    text = path.read_text().replace('token_env = "CONTRACTING_TOKEN"',
                                    'token_file = "billing.token"')
    path.write_text(text)
    result = run("check", "--offline", "-c", str(path))
    assert result.returncode == 0, result.stderr
    warnings = [x for x in result.stderr.splitlines() if x.startswith("timebridge: warning: ")]
    assert any("connectors.kaiten.token:" in w and "token_env or token_file" in w
               for w in warnings), result.stderr
    assert any("connectors.billing.token_file:" in w and "0644" in w and "chmod 600" in w
               for w in warnings), result.stderr
    assert "inline-kaiten-token" not in result.stderr + result.stdout
    assert "billing-file-token" not in result.stderr + result.stdout
    token.chmod(0o600)
    path.write_text(text.replace('token = "inline-kaiten-token"', 'token_env = "KAITEN_TOKEN"'))
    quiet = run("check", "--offline", "-c", str(path))
    assert quiet.returncode == 0 and "warning" not in quiet.stderr, quiet.stderr


def test_the_example_config_gets_no_warning() -> None:
    result = run("check", "--offline", "-c", str(EXAMPLE))
    assert result.returncode == 0 and result.stderr == "", result.stderr


# --- 7. a state store that cannot be written or fails mid-run: exit 1, one line -----------

def test_a_state_store_that_cannot_be_opened_is_exit_1(tmp_path: Path) -> None:
    for url in ("sqlite:////proc/timebridge/state.sqlite",
                "postgresql+psycopg://bridge:pw-secret-77@127.0.0.1:9/timebridge"):
        path = edited(tmp_path, 'url = "sqlite:///timebridge.sqlite"', f'url = "{url}"')
        # status only reads a store: an SQLite file that is not there is no run yet
        commands = [["sync"], ["report"]] + ([["status"]] if "postgresql" in url else [])
        for command in commands:
            result = run(*command, "-c", str(path))
            line = error_line(result, 1)
            assert "cannot open the state store" in line
            assert "pw-secret-77" not in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_state_store_in_a_read_only_folder_is_exit_1(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        path = edited(tmp_path, 'url = "sqlite:///timebridge.sqlite"',
                      f'url = "sqlite:///{folder}/state.sqlite"')
        assert "state store" in error_line(run("sync", "-c", str(path)), 1)
    finally:
        folder.chmod(0o755)


def test_a_state_store_failing_mid_run_is_that_routes_error(tmp_path: Path) -> None:
    # The store opens, then cannot lock the route (its lock file's place is a folder):
    # a StateError in the middle of the pass, not an internal error.
    path = edited(tmp_path, "window_days = 30", "window_days = 30")
    (tmp_path / "timebridge.sqlite.kaiten-billing.lock").mkdir()
    result = run("sync", "--route", "kaiten-billing", "--format", "json", "-c", str(path))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    [route] = json.loads(result.stdout)["routes"]
    assert route["route"] == "kaiten-billing"
    assert route["error"].startswith("state store failed: cannot lock route kaiten-billing")
    assert '"error": null' not in result.stdout


def test_a_state_store_failing_in_status_is_exit_1(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.cli.app import app
    from bridge.store.state import StateError, StateStore

    def down(self: StateStore) -> dict:
        raise StateError("cannot read the state store at sqlite:///x: disk I/O error")

    path = edited(tmp_path, "window_days = 30", "window_days = 30")
    StateStore(f"sqlite:///{tmp_path}/timebridge.sqlite").close()   # a store that exists
    monkeypatch.setattr(StateStore, "last_runs", down)
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["status", "-c", str(path)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "timebridge: error: cannot read the state store" in result.output



def test_an_inline_token_for_a_local_emulator_is_no_warning(tmp_path: Path) -> None:
    # The demo's config (emulators on loopback) holds its throwaway tokens inline.
    path = edited(tmp_path, 'token_env = "KAITEN_TOKEN"', 'token = "demo-kaiten-token"')
    path.write_text(path.read_text().replace('"https://example.kaiten.ru"',
                                             '"http://127.0.0.1:8080"'))
    result = run("check", "--offline", "-c", str(path))
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
