"""Logging for the command line: readable lines on a terminal, JSON lines elsewhere.

``setup_logging`` installs ONE handler on the root logger, so records of every
logger (ours, httpx, a library's) pass through it, and it attaches
:data:`connectors.redact.LOG_FILTER` to that handler rather than to loggers:
a logger's filters only see records logged on that very logger, while a
handler's filters see every record it is about to write. That is what keeps a
token out of the logs whatever logger, message or traceback carries it.

Tracebacks are written only with ``debug=True`` (INTERFACE.md: "never a
traceback, --debug shows one"); without it the exception's last line is kept,
so a failure still says why.

Messages often quote an API's answer. On a terminal the human formatter passes
them through :func:`bridge.safe_text.for_terminal`: no escape sequence or
control character reaches the screen, and a message is one line (a forged
second "log line" cannot be slipped in); a debug traceback keeps its lines.
JSON lines need no stripping: ``json.dumps`` escapes C0 controls (ESC, BEL,
newlines) and :func:`bridge.safe_text.json_for_terminal` the C1 ones.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from functools import cache
from typing import IO, Any

from rich.console import Console
from rich.highlighter import NullHighlighter
from rich.logging import RichHandler

from bridge.safe_text import for_terminal, json_for_terminal
from connectors.redact import LOG_FILTER

# Loggers that are chatty at INFO (httpx logs every request URL): WARNING unless debugging.
NOISY_LOGGERS = ("httpx", "httpcore", "stamina")
# Marks the handler this module installed, so a second call replaces it instead of adding one.
_MARK = "_timebridge_handler"


@cache
def stderr_console() -> Console:
    """The process's one rich console on stderr, shared by logs and the progress display.

    Sharing it matters: rich prints a log line above a live progress display only
    when both go through the same console; two consoles would tear the display.
    ``stderr=True`` resolves ``sys.stderr`` at each write, so a swapped stderr
    (tests, CliRunner) is followed.
    """
    return Console(stderr=True)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (ISO 8601 UTC), ``level``, ``logger``, ``message``.

    ``exc`` holds the (already redacted) traceback when debugging; otherwise
    ``error`` holds its last line (``ValueError: ...``), never the frames.
    """

    def __init__(self, *, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        doc: dict[str, Any] = {"ts": ts.replace("+00:00", "Z"), "level": record.levelname,
                               "logger": record.name, "message": record.getMessage()}
        trace = _traceback(record, self)
        if trace:
            if self.debug:
                doc["exc"] = trace
            else:
                doc["error"] = _last_line(trace)
        return json_for_terminal(json.dumps(doc, ensure_ascii=False, default=str))


class HumanFormatter(logging.Formatter):
    """``logger: message`` (RichHandler adds time and level); the traceback only when debugging.

    Safe for a terminal: escape sequences and control characters are removed and
    the message is kept on one line; only a debug traceback spans several lines.
    """

    def __init__(self, *, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        text = for_terminal(f"{record.name}: {record.getMessage()}")
        trace = _traceback(record, self)
        if trace:
            text += ("\n" + for_terminal(trace, newlines=True) if self.debug
                     else f" ({for_terminal(_last_line(trace))})")
        return text


def _traceback(record: logging.LogRecord, formatter: logging.Formatter) -> str:
    """The record's traceback text. LOG_FILTER has normally turned ``exc_info`` into a
    redacted ``exc_text`` already; ``exc_info`` is formatted only as a fallback."""
    parts = []
    if record.exc_text:
        parts.append(record.exc_text)
    elif record.exc_info:
        parts.append(formatter.formatException(record.exc_info))
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


class _StreamHandler(logging.StreamHandler):
    """A StreamHandler that, given no stream, writes to whatever ``sys.stderr`` is now.

    The stock handler binds the stderr of the moment it was made; a test runner or
    a CLI runner that swaps stderr would then see nothing.
    """

    def __init__(self, stream: IO[str] | None) -> None:
        logging.Handler.__init__(self)
        self._fixed = stream

    @property
    def stream(self) -> IO[str]:
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        self._fixed = value


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _human_handler(stream: IO[str] | None, debug: bool) -> logging.Handler:
    console = stderr_console() if stream is None else Console(file=stream)
    handler = RichHandler(console=console, show_path=False, markup=False,
                          rich_tracebacks=False,  # LOG_FILTER has replaced exc_info anyway
                          highlighter=NullHighlighter(), log_time_format="%H:%M:%S",
                          omit_repeated_times=False)
    handler.setFormatter(HumanFormatter(debug=debug))
    return handler


def setup_logging(*, debug: bool = False, stream: IO[str] | None = None) -> None:
    """Send every logger's records to stderr (or ``stream``), scrubbed of secrets.

    A terminal gets readable lines (time, level, logger, message); anything else
    (a file, a pipe, a log collector) gets JSON lines. Level INFO, DEBUG with
    ``debug``. Calling it again replaces the handler it installed before.
    """
    target = sys.stderr if stream is None else stream
    if _is_terminal(target):
        handler = _human_handler(stream, debug)
    else:
        handler = _StreamHandler(stream)
        handler.setFormatter(JsonFormatter(debug=debug))
    handler.addFilter(LOG_FILTER)
    setattr(handler, _MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for name in NOISY_LOGGERS:
        # NOTSET under debug: inherit DEBUG from the root, and undo an earlier WARNING.
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)
    # stamina's own retry line names no API, request or delay; connectors.http logs each
    # retry in full, so stamina's is kept for --debug only.
    logging.getLogger("stamina").setLevel(logging.NOTSET if debug else logging.ERROR)
