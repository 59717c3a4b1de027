"""Request and response models of the credit API."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from credit.models import ObjectionStatus, ObjectorKind, RatingStatus, RunStatus
from credit.scoring import DEDUCTION_KINDS, GRADES, INDICATOR_KINDS
from portal.types import IsoDate

if TYPE_CHECKING:
    from credit.objections import ObjectionRow
    from credit.ratings import RatingRow
    from credit.runs import ScoreRow


def _one_line(value: str) -> str:
    """A name or label shown on public pages: no control characters and no invisible format
    characters (U+202E turns the rest of a name around, U+200B hides in a search)."""
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
        raise ValueError("control or invisible characters are not allowed in a name")
    return value


def _plain_text(value: str) -> str:
    """Free text (reasons, a reply, an objection): lines and tabs, no other control character."""
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\r\n" for ch in value):
        raise ValueError("control characters are not allowed")
    return value


# The Metrology Law took effect on 1985-07-01; no evaluation or membership is dated before 1985.
# Unbounded, a date of year 1 reached the scoring's look-back windows (as_of minus 730 days) and
# overflowed into a 500.
EARLIEST_DATE = date(1985, 1, 1)


def _not_before_1985(value: date | None) -> date | None:
    if value is not None and value < EARLIEST_DATE:
        raise ValueError(f"a date before {EARLIEST_DATE.isoformat()} is not accepted")
    return value


CreditDate = Annotated[IsoDate, AfterValidator(_not_before_1985)]
OneLine = Annotated[str, AfterValidator(_one_line)]
PlainText = Annotated[str, AfterValidator(_plain_text)]
# Inputs are stripped before their length is checked: a required text of only spaces (also
# full-width) is missing, not stored empty by the services' strip().
STRIPPED = ConfigDict(str_strip_whitespace=True)


class EnterpriseCreate(BaseModel):
    """A member to add; the enterprise is created if the platform does not know it yet. ``name``
    is the association's own label for its member, not the enterprise's registered name."""

    model_config = STRIPPED

    uscc: str = Field(min_length=1, max_length=40)
    name: OneLine = Field(min_length=2, max_length=200)
    region_code: str = Field(pattern=r"^\d{6}$")
    address: OneLine = Field(default="", max_length=300)
    industry: OneLine | None = Field(default=None, max_length=64)
    joined_on: CreditDate | None = None


class RegistryEntry(BaseModel):
    """The registered details of an enterprise, from the market-entity register (administrators
    only): the one source of an enterprise's public name."""

    model_config = STRIPPED

    name: OneLine = Field(min_length=2, max_length=200)
    region_code: str = Field(pattern=r"^\d{6}$")
    address: OneLine = Field(default="", max_length=300)
    industry: OneLine | None = Field(default=None, max_length=64)
    source: OneLine = Field(default="admin", min_length=1, max_length=100)


class EnterpriseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    uscc: str
    name: str | None = Field(description="The registered name; null until the registry has it.")
    industry: str | None
    region_code: str
    address: str


class MemberRead(BaseModel):
    """A member as its association sees it: ``name`` is the association's own label."""

    uscc: str
    name: str
    registered_name: str | None
    industry: str | None
    region_code: str
    address: str
    joined_on: date
    indicators: dict[str, bool] = {}


class IndicatorValues(BaseModel):
    """Association-entered indicators of one member, by indicator code."""

    model_config = STRIPPED

    values: dict[Annotated[str, Field(max_length=64)], bool] = Field(min_length=1, max_length=20)
    note: PlainText = Field(default="", max_length=500)


# --- methodology -----------------------------------------------------------------------------


class IndicatorDef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    kind: str
    name: str = Field(min_length=1, max_length=100)
    weight: int = Field(ge=1, le=100)
    params: dict[str, Any] = Field(default={}, max_length=20)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in INDICATOR_KINDS:
            raise ValueError(f"kind must be one of {', '.join(INDICATOR_KINDS)}")
        return value


class MethodologyDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    indicators: list[IndicatorDef] = Field(min_length=1, max_length=30)
    grades: list[tuple[str, str]] = Field(min_length=9, max_length=9)

    @model_validator(mode="after")
    def _consistent(self) -> MethodologyDefinition:
        # A deduction's weight is the most it deducts, outside the weighted 100.
        if sum(i.weight for i in self.indicators if i.kind not in DEDUCTION_KINDS) != 100:
            raise ValueError("indicator weights must add up to 100 (deductions aside)")
        codes = [i.code for i in self.indicators]
        if len(set(codes)) != len(codes):
            raise ValueError("indicator codes must be unique")
        if [g for g, _ in self.grades] != list(GRADES):
            raise ValueError(f"grades must be {', '.join(GRADES)} in that order")
        try:
            minima = [Decimal(m) for _, m in self.grades]
        except ArithmeticError as exc:
            raise ValueError("grade thresholds must be decimal numbers as strings") from exc
        if any(not Decimal(0) <= m <= Decimal(100) for m in minima):
            raise ValueError("grade thresholds lie on 0–100")
        if any(a <= b for a, b in zip(minima, minima[1:], strict=False)) or minima[-1] != 0:
            raise ValueError("grade thresholds must fall strictly from AAA and C must start at 0")
        _no_floats(self.model_dump())
        return self


# Parameters are days, counts and points: anything larger is a mistake, and an unbounded integer
# (a window of 10**30 days) would overflow date arithmetic in a run (issue 11 #15).
PARAM_INT_LIMIT = 1_000_000
PARAM_TEXT_LIMIT = 200


def _no_floats(value: Any) -> None:
    if isinstance(value, float):
        raise ValueError('write decimal parameters as strings (e.g. "0.2"), not floats')
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > PARAM_INT_LIMIT:
        raise ValueError(f"integer parameters lie within ±{PARAM_INT_LIMIT}")
    if isinstance(value, str) and len(value) > PARAM_TEXT_LIMIT:
        raise ValueError(f"text parameters are at most {PARAM_TEXT_LIMIT} characters")
    if isinstance(value, dict):
        for item in value.values():
            _no_floats(item)
    if isinstance(value, list | tuple):
        for item in value:
            _no_floats(item)


class MethodologyCreate(BaseModel):
    model_config = STRIPPED

    name: OneLine = Field(min_length=2, max_length=200)
    definition: MethodologyDefinition


class MethodologyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    version: int
    name: str
    association_id: uuid.UUID | None
    definition: dict[str, Any]
    definition_hash: str
    created_at: datetime


# --- runs, scores, 公示 ------------------------------------------------------------------------


class RunCreate(BaseModel):
    model_config = STRIPPED

    title: OneLine | None = Field(default=None, max_length=200)
    as_of: CreditDate | None = None
    methodology_id: uuid.UUID | None = None


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    association_id: uuid.UUID
    methodology_id: uuid.UUID
    status: RunStatus
    title: str
    as_of: date
    enterprise_count: int
    created_at: datetime
    notice_opened_at: datetime | None
    notice_closes_at: datetime | None
    published_at: datetime | None
    valid_until: date | None


class ScoreRead(BaseModel):
    uscc: str
    name: str
    score: Decimal
    grade: str
    evidence_hash: str
    revision: int
    breakdown: list[dict[str, Any]] | None = None


class RunDetail(RunRead):
    methodology: MethodologyRead
    scores: list[ScoreRead]


class ObjectionCreate(BaseModel):
    model_config = STRIPPED

    batch_id: uuid.UUID
    uscc: str = Field(min_length=1, max_length=40)
    objector_kind: ObjectorKind
    name: OneLine = Field(min_length=1, max_length=100)
    contact: OneLine = Field(min_length=5, max_length=100)
    text: PlainText = Field(min_length=10, max_length=5000)


class ObjectionPublic(BaseModel):
    """What everyone may see of an objection: no name, no contact, no text."""

    id: uuid.UUID
    batch_id: uuid.UUID
    uscc: str
    enterprise_name: str
    objector_kind: ObjectorKind
    status: ObjectionStatus
    lodged_at: datetime
    decided_at: datetime | None
    decision_reasons: str | None
    score_before: Decimal | None
    score_after: Decimal | None
    grade_before: str | None
    grade_after: str | None


class ObjectionRead(ObjectionPublic):
    """The association's view, with the objector's details."""

    objector_name: str
    objector_contact: str
    text: str


class ObjectionDecision(BaseModel):
    model_config = STRIPPED

    decision: Literal["upheld", "rejected"]
    reasons: PlainText = Field(min_length=5, max_length=5000)
    # When upheld: corrected association-entered indicators; the score is recomputed from the
    # platform facts as of the batch date and these values.
    indicators: dict[Annotated[str, Field(max_length=64)], bool] | None = Field(
        default=None, max_length=20
    )


class NoticeSummary(BaseModel):
    """A batch in the list of 公示 and published batches."""

    batch_id: uuid.UUID
    title: str
    association: dict[str, str]
    status: RunStatus
    enterprise_count: int
    opened_at: datetime | None
    closes_at: datetime | None
    accepting_objections: bool


