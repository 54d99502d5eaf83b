"""A progress display on stderr for backfill and long syncs.

One line per route (records read per side, actions applied, elapsed time) and,
when given rate limiters, a line with each API's pace, since on a long backfill
the limiter is usually why it is slow. Shown only on a terminal and not with
``--quiet``: stdout carries the machine-readable report and stays untouched
(the display never redirects stdout), and a disabled display writes nothing
anywhere and costs one attribute check per call.

Route and limiter names are shown as plain text (columns with ``markup=False``,
names through :func:`bridge.safe_text.for_terminal`): a ``[`` in a name is
neither styling nor a rich ``MarkupError``, and no escape sequence is printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    ProgressColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from bridge.cli.logs import stderr_console
from bridge.safe_text import for_terminal
from connectors.ratelimit import RateLimiter

Limiters = Mapping[str, RateLimiter] | Callable[[], Mapping[str, RateLimiter]]


def shared_limiters() -> dict[str, RateLimiter]:
    """Every process-wide limiter (``RateLimiter.shared``), labelled by the API's type.

    Connectors are built lazily during a pass, so pass this function itself (not
    its result) as ``limiters``: it is read at each refresh. Registry keys hold a
    digest of the token; only their first word (``kaiten``, ``tracker``,
    ``contracting``) is shown.
    """
    with RateLimiter._registry_lock:
        items = list(RateLimiter._registry.items())
    named: dict[str, RateLimiter] = {}
    for key, limiter in items:
        label = key.replace(":", " ").split(" ", 1)[0] or "api"
        n, unique = 2, label
        while unique in named:  # two accounts on one API: kaiten, kaiten#2
            unique, n = f"{label}#{n}", n + 1
        named[unique] = limiter
    return named


def pace_text(limiters: Mapping[str, RateLimiter]) -> str:
    """``kaiten 5/s: 120 requests, waited 3.2 s · ...`` for the limiters that were used."""
    parts = []
    for name, limiter in limiters.items():
        if not limiter.requests:
            continue
        rps = limiter.requests_per_second
        rate = f"{rps:g}/s" if rps else "unlimited"
        parts.append(f"{for_terminal(name)} {rate}: {limiter.requests} requests, "
                     f"waited {limiter.waited_seconds:.1f} s")
    return " · ".join(parts)


class _Display(RichProgress):
    """rich's Progress plus one line of rate-limiter pace under the route lines."""

    def __init__(self, *columns: str | ProgressColumn, pace: Callable[[], str],
                 **kw: Any) -> None:
        # Set first: rich's constructor already renders once through get_renderables.
        self._pace = pace
        super().__init__(*columns, **kw)

    def get_renderables(self) -> Iterable[RenderableType]:
        yield from super().get_renderables()
        text = self._pace()
        if text:
            yield Text("pace  " + text, style="dim")


class Progress:
    """Progress of route passes on stderr; a context manager.

    ``route(name)`` starts a route's line, ``read(side, count)`` sets how many
    records a side has yielded so far, ``applied(n)`` counts actions applied.
    ``callback()`` adapts it to ``run_pass(progress=...)``.
    """

    def __init__(self, *, enabled: bool, console: Console | None = None,
                 limiters: Limiters | None = None) -> None:
        self.enabled = enabled
        self._limiters = limiters
        self._display: _Display | None = None
        self._line: RouteLine | None = None   # the line of route(), one route at a time
        if enabled:
            # Built only when enabled: a disabled Progress touches no console at all.
            self._display = _Display(
                SpinnerColumn(finished_text="[green]✓[/]"),
                TextColumn("{task.description}", style="bold", markup=False),
                BarColumn(bar_width=16),
                TextColumn("{task.fields[detail]}", markup=False),
                TimeElapsedColumn(),
                pace=self._pace,
                console=console or stderr_console(),
                # Never redirect stdout: it carries the JSON/CSV report.
                redirect_stdout=False, redirect_stderr=False,
                refresh_per_second=4,
            )

    @classmethod
    def auto(cls, quiet: bool, *, limiters: Limiters | None = None) -> Progress:
        """Enabled when stderr is a terminal and not ``quiet`` (pipes and cron get nothing)."""
        enabled = not quiet and sys.stderr.isatty()
        return cls(enabled=enabled, limiters=limiters)

    def __enter__(self) -> Progress:
        if self._display is not None:
            self._display.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._display is not None:
            self._finish_route()
            self._display.stop()

    # --- what the sync reports -------------------------------------------------------------

    def route(self, name: str) -> None:
        """A new route starts: the previous line is marked done, a new one begins."""
        if self._display is None:
            return
        self._finish_route()
        self._line = self.line(name)

    def read(self, side: str, count: int) -> None:
        """``side`` (source, target) has yielded ``count`` records so far in this route."""
        self._hook(f"read {side}", count)

    def applied(self, n: int = 1) -> None:
        """``n`` more actions of this route were applied."""
        self._hook("applied", n)

    def callback(self) -> Callable[[str, int], None]:
        """A ``progress(stage, n)`` hook for ``run_pass``: ``"read source"``/``"read target"``
        set a side's count, ``"applied"`` adds ``n`` applied actions."""
        return _ignore if self._display is None else self._hook

    def line(self, name: str) -> RouteLine:
        """A line of its own for route ``name``, for routes that run at the same time."""
        task = None
        if self._display is not None:
            task = self._display.add_task(for_terminal(name), total=None, detail="starting")
        return RouteLine(self._display, task)

    # --- rendering -------------------------------------------------------------------------

    def _hook(self, stage: str, n: int) -> None:
        if self._display is None:
            return
        if self._line is None:
            # Counts reported before any route() still get a line rather than vanishing.
            self._line = self.line("sync")
        self._line.hook(stage, n)

    def _finish_route(self) -> None:
        if self._line is not None:
            self._line.finish()
            self._line = None

    def _pace(self) -> str:
        limiters = self._limiters
        if limiters is None:
            return ""
        return pace_text(limiters() if callable(limiters) else limiters)


class RouteLine:
    """One route's line of a :class:`Progress`: ``hook`` is its ``run_pass(progress=...)``."""

    def __init__(self, display: _Display | None, task: TaskID | None) -> None:
        self._display, self._task = display, task
        self._counts: dict[str, int] = {}
        self._applied = 0

    def hook(self, stage: str, n: int) -> None:
        if self._display is None or self._task is None:
            return
        if stage == "applied":
            self._applied += n
        else:
            self._counts[stage.removeprefix("read ")] = n
        self._display.update(self._task, detail=self._detail())

    def finish(self) -> None:
        """The route is over: the bar full, the spinner and the clock stopped."""
        if self._display is not None and self._task is not None:
            self._display.update(self._task, total=1, completed=1, detail=self._detail())

    def _detail(self) -> str:
        parts = [f"{for_terminal(side)} {count:,}" for side, count in self._counts.items()]
        if self._applied:
            parts.append(f"applied {self._applied:,}")
        return " · ".join(parts) or "starting"


def _ignore(stage: str, n: int) -> None:
    """The disabled hook: nothing to do, nothing written."""
