from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from api.certificates.numbers import normalize_number
from portal.pagination import Page
from portal.types import IsoDate


class CertificateStatus(StrEnum):
    valid = "valid"
    expiring = "expiring"
    expired = "expired"
    failed = "failed"
    revoked = "revoked"
    superseded = "superseded"


STATUS_ZH: dict[str, str] = {
    "valid": "合格有效",
    "expiring": "即将到期",
    "expired": "已过期",
    "failed": "不合格",
    "revoked": "已注销",
    "superseded": "已更正作废",
    "none": "未检定",
}

KIND_ZH = {"certificate": "检定证书", "notice": "检定结果通知书"}


class InstitutionSummary(BaseModel):
    code: str
    name: str
    authorisation_number: str | None


class InstrumentSummary(BaseModel):
    sticker_token: str
    category_code: str
    category_name: str
    model: str
    serial: str
    manufacturer: str
    owner_name: str = Field(description="Enterprises in full; individuals masked (张*)")
    owner_type: str
    owner_uscc: str | None = Field(description="Enterprises only")
    region_code: str
    address: str | None = Field(description="Enterprises only (an individual's may be a home)")


class CertificateEventRead(BaseModel):
    kind: str = Field(description="issued, corrected or revoked")
    at: datetime
    reason: str = ""
    successor_number: str | None = None


class CertificateRead(BaseModel):
    number: str
    kind: str = Field(description="certificate (检定证书) or notice (检定结果通知书, a failure)")
    kind_name: str
    status: CertificateStatus
    status_name: str
    days_left: int | None = Field(description="Days until valid_until (negative when expired)")
    successor_number: str | None = None
    institution: InstitutionSummary
    instrument: InstrumentSummary
    regulation: str
    conclusion: str
    verified_on: date
    valid_until: date | None
    verifier: str
    history: list[CertificateEventRead]


class CertificateBrief(BaseModel):
    number: str
    kind: str
    status: CertificateStatus
    status_name: str
    institution_code: str
    institution_name: str
    category_code: str
    category_name: str
    serial: str
    verified_on: date
    valid_until: date | None


CertificateList = Page[CertificateBrief]


class InstrumentRead(BaseModel):
    instrument: InstrumentSummary
    status: str = Field(description="Status of the current certificate, or none")
    status_name: str
    certificate: CertificateRead | None


class CertificateCreate(BaseModel):
    """One certificate, as an institution issues it. The same fields as an import row."""

    number: Annotated[str, AfterValidator(normalize_number)] = Field(
        min_length=1,
        max_length=64,
        description="Stored in its normal form: upper case, half-width, no spaces, dashes as -",
    )
    kind: str | None = Field(default=None, description="certificate or notice; from conclusion")
    category_code: str = Field(min_length=1, max_length=64)
    model: str = Field(default="", max_length=100)
    serial: str = Field(min_length=1, max_length=100)
    manufacturer: str = Field(default="", max_length=200)
    owner_name: str = Field(min_length=1, max_length=200)
    owner_uscc: str | None = Field(default=None, max_length=32)
    owner_type: str | None = Field(default=None, description="enterprise or individual")
    address: str = Field(default="", max_length=300)
    region_code: str = Field(min_length=6, max_length=6)
    regulation: str = Field(default="", max_length=128)
    conclusion: str = Field(default="", max_length=100)
    verified_on: IsoDate
    valid_until: IsoDate | None = None
    verifier: str = Field(default="", max_length=64)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    institution: str | None = Field(
        default=None, description="Institution code; only administrators may name another"
    )


class RevokeRequest(BaseModel):
    reason: str = Field(min_length=2, max_length=500)


class CorrectionCreate(BaseModel):
    reason: str = Field(min_length=2, max_length=500)
    certificate: CertificateCreate


