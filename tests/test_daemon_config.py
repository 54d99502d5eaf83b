"""``[daemon]``: the listen address, the webhook secret and ``ready_max_age``; every mistake
is one line naming the file and the key, from the loader and from the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_bad_config import error_line, run
from test_config import EXAMPLE, TOKENS

from bridge.config.daemon import DEFAULT_LISTEN, parse_listen
from bridge.config.loader import ConfigError, load_config

SECRET_ENV = "TB_TEST_HOOK_SECRET"


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in TOKENS.items():
        monkeypatch.setenv(key, value)


def with_daemon(tmp_path: Path, table: str) -> Path:
    """The example config with ``table`` (the body of ``[daemon]``) appended."""
    path = tmp_path / "d.toml"
    path.write_text(EXAMPLE.read_text() + "\n[daemon]\n" + table + "\n")
    return path


def error(tmp_path: Path, table: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(with_daemon(tmp_path, table))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_without_daemon_there_is_no_listener_and_no_secret() -> None:
    loaded = load_config(EXAMPLE)
    assert loaded.config.daemon is None and loaded.webhook_secret is None


def test_the_defaults(tmp_path: Path) -> None:
    loaded = load_config(with_daemon(tmp_path, ""))
    daemon = loaded.config.daemon
    assert daemon is not None
    assert (daemon.listen, daemon.host, daemon.port, daemon.ready_max_age) == \
        (DEFAULT_LISTEN, "127.0.0.1", 9464, 3)
    assert loaded.webhook_secret is None and not daemon.webhooks_configured


def test_the_example_block_uncommented_is_valid(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    text = EXAMPLE.read_text()
    block = text[text.index("\n# [daemon]\n"):]
    lines = [line.removeprefix("# ") for line in block.splitlines()[1:]]
    assert [line.split(" ")[0] for line in lines] == \
        ["[daemon]", "listen", "webhook_secret_env", "ready_max_age"], lines
    monkeypatch.setenv("TIMEBRIDGE_WEBHOOK_SECRET", "from-the-example")
    path = tmp_path / "example.toml"
    path.write_text(text + "\n" + "\n".join(lines) + "\n")
    loaded = load_config(path)
    assert loaded.config.daemon is not None and loaded.config.daemon.listen == DEFAULT_LISTEN
    assert loaded.webhook_secret is not None
    assert loaded.webhook_secret.get_secret_value() == "from-the-example"


@pytest.mark.parametrize(("listen", "host", "port"), [
    ("127.0.0.1:9464", "127.0.0.1", 9464), ("0.0.0.0:1", "0.0.0.0", 1),
    ("[::1]:9464", "::1", 9464), ("[::]:65535", "::", 65535),
    ("localhost:8080", "localhost", 8080), ("bridge.internal:9464", "bridge.internal", 9464),
    (" 127.0.0.1:9464 ", "127.0.0.1", 9464),
])
def test_listen_addresses(listen: str, host: str, port: int) -> None:
    assert parse_listen(listen) == (host, port)


@pytest.mark.parametrize(("listen", "says"), [
    ("9464", "expected HOST:PORT"), (":9464", "expected HOST:PORT"),
    ("127.0.0.1", "expected HOST:PORT"), ("127.0.0.1:", "port must be a number"),
    ("127.0.0.1:0", "port must be a number from 1 to 65535"),
    ("127.0.0.1:65536", "port must be a number from 1 to 65535"),
    ("127.0.0.1:http", "port must be a number"), ("127.0.0.1:-1", "port must be a number"),
    ("::1:9464", "an IPv6 address goes in brackets"),
    ("[::1:9464", "an IPv6 address goes in brackets"),
    ("[example.com]:9464", "not an IPv6 address in brackets"),
    ("my host:9464", "not a host name or IP address"),
    ("http://127.0.0.1:9464", "HOST:PORT, not a URL"),
])
def test_a_bad_listen_address_is_one_line(tmp_path: Path, listen: str, says: str) -> None:
    message = error(tmp_path, f'listen = "{listen}"')
    assert message.startswith(f"{tmp_path / 'd.toml'}: daemon.listen: "), message
    assert says in message, message


@pytest.mark.parametrize(("table", "expected"), [
    ('port = 9464', "daemon.port: unknown key (check the spelling; see config.example.toml)"),
    ('listn = "127.0.0.1:9464"', "daemon.listn: unknown key (check the spelling; see "
                                 "config.example.toml); did you mean 'listen'?"),
    (f'webhook_secret_env = "{SECRET_ENV}"\nwebhook_secret_file = "hook.secret"',
     "daemon: give one of webhook_secret_env and webhook_secret_file, not both"),
    ("ready_max_age = 0", "daemon.ready_max_age: Input should be greater than 0 (got 0)"),
    ("ready_max_age = -2", "daemon.ready_max_age: Input should be greater than 0 (got -2)"),
    ('ready_max_age = "three"', "daemon.ready_max_age: Input should be a valid number"),
    ("ready_max_age = inf", "daemon.ready_max_age: Input should be a finite number"),
    ('webhook_secret_env = ""', "daemon.webhook_secret_env: String should have at least 1 "
                                "character"),
    ("listen = 9464", "daemon.listen: Input should be a valid string (got 9464)"),
])
def test_daemon_mistakes_are_one_line(tmp_path: Path, table: str, expected: str) -> None:
    message = error(tmp_path, table)
    assert message.startswith(f"{tmp_path / 'd.toml'}: {expected}"), message


def test_the_secret_from_the_environment(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    table = f'webhook_secret_env = "{SECRET_ENV}"'
    monkeypatch.delenv(SECRET_ENV, raising=False)
    assert error(tmp_path, table) == (f"{tmp_path / 'd.toml'}: daemon.webhook_secret_env: "
                                      f"environment variable {SECRET_ENV} is not set or empty")
    monkeypatch.setenv(SECRET_ENV, "two words")
    assert "daemon.webhook_secret_env: the webhook secret holds" in error(tmp_path, table)
    monkeypatch.setenv(SECRET_ENV, "  s3cret-hook \n")
    loaded = load_config(with_daemon(tmp_path, table))
    assert loaded.webhook_secret is not None
    assert loaded.webhook_secret.get_secret_value() == "s3cret-hook"
    assert "s3cret-hook" not in repr(loaded)


def test_the_secret_from_a_file_beside_the_config(tmp_path: Path) -> None:
    table = 'webhook_secret_file = "hook.secret"'
    missing = error(tmp_path, table)
    assert missing.startswith(f"{tmp_path / 'd.toml'}: daemon.webhook_secret_file: cannot "
                              f"read {tmp_path / 'hook.secret'}: ")
    secret = tmp_path / "hook.secret"
    secret.write_text("file-hook-secret\n")
    secret.chmod(0o644)
    loaded = load_config(with_daemon(tmp_path, table))
    assert loaded.webhook_secret is not None
    assert loaded.webhook_secret.get_secret_value() == "file-hook-secret"
    (warning,) = [w for w in loaded.warnings if "webhook_secret_file" in w]
    assert "can be read by group or others (mode 0644)" in warning
    secret.chmod(0o600)
    assert not [w for w in load_config(with_daemon(tmp_path, table)).warnings
                if "webhook_secret_file" in w]
    secret.write_text("\n")
    assert error(tmp_path, table).endswith("daemon.webhook_secret_file: the secret is empty")


def test_check_says_it_in_one_line_and_exit_2(tmp_path: Path) -> None:
    path = with_daemon(tmp_path, 'listen = "[::1:9464"')
    line = error_line(run("check", "--offline", "--config", str(path)), 2)
    assert f"{path}: daemon.listen: an IPv6 address goes in brackets" in line
    path = with_daemon(tmp_path, f'webhook_secret_env = "{SECRET_ENV}"')
    assert SECRET_ENV not in os.environ
    line = error_line(run("daemon", "--config", str(path)), 2)
    assert line.endswith(f"daemon.webhook_secret_env: environment variable {SECRET_ENV} is "
                         "not set or empty")
