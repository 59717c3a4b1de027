"""The risk model: its parameters (versioned data, checked by ``RiskParameters``) and the pure
function that turns one site's facts into a score, a band and the points of each input.

score = instruments + complaints + penalties + credit + findings (+ dishonesty_list from version 2),
each capped, 0-100:

- instruments: for each registered instrument that is overdue, never verified though due, or
  failed, the state's points × the category's weight × the usage area's weight; capped;
- complaints: points for each complaint about the site concluded as substantiated (属实) within
  the window; capped;
- penalties: points for each administrative penalty still on public display, more for a serious
  one (责令停产停业, 吊销许可证, …); capped;
- credit: the points of the worst current credit grade any association published; none: 0.
- findings: points for each earlier 双随机 inspection of the site that failed (repeat findings,
  enforcement/facts.py) within the window; capped. Versions stored before this part existed read
  its defaults, and the scores stored under them had no findings among their inputs, so they
  are reproduced unchanged.
- dishonesty_list (version 2 on): points for each entry of the enterprise in the serious
  dishonesty list (严重违法失信名单) in force, as an enforcement notice records it
  (portal/facts.py ``lists_entered``); capped. A version without ``listing_points`` (version 1,
  and any published before this part existed) has no such part at all: its breakdown is the
  five parts it always had, so every score stored under it is reproduced exactly.

Decimal arithmetic throughout, rounded to two places once, so a score is reproduced exactly from
its stored inputs and model version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from portal.facts import penalty_parts

# Every value bounded and never negative, in the dictionaries too: a negative weight made
# overdue instruments lower a site's risk, and -10^30 points raised on quantising every
# later score (a 500 for every recomputation until a new version).
Points = Annotated[Decimal, Field(ge=0, le=100)]
Weight = Annotated[Decimal, Field(ge=0, le=10)]
InstrumentState = Literal["overdue", "never_verified", "failed"]
CategoryKey = Annotated[str, Field(pattern=r"^[a-z0-9-]{1,32}$")]
UsageAreaKey = Annotated[str, Field(min_length=1, max_length=16)]
GradeKey = Annotated[str, Field(min_length=1, max_length=8)]
PenaltyKind = Annotated[str, Field(min_length=1, max_length=50)]


class RiskParameters(BaseModel):
    """A model version's parameters. Weights are non-negative; caps bound each part."""

    model_config = ConfigDict(extra="forbid")

    instrument_points: dict[InstrumentState, Points] = Field(max_length=3)
    category_weights: dict[CategoryKey, Weight] = Field(default_factory=dict, max_length=200)
    default_category_weight: Decimal = Field(default=Decimal(1), ge=0, le=10)
    usage_area_weights: dict[UsageAreaKey, Weight] = Field(default_factory=dict, max_length=10)
    default_usage_area_weight: Decimal = Field(default=Decimal(1), ge=0, le=10)
    instrument_cap: Decimal = Field(ge=0, le=100)
    complaint_window_days: int = Field(ge=1, le=3650)
    complaint_points: Decimal = Field(ge=0, le=100)
    complaint_cap: Decimal = Field(ge=0, le=100)
    penalty_points: Decimal = Field(ge=0, le=100)
    serious_penalty_points: Decimal = Field(ge=0, le=100)
    serious_penalties: list[PenaltyKind] = Field(default_factory=list, max_length=20)
    penalty_cap: Decimal = Field(ge=0, le=100)
    credit_grade_points: dict[GradeKey, Points] = Field(default_factory=dict, max_length=20)
    credit_cap: Decimal = Field(ge=0, le=100)
    finding_window_days: int = Field(default=730, ge=1, le=3650)
    finding_points: Decimal = Field(default=Decimal(10), ge=0, le=100)
    finding_cap: Decimal = Field(default=Decimal(20), ge=0, le=100)
    # None: the version predates the serious dishonesty list part (version 1).
    listing_points: Decimal | None = Field(default=None, ge=0, le=100)
    listing_cap: Decimal | None = Field(default=None, ge=0, le=100)
    high_band_from: Decimal = Field(ge=0, le=100)
    medium_band_from: Decimal = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _bands_in_order(self) -> RiskParameters:
        if self.medium_band_from > self.high_band_from:
            raise ValueError("medium_band_from must not be above high_band_from")
        return self


# Version 1, stored on first use. A change is a new version (POST /api/v1/enforcement/risk-models).
DEFAULT_PARAMETERS: dict[str, Any] = {
    "instrument_points": {"overdue": "3", "never_verified": "4", "failed": "5"},
    # Instruments whose error harms many buyers or people's safety weigh more.
    "category_weights": {
        "fuel-dispenser": "1.5",
        "gas-dispenser": "1.5",
        "lpg-dispenser": "1.5",
        "combustible-gas-detector": "1.5",
        "bp-monitor": "1.5",
        "infusion-pump": "1.5",
    },
    "default_category_weight": "1",
    "usage_area_weights": {
        "贸易结算": "1",
        "安全防护": "1.5",
        "医疗卫生": "1.5",
        "环境监测": "1.2",
    },
    "default_usage_area_weight": "1",
    "instrument_cap": "40",
    "complaint_window_days": 365,
    "complaint_points": "8",
    "complaint_cap": "25",
    "penalty_points": "12",
    "serious_penalty_points": "20",
    "serious_penalties": ["责令停产停业", "吊销许可证", "没收违法所得"],
    "penalty_cap": "25",
    "credit_grade_points": {"A": "0", "B": "3", "C": "7", "D": "10"},
    "credit_cap": "10",
    # An earlier inspection's findings: a site found failing once is likelier to fail again.
    "finding_window_days": 730,
    "finding_points": "10",
    "finding_cap": "20",
    "high_band_from": "50",
    "medium_band_from": "20",
}