class RowError(BaseModel):
    line: int = Field(description="1-based line (CSV/JSONL) or row (XLSX) in the file")
    column: str = Field(description="the column's stable name (category_code, verified_on …)")
    header: str = Field(
        description="the column as the file named it (器具类别, 检定日期 …), or its Chinese name"
    )
    code: str
    reason: str
    reason_zh: str


class ImportReport(BaseModel):
    institution: str
    total_rows: int
    created: int
    unchanged: int
    failed: int
    held: int = Field(
        default=0,
        description="Stored but held for the bureau: the registered instrument is ambiguous",
    )
    errors: list[RowError]
    errors_truncated: bool = False


class VerifyRequest(BaseModel):
    payload: str = Field(
        min_length=1, max_length=4096, description="The sticker's URL or its token"
    )


class VerifyResult(BaseModel):
    signature_valid: bool
    reason: str | None = None
    key_id: str | None = None
    algorithm: str | None = None
    signed_by: str | None = Field(default=None, description="Institution code, or portal")
    claims: dict[str, Any] | None = None
    status: str | None = Field(default=None, description="The certificate's status online")
    status_name: str | None = None
    certificate: CertificateRead | None = None


class TrustedKey(BaseModel):
    kid: str
    kty: str = "OKP"
    crv: str
    alg: str
    x: str = Field(description="Raw public key, base64url (RFC 8037 JWK)")
    institution_code: str | None = Field(description="None for the portal's own key")
    institution_name: str
    valid_from: datetime
    valid_until: datetime | None


class TrustList(BaseModel):
    issuer: str
    # Left out of the public response so that its ETag changes only when the keys change.
    generated_at: datetime | None = None
    format: str = "gongzhi-sticker/1"
    keys: list[TrustedKey]


class OverdueItem(BaseModel):
    sticker_token: str | None = Field(
        description="None: a registration awaiting the bureau's confirmation, not in the registry"
    )
    category_code: str
    category_name: str
    model: str
    serial: str
    owner_name: str
    owner_uscc: str | None
    address: str
    region_code: str
    status: str
    status_name: str
    certificate_number: str | None
    valid_until: date | None
    days_overdue: int = Field(description="Days past valid_until; negative: days left")
    registration_status: str | None = Field(
        default=None,
        description="pending (待确认): the owner registered it, the bureau has not confirmed it",
    )


class OverdueList(Page[OverdueItem]):
    """A page of overdue instruments, with what the list was asked for."""

    region: str
    within_days: int
    as_of: date


# --- the compulsory catalogue (api/certificates/catalogue.py) ---------------------------------


class CycleRuleRead(BaseModel):
    months: int | None = Field(description="The cycle or service life; null: none (失准报废)")
    verification_form: str
    when: dict[str, dict[str, Any]] = Field(
        description='Conditions on the instrument\'s attributes, e.g. {"dn": {"gt": 25, '
        '"le": 50}}; empty: every instrument of the category'
    )
    note: str


class CategoryRegulationRead(BaseModel):
    code: str = Field(description="The JJG/JJF regulation, e.g. JJG 162-2019")
    effective_from: date
    rules: list[CycleRuleRead]
    note: str


class CategoryAttributeRead(BaseModel):
    name: str
    label: str
    type: str = Field(description="int or choice")
    minimum: int | None
    maximum: int | None
    choices: list[str]


class InstrumentCategoryRead(BaseModel):
    code: str
    name: str = Field(description="Second-level name (二级目录)")
    group_name: str = Field(description="First-level name (一级目录)")
    supervision_mode: str = Field(description="P, V or P+V")
    verification_form: str = Field(description="periodic, initial_rotation, initial_scrap or none")
    verification_form_name: str
    usage_areas: list[str]
    scope: str = Field(description="强制检定范围及要求")
    effective_from: date = Field(description="The day compulsory verification starts")
    regulation: str = Field(description="The regulation in force on `on`")
    cycle_months: int | None = Field(
        description="The longest cycle under that regulation; null: no cycle"
    )
    attributes: list[CategoryAttributeRead]
    regulations: list[CategoryRegulationRead]
    catalogue_version: str
    checked: bool = Field(description="Compared line by line with the SAMR PDF")
    note: str


