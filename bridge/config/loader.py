"""Finding, reading and validating the config file; secrets; "today".

Every mistake becomes a :class:`ConfigError` whose message is one line naming
the file, the key and what is wrong; the CLI prints it and exits 2. Secrets are
resolved here (``token_env``, ``token_file`` or ``token``) and kept as
:class:`pydantic.SecretStr`, so they never show in a repr, a log or a report.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bridge.config.keys import suggestion
from bridge.config.models import Config
from connectors.config import ConnectorBase
from connectors.credential import Credential, TokenFileError, read_token_file, unsendable
from connectors.registry import CONNECTOR_TYPES, known_types

DEFAULT_CONFIG_NAME = "timebridge.toml"


class ConfigError(Exception):
    """A bad config, path, variable or secret. ``str()`` is the one line to print."""


class EnvSettings(BaseSettings):
    """The bridge's environment variables (``TIMEBRIDGE_CONFIG``, ``TIMEBRIDGE_TODAY``)."""

    model_config = SettingsConfigDict(env_prefix="TIMEBRIDGE_", extra="ignore")

    config: str | None = None
    today: str | None = None


def today() -> date:
    """The current UTC date, or ``$TIMEBRIDGE_TODAY`` (YYYY-MM-DD) when set."""
    pinned = EnvSettings().today
    if pinned:
        try:
            return date.fromisoformat(pinned.strip())
        except ValueError:
            raise ConfigError(f"TIMEBRIDGE_TODAY: not a date YYYY-MM-DD: {pinned!r}") from None
    from datetime import UTC, datetime

    return datetime.now(UTC).date()


def resolve_config_path(given: str | os.PathLike[str] | None) -> Path:
    """``--config``, else ``$TIMEBRIDGE_CONFIG``, else ``./timebridge.toml``."""
    if given:
        path, how = Path(given), "--config"
    elif env := EnvSettings().config:
        path, how = Path(env), "TIMEBRIDGE_CONFIG"
    else:
        path, how = Path(DEFAULT_CONFIG_NAME), "default"
    if not path.is_file():
        hint = ("no config found: give --config PATH, set TIMEBRIDGE_CONFIG, or create "
                f"./{DEFAULT_CONFIG_NAME}") if how == "default" else "no such file"
        raise ConfigError(f"{path}: {hint} ({how})")
    return path


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config with its file, its resolved secrets and state URL."""

    path: Path
    config: Config
    secrets: dict[str, SecretStr]
    state_url: str
    token_files: dict[str, Path] = field(default_factory=dict)
    #: Lines worth a warning, not an error (an inline token, a token file others can read).
    warnings: tuple[str, ...] = ()
    #: ``[daemon]``'s webhook secret; None when webhooks are not configured.
    webhook_secret: SecretStr | None = None

    def secret(self, connector: str) -> str:
        return self.secrets[connector].get_secret_value()

    def credential(self, connector: str) -> Credential:
        """The connector's token; one from ``token_file`` is re-read after a 401."""
        return Credential(self.secret(connector), self.token_files.get(connector))


def load_config(given: str | os.PathLike[str] | None = None, *,
                secrets: bool = True) -> LoadedConfig:
    """Read and validate the config; raise :class:`ConfigError` with one clear line.

    ``secrets=False``: for commands that read only the state store (``status``): no
    token or webhook secret is read, so none need be set where they run.
    """
    path = resolve_config_path(given)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc, raw)}") from None
    problem = memory_store_problem(config.state.url)
    if problem:
        raise ConfigError(f"{path}: state.url: {problem}")
    state_url = resolve_state_url(config.state.url, path.parent)
    if not secrets:
        return LoadedConfig(path, config, {}, state_url)
    tokens = {name: _resolve_secret(path, name, conn) for name, conn in config.connectors.items()}
    files = {name: _token_path(path, conn) for name, conn in config.connectors.items()
             if conn.token_file is not None}
    webhook_secret = _webhook_secret(path, config)
    return LoadedConfig(path, config, tokens, state_url, files,
                        tuple(_secret_warnings(path, config, files)), webhook_secret)


def memory_store_problem(url: str) -> str | None:
    """Why ``url`` cannot be the store of a config, or None.

    An in-memory SQLite store (``sqlite://``, ``sqlite:///``, ``:memory:``) forgets every
    link when the process ends, so the next run would copy every hour again.
    """
    # Parsed by hand: SQLAlchemy costs `check` a third of a second to import.
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.split("+")[0].lower() != "sqlite":
        return None
    database, _, query = rest.removeprefix("/").partition("?")
    memory = (not database or database == ":memory:" or database.startswith("file::memory:")
              or "mode=memory" in query.split("&"))
    if memory:
        return (f"{url!r} is an in-memory store: it forgets what was copied when the "
                "process ends, and the next run would copy every hour again; give a file, "
                "e.g. sqlite:///timebridge.sqlite")
    return None


