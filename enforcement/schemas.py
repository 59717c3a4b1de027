"""Request and response models of risk-based enforcement and 双随机 inspections."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from enforcement.risk_model import RiskParameters

RegionCode = Annotated[str, Field(pattern=r"^\d{6}$")]
CategoryCode = Annotated[str, Field(pattern=r"^[a-z0-9-]{1,32}$")]
UsageArea = Literal["贸易结算", "安全防护", "医疗卫生", "环境监测"]
Band = Literal["high", "medium", "low"]


class RiskPart(BaseModel):
    factor: str
    points: Decimal
    raw: Decimal
    evidence: list[str] = Field(
        default_factory=list,
        description="Links to the records behind the part (the notices of a dishonesty listing)",
    )


class RiskScoreRead(BaseModel):
    owner_id: uuid.UUID
    owner_name: str
    owner_uscc: str | None
    region_code: str
    score: Decimal
    band: Band
    model_version: int
    instruments: int
    categories: list[str]
    usage_areas: list[str]
    as_of: date
    computed_at: datetime


class RiskScoreHistory(BaseModel):
    score: Decimal
    band: Band
    model_version: int
    as_of: date
    computed_at: datetime


class RiskScoreDetail(RiskScoreRead):
    """The current score with its evidence: the facts it was computed from and each part's points."""

    inputs: dict[str, Any]
    breakdown: list[RiskPart]
    history: list[RiskScoreHistory]


class RiskRecomputeResult(BaseModel):
    model_version: int
    as_of: date
    sites: int


class DistrictRisk(BaseModel):
    region_code: str
    region_name: str
    high: int
    medium: int
    low: int


class RiskModelRead(BaseModel):
    version: int
    parameters: dict[str, Any]
    note: str
    created_at: datetime


class RiskModelCreate(BaseModel):
    parameters: RiskParameters
    note: str = Field(default="", max_length=500)


# A site to exclude: its 单位编号 (the owner id shown in the risk list) or the enterprise's
# 统一社会信用代码 (every site of it). Either must name an owner site, or the campaign is refused
# (exclusion_not_found): a mistyped exclusion silently ignored would pair the inspector anyway.
Exclusion = Annotated[
    str,
    Field(
        pattern=r"^\s*([0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?"
        r"[0-9A-Fa-f]{12}|[0-9A-HJ-NP-RT-UW-Ya-hj-np-rt-uw-y]{18})\s*$",
        max_length=40,
        description="单位编号 (owner id) or 统一社会信用代码",
    ),
]


class InspectorIn(BaseModel):
    """One inspector of the pool: the 执法证号 (public), the name (published masked), the district
    they work in, and sites they must never be paired with (by 单位编号 or credit code)."""

    id: str = Field(pattern=r"^[A-Za-z0-9-]{1,32}$")
    # Not blank: the name is published masked, and a blank one masks to nothing.
    name: str = Field(min_length=1, max_length=50, pattern=r"\S")
    district: RegionCode
    exclusions: list[Exclusion] = Field(default_factory=list, max_length=200)


# The Efraimidis–Spirakis exponent 8/w must be whole (enforcement/draw.py); the bounds are stated in
# the OpenAPI schema too, as every integer is (tests/hardening/test_integer_bounds.py).
Weight = Annotated[Literal[1, 2, 4, 8], Field(json_schema_extra={"minimum": 1, "maximum": 8})]


class BandWeights(BaseModel):
    high: Weight = 4
    medium: Weight = 2
    low: Weight = 1


class CampaignCreate(BaseModel):
    title: str = Field(min_length=1, max_length=200, pattern=r"\S")
    region: RegionCode
    categories: list[CategoryCode] = Field(default_factory=list, max_length=100)
    usage_areas: list[UsageArea] = Field(default_factory=list, max_length=4)
    sample_size: int = Field(ge=1, le=10_000)
    weighting: Literal["uniform", "risk_band"] = "uniform"
    band_weights: BandWeights = Field(default_factory=BandWeights)
    inspectors: list[InspectorIn] = Field(min_length=1, max_length=5_000)


