"""Logging: JSON lines off a terminal, readable lines on one, never a token, one handler."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import quote

import pytest

from bridge.cli.logs import setup_logging
from connectors.redact import LOG_FILTER, Redactor

TOKEN = "tok-logs-test-9f8e7d6c5b4a"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Leave the root logger and the noisy loggers as they were."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {n: logging.getLogger(n).level for n in ("httpx", "httpcore", "stamina")}
    LOG_FILTER.add([TOKEN])
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in noisy.items():
        logging.getLogger(name).setLevel(lvl)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_have_the_keys() -> None:
    stream = io.StringIO()
    setup_logging(stream=stream)
    logging.getLogger("timebridge.sync").info("route %s: %d actions", "kb", 3)
    logging.getLogger("timebridge.sync").debug("not at INFO")
    [doc] = lines(stream)
    assert {"ts", "level", "logger", "message"} <= doc.keys()
    assert doc["level"] == "INFO" and doc["logger"] == "timebridge.sync"
    assert doc["message"] == "route kb: 3 actions"
    ts = datetime.fromisoformat(doc["ts"].replace("Z", "+00:00"))
    assert ts.utcoffset().total_seconds() == 0


def test_debug_level_and_quiet_http_loggers() -> None:
    stream = io.StringIO()
    setup_logging(stream=stream)
    logging.getLogger("httpx").info("GET https://x/")
    assert stream.getvalue() == ""
    setup_logging(stream=stream, debug=True)
    logging.getLogger("httpx").info("GET https://x/")
    logging.getLogger("a.b").debug("detail")
    assert [d["message"] for d in lines(stream)] == ["GET https://x/", "detail"]


def test_stamina_s_bare_retry_line_is_left_to_debug() -> None:
    """connectors.http says each retry in full (API, request, attempt, delay); stamina's own
    "stamina.retry_scheduled" names none of them and is shown only with --debug."""
    stream = io.StringIO()
    setup_logging(stream=stream)
    logging.getLogger("stamina").warning("stamina.retry_scheduled")
    logging.getLogger("timebridge.http").warning("kaiten: GET /cards: 503; attempt 1 of 5")
    assert [d["message"] for d in lines(stream)] == ["kaiten: GET /cards: 503; attempt 1 of 5"]
    setup_logging(stream=stream, debug=True)
    logging.getLogger("stamina").warning("stamina.retry_scheduled")
    assert lines(stream)[-1]["message"] == "stamina.retry_scheduled"


def test_a_token_never_appears_whatever_the_logger() -> None:
    stream = io.StringIO()
    setup_logging(stream=stream, debug=True)
    other = logging.getLogger("some.other")
    assert LOG_FILTER not in other.filters   # scrubbed by the handler, not the logger
    other.warning("header Authorization: %s", TOKEN)
    other.info(f"inline {TOKEN} and OAuth abcdefgh")
    try:
        raise RuntimeError(f"request failed with {TOKEN}")
    except RuntimeError:
        other.exception("failed")
    out = stream.getvalue()
    assert TOKEN not in out
    docs = lines(stream)
    assert docs[0]["message"] == "header Authorization: ***"
    assert "abcdefgh" not in docs[1]["message"]
    assert "Traceback" in docs[2]["exc"]
    assert "RuntimeError: request failed with ***" in docs[2]["exc"]


def test_without_debug_only_the_last_line_of_a_traceback() -> None:
    stream = io.StringIO()
    setup_logging(stream=stream)
    try:
        raise ValueError(f"bad {TOKEN}")
    except ValueError:
        logging.getLogger("x").exception("oops")
    [doc] = lines(stream)
    assert "exc" not in doc and doc["error"] == "ValueError: bad ***"
    assert TOKEN not in stream.getvalue()


def test_calling_twice_gives_one_line_per_record() -> None:
    stream = io.StringIO()
    setup_logging(stream=stream)
    setup_logging(stream=stream)
    logging.getLogger("timebridge").warning("once")
    assert len(stream.getvalue().splitlines()) == 1


def test_human_lines_on_a_terminal() -> None:
    tty = FakeTty()
    setup_logging(stream=tty)
    logging.getLogger("some.other").warning("token %s is fine", TOKEN)
    try:
        raise KeyError("k")
    except KeyError:
        logging.getLogger("timebridge.sync").error("route failed", exc_info=True)
    out = ANSI.sub("", tty.getvalue())
    assert TOKEN not in out
    assert not out.lstrip().startswith("{")
    first, second = [line.rstrip() for line in out.splitlines() if line.strip()]
    assert re.match(r"\d\d:\d\d:\d\d +WARNING +some\.other: token \*\*\* is fine$", first)
    assert re.match(r"\d\d:\d\d:\d\d +ERROR +timebridge\.sync: route failed \(KeyError: 'k'\)$",
                    second)
    assert "Traceback" not in out


def test_human_lines_show_the_traceback_with_debug() -> None:
    tty = FakeTty()
    setup_logging(stream=tty, debug=True)
    try:
        raise RuntimeError(f"with {TOKEN}")
    except RuntimeError:
        logging.getLogger("timebridge").exception("failed")
    out = ANSI.sub("", tty.getvalue())
    assert "Traceback" in out and "RuntimeError: with ***" in out and TOKEN not in out


HOSTILE = "api said [/] [bold]no[/] \x1b[2J\x1b]0;pwned\x07 \x9b31m red\nFAKE 12:00:00 INFO ok"


def test_human_lines_carry_no_escape_sequence_from_a_message(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")          # wide enough for rich not to wrap the line
    tty = FakeTty()
    setup_logging(stream=tty)
    logging.getLogger("connectors.kaiten").warning("request failed: %s", HOSTILE)
    raw = tty.getvalue()
    assert "\x1b[2J" not in raw and "\x1b]" not in raw and "\x07" not in raw
    assert "\x9b" not in raw and "pwned" not in raw
    out = ANSI.sub("", raw)
    assert "\x1b" not in out                      # only rich's own colour codes had ESC
    [line] = [line for line in out.splitlines() if line.strip()]   # one line: no forged one
    assert "request failed: api said [/] [bold]no[/]" in line and "FAKE 12:00:00" in line


def test_human_debug_traceback_keeps_its_lines_but_no_escape_sequence() -> None:
    tty = FakeTty()
    setup_logging(stream=tty, debug=True)
    try:
        raise RuntimeError(HOSTILE)
    except RuntimeError:
        logging.getLogger("timebridge").exception("failed")
    out = ANSI.sub("", tty.getvalue())
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "Traceback" in out and "RuntimeError: api said [/] [bold]no[/]" in out


def test_json_lines_escape_control_characters_and_keep_the_message_exact() -> None:
    stream = io.StringIO()
    setup_logging(stream=stream)
    logging.getLogger("connectors.kaiten").warning("request failed: %s", HOSTILE)
    raw = stream.getvalue()
    assert raw.count("\n") == 1                   # the message's newline is escaped, not raw
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", raw)   # no raw ESC, BEL, C1 CSI
    [doc] = lines(stream)
    assert doc["message"] == f"request failed: {HOSTILE}"


# --- the redactor: a secret in any spelling a server may echo ---------------------------

SECRET = "y0_AgAAAAB-secret+token/42x"


def test_a_secret_is_scrubbed_upper_or_lower_cased() -> None:
    redact = Redactor([SECRET])
    for text in (SECRET, SECRET.upper(), SECRET.lower(), SECRET.swapcase()):
        assert redact(f"echo: {text} end") == "echo: *** end"


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
@pytest.mark.parametrize("padded", [True, False])
def test_a_secret_is_scrubbed_base64_encoded(encode, padded: bool) -> None:
    for secret in (SECRET, "abcd", "tok-ab?", "\u00e9t\u00e9-token"):
        encoded = encode(secret.encode()).decode()
        if not padded:
            encoded = encoded.rstrip("=")
        out = Redactor([secret])(f"header {encoded}, body")
        assert out == "header ***, body", (secret, encoded)


def test_a_secret_cut_short_is_scrubbed_from_8_characters_on() -> None:
    redact = Redactor([SECRET])
    assert redact(f"got {SECRET[:8]}...") == "got ***..."
    assert redact(f"got {SECRET[:15]}") == "got ***"
    assert redact(f"got {SECRET[:7]}!") == f"got {SECRET[:7]}!"   # too short to say
    assert redact(f"got {SECRET}{SECRET}") == "got ******"
    assert redact(f"got {SECRET}TAIL") == "got ***TAIL"             # only the secret goes
    encoded = base64.b64encode(SECRET.encode()).decode()
    assert redact(f"got {encoded[:12]}") == "got ***"
    assert redact(f"url /x?t={quote(SECRET, safe='')[:20]}") == "url /x?t=***"


def test_short_secrets_keep_their_old_rules() -> None:
    assert Redactor(["abc"])("abc ABC YWJj") == "abc ABC YWJj"    # under 4: ignored
    redact = Redactor(["abcd1"])
    assert redact("abcd1 ABCD1 x") == "*** *** x"
    assert redact("abcd") == "abcd"                                 # no prefix below 8
    assert redact("a/b") == "a/b" and Redactor(["a/b?c"])("q=a%2Fb%3Fc") == "q=***"
    assert Redactor(["", "ab"])("ab") == "ab"


def test_the_log_filter_scrubs_the_new_spellings() -> None:
    stream = io.StringIO()
    setup_logging(stream=stream)
    LOG_FILTER.add([SECRET])
    encoded = base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("=")
    logging.getLogger("timebridge").warning("echo %s %s %s", SECRET.upper(), encoded,
                                            SECRET[:10])
    [doc] = lines(stream)
    assert doc["message"] == "echo *** *** ***"
