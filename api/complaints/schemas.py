"""Request and response models of the complaint API."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from api.complaints.models import CaseKind, CaseStatus, CoordSystem, Finding

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")


def normalise_phone(value: str) -> str:
    phone = re.sub(r"[\s()]", "", value)
    if phone.startswith("+86"):
        phone = phone[3:]
    if not (_MOBILE.match(phone) or _LANDLINE.match(phone)):
        raise ValueError("not a Chinese mobile (11 digits) or landline (0xx-xxxxxxx) number")
    return phone


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BusinessIn(Strict):
    name: str | None = Field(default=None, max_length=200)
    uscc: str | None = Field(default=None, max_length=18, description="统一社会信用代码")
    address: str | None = Field(default=None, max_length=300)

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, value: str | None) -> str | None:
        if not value:
            return None
        from stdnum.cn import uscc
        from stdnum.exceptions import ValidationError

        try:
            return str(uscc.validate(value.upper()))
        except ValidationError:
            raise ValueError("not a valid unified social credit code") from None


class LocationIn(Strict):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    coord_system: CoordSystem = CoordSystem.wgs84
    address: str | None = Field(default=None, max_length=300)


class PersonIn(Strict):
    name: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    id_number: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=300)
    email: str | None = Field(default=None, max_length=320)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalise_phone(value) if value else None


class CaseCreate(Strict):
    kind: Literal["complaint", "report", "both"]
    category: str = Field(max_length=40)
    description: str = Field(min_length=5, max_length=4000)
    business: BusinessIn | None = None
    location: LocationIn | None = None
    region_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    instrument_token: str | None = Field(default=None, max_length=128)
    certificate_number: str | None = Field(default=None, max_length=64)
    media: list[uuid.UUID] = Field(default_factory=list, max_length=9)
    complainant: PersonIn | None = Field(
        default=None, description="Required for complaints; optional (real-name) for reports"
    )
    request: str | None = Field(default=None, max_length=2000, description="诉求 (complaints)")
    extra: dict[str, Any] = Field(default_factory=dict, description="the category's own fields")
    anonymous: bool = Field(default=False, description="reports only: no personal data kept")


class Deadlines(BaseModel):
    acceptance_due: date | None = Field(description="受理决定期限 (complaints)")
    handling_due: date | None = Field(description="调解 (complaints) / 核查 (reports) 期限")
    handling_basis: Literal["mediation", "verification"]
    calendar: Literal["chinese-calendar", "weekends-only"]
    extended: bool = False
    overdue: bool = False
    paused_since: date | None = Field(
        default=None,
        description="the handling period does not count from this day while the instrument is "
        "tested (检定、检验、检测、鉴定所需时间不计算在期限内); the due date moves on when it resumes",
    )


class CaseFeedback(Strict):
    """The submitter's satisfaction once the case is finished (回访): 1 (very dissatisfied) to 5."""

    rating: int = Field(ge=1, le=5, description="1 非常不满意 … 5 非常满意")
    comment: str | None = Field(default=None, max_length=500)


class LinkedCase(BaseModel):
    tracking_number: str
    kind: CaseKind
    status: CaseStatus
    deadlines: Deadlines


class CaseCreated(BaseModel):
    tracking_number: str
    access_token: str = Field(description="Shown once: keep it to follow the case")
    kind: CaseKind
    status: CaseStatus
    received_at: datetime
    deadlines: Deadlines
    linked: list[LinkedCase] = []


class SignedUrls(BaseModel):
    display: str
    thumbnail: str
    expires_at: datetime


class SuggestedLocation(BaseModel):
    lat: float
    lng: float
    coord_system: Literal["wgs84"] = "wgs84"


class MediaRead(BaseModel):
    id: uuid.UUID
    sha256: str
    content_type: str
    size: int
    width: int
    height: int
    taken_at: datetime | None
    suggested_location: SuggestedLocation | None = Field(
        default=None, description="From the photo's GPS; offered to prefill, never stored"
    )
    urls: SignedUrls


class TimelineEntry(BaseModel):
    at: datetime
    type: str
    title: str
    body: str | None = None


class PhotoLinks(BaseModel):
    id: uuid.UUID
    width: int
    height: int
    urls: SignedUrls


