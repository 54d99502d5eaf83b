"""Contracting API connector config and route filter."""

from __future__ import annotations

from typing import Literal

from pydantic import StrictStr

from connectors.config import ConnectorBase, Strict


class ContractingConfig(ConnectorBase):
    type: Literal["contracting"]
    tenant_id: str
    reference_source: str = "CONTRACTING"

    def account(self) -> tuple[str, ...]:
        """The tenant: ``("tenant_id", ...)``."""
        return ("tenant_id", self.tenant_id.strip())


class ContractingFilter(Strict):
    project_ids: list[StrictStr] = []
