"""Scoring: a pure, set-based function of (methodology, facts, association entries) → scores.

Nothing here touches the database. ``score_all`` takes every fact of a run at once (as gathered
through portal/facts.py), groups them by enterprise in one pass and returns, for each enterprise, a
score on 0–100, a grade and a per-indicator breakdown with the evidence behind each indicator (the
certificates, cases and notices) and a hash of that evidence. docs/credit-methodology.md explains
each indicator; the maths below is what it says.

Arithmetic is decimal, never float, so a score is the same on every machine and in the canonical
JSON of the ledger (numbers with a fraction are written as strings there).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from credit.ledger import canonical_hash
from portal.facts import ComplaintFact, InspectionFact, InstrumentFact, PenaltyFact

PLATFORM_KINDS = (
    "certificate_coverage",
    "overdue_days",
    "failure_share",
    "complaint_rate",
    "penalties",
)
ASSOCIATION_KIND = "association_entry"
# Indicators that deduct points from the weighted score instead of sharing in it: their weight is
# the most they can deduct, and they are outside the 100 the weighted indicators add up to, so an
# enterprise without such a finding scores exactly what it would under a version without them.
DEDUCTION_KINDS = ("inspection_findings",)
INDICATOR_KINDS = (*PLATFORM_KINDS, ASSOCIATION_KIND, *DEDUCTION_KINDS)
GRADES = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C")
VALID_STATUSES = frozenset({"valid", "expiring"})

ONE = Decimal(1)
ZERO = Decimal(0)
HUNDRED = Decimal(100)
Q4 = Decimal("0.0001")
Q2 = Decimal("0.01")


def dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def q2(value: Decimal) -> Decimal:
    return value.quantize(Q2, rounding=ROUND_HALF_UP)


def q4(value: Decimal) -> Decimal:
    return value.quantize(Q4, rounding=ROUND_HALF_UP)


def clamp01(value: Decimal) -> Decimal:
    return max(ZERO, min(ONE, value))


@dataclass(frozen=True)
class Indicator:
    code: str
    kind: str
    name: str
    weight: int
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Method:
    """A methodology version in the form scoring needs."""

    code: str
    version: int
    indicators: tuple[Indicator, ...]
    grades: tuple[tuple[str, Decimal], ...]  # (grade, minimum score), best first

    @classmethod
    def from_definition(cls, code: str, version: int, definition: Mapping[str, Any]) -> Method:
        indicators = tuple(
            Indicator(
                code=item["code"],
                kind=item["kind"],
                name=item["name"],
                weight=int(item["weight"]),
                params=dict(item.get("params") or {}),
            )
            for item in definition["indicators"]
        )
        grades = tuple((str(g), dec(m)) for g, m in definition["grades"])
        return cls(code=code, version=version, indicators=indicators, grades=grades)

    def grade_for(self, score: Decimal) -> str:
        for grade, minimum in self.grades:
            if score >= minimum:
                return grade
        return self.grades[-1][0]

    def entry_codes(self) -> list[str]:
        return [i.code for i in self.indicators if i.kind == ASSOCIATION_KIND]

    def param(self, kind: str, name: str, default: Any) -> Any:
        for indicator in self.indicators:
            if indicator.kind == kind and name in indicator.params:
                return indicator.params[name]
        return default


@dataclass
class IndicatorResult:
    code: str
    kind: str
    name: str
    weight: int
    included: bool  # False: no data for this enterprise; its weight is shared by the others
    attainment: Decimal  # 0..1
    inputs: dict[str, Any]
    evidence: list[dict[str, Any]]
    points: Decimal = ZERO

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "kind": self.kind,
            "name": self.name,
            "weight": self.weight,
            "included": self.included,
            "attainment": str(self.attainment),
            "points": str(self.points),
            "inputs": self.inputs,
            "evidence": self.evidence,
        }


@dataclass
class EnterpriseScore:
    uscc: str
    score: Decimal
    grade: str
    indicators: list[IndicatorResult] = field(default_factory=list)
    evidence_hash: str = ""

    def breakdown(self) -> list[dict[str, Any]]:
        return [i.as_json() for i in self.indicators]


# --- penalties --------------------------------------------------------------------------------

DEFAULT_SEVERITY: dict[str, int] = {
    "警告": 1,
    "通报批评": 1,
    "罚款": 2,
    "没收违法所得": 3,
    "没收非法财物": 3,
    "暂扣许可证件": 4,
    "降低资质等级": 4,
    "责令停产停业": 5,
    "责令关闭": 6,
    "吊销许可证件": 6,
    "吊销营业执照": 6,
}


def penalty_points(fact: PenaltyFact, params: Mapping[str, Any]) -> int:
    """Severity points of one decision: those of its heaviest penalty, a large fine counting
    more. A decision that combines penalties (罚款；没收违法所得) weighs at least as much as each
    of them alone, so adding a penalty never lowers the points (issue 16)."""
    severity: Mapping[str, Any] = params.get("severity") or DEFAULT_SEVERITY
    default = params.get("default_points", 2)
    parts = fact.penalties or frozenset({fact.penalty_kind})
    points = max(int(severity.get(part, default)) for part in parts)
    large = params.get("large_fine_yuan")
    if (
        "罚款" in parts
        and large is not None
        and fact.amount is not None
        and dec(fact.amount) >= dec(large)
    ):
        points = max(points, int(params.get("large_fine_points", 3)))
    return points


def penalty_in_display(fact: PenaltyFact, as_of: date) -> bool:
    """A penalty counts from its decision until its public display period ends."""
    return fact.decided_on <= as_of <= fact.display_until


# --- indicators -------------------------------------------------------------------------------


def _linear_down(value: Decimal, zero_at: Decimal) -> Decimal:
    """1 at value 0, falling linearly to 0 at ``zero_at`` and beyond."""
    if zero_at <= 0:
        return ONE if value <= 0 else ZERO
    return q4(clamp01(ONE - value / zero_at))


def _coverage(ind: Indicator, instruments: Sequence[InstrumentFact]) -> IndicatorResult:
    total = len(instruments)
    valid = [f for f in instruments if f.status in VALID_STATUSES]
    evidence = [
        {
            "type": "instrument",
            "instrument_id": str(f.instrument_id),
            "category": f.category_code,
            "certificate": f.certificate_number,
            "status": f.status,
            "valid_until": f.valid_until.isoformat() if f.valid_until else None,
        }
        for f in sorted(instruments, key=lambda f: str(f.instrument_id))
    ]
    if total == 0:
        return _no_data(ind, {"instruments": 0})
    share = q4(Decimal(len(valid)) / Decimal(total))
    return IndicatorResult(
        ind.code,
        ind.kind,
        ind.name,
        ind.weight,
        True,
        share,
        {"instruments": total, "with_valid_certificate": len(valid), "share": str(share)},
        evidence,
    )


def _overdue(ind: Indicator, instruments: Sequence[InstrumentFact]) -> IndicatorResult:
    total = len(instruments)
    if total == 0:
        return _no_data(ind, {"instruments": 0})
    overdue = [f for f in instruments if f.overdue_days > 0]
    days = sum(f.overdue_days for f in instruments)
    per_instrument = q2(Decimal(days) / Decimal(total))
    zero_at = dec(ind.params.get("zero_at_days_per_instrument", 60))
    evidence = [
        {
            "type": "instrument",
            "instrument_id": str(f.instrument_id),
            "certificate": f.certificate_number,
            "overdue_days": f.overdue_days,
        }
        for f in sorted(overdue, key=lambda f: str(f.instrument_id))
    ]
    return IndicatorResult(
        ind.code,
        ind.kind,
        ind.name,
        ind.weight,
        True,
        _linear_down(per_instrument, zero_at),
        {
            "instruments": total,
            "overdue_instruments": len(overdue),
            "overdue_instrument_days": days,
            "days_per_instrument": str(per_instrument),
        },
        evidence,
    )


def _failures(ind: Indicator, instruments: Sequence[InstrumentFact]) -> IndicatorResult:
    verifications = sum(f.verifications_24m for f in instruments)
    failures = sum(f.failures_24m for f in instruments)
    if verifications == 0:
        return _no_data(ind, {"verifications_24m": 0})
    share = q4(Decimal(failures) / Decimal(verifications))
    zero_at = dec(ind.params.get("zero_at_share", "0.2"))
    evidence = [
        {
            "type": "instrument",
            "instrument_id": str(f.instrument_id),
            "failures_24m": f.failures_24m,
            "verifications_24m": f.verifications_24m,
        }
        for f in sorted(instruments, key=lambda f: str(f.instrument_id))
        if f.failures_24m > 0
    ]
    return IndicatorResult(
        ind.code,
        ind.kind,
        ind.name,
        ind.weight,
        True,
        _linear_down(share, zero_at),
        {"verifications_24m": verifications, "failures_24m": failures, "share": str(share)},
        evidence,
    )


def _complaints(
    ind: Indicator, instruments: Sequence[InstrumentFact], complaints: Sequence[ComplaintFact]
) -> IndicatorResult:
    total = len(instruments)
    if total == 0:
        return _no_data(ind, {"instruments": 0, "complaints": len(complaints)})
    per_100 = q2(Decimal(len(complaints)) * HUNDRED / Decimal(total))
    zero_at = dec(ind.params.get("zero_at_per_100", 10))
    evidence = [
        {
            "type": "case",
            "case_id": str(c.case_id),
            "tracking_number": c.tracking_number,
            "category": c.category,
            "concluded_on": c.concluded_at.date().isoformat(),
        }
        for c in sorted(complaints, key=lambda c: (c.concluded_at, c.tracking_number))
    ]
    return IndicatorResult(
        ind.code,
        ind.kind,
        ind.name,
        ind.weight,
        True,
        _linear_down(per_100, zero_at),
        {
            "instruments": total,
            "substantiated_complaints": len(complaints),
            "per_100_instruments": str(per_100),
            "window_days": int(ind.params.get("window_days", 730)),
        },
        evidence,
    )


def _penalties(ind: Indicator, penalties: Sequence[PenaltyFact]) -> IndicatorResult:
    evidence = []
    points = 0
    for fact in sorted(penalties, key=lambda p: (p.decided_on, p.decision_number)):
        p = penalty_points(fact, ind.params)
        points += p
        evidence.append(
            {
                "type": "notice",
                "notice_id": str(fact.notice_id),
                "decision_number": fact.decision_number,
                "penalty_kind": fact.penalty_kind,
                "amount": str(fact.amount) if fact.amount is not None else None,
                "decided_on": fact.decided_on.isoformat(),
                "display_until": fact.display_until.isoformat(),
                "points": p,
            }
        )
    zero_at = dec(ind.params.get("zero_at_points", 6))
    return IndicatorResult(
        ind.code,
        ind.kind,
        ind.name,
        ind.weight,
        True,
        _linear_down(Decimal(points), zero_at),
        {"penalties": len(penalties), "severity_points": points},
        evidence,
    )


DEFAULT_FINDING_POINTS = {"correct": 5, "penalty_case": 10}


def inspection_window(method: Method, as_of: date) -> date:
    """The first inspection date whose findings count on ``as_of`` (the window ends on it)."""
    return as_of - timedelta(days=int(method.param("inspection_findings", "window_days", 730)) - 1)


def _inspections(ind: Indicator, findings: Sequence[InspectionFact]) -> IndicatorResult:
    """监督检查不合格: each published failed inspection in the window deducts points by its
    follow-up (责令改正 less than 立案查处), at most the indicator's weight in all."""
    table: Mapping[str, Any] = ind.params.get("points") or DEFAULT_FINDING_POINTS
    default = int(ind.params.get("default_points", 5))
    evidence = []
    points = 0
    for fact in sorted(findings, key=lambda f: (f.inspected_on, str(f.inspection_id))):
        p = int(table.get(fact.follow_up, default))
        points += p
        evidence.append(
            {
                "type": "inspection",
                "inspection_id": str(fact.inspection_id),
                "site": fact.site_name,  # as the campaign published it: individuals masked
                "inspected_on": fact.inspected_on.isoformat(),
                "published_on": fact.published_on.isoformat(),
                "follow_up": fact.follow_up,
                "points": p,
            }
        )
    deducted = min(points, ind.weight)
    result = IndicatorResult(
        ind.code,
        ind.kind,
        ind.name,
        ind.weight,
        True,
        q4(ONE - Decimal(deducted) / Decimal(ind.weight)),
        {
            "failed_inspections": len(findings),
            "finding_points": points,
            "deducted": deducted,
            "window_days": int(ind.params.get("window_days", 730)),
        },
        evidence,
    )
    result.points = q2(-Decimal(deducted))
    return result


