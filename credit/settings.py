"""Settings of the credit evaluation (``GONGZHI_CREDIT_*``): the 公示 window, how long a published
grade is valid, the objection limits and what counts as a serious penalty."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from pydantic import Field

from portal.deps import domain_settings
from portal.settings import DomainSettings


class CreditSettings(DomainSettings):
    # 公示 lasts this many full working days after the day it opens (portal/workdays.py).
    credit_notice_working_days: int = Field(default=5, ge=0, le=60)
    credit_validity_years: int = Field(default=3, ge=1, le=10)
    # Objections per client address (portal/ratelimit.py); each writes a permanent ledger event.
    credit_objection_rate: str = "5/hour"
    # Objections per batch and enterprise from everyone together: the ledger stays bounded even
    # when the per-client limit is evaded by many addresses.
    credit_objection_rate_per_enterprise: str = "50/day"
    credit_serious_penalty_points: int = Field(default=3, ge=1)
    # How long a process reuses the number of current grades of one filter set on the public list
    # (credit/listing_cache.py): counting reads every grade, the page itself only its own.
    # It sizes the pager only; 0 counts on every request.
    credit_list_total_seconds: float = Field(default=10, ge=0, le=300)
    # How long one page of the public list (its grades and total) is kept for whoever asks for
    # the same page next, signed-in visitors and apps with a token included (credit/listing_cache.py).
    # A write to public data ends it at once on every node; the seconds bound what raw SQL could
    # leave. 0 reads every page from the database.
    credit_list_page_seconds: float = Field(default=10, ge=0, le=300)


SETTINGS = CreditSettings

CreditConfig = Annotated[CreditSettings, Depends(domain_settings(CreditSettings))]
