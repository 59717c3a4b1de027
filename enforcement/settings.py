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
    # 责令改正: the working days, from the inspection day, a site is given to correct what an
    # inspection found (限期改正). No national text fixes the period: 行政处罚法 第二十八条 and
    # 计量法实施细则 leave it to the order (责令改正通知书), so the default is a common practice
    # (docs/rules.md: a policy, set it to the bureau's own).
    enforcement_correction_working_days: int = Field(default=10, ge=1, le=60)
    # 立案查处: 市场监督管理行政处罚程序规定 第十八条: a clue found in supervision is checked
    # "自发现线索或者收到材料之日起十五个工作日内" and the head of the bureau decides whether to
    # file a case (延长十五个工作日 with approval; docs/rules.md).
    enforcement_case_filing_working_days: int = Field(default=15, ge=1, le=30)


SETTINGS = EnforcementSettings

EnforcementConfig = Annotated[EnforcementSettings, Depends(domain_settings(EnforcementSettings))]