class DocumentLink(BaseModel):
    """A legal document the case produced (受理通知书, 不予受理告知书, 终止调解决定书, 举报处理结果
    告知书), as a PDF: GET …/documents/{id} with the case's access (api/complaints/documents.py)."""

    id: uuid.UUID
    kind: str
    title: str
    issued_on: date


class CaseRead(BaseModel):
    """What the submitter sees: never internal notes, never anyone else's data."""

    tracking_number: str
    kind: CaseKind
    category: str
    category_name: str
    status: CaseStatus
    status_name: str
    received_at: datetime
    updated_at: datetime
    description: str
    business_name: str | None
    deadlines: Deadlines
    finding: Finding | None
    timeline: list[TimelineEntry]
    photos: list[PhotoLinks]
    linked_tracking_number: str | None = None
    feedback_open: bool = Field(
        default=False, description="the case is finished and not yet rated: POST …/feedback"
    )
    documents: list[DocumentLink] = []
    dispatched_from: str | None = Field(default=None, description="分送 by this higher bureau")
    dispute_region: str | None = Field(default=None, description="disputes jurisdiction (第三十条)")
    dispute_due: date | None = Field(default=None, description="the bureaus settle it by")
    dispute_escalated_to: str | None = Field(
        default=None, description="the common higher bureau asked to designate (000000: SAMR)"
    )


class CaseSummary(BaseModel):
    tracking_number: str
    kind: CaseKind
    category: str
    category_name: str
    status: CaseStatus
    status_name: str
    received_at: datetime
    deadlines: Deadlines


class SimilarCase(BaseModel):
    tracking_number: str
    kind: CaseKind
    category: str
    category_name: str
    status: CaseStatus
    received_on: date
    match: Literal["instrument", "business", "nearby"]
    distance_m: int | None = None


class PartyRead(BaseModel):
    role: str
    name: str | None
    phone: str | None
    id_number: str | None
    address: str | None
    email: str | None


class EventRead(BaseModel):
    at: datetime
    type: str
    public: bool
    actor_id: uuid.UUID | None
    from_status: str | None
    to_status: str | None
    body: str | None
    data: dict[str, Any]


class StaffPhoto(BaseModel):
    id: uuid.UUID
    sha256: str
    content_type: str
    size: int
    width: int
    height: int
    taken_at: datetime | None
    urls: SignedUrls
    original_url: str


class StaffCaseRead(BaseModel):
    id: uuid.UUID
    tracking_number: str
    kind: CaseKind
    category: str
    category_name: str
    status: CaseStatus
    status_name: str
    source: str
    description: str
    request: str | None
    extra: dict[str, Any]
    business_name: str | None
    business_uscc: str | None
    business_address: str | None
    lat: float | None
    lng: float | None
    region_code: str
    instrument_token: str | None
    certificate_number: str | None
    instrument_id: uuid.UUID | None
    media_url: str | None
    anonymous: bool
    assignee_id: uuid.UUID | None
    finding: Finding | None
    reject_reason: str | None
    linked_tracking_number: str | None
    merged_into_tracking_number: str | None
    received_at: datetime
    accepted_at: datetime | None
    concluded_at: datetime | None
    closed_at: datetime | None
    deadlines: Deadlines
    parties: list[PartyRead]
    personal_data_erased_at: datetime | None = Field(
        default=None, description="the parties' personal data was erased after the retention period"
    )
    events: list[EventRead]
    photos: list[StaffPhoto]
    documents: list[DocumentLink] = []
    dispatched_from: str | None = Field(default=None, description="分送 by this higher bureau")
    dispute_region: str | None = Field(default=None, description="disputes jurisdiction (第三十条)")
    dispute_due: date | None = Field(default=None, description="the bureaus settle it by")
    dispute_escalated_to: str | None = Field(
        default=None, description="the common higher bureau asked to designate (000000: SAMR)"
    )


class StaffCaseSummary(CaseSummary):
    id: uuid.UUID
    region_code: str
    business_name: str | None
    overdue: bool
    assignee_id: uuid.UUID | None


class _ActionBase(Strict):
    body: str | None = Field(default=None, max_length=4000, description="shown to the submitter")


