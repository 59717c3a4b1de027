"""Settings of risk-based enforcement and 双随机 inspections (``GONGZHI_ENFORCEMENT_*``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from pydantic import Field

from portal.deps import domain_settings
from portal.settings import DomainSettings


class EnforcementSettings(DomainSettings):
    # 双随机: at least two inspectors go to each drawn site (市场监管总局 双随机一公开 practice:
    # 检查人员不少于两人).
    enforcement_inspectors_per_site: int = Field(default=2, ge=1, le=5)
    # Bounds of one campaign: its candidate list is published whole, and its inspector pool.
    enforcement_max_candidates: int = Field(default=200_000, ge=1, le=1_000_000)
    enforcement_max_inspectors: int = Field(default=500, ge=1, le=5_000)


SETTINGS = EnforcementSettings

EnforcementConfig = Annotated[EnforcementSettings, Depends(domain_settings(EnforcementSettings))]