class CatalogueVersion(BaseModel):
    version: str
    title: str
    issuer: str
    published_on: date
    effective_from: date
    source: str
    transcription: str


class InstrumentCategoryList(Page[InstrumentCategoryRead]):
    """A page of the catalogue, with its version and the day the regulations are read for."""

    catalogue: CatalogueVersion
    on: date


# --- 授权证书 (api/certificates/scope.py) ------------------------------------------------------

RegionCode = Annotated[str, Field(pattern=r"^\d{6}$")]
CategoryCode = Annotated[str, Field(min_length=1, max_length=32)]


class AuthorisationCreate(BaseModel):
    institution: str = Field(min_length=1, max_length=64, description="the institution's code")
    certificate_number: str = Field(min_length=1, max_length=64, description="授权证书编号")
    issuer_name: str = Field(min_length=2, max_length=100, description="发证机关")
    issuer_region_code: RegionCode
    categories: list[CategoryCode] = Field(min_length=1, max_length=300)
    regions: list[RegionCode] = Field(min_length=1, max_length=200)
    valid_from: IsoDate
    valid_until: IsoDate


class AuthorisationRevoke(BaseModel):
    reason: str = Field(min_length=2, max_length=500)


class AuthorisationRead(BaseModel):
    id: uuid.UUID
    institution: str
    institution_name: str
    certificate_number: str
    issuer_name: str
    issuer_region_code: str
    categories: list[str]
    category_names: list[str]
    regions: list[str]
    region_names: list[str]
    valid_from: date
    valid_until: date
    status: str = Field(description="valid, pending (not yet in force), expired or revoked")
    revoked_at: datetime | None
    revoke_reason: str
    created_at: datetime


AuthorisationList = Page[AuthorisationRead]


# --- held certificates (api/certificates/review_queue.py) -------------------------------------

REVIEW_REASON_ZH = {
    "several_candidates": "有多台已登记器具与之相符",
    "other_owner": "相符的已登记器具属于证书所写使用单位以外的单位",
}
REVIEW_STATUS_ZH = {"open": "待核对", "attached": "已归入器具", "new_instrument": "已新建器具"}


class ReviewCandidate(BaseModel):
    kind: str = Field(description="instrument (in the registry) or registration (not yet there)")
    id: uuid.UUID
    owner_name: str
    owner_uscc: str | None
    region_code: str
    region_name: str
    same_owner: bool
    decidable: bool = Field(
        default=True,
        description="Whether the reader's region covers this candidate's: one outside it (a "
        "held certificate whose candidates span provinces) is listed without its owner and is "
        "decided by the administrator",
    )


class ReviewRead(BaseModel):
    id: uuid.UUID
    number: str
    institution: str
    institution_name: str
    region_code: str
    region_name: str
    category_code: str
    category_name: str
    serial: str
    manufacturer: str
    owner_name: str = Field(description="as the certificate names it")
    owner_uscc: str | None
    verified_on: date
    reason: str
    reason_name: str
    candidates: list[ReviewCandidate]
    status: str
    status_name: str
    note: str
    created_at: datetime
    resolved_at: datetime | None
    certificate_number: str | None = Field(
        default=None, description="once resolved: the certificate, now in the registry"
    )


ReviewList = Page[ReviewRead]


class ReviewResolve(BaseModel):
    action: Literal["attach", "new_instrument"]
    candidate_id: uuid.UUID | None = Field(
        default=None, description="attach: the id of one of the candidates"
    )
    note: str = Field(default="", max_length=500)


class CertificateHeld(BaseModel):
    """The answer to an issue whose instrument is ambiguous: stored, held for the bureau."""

    held: bool = True
    review_id: uuid.UUID
    number: str
    reason: str
    reason_name: str
    message_zh: str
