"""Field inspections in the credit evaluation: a failed inspection of an enterprise's site, once
public (一公开), deducts points in the next run with the inspection as evidence; a passed one,
one not yet public, and another enterprise's findings change nothing; a rating published before
keeps its score. The inspections are real rows of the enforcement domain, read through its
``inspection_facts`` provider (portal/facts.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx

from enforcement.models import Inspection, InspectionCampaign, InspectionStatus
from portal.accounts.models import Organization, OrganizationKind
from portal.db import Database
from tests.credit.support import Association, Clock, MakeAssociation, new_uscc
from tests.support import MakeOrg


async def _site(make_org: MakeOrg, uscc: str, name: str) -> Organization:
    return await make_org(kind=OrganizationKind.owner, region="610402", name=name, uscc=uscc)


async def _inspect(
    database: Database,
    site: Organization,
    *,
    outcome: str,
    follow_up: str,
    inspected_at: datetime,
    publish_on: date,
) -> uuid.UUID:
    async with database.transaction() as session:
        campaign = InspectionCampaign(
            title="2026 年加油机计量专项双随机抽查",
            region_code="610400",
            parameters={},
            candidates=[],
            inspectors=[],
            commitment="0" * 64,
            seed="0" * 64,
        )
        session.add(campaign)
        await session.flush()
        inspection = Inspection(
            campaign_id=campaign.id,
            region_code="610400",
            site_id=site.id,
            site_name=site.name,
            district=site.region_code,
            inspectors=["SX-0001", "SX-0002"],
            status=InspectionStatus.done,
            outcome=outcome,
            follow_up=follow_up,
            findings="加油机铅封破损" if outcome == "failed" else "",
            inspected_at=inspected_at,
            publish_on=publish_on,
        )
        session.add(inspection)
        await session.flush()
        return inspection.id


async def _scores(assoc: Association) -> dict[str, dict[str, object]]:
    run = (await assoc.post("/runs", {})).json()
    return {s["uscc"]: {**s, "run_id": run["id"]} for s in run["scores"]}


def _finding(score: dict[str, object]) -> dict[str, object]:
    breakdown = score["breakdown"]
    assert isinstance(breakdown, list)
    return next(i for i in breakdown if i["code"] == "inspection_findings")


async def test_a_published_failed_inspection_lowers_the_next_evaluation(
    client: httpx.AsyncClient,
    database: Database,
    clock: Clock,
    make_association: MakeAssociation,
    make_org: MakeOrg,
) -> None:
    assoc = await make_association()
    failed = await assoc.add_member("咸阳市秦都区渭阳加油站")
    passed = await assoc.add_member("咸阳市秦都区人民路加油站")
    for member in (failed, passed):
        await assoc.set_indicators(
            member, self_commitment=True, metrology_officer=True, management_system=True
        )
    # Another enterprise (not a member, another district) failed too: its finding stays its own.
    stranger = new_uscc("610431")
    await _site(make_org, stranger, "武功县普集加油站")

    before = await _scores(assoc)
    assert before[failed]["score"] == before[passed]["score"] == "100.00"
    assert _finding(before[failed])["evidence"] == []
    run1 = before[failed]["run_id"]
    assert (await assoc.post(f"/runs/{run1}/notice")).status_code == 200
    clock.advance(days=14)
    assert (await assoc.post(f"/runs/{run1}/publish")).status_code == 200
    published = (await client.get(f"/api/v1/credit/enterprises/{failed}")).json()["current"]

    today = clock.now.astimezone(UTC)
    site_failed = await _site(make_org, failed, "咸阳市秦都区渭阳加油站")
    site_passed = await _site(make_org, passed, "咸阳市秦都区人民路加油站")
    finding = await _inspect(
        database,
        site_failed,
        outcome="failed",
        follow_up="correct",
        inspected_at=datetime(2026, 3, 3, 2, 0, tzinfo=UTC),
        publish_on=date(2026, 3, 10),
    )
    # Recorded but not yet public (一公开 later): the grade does not move on it yet.
    await _inspect(
        database,
        site_failed,
        outcome="failed",
        follow_up="penalty_case",
        inspected_at=today,
        publish_on=date(2026, 12, 31),
    )
    await _inspect(
        database,
        site_passed,
        outcome="passed",
        follow_up="none",
        inspected_at=datetime(2026, 3, 3, 3, 0, tzinfo=UTC),
        publish_on=date(2026, 3, 10),
    )
    await _inspect(
        database,
        await make_org(
            kind=OrganizationKind.owner, region="610431", name="武功县普集加油站二站", uscc=stranger
        ),
        outcome="failed",
        follow_up="penalty_case",
        inspected_at=datetime(2026, 3, 3, 4, 0, tzinfo=UTC),
        publish_on=date(2026, 3, 10),
    )

    after = await _scores(assoc)
    # 100 weighted points, less 5 for one 责令改正 finding.
    assert after[failed]["score"] == "95.00"
    assert after[failed]["grade"] == "AAA"
    indicator = _finding(after[failed])
    assert indicator["points"] == "-5.00"
    assert indicator["inputs"]["failed_inspections"] == 1
    assert indicator["evidence"] == [
        {
            "type": "inspection",
            "inspection_id": str(finding),
            "site": "咸阳市秦都区渭阳加油站",
            "inspected_on": "2026-03-03",
            "published_on": "2026-03-10",
            "follow_up": "correct",
            "points": 5,
        }
    ]
    assert after[passed]["score"] == "100.00"
    assert _finding(after[passed])["evidence"] == []
    assert after[failed]["evidence_hash"] != before[failed]["evidence_hash"]

    # The rating published before the finding is what it was.
    page = (await client.get(f"/api/v1/credit/enterprises/{failed}")).json()
    assert page["current"] == published
    assert Decimal(page["current"]["score"]) == Decimal("100.00")

    # The enterprise page names the finding as evidence, with its inspection id and date.
    run2 = after[failed]["run_id"]
    assert (await assoc.post(f"/runs/{run2}/notice")).status_code == 200
    clock.advance(days=14)
    assert (await assoc.post(f"/runs/{run2}/publish")).status_code == 200
    html = (await client.get(f"/credit/enterprises/{failed}")).text
    assert f"检查编号 {finding}" in html
    assert "2026-03-03 检查" in html
    assert "最多扣 15" in html
