"""Credit from the platform's own data (issue 6: "each indicator with its evidence").

Nothing here goes through tests/credit/facts.py: certificates are issued by an institution
(api/certificates), a report is concluded as substantiated by a regulator (api/complaints) and an
enforcement notice is published by a regulator (search/), all through their APIs; the credit run of
the enterprise's association then reads them through the real facts providers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlmodel import select

from api.certificates import facts as certificate_facts
from api.certificates.queries import today_local
from api.complaints import facts as complaint_facts
from api.complaints.models import Case
from credit import ledger, ratings, runs
from credit.deps import current_time
from credit.ledger import verify_stored
from notices import facts as notice_facts
from portal import clock as portal_clock
from portal import domains, facts
from portal.accounts.models import OrganizationKind, Role, User
from portal.db import Database
from portal.outbox.worker import OutboxWorker
from portal.settings import Settings
from tests.api.certificates.support import Issue, valid_uscc
from tests.support import MakeOrg, MakeUser

# The enterprise under evaluation, and a neighbour whose data must never show up in its evidence.
STATION = valid_uscc("91610402MA6XY7301")
NEIGHBOUR = valid_uscc("91610402MA6XY7302")


def day(n: int) -> str:
    return (today_local() + timedelta(days=n)).isoformat()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now


@pytest.fixture
def clock(app: FastAPI) -> Iterator[Clock]:
    """The credit workflow's clock, on real time (certificates and notices are dated by it)."""
    clock = Clock(portal_clock.now())
    app.dependency_overrides[current_time] = lambda: clock.now
    yield clock
    app.dependency_overrides.pop(current_time, None)


@pytest.fixture(autouse=True)
def _only_real_providers() -> None:
    # tests/credit's provider is installed only by its `platform_facts` fixture, never here.
    assert "tests.credit" not in domains.DOMAINS
    providers = {name for name, _ in domains.modules("facts")}
    assert {"api.certificates", "api.complaints", "notices"} <= providers, providers


