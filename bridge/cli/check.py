"""``timebridge check`` without ``--offline``: credentials, then what each API really does.

For each connector: its token (``check()``), then its probes (``probe()``), each one
line: ``NAME: ok (who)`` for the token, ``NAME: PROBE: ok (...)`` or ``NAME: PROBE:
NOTE: ...`` on stdout, and ``NAME: [PROBE: ]FAILED: ...`` on stderr. Nothing is written
to any system. A connector whose token fails is not probed further.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from bridge.config.loader import LoadedConfig
from bridge.config.models import Config
from connectors.base import ConnectorError, DateWindow, ProbeUses, explain
from connectors.http import RetryPolicy
from connectors.registry import build_connector

Echo = Callable[[str, bool], None]   # (line, to stderr)
# A quick verdict: one retry, not the patient policy of a sync.
CHECK_RETRY = RetryPolicy(attempts=2, wait_initial=0.2)


def probe_uses(config: Config, name: str, today: date) -> ProbeUses:
    """What the routes need of connector ``name``: their widest window, filters and tasks."""
    reading = [r for r in config.routes if r.source == name]
    writing = [r for r in config.routes if r.target == name]
    days = max((r.window_days for r in reading + writing), default=30)
    tasks = [str(t) for r in writing
             for t in [*r.tasks.values(), *([] if r.default_task is None else [r.default_task])]]
    return ProbeUses(window=DateWindow(today - timedelta(days=days), today),
                     source_filters={r.name: {k: v for k, v in r.filter.items() if v}
                                     for r in reading},
                     tasks=tuple(dict.fromkeys(tasks)))


def check_online(loaded: LoadedConfig, today: date, echo: Echo) -> bool:
    """Check every connector; True when something failed (the command then exits 1)."""
    failed = False
    for name, conn_cfg in loaded.config.connectors.items():
        try:
            connector = build_connector(name, conn_cfg, loaded.credential(name),
                                        retry=CHECK_RETRY)
        except ConnectorError as exc:
            echo(f"{name}: FAILED: {explain(exc)}", True)
            failed = True
            continue
        try:
            try:
                who = connector.check()
            except ConnectorError as exc:
                echo(f"{name}: FAILED: {explain(exc)}", True)
                failed = True
                continue
            echo(f"{name}: ok ({who})", False)
            for result in connector.probe(probe_uses(loaded.config, name, today)):
                if result.level == "failed":
                    failed = True
                    echo(f"{name}: {result.name}: FAILED: {result.text}", True)
                else:
                    text = f"ok ({result.text})" if result.level == "ok" else \
                        f"NOTE: {result.text}"
                    echo(f"{name}: {result.name}: {text}", False)
        finally:
            connector.close()
    return failed
