"""Settings of enforcement notices (``GONGZHI_NOTICE_*``, unchanged names).

市场监督管理行政处罚信息公示规定 (SAMR Order 45, 2019 as amended 2021) 第十三条: a notice whose
penalty is only 通报批评 or a "lower" fine is displayed for 3 months from publication, every other
notice for 3 years; the "lower fine" ceiling is set by each province. A regulator may end a display
early (withdrawal), never extend it past these periods.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from pydantic import Field

from portal.deps import domain_settings
from portal.settings import DomainSettings


class NoticeSettings(DomainSettings):
    notice_display_months_minor: int = Field(default=3, ge=1, le=120)
    notice_display_months: int = Field(default=36, ge=1, le=120)
    notice_minor_fine_max_yuan: int = Field(default=10000, ge=0)


SETTINGS = NoticeSettings

NoticesConfig = Annotated[NoticeSettings, Depends(domain_settings(NoticeSettings))]