def _entry(ind: Indicator, value: bool | None) -> IndicatorResult:
    # Not entered counts as not done: credit is given for what the association has checked.
    done = bool(value)
    return IndicatorResult(
        ind.code,
        ind.kind,
        ind.name,
        ind.weight,
        True,
        q4(ONE if done else ZERO),
        {"entered": value is not None, "value": done},
        [{"type": "association_entry", "indicator": ind.code, "value": done}]
        if value is not None
        else [],
    )


def _no_data(ind: Indicator, inputs: dict[str, Any]) -> IndicatorResult:
    return IndicatorResult(ind.code, ind.kind, ind.name, ind.weight, False, ZERO, inputs, [])


# --- the whole run ----------------------------------------------------------------------------


def score_all(
    method: Method,
    usccs: Iterable[str],
    *,
    as_of: date,
    instruments: Iterable[InstrumentFact] = (),
    complaints: Iterable[ComplaintFact] = (),
    penalties: Iterable[PenaltyFact] = (),
    inspections: Iterable[InspectionFact] = (),
    entries: Mapping[tuple[str, str], bool] | None = None,
) -> dict[str, EnterpriseScore]:
    """Score every enterprise in ``usccs`` from facts about all of them (facts about others are
    ignored). ``entries`` maps (uscc, indicator code) to the association-entered value."""
    wanted = set(usccs)
    by_instrument: dict[str, list[InstrumentFact]] = defaultdict(list)
    for inst in instruments:
        if inst.owner_uscc in wanted:
            by_instrument[inst.owner_uscc].append(inst)
    window = int(method.param("complaint_rate", "window_days", 730))
    since = as_of - timedelta(days=window)
    by_complaint: dict[str, list[ComplaintFact]] = defaultdict(list)
    for complaint in complaints:
        concluded = complaint.concluded_at.date()
        if complaint.business_uscc in wanted and since < concluded <= as_of:
            by_complaint[complaint.business_uscc].append(complaint)
    by_penalty: dict[str, list[PenaltyFact]] = defaultdict(list)
    for penalty in penalties:
        if penalty.party_uscc in wanted and penalty_in_display(penalty, as_of):
            by_penalty[penalty.party_uscc].append(penalty)
    first_day = inspection_window(method, as_of)
    by_inspection: dict[str, list[InspectionFact]] = defaultdict(list)
    for finding in inspections:
        # Published on the evaluation date, like a penalty: a rerun as of an earlier date sees
        # what the public saw then.
        if (
            finding.uscc in wanted
            and first_day <= finding.inspected_on <= as_of
            and finding.published_on <= as_of
        ):
            by_inspection[finding.uscc].append(finding)
    entries = entries or {}
    return {
        uscc: score_one(
            method,
            uscc,
            as_of=as_of,
            instruments=by_instrument.get(uscc, []),
            complaints=by_complaint.get(uscc, []),
            penalties=by_penalty.get(uscc, []),
            inspections=by_inspection.get(uscc, []),
            entries={
                code: entries[(uscc, code)]
                for code in method.entry_codes()
                if (uscc, code) in entries
            },
        )
        for uscc in sorted(wanted)
    }


