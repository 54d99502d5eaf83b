"""Kaiten connector config and route filter."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt

from connectors.config import ConnectorBase, Strict
from connectors.units import Rounding


class KaitenConfig(ConnectorBase):
    type: Literal["kaiten"]
    role_id: StrictInt = -1
    rounding: Rounding = Rounding.NEAREST
    requests_per_second: float | None = Field(default=5, gt=0, allow_inf_nan=False)
    reference_source: str = "KAITEN"
    # Read as a target, only the logs of these users are read (the bridge's copies);
    # empty means the token's own user. Name the old user here for a while after the
    # bridge's token moves to another user.
    copies_user_ids: list[StrictInt] = []


class KaitenFilter(Strict):
    user_ids: list[StrictInt] = []
    space_ids: list[StrictInt] = []
    board_ids: list[StrictInt] = []
    card_ids: list[StrictInt] = []

    def query(self) -> dict[str, str]:
        """The timesheet's query parameters for this filter: each id list comma-separated."""
        return {key: ",".join(str(i) for i in ids) for key, ids in (
            ("user_ids", self.user_ids), ("space_ids", self.space_ids),
            ("board_ids", self.board_ids), ("card_ids", self.card_ids)) if ids}
