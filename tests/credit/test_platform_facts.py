"""Platform indicators through the facts contract (portal/facts.py), and the review flag a new
serious penalty raises. tests/credit/facts.py speaks the contract as the other domains will."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from credit import ledger
from credit import ratings as credit_ratings
from credit.ledger import verify_stored
from portal import clock as portal_clock
from portal.db import Database
from portal.facts import ComplaintFact, InstrumentFact, PenaltyFact
from tests.credit.support import Clock, MakeAssociation


def _instrument(owner: str, number: str, status: str = "valid", overdue: int = 0) -> InstrumentFact:
    return InstrumentFact(
        instrument_id=uuid.uuid4(),
        owner_uscc=owner,
        region_code="610402",
        category_code="加油机",
        status=status,  # type: ignore[arg-type]
        certificate_number=number,
        valid_until=date(2026, 6, 1),
        overdue_days=overdue,
        failures_24m=0,
        verifications_24m=2,
    )


def _penalty(owner: str, number: str, kind: str, decided: date) -> PenaltyFact:
    return PenaltyFact(
        notice_id=uuid.uuid4(),
        decision_number=number,
        party_uscc=owner,
        penalty_kind=kind,
        amount=Decimal("30000") if kind == "罚款" else None,
        decided_on=decided,
        display_until=decided + timedelta(days=3 * 365),
    )


async def test_platform_indicators_with_evidence_and_review_flag(
    client: httpx.AsyncClient,
    database: Database,
    settings,  # type: ignore[no-untyped-def]
    clock: Clock,
    make_association: MakeAssociation,
    platform_facts: Any,
) -> None:
    assoc = await make_association()
    station = await assoc.add_member("中国石化销售股份有限公司陕西咸阳石油分公司人民中路加油站")
    await assoc.set_indicators(
        station, self_commitment=True, metrology_officer=True, management_system=True
    )
    platform_facts.INSTRUMENTS.extend(
        [
            _instrument(station, "JD-2026-001"),
            _instrument(station, "JD-2026-002"),
            _instrument(station, "JD-2026-003"),
            _instrument(station, "JD-2025-104", status="expired", overdue=30),
        ]
    )
    platform_facts.COMPLAINTS.append(
        ComplaintFact(
            case_id=uuid.uuid4(),
            tracking_number="TS202602150007",
            business_uscc=station,
            category="加油机计量不准",
            concluded_at=datetime(2026, 2, 20, 3, 0, tzinfo=UTC),
        )
    )
    platform_facts.PENALTIES.append(
        _penalty(station, "咸市监处罚〔2025〕31号", "警告", date(2025, 11, 5))
    )

    run = (await assoc.post("/runs", {})).json()
    draft = run["scores"][0]
    by_code = {i["code"]: i for i in draft["breakdown"]}
    assert by_code["certificate_coverage"]["attainment"] == "0.7500"
    assert "JD-2025-104" in {e["certificate"] for e in by_code["certificate_coverage"]["evidence"]}
    assert by_code["overdue_days"]["inputs"]["overdue_instrument_days"] == 30
    assert by_code["complaint_rate"]["evidence"][0]["tracking_number"] == "TS202602150007"
    assert by_code["penalties"]["evidence"][0]["decision_number"] == "咸市监处罚〔2025〕31号"
    # 25×0.75 + 10×(1−7.5/60) + 15×1 + 15×(1−25/10→0) + 15×(1−1/6) + 20 = 18.75+8.75+15+0+12.5+20
    assert draft["score"] == "75.00"
    assert draft["grade"] == "A"

    await assoc.post(f"/runs/{run['id']}/notice")
    clock.advance(days=14)
    assert (await assoc.post(f"/runs/{run['id']}/publish")).status_code == 200
    page = (await client.get(f"/api/v1/credit/enterprises/{station}")).json()
    assert page["evidence_hash"] == draft["evidence_hash"]

    # A mild penalty after publication flags nothing; a serious one flags the grade once.
    platform_facts.PENALTIES.append(
        _penalty(station, "咸市监处罚〔2026〕02号", "警告", date(2026, 3, 17))
    )
    async with database.transaction() as session:
        assert (
            await credit_ratings.flag_serious_penalties(session, settings=settings, now=clock.now)
            == 0
        )
    platform_facts.PENALTIES.append(
        _penalty(station, "咸市监处罚〔2026〕05号", "责令停产停业", date(2026, 3, 18))
    )
    clock.advance(days=3)
    async with database.transaction() as session:
        assert (
            await credit_ratings.flag_serious_penalties(session, settings=settings, now=clock.now)
            == 1
        )
        assert (
            await credit_ratings.flag_serious_penalties(session, settings=settings, now=clock.now)
            == 0
        )
    ratings = (await assoc.get("/ratings")).json()["items"]
    assert ratings[0]["under_review"] is True
    page = (await client.get(f"/api/v1/credit/enterprises/{station}")).json()
    assert page["history"][0]["kind"] == "rating.flagged"
    assert page["history"][0]["payload"]["decision_number"] == "咸市监处罚〔2026〕05号"

    # The review resolves the flag.
    response = await assoc.post(
        f"/ratings/{station}/review",
        {"outcome": "downgrade", "grade": "CCC", "reasons": "受到责令停产停业处罚，降为 CCC 级。"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["under_review"] is False
    body = (await client.get(f"/api/v1/credit/enterprises/{station}")).json()["history"][0]
    assert body["payload"]["resolves"] == ["咸市监处罚〔2026〕05号"]
    async with database.transaction() as session:
        assert (await verify_stored(session, ledger.signing_key(settings))).ok
        assert await credit_ratings.rebuild_ratings(session) == []


async def test_upheld_objection_rescores_from_corrected_facts(
    client: httpx.AsyncClient,
    clock: Clock,
    make_association: MakeAssociation,
    platform_facts: Any,
) -> None:
    assoc = await make_association()
    station = await assoc.add_member("兴平市金城加油站", region="610481")
    missing = _instrument(station, "JD-2026-777", status="none", overdue=45)
    platform_facts.INSTRUMENTS.extend([_instrument(station, "JD-2026-776"), missing])
    run = (await assoc.post("/runs", {})).json()
    before = run["scores"][0]["score"]
    await assoc.post(f"/runs/{run['id']}/notice")
    objection = (
        await client.post(
            "/api/v1/credit/objections",
            json={
                "batch_id": run["id"],
                "uscc": station,
                "objector_kind": "enterprise",
                "name": "金城加油站",
                "contact": "029-33000000",
                "text": "JD-2026-777 号加油机已于 2 月检定合格，检定所尚未录入证书。",
            },
        )
    ).json()
    # The institution uploads the missing certificate: the fact changes at its source.
    platform_facts.INSTRUMENTS.remove(missing)
    platform_facts.INSTRUMENTS.append(_instrument(station, "JD-2026-777"))
    decided = (
        await assoc.post(
            f"/objections/{objection['id']}/decision",
            {"decision": "upheld", "reasons": "检定所已补录证书，经核实属实，重新计分。"},
        )
    ).json()
    assert decided["score_before"] == before
    assert Decimal(decided["score_after"]) > Decimal(before)
    notice = (await client.get(f"/api/v1/credit/notices/{run['id']}")).json()
    assert notice["scores"][0]["revision"] == 1
    assert notice["objections"][0]["decision_reasons"].startswith("检定所已补录证书")


async def test_periodic_jobs_run_through_the_outbox_worker(
    client: httpx.AsyncClient,
    database: Database,
    settings,  # type: ignore[no-untyped-def]
    clock: Clock,
    make_association: MakeAssociation,
    platform_facts: Any,
    monkeypatch: Any,
) -> None:
    from portal.outbox.worker import OutboxWorker

    # The worker runs on the real clock: publish now, after a 公示 that began two weeks ago.
    clock.now = portal_clock.now() - timedelta(days=14)
    assoc = await make_association()
    station = await assoc.add_member("乾县梁山加油站", region="610424")
    run = (await assoc.post("/runs", {})).json()
    await assoc.post(f"/runs/{run['id']}/notice")
    clock.advance(days=14)
    assert (await assoc.post(f"/runs/{run['id']}/publish")).status_code == 200
    today = portal_clock.local_date(portal_clock.now())
    platform_facts.PENALTIES.append(
        _penalty(station, "咸市监处罚〔2026〕88号", "吊销许可证件", today)
    )
    # The jobs sign with the configured key; here that is the test app's key.
    worker = OutboxWorker(database)  # runs the jobs with the test app's settings
    assert await worker.schedule_periodic() >= 2
    assert await worker.run_once() >= 2
    page = (await client.get(f"/api/v1/credit/enterprises/{station}")).json()
    assert page["ratings"][0]["under_review"] is True
    assert page["history"][0]["payload"]["penalty_kind"] == "吊销许可证件"
    async with database.transaction() as session:
        assert (await verify_stored(session, ledger.signing_key(settings))).ok
