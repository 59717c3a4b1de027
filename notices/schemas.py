"""Request and response models of enforcement notices.

Schema names start with ``EnforcementNotice`` so they never collide with another domain's
"notice" (credit's 公示 lists): the OpenAPI document names schemas by class name, and a generated
client drops operations whose schema names collide.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from notices.models import NoticeStatus, PartyKind
from portal.types import IsoDate

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
# e.g. 罚款, 警告；罚款; 列入严重违法失信名单 (alone or with penalties) records a listing.
PenaltyKind = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class EnforcementNoticeCreate(BaseModel):
    title: Text200
    decision_number: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=3, max_length=100)
    ]
    party_name: Text200
    party_uscc: str | None = Field(default=None, description="统一社会信用代码 (enterprises)")
    party_kind: PartyKind | None = Field(
        default=None,
        description="enterprise (单位) or individual (自然人, name masked in public). Default: "
        "enterprise when a credit code is given, otherwise individual",
    )
    violation: LongText
    legal_basis: LongText
    penalty_kind: PenaltyKind
    penalty_amount: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    authority: Text200
    region_code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
    decision_date: IsoDate
    published_on: IsoDate | None = Field(default=None, description="Defaults to today")
    display_until: IsoDate | None = Field(
        default=None, description="Defaults to the statutory period from the publication date"
    )

    @field_validator("party_uscc")
    @classmethod
    def _uscc(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from stdnum.cn import uscc

        try:
            return str(uscc.validate(value.strip().upper()))
        except Exception as exc:
            raise ValueError("not a valid unified social credit code (统一社会信用代码)") from exc

    @model_validator(mode="after")
    def _party_kind(self) -> EnforcementNoticeCreate:
        # Unsaid, a party without a credit code is taken for a person: masking a business by
        # mistake hides a name, showing a person by mistake publishes personal data.
        if self.party_kind is None:
            self.party_kind = PartyKind.enterprise if self.party_uscc else PartyKind.individual
        return self


class EnforcementNoticeUpdate(BaseModel):
    """A correction (市场监督管理行政处罚信息公示规定 第十二条)."""

    title: Text200 | None = None
    party_name: Text200 | None = None
    party_kind: PartyKind | None = None
    violation: LongText | None = None
    legal_basis: LongText | None = None
    penalty_kind: PenaltyKind | None = None
    penalty_amount: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    authority: Text200 | None = None
    display_until: IsoDate | None = None


class EnforcementNoticeImport(EnforcementNoticeCreate):
    """One line of ``gongzhi documents import --kind notice``. Every imported notice is published;
    a line with a field the import does not know (``"status": "withdrawn"`` from an old system, a
    misspelt ``display_untill``) is refused, not dropped: dropped, it would put a withdrawn
    notice on public display or keep one up past the period its source set."""

    model_config = ConfigDict(extra="forbid")


class EnforcementNoticeWithdrawal(BaseModel):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]


class EnforcementNoticeListing(BaseModel):
    """The entry in the serious dishonesty list (严重违法失信名单) a notice records: its penalty
    kind names it (列入严重违法失信名单, alone or with penalties); removal before the three years
    (移出) ends the display early (a correction of ``display_until``)."""

    entered_on: date = Field(description="列入日期 (the decision date)")
    listed_until: date = Field(description="在名单中的最后一日 (end of display)")
    removed_on: date | None = Field(
        description="移出日期 (or the day the listing was revoked); null while listed"
    )


class EnforcementNoticeRead(BaseModel):
    id: uuid.UUID
    title: str
    decision_number: str
    party_name: str = Field(
        description="Masked (portal/privacy.py) when the party is an individual"
    )
    party_uscc: str | None
    party_kind: PartyKind
    violation: str
    legal_basis: str
    penalty_kind: str
    penalty_amount: Decimal | None
    authority: str
    region_code: str
    decision_date: date
    published_on: date
    display_until: date
    status: NoticeStatus
    url: str
    serious_dishonesty_list: EnforcementNoticeListing | None = Field(
        default=None, description="Set when the notice enters the party in 严重违法失信名单"
    )
