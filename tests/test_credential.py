"""Tokens that change: a ``token_file`` rotated by something else is picked up after a 401."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from bridge.config.loader import load_config
from bridge.engine.runtime import Runtime
from connectors.base import AuthError
from connectors.credential import Credential
from connectors.emulator import EmulatorServer
from connectors.http import RetryPolicy
from connectors.kaiten.client import KaitenConnector
from connectors.kaiten.config import KaitenConfig
from connectors.kaiten.emulator import KaitenEmulator

OLD, NEW = "tok-OLD-1111aaaa", "tok-NEW-2222bbbb"
FAST = RetryPolicy(attempts=2, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)


@pytest.fixture
def kaiten() -> Iterator[tuple[KaitenEmulator, EmulatorServer]]:
    emulator = KaitenEmulator(rate=1000)
    emulator.add_user("Bridge Bot", token=OLD)
    with emulator.serve() as server:
        yield emulator, server


def rotate(emulator: KaitenEmulator, file: Path) -> None:
    """What an external refresher does: the old token stops working, the file holds a new one."""
    user = emulator.tokens.pop(OLD)
    emulator.tokens[NEW] = user
    file.write_text(NEW + "\n", encoding="utf-8")


def connector(server: EmulatorServer, token: str | Credential) -> KaitenConnector:
    config = KaitenConfig(type="kaiten", base_url=server.base_url, token_env="UNUSED",
                          requests_per_second=1000)
    return KaitenConnector("kaiten", config, token, retry=FAST)


def test_a_401_rereads_the_token_file_once_and_goes_on(
        kaiten, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    emulator, server = kaiten
    file = tmp_path / "kaiten.token"
    file.write_text(OLD, encoding="utf-8")
    caplog.set_level(logging.DEBUG)
    with closing(connector(server, Credential(OLD, file))) as conn:
        assert "Bridge Bot" in conn.check()
        rotate(emulator, file)
        assert "Bridge Bot" in conn.check()   # one 401, the file read again, asked again
        assert server.log.count(status=401) == 1 and server.log.count(status=200) == 2
        assert "Bridge Bot" in conn.check()   # the new token is kept: no 401 any more
        assert server.log.count(status=401) == 1
    assert NEW not in caplog.text and OLD not in caplog.text


def test_an_unchanged_or_missing_file_fails_at_once_without_a_loop(kaiten, tmp_path: Path) -> None:
    emulator, server = kaiten
    file = tmp_path / "kaiten.token"
    file.write_text(OLD, encoding="utf-8")
    with closing(connector(server, Credential(OLD, file))) as conn:
        emulator.tokens.clear()                       # revoked, and no new token written
        with pytest.raises(AuthError) as caught:
            conn.check()
        assert server.log.count(status=401) == 1 and OLD not in str(caught.value)
        file.unlink()                                 # the refresher is half-way: no file
        with pytest.raises(AuthError):
            conn.check()
        assert server.log.count(status=401) == 2


def test_a_static_token_is_never_reread(kaiten) -> None:
    emulator, server = kaiten
    with closing(connector(server, OLD)) as conn:
        emulator.tokens.clear()
        with pytest.raises(AuthError):
            conn.check()
        assert server.log.count(status=401) == 1


def test_a_config_with_token_file_rotates_without_a_restart(kaiten, tmp_path: Path) -> None:
    emulator, server = kaiten
    file = tmp_path / "secrets" / "kaiten.token"
    file.parent.mkdir()
    file.write_text(OLD, encoding="utf-8")
    config = tmp_path / "timebridge.toml"
    config.write_text(f'''
[connectors.kaiten]
type = "kaiten"
base_url = "{server.base_url}"
token_file = "secrets/kaiten.token"
requests_per_second = 1000
''', encoding="utf-8")
    runtime = Runtime(load_config(config), retry=FAST)
    try:
        conn = runtime.connector("kaiten")
        assert "Bridge Bot" in conn.check()
        rotate(emulator, file)
        assert "Bridge Bot" in runtime.connector("kaiten").check()
    finally:
        runtime.close()



def test_a_rotated_file_that_holds_no_usable_token_keeps_the_current_one(tmp_path: Path) -> None:
    file = tmp_path / "token"
    credential = Credential(OLD, file)
    file.write_text("two\nlines", encoding="utf-8")       # no header can carry it
    assert credential.reload() is None and credential.value == OLD
    file.write_bytes(b"x" * (65 * 1024))                   # far more than any token
    assert credential.reload() is None and credential.value == OLD
    file.write_text(NEW, encoding="utf-8")
    assert credential.reload() == NEW and credential.value == NEW