def score_one(
    method: Method,
    uscc: str,
    *,
    as_of: date,
    instruments: Sequence[InstrumentFact],
    complaints: Sequence[ComplaintFact],
    penalties: Sequence[PenaltyFact],
    entries: Mapping[str, bool],
    inspections: Sequence[InspectionFact] = (),
) -> EnterpriseScore:
    results: list[IndicatorResult] = []
    for ind in method.indicators:
        if ind.kind == "certificate_coverage":
            results.append(_coverage(ind, instruments))
        elif ind.kind == "overdue_days":
            results.append(_overdue(ind, instruments))
        elif ind.kind == "failure_share":
            results.append(_failures(ind, instruments))
        elif ind.kind == "complaint_rate":
            results.append(_complaints(ind, instruments, complaints))
        elif ind.kind == "penalties":
            results.append(_penalties(ind, penalties))
        elif ind.kind == ASSOCIATION_KIND:
            results.append(_entry(ind, entries.get(ind.code)))
        elif ind.kind == "inspection_findings":
            results.append(_inspections(ind, inspections))
        else:  # refused when the methodology is created; kept so a bad row cannot score silently
            raise ValueError(f"unknown indicator kind {ind.kind!r}")
    weighted = [r for r in results if r.included and r.kind not in DEDUCTION_KINDS]
    included_weight = sum(r.weight for r in weighted)
    total = ZERO
    if included_weight > 0:
        scale = HUNDRED / Decimal(included_weight)
        for r in weighted:
            r.points = q2(Decimal(r.weight) * r.attainment * scale)
        # The score is computed from unrounded points, then rounded once.
        total = sum((Decimal(r.weight) * r.attainment * scale for r in weighted), ZERO)
    # Deductions (whole points, bounded by each indicator's weight) after the weighted score,
    # never below 0.
    deducted = sum((-r.points for r in results if r.kind in DEDUCTION_KINDS), ZERO)
    total = q2(max(ZERO, total - deducted))
    result = EnterpriseScore(
        uscc=uscc, score=total, grade=method.grade_for(total), indicators=results
    )
    result.evidence_hash = evidence_hash(method, uscc, as_of, result.breakdown())
    return result


def evidence_hash(method: Method, uscc: str, as_of: date, breakdown: list[dict[str, Any]]) -> str:
    """SHA-256 of the canonical JSON of everything the score was computed from."""
    return canonical_hash(
        {
            "uscc": uscc,
            "as_of": as_of.isoformat(),
            "methodology": {"code": method.code, "version": method.version},
            "indicators": breakdown,
        },
        check=False,  # built above from ints and strings only
    )
