"""Request and response models of the owners' registrations."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from portal.pagination import Page
from portal.types import IsoDate

UsageArea = Literal["贸易结算", "安全防护", "医疗卫生", "环境监测"]
AttributeName = Annotated[str, StringConstraints(max_length=32)]
AttributeText = Annotated[str, StringConstraints(max_length=32)]
AttributeNumber = Annotated[int, Field(ge=0, le=1_000_000)]

REGISTRATION_STATUS_ZH = {
    "pending": "待确认",
    "confirmed": "已确认",
    "rejected": "已退回",
    "retired": "已注销",
}
# The instrument's verification state, as an owner or a bureau reads it.
VERIFICATION_STATUS_ZH = {
    "valid": "合格有效",
    "expiring": "即将到期",
    "expired": "已过期",
    "replace": "到期更换",
    "failed": "不合格",
    "revoked": "证书已注销",
    "none": "未检定",
    "not_due": "未到检定期",
    "retired": "已注销",
    "rejected": "需重新登记",
}


class InstrumentRegistrationCreate(BaseModel):
    category_code: str = Field(
        min_length=1, max_length=32, description="/api/v1/instrument-categories"
    )
    model: str = Field(default="", max_length=100)
    serial: str = Field(min_length=1, max_length=100, description="出厂编号")
    manufacturer: str = Field(default="", max_length=200)
    location: str = Field(default="", max_length=200, description="安装位置 within the site")
    usage_area: UsageArea
    attributes: dict[AttributeName, AttributeText | AttributeNumber] = Field(
        default_factory=dict,
        max_length=8,
        description='What the cycle depends on, e.g. {"dn": 20} for a water meter',
    )
    in_use_since: IsoDate | None = Field(default=None, description="启用日期; default: today")
    last_verified_on: IsoDate | None = Field(
        default=None, description="The last verification, if its certificate is not in the portal"
    )


class RegistrationEventRead(BaseModel):
    kind: str
    at: datetime
    reason: str
    data: dict[str, Any]


class InstrumentRegistrationRead(BaseModel):
    id: uuid.UUID
    owner_code: str
    owner_name: str
    owner_uscc: str | None
    category_code: str
    category_name: str
    model: str
    serial: str
    manufacturer: str
    location: str
    usage_area: str
    attributes: dict[str, Any]
    region_code: str
    address: str
    in_use_since: date
    last_verified_on: date | None
    verification_form: str
    cycle_months: int | None
    due_on: date | None
    status: str
    status_name: str
    review_reason: str
    reviewed_at: datetime | None
    replaces_id: uuid.UUID | None
    verification_status: str
    verification_status_name: str
    sticker_token: str | None
    certificate_number: str | None
    valid_until: date | None
    events: list[RegistrationEventRead] = Field(default_factory=list)


class RejectRequest(BaseModel):
    reason: str = Field(min_length=2, max_length=500)


class RegistrationChange(BaseModel):
    kind: Literal["moved", "retired", "replaced"]
    reason: str = Field(default="", max_length=500)
    location: str | None = Field(default=None, max_length=200, description="moved: the new place")
    replacement: InstrumentRegistrationCreate | None = Field(
        default=None, description="replaced: the instrument that takes its place"
    )


class RegistrationRowError(BaseModel):
    line: int
    column: str
    code: str
    reason: str
    reason_zh: str


class RegistrationImportReport(BaseModel):
    owner: str
    total_rows: int
    created: int
    unchanged: int
    failed: int
    errors: list[RegistrationRowError]
    errors_truncated: bool = False


RegistrationList = Page[InstrumentRegistrationRead]


# --- verification applications (检定申请) ----------------------------------------------------

APPLICATION_STATUS_ZH = {
    "submitted": "已申请",
    "accepted": "已预约",
    "refused": "已拒绝",
    "completed": "已完成",
    "cancelled": "已撤回",
}


class ApplicationCreate(BaseModel):
    institution_code: str = Field(
        min_length=1, max_length=64, description="the designated institution"
    )
    registration_ids: list[uuid.UUID] = Field(min_length=1, max_length=500)
    preferred_on: IsoDate
    mode: Literal["on_site", "in_lab"] = Field(description="现场检定 or 送检")
    note: str = Field(default="", max_length=500)


class AppointmentRequest(BaseModel):
    appointment_on: IsoDate
    address: str = Field(default="", max_length=300, description="on site: where")
    staff: str = Field(default="", max_length=100, description="the verifiers who will come")


class RefuseApplication(BaseModel):
    reason: str = Field(min_length=2, max_length=500)


class ApplicationItemRead(BaseModel):
    registration_id: uuid.UUID
    category_name: str
    serial: str
    location: str
    verification_status: str
    verification_status_name: str
    certificate_number: str | None
    valid_until: date | None


class ApplicationRead(BaseModel):
    id: uuid.UUID
    owner_code: str
    owner_name: str
    institution_code: str
    institution_name: str
    region_code: str
    mode: str
    preferred_on: date
    note: str
    status: str
    status_name: str
    appointment_on: date | None
    appointment_address: str
    staff: str
    refuse_reason: str
    created_at: datetime
    completed_at: datetime | None
    days_to_result: int | None = Field(
        description="From the application to its completion, in days"
    )
    result_limit_days: int
    within_limit: bool | None
    items: list[ApplicationItemRead]
    events: list[RegistrationEventRead] = Field(default_factory=list)


ApplicationList = Page[ApplicationRead]


class PlanItemRead(BaseModel):
    due_on: date = Field(description="The day it must be verified (or replaced) by")
    action: Literal["reverify", "first", "replace"]
    action_name: str
    registration: InstrumentRegistrationRead


class VerificationPlan(BaseModel):
    as_of: date
    until: date
    months: int
    items: list[PlanItemRead]
    truncated: bool = False


# --- regional statistics for regulators (statistics.py) ----------------------------------------


class StatusCount(BaseModel):
    code: str
    name: str
    count: int


class CategoryStatistics(BaseModel):
    category_code: str
    category_name: str
    total: int
    counts: dict[str, int] = Field(
        description="by state: valid, expiring, expired, unverified, failed, retired"
    )


class InstitutionStatistics(BaseModel):
    institution_code: str
    institution_name: str
    applications: int
    completed: int
    average_days: float | None = Field(description="application to result, days in China")
    longest_days: int | None
    within_limit: int = Field(description="completed within result_limit_days")
    within_limit_rate: float | None
    open: int = Field(description="submitted or accepted, not completed yet")
    open_past_limit: int


class MonthStatistics(BaseModel):
    month: str = Field(description="YYYY-MM, China's calendar")
    registered: int
    retired: int
    applications: int
    completed: int
    verified: int = Field(description="certificates and failure notices of registered instruments")
    failed: int


class SubregionLink(BaseModel):
    code: str
    name: str


class InstrumentStatistics(BaseModel):
    region_code: str
    region_name: str
    as_of: date
    registered: int = Field(description="registered instruments (pending, confirmed, retired)")
    in_use: int = Field(description="registered and not retired")
    due: int = Field(description="in use and due for verification (not 未到检定期)")
    rejected: int = Field(description="registrations the bureau sent back (not counted above)")
    by_status: list[StatusCount]
    by_status_detail: list[StatusCount]
    verified: int = Field(description="有效 + 即将到期")
    overdue: int = Field(description="已过期 + 到期更换 + 未检定 (due, never verified)")
    overdue_unconfirmed: int = Field(
        default=0,
        description="of overdue, registrations awaiting the bureau's confirmation (待确认); "
        "the overdue list shows them marked so",
    )
    verification_rate: float | None = Field(description="verified / due")
    overdue_rate: float | None = Field(description="overdue / due")
    categories: list[CategoryStatistics]
    result_limit_days: int
    institutions: list[InstitutionStatistics]
    months: list[MonthStatistics]
    subregions: list[SubregionLink]
