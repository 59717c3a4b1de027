"""Request and response models of the follow-ups of failed inspections (follow_ups.py)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from portal.types import IsoDate

FollowUpShownStatus = Literal["open", "overdue", "corrected", "case_filed", "closed"]
FollowUpKindName = Literal["correct", "penalty_case"]
# 立案 文书编号 as bureaus write them: 咸市监立〔2026〕12号, (陕)市监立字[2026]第3号, ZF-2026-001.
# At least one character other than a space: a number of spaces only was stripped to nothing and
# filed the case with an empty number.
_CASE_CHAR = r"\w〔〕()（）\[\]【】\-－—/·.第号字"
CASE_NUMBER = rf"^[{_CASE_CHAR} ]*[{_CASE_CHAR}][{_CASE_CHAR} ]*$"


class FollowUpRead(BaseModel):
    id: uuid.UUID
    inspection_id: uuid.UUID
    campaign_id: uuid.UUID
    site_id: uuid.UUID
    site_name: str
    district: str
    kind: FollowUpKindName
    # "overdue": open and past its deadline on today's date (never stored).
    status: FollowUpShownStatus
    overdue: bool
    findings: str
    ordered_on: date
    working_days: int
    deadline: date
    evidence: str
    reinspected_on: date | None
    case_number: str | None
    outcome: str
    created_at: datetime
    updated_at: datetime


class FollowUpEventRead(BaseModel):
    action: str
    actor_name: str
    note: str
    at: datetime


class FollowUpDetail(FollowUpRead):
    events: list[FollowUpEventRead]


class FollowUpCorrection(BaseModel):
    """责令改正 complied with, as the re-inspection (复查) saw it."""

    evidence: str = Field(min_length=1, max_length=1000, pattern=r"\S")
    reinspected_on: IsoDate


class FollowUpCase(BaseModel):
    """立案: the case's document number."""

    case_number: str = Field(min_length=1, max_length=64, pattern=CASE_NUMBER)
    note: str = Field(default="", max_length=1000)


class FollowUpClose(BaseModel):
    """办结, with how it ended (for a penalty case not filed: why, 不予立案的理由)."""

    outcome: str = Field(min_length=1, max_length=1000, pattern=r"\S")
    # The status the closing user saw: 不予立案 is written for an open penalty case, 办结情况 for
    # a filed or corrected one; a follow-up moved meanwhile is a 409, not closed with the wrong
    # words.
    expected_status: Literal["open", "corrected", "case_filed"] | None = None
