"""The HTML report's chart: hours per work date, an inline SVG with both axes labelled.

No script and nothing fetched (see :mod:`bridge.report.html`). The y axis is in hours
with round ticks; the x axis has one bar per date that has hours, labelled ``MM-DD``;
each bar's exact duration is in its ``<title>`` (shown on hover) as ``h:mm``.
"""

from __future__ import annotations

import html
import math

from bridge.report.truth import hm
from bridge.safe_text import for_file

BAR, GAP, HEIGHT, TOP, BOTTOM, LEFT = 28, 10, 160, 24, 46, 56


def _e(text: object) -> str:
    return html.escape(for_file(text), quote=True)


def _step(peak_hours: float) -> float:
    """A round tick step (0.25, 0.5, 1, 2, 5, 10 ... hours) giving at most 5 ticks."""
    for step in (0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        if peak_hours / step <= 5:
            return step
    return 10 ** math.ceil(math.log10(peak_hours / 5))


def _tick(hours: float) -> str:
    return f"{hours:g}"


def chart(chart_id: str, per_day: dict[str, int], caption: str) -> str:
    """Bars of hours per day (days with hours only); ``caption`` names what is counted."""
    days = sorted(d for d, s in per_day.items() if s > 0)
    if not days:
        return "<p>No durations to chart.</p>"
    peak = max(per_day[d] for d in days) / 3600
    step = _step(peak)
    top_hours = step * math.ceil(peak / step)
    width = LEFT + len(days) * (BAR + GAP) + GAP
    total_h = TOP + HEIGHT + BOTTOM
    base = TOP + HEIGHT

    def y(hours: float) -> float:
        return base - hours / top_hours * HEIGHT

    parts = [f'<figure><svg id="{_e(chart_id)}" role="img" aria-label="{_e(caption)}" '
             f'width="{width}" height="{total_h}" viewBox="0 0 {width} {total_h}">']
    ticks = [step * i for i in range(round(top_hours / step) + 1)]
    for value in ticks:   # the y axis: gridlines and their hours
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y(value):.1f}" x2="{width}" '
                     f'y2="{y(value):.1f}"/><text class="tick y" x="{LEFT - 6}" '
                     f'y="{y(value) + 4:.1f}" text-anchor="end">{_e(_tick(value))}</text>')
    for i, day in enumerate(days):
        seconds = per_day[day]
        h = max(1.0, seconds / 3600 / top_hours * HEIGHT)
        x = LEFT + GAP + i * (BAR + GAP)
        parts.append(f'<rect class="bar" x="{x}" y="{base - h:.1f}" width="{BAR}" '
                     f'height="{h:.1f}"><title>{_e(f"{day}: {hm(seconds)} h")}</title></rect>'
                     f'<text class="tick x" x="{x + BAR / 2}" y="{base + 14}" '
                     f'text-anchor="middle">{_e(day[5:])}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}"/>'
                 f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{width}" y2="{base}"/>'
                 f'<text class="axis-label y" x="14" y="{TOP + HEIGHT / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {TOP + HEIGHT / 2})">hours</text>'
                 f'<text class="axis-label x" x="{LEFT + (width - LEFT) / 2}" y="{total_h - 8}" '
                 'text-anchor="middle">work date (month-day)</text></svg>'
                 f"<figcaption>{_e(caption)}</figcaption></figure>")
    return "".join(parts)