class CaseAccept(_ActionBase):
    action: Literal["accept"]


class CaseReject(_ActionBase):
    action: Literal["reject"]
    reason_code: str | None = Field(default=None, max_length=40, description="the legal ground")


class CaseAssign(Strict):
    action: Literal["assign"]
    assignee_id: uuid.UUID | None = None


class CaseNote(_ActionBase):
    action: Literal["note"]
    public: bool = Field(default=False, description="a reply the submitter sees")


class CaseMediate(_ActionBase):
    action: Literal["mediate"]


class CaseConclude(_ActionBase):
    action: Literal["conclude"]
    finding: Finding | None = None
    mediation_result: Literal["agreement", "no_agreement", "withdrawn"] | None = None
    filing: Literal["filed", "not_filed"] | None = Field(
        default=None,
        description="reports: the decision to open a case (立案) or not (不予立案); required",
    )


class CaseExtend(_ActionBase):
    action: Literal["extend"]


TESTING_KINDS = ("检定", "检验", "检测", "鉴定", "仲裁检定")


class CasePause(_ActionBase):
    """The instrument goes for testing: the handling period stops counting (第二十条)."""

    action: Literal["pause"]
    testing: Literal["检定", "检验", "检测", "鉴定", "仲裁检定"] | None = Field(
        default=None, description="what the instrument is sent for"
    )


class CaseResume(_ActionBase):
    """The testing result is back: the period counts again, its end moved by the days paused."""

    action: Literal["resume"]


class CaseClose(_ActionBase):
    action: Literal["close"]


class CaseReopen(_ActionBase):
    action: Literal["reopen"]


class CaseMerge(_ActionBase):
    action: Literal["merge"]
    duplicate_of: str | None = Field(default=None, max_length=24, description="the target case")


class CaseRepeat(_ActionBase):
    """The same matter as a case already handled, with no new facts: answered with that case's
    result and closed (SAMR Order 121: repeated reports are not handled again)."""

    action: Literal["repeat"]
    duplicate_of: str | None = Field(
        default=None, max_length=24, description="the case already handled"
    )


class CaseTransfer(_ActionBase):
    """To the competent bureau (暂行办法 第十二条, 第二十五条): the business's district, or up to
    a higher bureau that takes it over. Counting starts again there."""

    action: Literal["transfer"]
    region_code: str | None = Field(
        default=None, pattern=r"^\d{6}$", description="the competent bureau's division"
    )


class CaseDispatch(_ActionBase):
    """分送 (暂行办法 第三十七条): a higher bureau sends the case to a lower one within its
    jurisdiction; or, while two bureaus dispute jurisdiction, their common higher bureau
    designates one of them (第三十条)."""

    action: Literal["dispatch"]
    region_code: str | None = Field(
        default=None, pattern=r"^\d{6}$", description="the lower (or designated) bureau's division"
    )


class CaseDispute(_ActionBase):
    """暂行办法 第三十条: this bureau and another dispute which has jurisdiction; they settle it
    within GONGZHI_JURISDICTION_DISPUTE_WORKING_DAYS, else escalate."""

    action: Literal["dispute"]
    region_code: str | None = Field(
        default=None, pattern=r"^\d{6}$", description="the other bureau's division"
    )


class CaseEscalate(_ActionBase):
    """暂行办法 第三十条: the dispute was not settled; the common higher bureau designates."""

    action: Literal["escalate"]


# One model per staff action, told apart by ``action``; each carries only its own fields. The
# fields an action needs are checked by the workflow (422 case_action_invalid), after the state
# machine (409 illegal_transition), so the order of the answers is the same for every client.
StaffAction = Annotated[
    CaseAccept
    | CaseReject
    | CaseAssign
    | CaseNote
    | CaseMediate
    | CaseConclude
    | CaseExtend
    | CasePause
    | CaseResume
    | CaseClose
    | CaseReopen
    | CaseMerge
    | CaseRepeat
    | CaseTransfer
    | CaseDispatch
    | CaseDispute
    | CaseEscalate,
    Field(discriminator="action"),
]
STAFF_ACTIONS: TypeAdapter[StaffAction] = TypeAdapter(StaffAction)