def _secret_warnings(path: Path, config: Config, files: dict[str, Path]) -> list[str]:
    """An inline token, or a token file that group or others can read: warn, go on."""
    found = []
    readable = {f"connectors.{name}.token_file": file for name, file in files.items()}
    if config.daemon is not None and config.daemon.webhook_secret_file is not None:
        readable["daemon.webhook_secret_file"] = _webhook_secret_path(path, config)
    for name, conn in config.connectors.items():
        if conn.token is not None and not _loopback(conn.base_url):
            # A token for a local emulator (the demo's) is no secret worth a warning.
            found.append(f"{path}: connectors.{name}.token: the token is written in the "
                         "config file, which gets copied around; move it to token_env or "
                         "token_file")
    for key, file in readable.items():
        try:
            mode = file.stat().st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode) and mode & 0o077:
            found.append(f"{path}: {key}: {file} can be read by group or others (mode "
                         f"{stat.S_IMODE(mode):04o}); run chmod 600 {file}")
    return found


def _loopback(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def _token_path(path: Path, conn: ConnectorBase) -> Path:
    file = Path(conn.token_file or "")
    return file if file.is_absolute() else path.parent / file


def _resolve_secret(path: Path, name: str, conn: ConnectorBase) -> SecretStr:
    key = f"connectors.{name}"
    if conn.token is not None:
        value, where = conn.token.get_secret_value(), f"{key}.token"
    elif conn.token_env is not None:
        where = f"{key}.token_env"
        value = _from_env(path, where, conn.token_env)
    else:
        where = f"{key}.token_file"
        value = _from_file(path, where, _token_path(path, conn))
    return _sendable(path, where, value, f"the token of connector {name!r}")


def _webhook_secret(path: Path, config: Config) -> SecretStr | None:
    """``[daemon]``'s webhook secret, or None when none is configured."""
    daemon = config.daemon
    if daemon is None or not daemon.webhooks_configured:
        return None
    if daemon.webhook_secret_env is not None:
        where = "daemon.webhook_secret_env"
        value = _from_env(path, where, daemon.webhook_secret_env)
    else:
        where = "daemon.webhook_secret_file"
        value = _from_file(path, where, _webhook_secret_path(path, config))
    # It arrives in a header (X-Timebridge-Secret), so it must be sendable in one.
    return _sendable(path, where, value, "the webhook secret")


def _webhook_secret_path(path: Path, config: Config) -> Path:
    file = Path(config.daemon.webhook_secret_file or "") if config.daemon else Path()
    return file if file.is_absolute() else path.parent / file


def _from_env(path: Path, where: str, variable: str) -> str:
    value = os.environ.get(variable, "")
    if not value:
        raise ConfigError(f"{path}: {where}: environment variable {variable} "
                          "is not set or empty")
    return value


def _from_file(path: Path, where: str, file: Path) -> str:
    try:
        return read_token_file(file)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"{path}: {where}: cannot read {file}: {reason}") from None
    except TokenFileError as exc:
        raise ConfigError(f"{path}: {where}: {file}: {exc}") from None


def _sendable(path: Path, where: str, value: str, what: str) -> SecretStr:
    """``value`` stripped, as a secret; a ConfigError when empty or not fit for a header."""
    value = value.strip()
    if not value:
        raise ConfigError(f"{path}: {where}: the secret is empty")
    bad = unsendable(value)
    if bad is not None:
        raise ConfigError(f"{path}: {where}: {what} holds {bad}, "
                          "which cannot go into an HTTP header; check that it is the token "
                          "alone, on one line")
    return SecretStr(value)


def resolve_state_url(url: str, base: Path) -> str:
    """Make a relative SQLite path relative to the config's folder; name psycopg for PostgreSQL."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            return f"sqlite:///{(base / rel).resolve()}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def describe_validation_error(exc: ValidationError, raw: Any) -> str:
    """The first validation error as ``key.path: what is wrong`` (plus a count of the rest)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = _key_path(first["loc"], raw)
    message = _message(first, raw)
    if first["type"] == "extra_forbidden":
        message += suggestion(tuple(first["loc"]))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc}: {message}{more}" if loc else f"{message}{more}"


def _key_path(loc: tuple[Any, ...], raw: Any) -> str:
    parts: list[str] = []
    node = raw
    for part in loc:
        if isinstance(part, int):
            name = node[part].get("name") if isinstance(node, list) and part < len(node) and \
                isinstance(node[part], dict) else None
            parts[-1] += f"[{part}]" + (f" ({name})" if name else "")
        elif part in CONNECTOR_TYPES and parts and parts[0] == "connectors" \
                and len(parts) == 2:
            continue  # the discriminator's tag, not a key of the file
        else:
            parts.append(str(part))
        node = node[part] if isinstance(node, dict | list) and _has(node, part) else None
    return ".".join(parts)


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and part < len(node)


def _message(error: Any, raw: Any) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see config.example.toml)"
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag")
        return f"unknown connector type {tag!r} (expected {known_types()})"
    if kind == "union_tag_not_found":
        return f"required key 'type' is missing ({known_types()})"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if "input" in error and kind not in ("model_type", "dict_type"):
        return f"{msg} (got {error['input']!r})"
    return msg