class Platform:
    """Drives the real APIs as an institution, a regulator and an association."""

    def __init__(self, client: httpx.AsyncClient, issue: Issue) -> None:
        self.client = client
        self.issue = issue
        self.regulator: dict[str, str] = {}
        self.association: dict[str, str] = {}

    async def setup(self, make_user: MakeUser, make_org: MakeOrg, auth_headers: Any) -> None:
        self.regulator = await auth_headers(await make_user(Role.regulator, region="610400"))
        org = await make_org(
            kind=OrganizationKind.association,
            name="咸阳市成品油流通行业协会",
            industry="成品油零售",
        )
        user: User = await make_user(role=Role.association, org=org)
        self.association = await auth_headers(user)

    async def add_member(self, uscc: str, name: str) -> None:
        response = await self.client.post(
            "/api/v1/credit/association/members",
            json={"uscc": uscc, "name": name, "region_code": "610402"},
            headers=self.association,
        )
        assert response.status_code == 201, response.text
        response = await self.client.put(
            f"/api/v1/credit/association/members/{uscc}/indicators",
            json={
                "values": {
                    "self_commitment": True,
                    "metrology_officer": True,
                    "management_system": True,
                }
            },
            headers=self.association,
        )
        assert response.status_code == 200, response.text

    async def certificates(self, owner: str, prefix: str) -> dict[str, dict[str, Any]]:
        """A valid certificate, an expired one (35 days overdue) and a failure notice
        (检定结果通知书, five days ago), each for its own fuel dispenser."""
        common = {"owner_name": "咸阳人民中路加油站有限公司", "owner_uscc": owner}
        valid = await self.issue(
            number=f"{prefix}-001", verified_on=day(-10), valid_until=day(355), **common
        )
        expired = await self.issue(
            number=f"{prefix}-002", verified_on=day(-400), valid_until=day(-35), **common
        )
        failed = await self.issue(
            number=f"{prefix}-003",
            kind="notice",
            conclusion="不合格",
            verified_on=day(-5),
            valid_until=None,
            **common,
        )
        return {"valid": valid, "expired": expired, "failed": failed}

    async def substantiated_report(self, database: Database, token: str) -> str:
        response = await self.client.post(
            "/api/v1/cases",
            json={
                "kind": "report",
                "category": "short_weight",
                "description": "加油 40 升，用标准量器复核少了 0.6 升。",
                "instrument_token": token,
                "extra": {"goods": "92# 汽油", "claimed_quantity": 40, "actual_quantity": 39.4},
            },
        )
        assert response.status_code == 201, response.text
        tracking: str = response.json()["tracking_number"]
        async with database.transaction() as session:
            case_id = await session.scalar(select(Case.id).where(Case.tracking_number == tracking))
        for action in (
            {"action": "accept", "body": "已受理，派员现场核查。"},
            {
                "action": "conclude",
                "finding": "substantiated",
                "filing": "filed",  # a report ends in the decision to open a case (立案)
                "body": "现场检定加油机超差。",
            },
        ):
            response = await self.client.post(
                f"/api/v1/staff/cases/{case_id}/actions", json=action, headers=self.regulator
            )
            assert response.status_code == 200, response.text
        assert response.json()["finding"] == "substantiated"
        return tracking

    async def notice(
        self, party: str, number: str, *, kind: str = "罚款", amount: str | None = "30000"
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/notices",
            json={
                "title": "加油站使用不合格加油机案",
                "decision_number": number,
                "party_name": "咸阳人民中路加油站有限公司",
                "party_uscc": party,
                "violation": "使用计量超差的加油机进行贸易结算。",
                "legal_basis": "《中华人民共和国计量法》第二十六条",
                "penalty_kind": kind,
                "penalty_amount": amount,
                "authority": "咸阳市市场监督管理局",
                "region_code": "610402",
                "decision_date": day(-3) if kind == "罚款" else day(0),
            },
            headers=self.regulator,
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def run(self) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/credit/association/runs", json={}, headers=self.association
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def platform(
    client: httpx.AsyncClient, issue: Issue, make_user: MakeUser, make_org: MakeOrg, auth_headers
) -> Platform:
    built = Platform(client, issue)
    await built.setup(make_user, make_org, auth_headers)
    return built


@pytest.mark.parametrize("whole_platform", [False, True], ids=["members", "usccs-none"])
async def test_each_platform_indicator_with_its_evidence(
    database: Database,
    clock: Clock,
    platform: Platform,
    monkeypatch: pytest.MonkeyPatch,
    whole_platform: bool,
) -> None:
    if whole_platform:
        # An association above FACTS_IN_LIMIT members asks the providers for every enterprise.
        monkeypatch.setattr(runs, "FACTS_IN_LIMIT", 0)
    await platform.add_member(STATION, "咸阳人民中路加油站有限公司")
    certificates = await platform.certificates(STATION, "JD-7301")
    await platform.certificates(NEIGHBOUR, "JD-7302")  # not ours: must not count
    tracking = await platform.substantiated_report(
        database, certificates["valid"]["instrument"]["sticker_token"]
    )
    decision = "咸市监处罚〔2026〕731号"
    await platform.notice(STATION, decision)
    await platform.notice(NEIGHBOUR, "咸市监处罚〔2026〕732号")

    run = await platform.run()
    [draft] = run["scores"]
    assert draft["uscc"] == STATION
    by_code = {i["code"]: i for i in draft["breakdown"]}

    numbers = {"JD-7301-001", "JD-7301-002", "JD-7301-003"}
    coverage = by_code["certificate_coverage"]
    assert coverage["inputs"] == {"instruments": 3, "with_valid_certificate": 1, "share": "0.3333"}
    assert coverage["attainment"] == "0.3333"
    assert sorted(e["certificate"] for e in coverage["evidence"]) == sorted(numbers)
    assert {e["certificate"]: e["status"] for e in coverage["evidence"]} == {
        "JD-7301-001": "valid",
        "JD-7301-002": "expired",
        "JD-7301-003": "failed",
    }

    overdue = by_code["overdue_days"]
    assert {e["certificate"]: e["overdue_days"] for e in overdue["evidence"]} == {
        "JD-7301-002": 35,
        "JD-7301-003": 5,
    }
    # 40 days over 3 instruments = 13.33 a piece; 1 − 13.33/60
    assert overdue["inputs"]["overdue_instrument_days"] == 40
    assert overdue["attainment"] == "0.7778"

    failure = by_code["failure_share"]
    assert failure["inputs"] == {"verifications_24m": 3, "failures_24m": 1, "share": "0.3333"}
    assert failure["attainment"] == "0.0000"  # beyond 20 %
    instrument_of = {e["certificate"]: e["instrument_id"] for e in coverage["evidence"]}
    assert [(e["instrument_id"], e["failures_24m"]) for e in failure["evidence"]] == [
        (instrument_of["JD-7301-003"], 1)
    ]

    complaints = by_code["complaint_rate"]
    assert [e["tracking_number"] for e in complaints["evidence"]] == [tracking]
    assert complaints["inputs"]["substantiated_complaints"] == 1
    assert complaints["attainment"] == "0.0000"  # 33.33 per 100 instruments, beyond 10

    penalties = by_code["penalties"]
    assert [e["decision_number"] for e in penalties["evidence"]] == [decision]
    assert penalties["evidence"][0]["amount"] == "30000.00"
    assert penalties["evidence"][0]["points"] == 2  # 罚款 below the large-fine threshold
    assert penalties["attainment"] == "0.6667"

    # 25×0.3333 + 10×0.7778 + 0 + 0 + 15×0.6667 + 20 (association entries)
    assert draft["score"] == "46.11"
    assert draft["grade"] == "B"  # 40 ≤ score < 50


async def _count_statements(database: Database, coro: Any) -> tuple[int, Any]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        result = await coro
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)
    return len(statements), result


