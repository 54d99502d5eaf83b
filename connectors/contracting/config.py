"""Contracting API connector config and route filter."""

from __future__ import annotations

from typing import Literal

from pydantic import StrictStr

from connectors.config import ConnectorBase, Strict

# The narrowing key the runtime adds when it reads this system as a target (the copies
# carry their source's reference_source): see connectors.registry.
REFERENCE_FILTER = "reference_source"


class ContractingConfig(ConnectorBase):
    type: Literal["contracting"]
    tenant_id: str
    reference_source: str = "CONTRACTING"

    def account(self) -> tuple[str, ...]:
        """The tenant: ``("tenant_id", ...)``."""
        return ("tenant_id", self.tenant_id.strip())


class ContractingFilter(Strict):
    project_ids: list[StrictStr] = []
