"""The ``[daemon]`` table: where the daemon's HTTP listener binds, its webhook secret, and
how stale a route may get before ``/readyz`` fails.

Optional as a whole: without ``[daemon]`` the daemon opens no port. Inside it every key
has a default except the secret, which is only needed to accept webhooks. Reading the
secret (from the environment or a file) is :mod:`bridge.config.loader`'s work, as it is
for connector tokens; this module only says what a valid table is.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import Field, field_validator, model_validator

from connectors.config import Strict

DEFAULT_LISTEN = "127.0.0.1:9464"
_EXAMPLE = 'such as "127.0.0.1:9464", "0.0.0.0:9464" or "[::1]:9464"'
# A DNS name: dot-separated labels of letters, digits and inner hyphens.
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (an IPv6 host in brackets) as ``(host, port)``, the host without
    brackets; ValueError with the reason and an example otherwise."""
    value = text.strip()
    if "://" in value:
        raise ValueError(f"HOST:PORT, not a URL, {_EXAMPLE} (got {text!r})")
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT {_EXAMPLE} (got {text!r})")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"an IPv6 address goes in brackets, {_EXAMPLE} (got {text!r})")
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"not an IPv6 address in brackets: {host!r} "
                             f"(got {text!r})") from None
    elif ":" in host:
        raise ValueError(f"an IPv6 address goes in brackets, {_EXAMPLE} (got {text!r})")
    elif not _HOSTNAME.fullmatch(host):
        raise ValueError(f"not a host name or IP address: {host!r}; expected HOST:PORT "
                         f"{_EXAMPLE} (got {text!r})")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"the port must be a number from 1 to 65535 (got {text!r})")
    return host, int(port_text)


class DaemonConfig(Strict):
    """``[daemon]``: the listener of ``/healthz``, ``/readyz``, ``/metrics`` and webhooks."""

    listen: str = DEFAULT_LISTEN
    webhook_secret_env: str | None = Field(default=None, min_length=1)
    webhook_secret_file: str | None = Field(default=None, min_length=1)
    # /readyz fails when a route's last good pass is older than this many of its periods.
    ready_max_age: float = Field(default=3, gt=0, allow_inf_nan=False)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value.strip()

    @model_validator(mode="after")
    def _one_secret(self) -> DaemonConfig:
        if self.webhook_secret_env is not None and self.webhook_secret_file is not None:
            raise ValueError("give one of webhook_secret_env and webhook_secret_file, "
                             "not both")
        return self

    @property
    def host(self) -> str:
        """The address to bind, without an IPv6 address's brackets."""
        return parse_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return parse_listen(self.listen)[1]

    @property
    def webhooks_configured(self) -> bool:
        """Whether a secret is configured, without which no webhook is accepted."""
        return self.webhook_secret_env is not None or self.webhook_secret_file is not None