async def test_providers_answer_for_every_enterprise_with_a_fixed_number_of_queries(
    database: Database, platform: Platform
) -> None:
    """usccs=None (a large association): a handful of queries whatever the number of
    enterprises, and the same facts as asking for each enterprise by name."""

    async def gather(usccs: list[str] | None) -> tuple[int, tuple[Any, ...]]:
        as_of = today_local()
        since = portal_clock.now() - timedelta(days=730)
        async with database.transaction() as session:
            n, found = await _count_statements(
                database,
                _all(
                    certificate_facts.instrument_facts(session, as_of=as_of, usccs=usccs),
                    complaint_facts.complaint_facts(session, since=since, usccs=usccs),
                    notice_facts.penalty_facts(session, as_of=as_of, usccs=usccs),
                ),
            )
        return n, found

    owners = [valid_uscc(f"91610402MA6XY74{i:02d}") for i in range(6)]
    await platform.certificates(owners[0], "JD-7400")
    await platform.notice(owners[0], "咸市监处罚〔2026〕740号")
    few, _ = await gather(None)
    for i, owner in enumerate(owners[1:], start=1):
        certificates = await platform.certificates(owner, f"JD-74{i:02d}")
        await platform.substantiated_report(
            database, certificates["valid"]["instrument"]["sticker_token"]
        )
        await platform.notice(owner, f"咸市监处罚〔2026〕74{i}号")
    many, (instruments, complaints, penalties) = await gather(None)
    assert many == few <= 6
    assert {f.owner_uscc for f in instruments} == set(owners)
    assert len(instruments) == 3 * len(owners)
    assert {f.business_uscc for f in complaints} == set(owners[1:])
    assert {f.party_uscc for f in penalties} == set(owners)

    named, by_name = await gather(owners)
    assert named == many
    assert [sorted(map(repr, f)) for f in by_name] == [
        sorted(map(repr, f)) for f in (instruments, complaints, penalties)
    ]
    # The gathering path credit uses, for an association above FACTS_IN_LIMIT members.
    async with database.transaction() as session:
        everything = await facts.instrument_facts(session, as_of=today_local(), usccs=None)
    assert {f.owner_uscc for f in everything} == set(owners)


async def _all(*coros: Any) -> tuple[Any, ...]:
    # One after the other: a session runs one statement at a time.
    return tuple([await c for c in coros])


async def test_new_serious_penalty_flags_a_published_grade_through_the_periodic_job(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    clock: Clock,
    platform: Platform,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The worker runs on the real clock: publish now, after a 公示 that began two weeks ago.
    clock.now = portal_clock.now() - timedelta(days=14)
    await platform.add_member(STATION, "咸阳人民中路加油站有限公司")
    await platform.certificates(STATION, "JD-7501")
    run = await platform.run()
    notice = await client.post(
        f"/api/v1/credit/association/runs/{run['id']}/notice", headers=platform.association
    )
    assert notice.status_code == 200, notice.text
    clock.now = portal_clock.now()
    published = await client.post(
        f"/api/v1/credit/association/runs/{run['id']}/publish", headers=platform.association
    )
    assert published.status_code == 200, published.text

    # The jobs sign with the configured key; here that is the test app's key.
    worker = OutboxWorker(database)  # runs the jobs with the test app's settings

    # 通报批评 (1 point) is not serious: the grade stays as published.
    await platform.notice(STATION, "咸市监处罚〔2026〕751号", kind="通报批评", amount=None)
    async with database.transaction() as session:
        assert await ratings.flag_serious_penalties(session, settings=settings) == 0

    # 责令停产停业 (5 points) is: the periodic job flags the grade for review.
    await platform.notice(STATION, "咸市监处罚〔2026〕752号", kind="责令停产停业", amount=None)
    assert await worker.schedule_periodic() >= 1
    assert await worker.run_once() >= 1
    page = (await client.get(f"/api/v1/credit/enterprises/{STATION}")).json()
    assert page["ratings"][0]["under_review"] is True
    assert page["history"][0]["kind"] == "rating.flagged"
    assert page["history"][0]["payload"]["decision_number"] == "咸市监处罚〔2026〕752号"
    assert page["history"][0]["payload"]["penalty_kind"] == "责令停产停业"
    # Entering the serious-dishonesty list, as a notice records it, is reviewed whatever the
    # points (issue 16).
    await platform.notice(
        STATION, "咸市监处罚〔2026〕753号", kind="罚款；列入严重违法失信名单", amount="500"
    )
    async with database.transaction() as session:
        assert await ratings.flag_serious_penalties(session, settings=settings) == 1
    page = (await client.get(f"/api/v1/credit/enterprises/{STATION}")).json()
    assert (
        page["history"][0]["payload"]["reason"] == "列入严重违法失信名单（咸市监处罚〔2026〕753号）"
    )
    async with database.transaction() as session:
        assert (await verify_stored(session, ledger.signing_key(settings))).ok
