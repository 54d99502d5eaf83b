"""Yandex Tracker connector config and route filter."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, StrictStr, field_validator, model_validator

from connectors.config import ConnectorBase, Strict, checked
from connectors.units import parse_day_start


class TrackerConfig(ConnectorBase):
    type: Literal["tracker"]
    auth_scheme: Literal["OAuth", "Bearer"] = "OAuth"
    org_id: str | None = None
    cloud_org_id: str | None = None
    timezone: str = "Europe/Moscow"
    workday_hours: float = Field(default=8, gt=0, le=24)
    day_start: Annotated[str, checked(parse_day_start)] = "09:00"
    created_lookback_days: int = Field(default=90, ge=0)
    # Read as a target, only worklogs these users created are searched (the bridge's
    # copies); empty means the token's own user. Name the old user here for a while
    # after the bridge's token moves to another user.
    copies_created_by: list[StrictStr] = []
    reference_source: str = "YANDEX_TRACKER"

    def account(self) -> tuple[str, ...]:
        """The organisation: ``("org_id", ...)`` or ``("cloud_org_id", ...)``."""
        if self.org_id is not None:
            return ("org_id", self.org_id)
        return ("cloud_org_id", self.cloud_org_id or "")

    @field_validator("org_id", "cloud_org_id", mode="before")
    @classmethod
    def _id_string(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as "
                             "'Europe/Moscow')") from None
        return value

    @model_validator(mode="after")
    def _one_org(self) -> TrackerConfig:
        if (self.org_id is None) == (self.cloud_org_id is None):
            raise ValueError("give exactly one of org_id (X-Org-ID) and cloud_org_id "
                             "(X-Cloud-Org-ID)")
        return self


class TrackerFilter(Strict):
    created_by: list[StrictStr] = []