class NoticeRead(BaseModel):
    batch_id: uuid.UUID
    title: str
    association: dict[str, str]
    status: RunStatus
    as_of: date
    methodology: dict[str, Any]
    opened_at: datetime | None
    closes_at: datetime | None
    accepting_objections: bool
    scores: list[ScoreRead]
    objections: list[ObjectionPublic]


# --- ratings -----------------------------------------------------------------------------------


class RatingRead(BaseModel):
    uscc: str
    name: str
    industry: str | None
    region_code: str
    association: dict[str, str]
    grade: str
    score: Decimal
    status: RatingStatus
    valid_from: date
    valid_until: date
    methodology: dict[str, Any]
    under_review: bool
    reply: str | None = None


class ReviewCreate(BaseModel):
    model_config = STRIPPED

    outcome: Literal["keep", "downgrade", "cancel"]
    grade: str | None = None
    reasons: PlainText = Field(min_length=5, max_length=5000)

    @model_validator(mode="after")
    def _grade_for_downgrade(self) -> ReviewCreate:
        if self.outcome == "downgrade" and self.grade not in GRADES:
            raise ValueError("a downgrade names the new grade (AA … C)")
        if self.outcome != "downgrade" and self.grade is not None:
            raise ValueError("only a downgrade names a grade")
        return self


class ReplyCreate(BaseModel):
    model_config = STRIPPED

    text: PlainText = Field(min_length=5, max_length=2000)


class HistoryItem(BaseModel):
    seq: int
    kind: str
    at: str
    payload: dict[str, Any]
    hash: str


class AssociationGrade(RatingRead):
    """One association's current grade with the breakdown and evidence behind it."""

    breakdown: list[dict[str, Any]] | None
    evidence_hash: str | None


class OpenNoticeRead(BaseModel):
    batch_id: uuid.UUID
    title: str
    association: dict[str, str]
    closes_at: datetime | None
    score: str
    grade: str


class EnterpriseDetail(BaseModel):
    enterprise: EnterpriseRead
    grades: list[AssociationGrade] = Field(
        description="Each association's current grade under its name; associations grade "
        "independently and none replaces another's."
    )
    ratings: list[RatingRead]
    current: RatingRead | None = Field(
        description="The grade when exactly one association grades the enterprise, else null "
        "(see grades)."
    )
    breakdown: list[dict[str, Any]] | None
    evidence_hash: str | None
    history: list[HistoryItem]
    open_notices: list[OpenNoticeRead]


class LedgerPage(BaseModel):
    entries: list[dict[str, Any]]
    next: str | None
    head: dict[str, Any] | None
    public_keys: list[dict[str, str]]


# --- converters from service rows (used by the JSON routes and the pages alike) --------------


def rating_read(row: RatingRow, *, today: date) -> RatingRead:
    rating, association = row.rating, row.association
    return RatingRead(
        uscc=rating.uscc,
        name=row.name,
        industry=row.enterprise.industry,
        region_code=row.enterprise.region_code,
        association={"code": association.code, "name": association.name},
        grade=rating.grade,
        score=rating.score,
        status=rating.status_on(today),
        valid_from=rating.valid_from,
        valid_until=rating.valid_until,
        methodology={"code": rating.methodology_code, "version": rating.methodology_version},
        under_review=rating.under_review,
        reply=rating.reply_text,
    )


def score_read(row: ScoreRow, *, breakdown: bool = False) -> ScoreRead:
    score = row.score
    return ScoreRead(
        uscc=score.uscc,
        name=row.name,
        score=score.score,
        grade=score.grade,
        evidence_hash=score.evidence_hash,
        revision=score.revision,
        breakdown=score.breakdown if breakdown else None,
    )


def objection_public(row: ObjectionRow) -> ObjectionPublic:
    objection = row.objection
    return ObjectionPublic(
        id=objection.id,
        batch_id=objection.run_id,
        uscc=objection.uscc,
        enterprise_name=row.name,
        objector_kind=objection.objector_kind,
        status=objection.status,
        lodged_at=objection.lodged_at,
        decided_at=objection.decided_at,
        decision_reasons=objection.decision_reasons,
        score_before=objection.score_before,
        score_after=objection.score_after,
        grade_before=objection.grade_before,
        grade_after=objection.grade_after,
    )


def objection_read(row: ObjectionRow) -> ObjectionRead:
    objection = row.objection
    return ObjectionRead(
        **objection_public(row).model_dump(),
        objector_name=objection.objector_name,
        objector_contact=objection.objector_contact,
        text=objection.text,
    )
