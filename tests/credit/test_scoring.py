"""The indicator maths, on constructed facts (the scoring function is pure)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from credit.methodologies import DEFAULT_METHODOLOGY_FILE, DEFAULT_METHODOLOGY_FILES
from credit.schemas import MethodologyDefinition
from credit.scoring import Method, score_all
from portal.facts import ComplaintFact, InspectionFact, InstrumentFact, PenaltyFact

AS_OF = date(2026, 3, 1)
A = "91610402000000011A"  # only used as a key: scoring does not validate codes
B = "91610402000000022B"


def default_definition() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEFAULT_METHODOLOGY_FILE.read_text(encoding="utf-8"))
    return data["definition"]  # type: ignore[no-any-return]


METHOD = Method.from_definition("metrology-integrity", 2, default_definition())


def instrument(
    owner: str = A,
    *,
    status: str = "valid",
    overdue: int = 0,
    failures: int = 0,
    verifications: int = 2,
    number: str | None = "JD-2026-0001",
) -> InstrumentFact:
    return InstrumentFact(
        instrument_id=uuid.uuid4(),
        owner_uscc=owner,
        region_code="610402",
        category_code="加油机",
        status=status,  # type: ignore[arg-type]
        certificate_number=number,
        valid_until=AS_OF + timedelta(days=90)
        if status == "valid"
        else AS_OF - timedelta(days=overdue),
        overdue_days=overdue,
        failures_24m=failures,
        verifications_24m=verifications,
    )


def complaint(owner: str = A, *, days_ago: int = 30, number: str = "TS20260001") -> ComplaintFact:
    return ComplaintFact(
        case_id=uuid.uuid4(),
        tracking_number=number,
        business_uscc=owner,
        category="计量作弊",
        concluded_at=datetime.combine(AS_OF - timedelta(days=days_ago), datetime.min.time(), UTC),
    )


def penalty(
    owner: str = A,
    *,
    kind: str = "罚款",
    amount: str | None = "10000",
    decided: date = date(2025, 6, 1),
    until: date = date(2028, 6, 1),
    number: str = "咸市监处罚〔2025〕12号",
) -> PenaltyFact:
    return PenaltyFact(
        notice_id=uuid.uuid4(),
        decision_number=number,
        party_uscc=owner,
        penalty_kind=kind,
        amount=Decimal(amount) if amount else None,
        decided_on=decided,
        display_until=until,
    )


def indicator(result: Any, code: str) -> dict[str, Any]:
    return next(i for i in result.breakdown() if i["code"] == code)


def test_certificate_coverage_with_evidence() -> None:
    facts = [
        instrument(number="JD-1"),
        instrument(number="JD-2", status="expiring"),
        instrument(number="JD-3"),
        instrument(number="JD-4", status="expired", overdue=10),
    ]
    result = score_all(METHOD, [A], as_of=AS_OF, instruments=facts)[A]
    coverage = indicator(result, "certificate_coverage")
    assert coverage["attainment"] == "0.7500"
    assert coverage["inputs"] == {"instruments": 4, "with_valid_certificate": 3, "share": "0.7500"}
    assert sorted(e["certificate"] for e in coverage["evidence"]) == [
        "JD-1",
        "JD-2",
        "JD-3",
        "JD-4",
    ]
    assert {e["status"] for e in coverage["evidence"]} == {"valid", "expiring", "expired"}


def test_overdue_instrument_days() -> None:
    facts = [
        instrument(),
        instrument(status="expired", overdue=90),
        instrument(status="none", overdue=30, number=None),
    ]
    overdue = indicator(score_all(METHOD, [A], as_of=AS_OF, instruments=facts)[A], "overdue_days")
    # 120 days over 3 instruments = 40 per instrument; falls to 0 at 60 → 1 − 40/60
    assert overdue["inputs"]["overdue_instrument_days"] == 120
    assert overdue["inputs"]["days_per_instrument"] == "40.00"
    assert overdue["attainment"] == "0.3333"
    assert [e["overdue_days"] for e in overdue["evidence"]] in ([90, 30], [30, 90])
    worse = [instrument(status="expired", overdue=400)]
    assert (
        indicator(score_all(METHOD, [A], as_of=AS_OF, instruments=worse)[A], "overdue_days")[
            "attainment"
        ]
        == "0.0000"
    )


def test_failure_share_in_24_months() -> None:
    facts = [instrument(failures=1, verifications=4), instrument(failures=0, verifications=6)]
    failures = indicator(score_all(METHOD, [A], as_of=AS_OF, instruments=facts)[A], "failure_share")
    assert failures["inputs"] == {"verifications_24m": 10, "failures_24m": 1, "share": "0.1000"}
    assert failures["attainment"] == "0.5000"  # 1 − 0.1 / 0.2
    assert len(failures["evidence"]) == 1
    assert failures["evidence"][0]["failures_24m"] == 1


def test_substantiated_complaints_per_100_instruments_within_window() -> None:
    facts = [instrument() for _ in range(20)]
    cases = [
        complaint(number="TS1", days_ago=10),
        complaint(number="TS2", days_ago=700),
        complaint(number="TS-old", days_ago=800),  # outside the 730-day window
        complaint(B, number="TS-other"),  # another enterprise
    ]
    result = score_all(METHOD, [A], as_of=AS_OF, instruments=facts, complaints=cases)[A]
    complaints = indicator(result, "complaint_rate")
    assert complaints["inputs"]["substantiated_complaints"] == 2
    assert complaints["inputs"]["per_100_instruments"] == "10.00"
    assert complaints["attainment"] == "0.0000"  # 10 per 100 is where it reaches zero
    assert [e["tracking_number"] for e in complaints["evidence"]] == ["TS2", "TS1"]


def test_penalties_weighted_by_severity_and_dropping_out() -> None:
    notices = [
        penalty(kind="警告", amount=None, number="N1"),  # 1 point
        penalty(kind="罚款", amount="80000", number="N2"),  # large fine: 3 points
        penalty(kind="罚款", amount="2000", number="N3", until=date(2026, 2, 28)),  # display ended
        penalty(kind="责令停产停业", amount=None, number="N4", decided=date(2026, 4, 1)),  # future
    ]
    result = score_all(METHOD, [A], as_of=AS_OF, penalties=notices)[A]
    pen = indicator(result, "penalties")
    assert pen["inputs"] == {"penalties": 2, "severity_points": 4}
    assert pen["attainment"] == "0.3333"  # 1 − 4/6
    assert [(e["decision_number"], e["points"]) for e in pen["evidence"]] == [("N1", 1), ("N2", 3)]
    # The day the display period of N3 ended it still counted; the day after, not.
    on_last_day = score_all(METHOD, [A], as_of=date(2026, 2, 28), penalties=notices)[A]
    assert indicator(on_last_day, "penalties")["inputs"]["penalties"] == 3


def test_a_combined_penalty_weighs_at_least_its_heaviest_part() -> None:
    """Issue 16: 罚款；没收违法所得 ¥60,000 scored 2 points while the fine alone scored 3 (the large
    fine). Severity is monotonic: a decision combining penalties weighs what its heaviest part
    weighs, a large fine included, whatever the separator the decision was written with."""
    fine_alone = penalty(kind="罚款", amount="60000", number="N1")
    combined = penalty(kind="罚款；没收违法所得", amount="60000", number="N2")
    small_combined = penalty(kind="警告, 责令停产停业", amount=None, number="N3")
    points = {
        e["decision_number"]: e["points"]
        for e in indicator(
            score_all(METHOD, [A], as_of=AS_OF, penalties=[fine_alone, combined, small_combined])[
                A
            ],
            "penalties",
        )["evidence"]
    }
    assert points == {"N1": 3, "N2": 3, "N3": 5}


def test_association_entries_and_renormalisation_without_platform_data() -> None:
    entries = {(A, "self_commitment"): True, (A, "metrology_officer"): False}
    result = score_all(METHOD, [A, B], as_of=AS_OF, entries=entries)
    a = result[A]
    # No instruments: coverage, overdue, failures and complaints have no data and are left out;
    # penalties (15, none → full) and the entries (5 + 5 + 10) share the 100 points.
    included = {i["code"]: i["included"] for i in a.breakdown()}
    assert included["certificate_coverage"] is False
    assert included["penalties"] is True
    assert a.score == Decimal("57.14")  # (15 + 5) / 35
    assert indicator(a, "self_commitment")["points"] == "14.29"
    assert indicator(a, "metrology_officer")["inputs"] == {"entered": True, "value": False}
    assert indicator(a, "management_system")["inputs"] == {"entered": False, "value": False}
    assert result[B].score == Decimal("42.86")  # penalties only: 15 / 35


def test_full_marks_and_point_sum() -> None:
    facts = [instrument() for _ in range(5)]
    entries = {(A, c): True for c in ("self_commitment", "metrology_officer", "management_system")}
    result = score_all(METHOD, [A], as_of=AS_OF, instruments=facts, entries=entries)[A]
    assert (result.score, result.grade) == (Decimal("100.00"), "AAA")
    assert sum(Decimal(i["points"]) for i in result.breakdown()) == Decimal("100.00")


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        ("100", "AAA"),
        ("90", "AAA"),
        ("89.99", "AA"),
        ("80", "AA"),
        ("70", "A"),
        ("69.99", "BBB"),
        ("60", "BBB"),
        ("50", "BB"),
        ("40", "B"),
        ("30", "CCC"),
        ("20", "CC"),
        ("19.99", "C"),
        ("0", "C"),
    ],
)
def test_grade_thresholds(score: str, grade: str) -> None:
    assert METHOD.grade_for(Decimal(score)) == grade


def test_evidence_hash_is_deterministic_and_follows_the_evidence() -> None:
    facts = [instrument(number="JD-1")]
    first = score_all(METHOD, [A], as_of=AS_OF, instruments=facts)[A]
    again = score_all(METHOD, [A], as_of=AS_OF, instruments=list(facts))[A]
    assert first.evidence_hash == again.evidence_hash
    assert len(first.evidence_hash) == 64
    other = score_all(METHOD, [A], as_of=AS_OF, instruments=[instrument(number="JD-2")])[A]
    assert other.evidence_hash != first.evidence_hash


def test_methodology_validation() -> None:
    definition = default_definition()
    MethodologyDefinition.model_validate(definition)
    heavy = json.loads(json.dumps(definition))
    heavy["indicators"][0]["weight"] = 50
    with pytest.raises(ValidationError, match="add up to 100"):
        MethodologyDefinition.model_validate(heavy)
    unordered = json.loads(json.dumps(definition))
    unordered["grades"][1][1] = "95"
    with pytest.raises(ValidationError, match="fall strictly"):
        MethodologyDefinition.model_validate(unordered)
    unknown = json.loads(json.dumps(definition))
    unknown["indicators"][0]["kind"] = "astrology"
    with pytest.raises(ValidationError, match="kind must be one of"):
        MethodologyDefinition.model_validate(unknown)
    floats = json.loads(json.dumps(definition))
    floats["indicators"][2]["params"]["zero_at_share"] = 0.2
    with pytest.raises(ValidationError, match="not floats"):
        MethodologyDefinition.model_validate(floats)


def _inspection(
    owner: str, on: date, follow_up: str, published: date | None = None
) -> InspectionFact:
    return InspectionFact(
        inspection_id=uuid.uuid4(),
        uscc=owner,
        site_name="加油站",
        inspected_on=on,
        published_on=published or on,
        follow_up=follow_up,
    )


def test_inspection_findings_deduct_bounded_in_window_and_once_public() -> None:
    entries = {(A, c): True for c in ("self_commitment", "metrology_officer", "management_system")}
    clean = score_all(METHOD, [A], as_of=AS_OF, entries=entries)[A]
    assert clean.score == Decimal("100.00")
    findings = [
        _inspection(A, AS_OF - timedelta(days=10), "correct"),
        _inspection(A, AS_OF - timedelta(days=20), "penalty_case"),
        _inspection(A, AS_OF - timedelta(days=30), "penalty_case"),  # 25 points, capped at 15
        _inspection(A, AS_OF - timedelta(days=730), "penalty_case"),  # outside the window
        _inspection(A, AS_OF - timedelta(days=1), "penalty_case", published=AS_OF + timedelta(1)),
        _inspection(B, AS_OF - timedelta(days=1), "penalty_case"),  # another enterprise's
    ]
    result = score_all(METHOD, [A], as_of=AS_OF, entries=entries, inspections=findings)[A]
    found = indicator(result, "inspection_findings")
    assert found["inputs"]["failed_inspections"] == 3
    assert (found["inputs"]["finding_points"], found["points"]) == (25, "-15.00")
    assert result.score == Decimal("85.00")
    assert result.score == clean.score - 15  # the deduction, after the weighted score
    # The score never falls below 0: penalties only (15 of 35 weight) less 15.
    bare = score_all(METHOD, [A], as_of=AS_OF, inspections=findings)[A]
    assert bare.score == Decimal("27.86")  # 15/35 × 100 = 42.86, less 15
    # Version 1 has no such indicator: the same facts change nothing there.
    v1 = Method.from_definition(
        "metrology-integrity",
        1,
        json.loads(DEFAULT_METHODOLOGY_FILES[0].read_text(encoding="utf-8"))["definition"],
    )
    assert score_all(v1, [A], as_of=AS_OF, entries=entries, inspections=findings)[A].score == (
        Decimal("100.00")
    )


def test_a_deduction_weighs_outside_the_hundred() -> None:
    definition = default_definition()
    assert MethodologyDefinition.model_validate(definition)  # 100 weighted, plus at most 15 off
    heavier = {
        **definition,
        "indicators": [
            {**i, "weight": 30} if i["kind"] == "inspection_findings" else i
            for i in definition["indicators"]
        ],
    }
    assert MethodologyDefinition.model_validate(heavier)
    short = {
        **definition,
        "indicators": [i for i in definition["indicators"] if i["code"] != "self_commitment"],
    }
    with pytest.raises(ValidationError, match="add up to 100"):
        MethodologyDefinition.model_validate(short)