class CampaignRead(BaseModel):
    """What the public sees of a campaign: before the draw the commitment and the exact lists it
    covers; after, the seed and the result too (docs/enforcement.md: how to verify)."""

    id: uuid.UUID
    title: str
    region_code: str
    status: Literal["committed", "drawn"]
    algorithm: str
    parameters: dict[str, Any]
    candidates: list[dict[str, Any]]
    inspectors: list[dict[str, Any]]
    candidates_digest: str
    inspectors_digest: str
    parameters_digest: str
    commitment: str
    seed: str | None
    result: list[dict[str, Any]] | None
    created_at: datetime
    drawn_at: datetime | None


class CampaignSummary(BaseModel):
    id: uuid.UUID
    title: str
    region_code: str
    status: Literal["committed", "drawn"]
    sample_size: int
    candidates: int
    commitment: str
    created_at: datetime
    drawn_at: datetime | None


# --- field inspections (移动执法终端) and their public results (一公开) --------------------------

Badge = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,32}$")]


class InspectorAccount(BaseModel):
    """Ties a 执法证号 to the regulator account its holder signs in with."""

    user_id: uuid.UUID


class InspectorRead(BaseModel):
    badge: str
    user_id: uuid.UUID
    created_at: datetime


class InstrumentCheck(BaseModel):
    """One registered instrument checked on site. ``scanned`` is what the sticker's QR code gave
    (its URL or token) or a typed certificate number: the server looks it up in the registry."""

    registration_id: uuid.UUID
    sticker_present: bool
    scanned: str = Field(default="", max_length=2000)
    seal_intact: bool
    reading_ok: bool
    note: str = Field(default="", max_length=500)


# Every registered instrument of the site is checked in one record: a large wholesale market
# registers several hundred scales, so the bound leaves room above that (a body of this many
# checks still fits GONGZHI_MAX_BODY_BYTES at the usual sticker URL length).
MAX_CHECKS = 2000


class InspectionResultCreate(BaseModel):
    checks: list[InstrumentCheck] = Field(max_length=MAX_CHECKS)
    photos: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    acknowledgement: Literal["signed", "refused"]
    signatory: str = Field(default="", max_length=50)
    note: str = Field(default="", max_length=1000)
    # For a failed inspection: 责令改正 (the default) or 立案查处 (a case for a penalty).
    follow_up: Literal["correct", "penalty_case"] = "correct"


class SiteInstrumentRead(BaseModel):
    registration_id: uuid.UUID
    category_code: str
    serial: str
    location: str
    usage_area: str
    state: str


class InspectionCheckRead(BaseModel):
    registration_id: uuid.UUID
    category_code: str
    serial: str
    sticker_present: bool
    scanned: str
    scan: Literal["matched", "other_instrument", "unknown", "not_scanned"]
    certificate_current: bool
    seal_intact: bool
    reading_ok: bool
    passed: bool
    note: str


class InspectionPhotoRead(BaseModel):
    id: uuid.UUID
    display_url: str
    thumbnail_url: str


class InspectionSummary(BaseModel):
    id: uuid.UUID
    campaign_id: uuid.UUID
    campaign_title: str
    site_id: uuid.UUID
    site_name: str
    district: str
    inspectors: list[str]
    status: Literal["assigned", "done"]
    outcome: Literal["passed", "failed"] | None
    inspected_at: datetime | None
    publish_on: date | None


class InspectionRead(InspectionSummary):
    instruments: list[SiteInstrumentRead]
    checks: list[InspectionCheckRead]
    photos: list[InspectionPhotoRead]
    acknowledgement: Literal["signed", "refused"] | None
    signatory: str
    note: str
    findings: str
    follow_up: Literal["none", "correct", "penalty_case"]


class InspectionResultPublic(BaseModel):
    """What the public reads of one inspection (一公开): the site as the campaign published it
    (an individual masked), the result and the findings, never the signatory or photos."""

    id: uuid.UUID
    site_name: str
    district: str
    outcome: Literal["passed", "failed"]
    findings: str
    follow_up: Literal["none", "correct", "penalty_case"]
    inspected_on: date
    published_on: date
