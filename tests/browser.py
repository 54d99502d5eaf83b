"""A real headless browser for the HTML report's tests: Debian's Chromium, driven over the
DevTools protocol on a pipe (``--remote-debugging-pipe``), with the standard library only.

What a person sees is asked of the rendered page: ``document.body.innerText`` holds only
text that is rendered (nothing hidden by CSS), and an element's box says where it is on
the screen. A missing or broken Chromium is an error, never a skip: these checks are a
required part of the suite (``.ci/run`` installs Chromium when it is missing).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("TIMEBRIDGE_CHROMIUM", "/usr/bin/chromium")
HANG_SECONDS = 120


class BrowserError(AssertionError):
    """Chromium is missing, failed to start, or answered with an error."""


class Page:
    """One page open in a headless Chromium; use as a context manager."""

    def __init__(self, path: Path, width: int = 1280, height: int = 900) -> None:
        if not Path(CHROMIUM).exists():
            raise BrowserError(f"{CHROMIUM} is missing: apt-get install chromium "
                               "(.ci/run installs it)")
        self._profile = tempfile.mkdtemp(prefix="timebridge-chromium-")
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # Chromium reads commands on fd 3 and writes answers on fd 4.
        self._proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", f"--user-data-dir={self._profile}",
             f"--window-size={width},{height}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4, to_chrome_r, from_chrome_w),
            preexec_fn=lambda: (os.dup2(to_chrome_r, 3), os.dup2(from_chrome_w, 4)))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._out = os.fdopen(to_chrome_w, "wb", buffering=0)
        self._in = os.fdopen(from_chrome_r, "rb", buffering=0)
        self._buffer = b""
        self._next = 0
        self._events: list[str] = []   # events that came while waiting for an answer
        try:
            target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self._call("Target.attachToTarget",
                                       {"targetId": target, "flatten": True})["sessionId"]
            self._call("Page.enable", session=True)
            self._call("Page.navigate", {"url": path.resolve().as_uri()}, session=True)
            self._wait_event("Page.loadEventFired")
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for stream in (self._out, self._in):
            with contextlib.suppress(OSError):
                stream.close()
        self._proc.kill()
        self._proc.wait(timeout=30)
        shutil.rmtree(self._profile, ignore_errors=True)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (run by the test, not the page)."""
        answer = self._call("Runtime.evaluate", {"expression": expression,
                                                 "returnByValue": True}, session=True)
        if "exceptionDetails" in answer:
            raise BrowserError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def visible_text(self, selector: str = "body") -> str:
        """The text a person sees in the first element matching ``selector``."""
        return self.evaluate(f"document.querySelector({json.dumps(selector)}).innerText")

    def box(self, selector: str) -> dict[str, float] | None:
        """Where the element is drawn (CSS pixels from the page's top left), None if absent."""
        return self.evaluate(
            f"(() => {{const e = document.querySelector({json.dumps(selector)});"
            "if (!e) return null; const r = e.getBoundingClientRect();"
            "const s = getComputedStyle(e);"
            "return {top: r.top, left: r.left, width: r.width, height: r.height,"
            "visible: s.visibility === 'visible' && s.display !== 'none'};})()")

    # -- the protocol ----------------------------------------------------------------------

    def _send(self, method: str, params: dict[str, Any] | None, session: bool) -> int:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        self._out.write(json.dumps(message).encode() + b"\0")
        return self._next

    def _messages(self) -> Any:
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                yield json.loads(raw)
            # Never a hang: a Chromium that stops answering is an error (a bound, not a timing).
            if not select.select([self._in], [], [], HANG_SECONDS)[0]:
                raise BrowserError(f"Chromium did not answer in {HANG_SECONDS}s")
            chunk = self._in.read(65536)
            if not chunk:
                raise BrowserError("Chromium closed the DevTools pipe (did it start?)")
            self._buffer += chunk

    def _call(self, method: str, params: dict[str, Any] | None = None, *,
              session: bool = False) -> dict[str, Any]:
        wanted = self._send(method, params, session)
        for message in self._messages():
            if message.get("id") == wanted:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self._events.append(message["method"])
        raise AssertionError("unreachable")

    def _wait_event(self, method: str) -> None:
        if method in self._events:
            return
        for message in self._messages():
            if message.get("method") == method:
                return
