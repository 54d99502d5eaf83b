"""Config keys every connector shares; each system's own model extends :class:`ConnectorBase`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)


def closed_date(value: object) -> date | None:
    """A ``closed_through`` value: a real date, as "YYYY-MM-DD" text or a TOML date.

    Strict on purpose: pydantic alone would take a number as seconds since 1970 and a
    date-time as its date, and a closed period must mean exactly what it says.
    """
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"not a real date: {value!r} ({exc})") from None
    shown = value.isoformat() if isinstance(value, datetime) else repr(value)  # a TOML date-time
    raise ValueError(f"must be a date YYYY-MM-DD, such as \"2026-10-31\" (got {shown})")


def checked(check: Callable[[Any], object]) -> AfterValidator:
    """A field's validator that runs ``check`` on the value (it raises ValueError with the
    reason) and keeps the value as written: ``Annotated[str, checked(parse_day_start)]``."""
    def run(value: Any) -> Any:
        check(value)
        return value

    return AfterValidator(run)


#: No copy dated on or before it is created, changed or deleted (see bridge.engine.closed).
ClosedThrough = Annotated[date | None, BeforeValidator(closed_date)]


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class ConnectorBase(Strict):
    """Keys every connector has. Exactly one of ``token_env``, ``token_file``, ``token``."""

    # Each system's model narrows it to its own Literal (the registry's name).
    type: str
    base_url: str
    token_env: str | None = None
    token_file: str | None = None
    token: SecretStr | None = None
    reference_source: str
    requests_per_second: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    timeout_seconds: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    # A 429 proves nothing was applied, so it is waited out and asked again, for up to
    # this many seconds per request (not a number of attempts); then the request fails.
    max_rate_limit_seconds: float = Field(default=120.0, gt=0, allow_inf_nan=False)
    # A record whose duration is above this is skipped, not copied: no one logs a
    # month of wall-clock time on one record (a week, P1W, or 40 hours still pass).
    max_duration_hours: float = Field(default=744, gt=0, allow_inf_nan=False)
    # As a target: copies written at once (each with its own intent and link), so a
    # round trip longer than the rate limit's interval still keeps the limit in use.
    max_concurrent_writes: int = Field(default=4, ge=1, le=16)
    # As a target: the books are closed through this date (a route may close later).
    closed_through: ClosedThrough = None

    def account(self) -> tuple[str, ...]:
        """What names the API account inside the host, as (label, value) pairs flattened:
        nothing by default; Tracker's organisation, the contracting tenant."""
        return ()

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"must be an http(s) URL such as https://example.com (got {value!r})")
        return value.rstrip("/")

    @field_validator("reference_source")
    @classmethod
    def _reference_source(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value):
            raise ValueError("must be 1-64 letters, digits, '_', '.' or '-' (it goes into markers)")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> ConnectorBase:
        given = [k for k in ("token_env", "token_file", "token") if getattr(self, k) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"give exactly one of token_env, token_file, token (found: {found})")
        return self
