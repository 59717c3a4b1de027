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
    # 一公开: an inspection's result is public this many working days after the inspection
    # (portal/workdays), automatically. 企业信息公示暂行条例（国务院令第 654 号）第六条、第七条:
    # information a department produces about an enterprise "应当自产生之日起 20 个工作日内予以
    # 公示"; the default is that limit (docs/rules.md: the article to verify against the text).
    enforcement_publish_working_days: int = Field(default=20, ge=0, le=20)


SETTINGS = EnforcementSettings

EnforcementConfig = Annotated[EnforcementSettings, Depends(domain_settings(EnforcementSettings))]