# Version 2, stored after version 1 on first use (risk_models.ensure_default): version 1 and the
# serious dishonesty list (严重违法失信名单). A party is listed only after a heavier penalty for a
# grave violation (市场监督管理严重违法失信名单管理办法 第二条), so one listing weighs 30 points,
# more than the most serious penalty (20): with anything else against the site it is high risk,
# alone it is medium. Several listings count as one (capped at 30).
PARAMETERS_V2: dict[str, Any] = {
    **DEFAULT_PARAMETERS,
    "listing_points": "30",
    "listing_cap": "30",
}
# The built-in versions, in order; a deployment keeps whatever it already stored under a number.
BUILT_IN_VERSIONS: dict[int, tuple[dict[str, Any], str]] = {
    1: (DEFAULT_PARAMETERS, "默认模型（第 1 版）"),
    2: (PARAMETERS_V2, "第 2 版：增加严重违法失信名单（每次列入 30 分，上限 30 分）"),
}

BAND_ZH = {"high": "高风险", "medium": "中风险", "low": "低风险"}


@dataclass
class SiteInputs:
    """Everything the score of one site is computed from (stored with it as its evidence)."""

    owner_id: str
    owner_name: str
    owner_uscc: str | None
    region_code: str
    instruments: list[dict[str, Any]] = field(
        default_factory=list
    )  # category, usage_area, state, count
    complaints: list[dict[str, Any]] = field(default_factory=list)  # tracking_number, concluded_at
    penalties: list[dict[str, Any]] = field(
        default_factory=list
    )  # decision_number, kind, decided_on
    credit: list[dict[str, Any]] = field(default_factory=list)  # grade, association_id
    # Failed earlier inspections: inspection_id, inspected_at, follow_up.
    findings: list[dict[str, Any]] = field(default_factory=list)
    # Entries in the serious dishonesty list in force: notice_id, decision_number, entered_on,
    # listed_until, url (the notice, the evidence).
    dishonesty_list: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "instruments": self.instruments,
            "complaints": self.complaints,
            "penalties": self.penalties,
            "credit": self.credit,
            "findings": self.findings,
            "dishonesty_list": self.dishonesty_list,
        }


@dataclass(frozen=True)
class SiteScore:
    score: Decimal
    band: str
    breakdown: list[dict[str, Any]]


def _text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def _capped(points: Decimal, cap: Decimal) -> Decimal:
    return min(points, cap)


def score_site(params: RiskParameters, site: SiteInputs) -> SiteScore:
    """The score of one site under ``params``: pure, so a stored score can be checked again."""
    parts: list[dict[str, Any]] = []
    raw = Decimal(0)
    for item in site.instruments:
        points = params.instrument_points.get(item["state"])
        if not points or not item["count"]:
            continue
        weight = params.category_weights.get(
            item["category_code"], params.default_category_weight
        ) * params.usage_area_weights.get(item["usage_area"], params.default_usage_area_weight)
        raw += points * weight * item["count"]
    instruments = _capped(raw, params.instrument_cap)
    parts.append({"factor": "instruments", "points": str(instruments), "raw": str(raw)})

    raw = params.complaint_points * len(site.complaints)
    complaints = _capped(raw, params.complaint_cap)
    parts.append({"factor": "complaints", "points": str(complaints), "raw": str(raw)})

    serious = set(params.serious_penalties)
    raw = Decimal(0)
    for penalty in site.penalties:
        is_serious = bool(penalty_parts(penalty["penalty_kind"]) & serious)
        raw += params.serious_penalty_points if is_serious else params.penalty_points
    penalties = _capped(raw, params.penalty_cap)
    parts.append({"factor": "penalties", "points": str(penalties), "raw": str(raw)})

    grade_points = [params.credit_grade_points.get(g["grade"], Decimal(0)) for g in site.credit]
    raw = max(grade_points, default=Decimal(0))
    credit = _capped(raw, params.credit_cap)
    parts.append({"factor": "credit", "points": str(credit), "raw": str(raw)})

    raw = params.finding_points * len(site.findings)
    findings = _capped(raw, params.finding_cap)
    parts.append({"factor": "findings", "points": str(findings), "raw": str(raw)})

    total = instruments + complaints + penalties + credit + findings
    if params.listing_points is not None:
        raw = params.listing_points * len(site.dishonesty_list)
        cap = params.listing_cap if params.listing_cap is not None else Decimal(100)
        listed = _capped(raw, cap)
        parts.append(
            {
                "factor": "dishonesty_list",
                "points": str(listed),
                "raw": str(raw),
                "evidence": [e["url"] for e in site.dishonesty_list if e.get("url")],
            }
        )
        total += listed
    total = total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    total = min(total, Decimal(100))
    if total >= params.high_band_from:
        band = "high"
    elif total >= params.medium_band_from:
        band = "medium"
    else:
        band = "low"
    return SiteScore(score=total, band=band, breakdown=parts)


def jsonable(value: Any) -> Any:
    """Dates as ISO text, for the stored inputs."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return _text(value)
