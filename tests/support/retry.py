"""The retry policy every contract harness gives its connector: real retries, tiny waits."""

from __future__ import annotations

from connectors.http import RetryPolicy

FAST_RETRY = RetryPolicy(attempts=4, wait_initial=0.01, wait_max=0.05, wait_jitter=0.0,
                         max_rate_limit_wait=5)
