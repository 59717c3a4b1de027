"""Enforcement notices through the API, on SQLite and PostgreSQL, with the search index kept in
step by the outbox worker."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from notices import service
from notices.jobs import expire_notices
from notices.models import EnforcementNotice, NoticeStatus
from notices.schemas import EnforcementNoticeCreate
from notices.settings import NoticeSettings
from portal import clock
from portal.accounts.models import Role
from portal.db import Database
from portal.facts import penalty_facts
from portal.outbox.service import JobContext
from tests.support import assert_problem


def notice_payload(**overrides: Any) -> dict[str, Any]:
    payload = {
        "title": "某超市使用未经检定电子计价秤案",
        "decision_number": "咸市监处罚〔2026〕99号",
        "party_name": "咸阳惠民超市有限公司",
        "party_uscc": "91610402MA6XN3EX15",
        "violation": "使用未经检定的电子计价秤用于贸易结算。",
        "legal_basis": "《中华人民共和国计量法》第九条",
        "penalty_kind": "罚款",
        "penalty_amount": "2000",
        "authority": "咸阳市市场监督管理局",
        "region_code": "610402",
        "decision_date": (clock.today() - timedelta(days=3)).isoformat(),
    }
    payload.update(overrides)
    return payload


async def search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/search", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_regulators_publish_notices_in_their_own_region(
    client, index_engine, make_user, auth_headers, run_worker
) -> None:
    xianyang = await auth_headers(await make_user(Role.regulator, region="610400"))
    xian = await auth_headers(await make_user(Role.regulator, region="610100"))
    assert_problem(
        await client.post("/api/v1/notices", json=notice_payload(), headers=xian),
        403,
        "region_forbidden",
    )
    created = await client.post("/api/v1/notices", json=notice_payload(), headers=xianyang)
    assert created.status_code == 201, created.text
    notice = created.json()
    # 罚款 of 2,000 yuan is a "lower fine": on display for 3 months.
    published = date.fromisoformat(notice["published_on"])
    assert notice["display_until"] == clock.add_months(published, 3).isoformat()
    duplicate = await client.post("/api/v1/notices", json=notice_payload(), headers=xianyang)
    assert_problem(duplicate, 409, "duplicate_decision_number")
    invalid = await client.post(
        "/api/v1/notices",
        json=notice_payload(decision_number="X-1", party_uscc="91610402MA6XN3EX16"),
        headers=xianyang,
    )
    assert_problem(invalid, 422, "validation_error")
    serious = await client.post(
        "/api/v1/notices",
        json=notice_payload(decision_number="X-2", penalty_kind="警告；罚款"),
        headers=xianyang,
    )
    assert serious.json()["display_until"] == clock.add_months(published, 36).isoformat()

    await run_worker()
    found = await search(client, q="电子秤", kind="notice", region="610400")
    assert found["total"] == 2
    assert found["facets"]["region"] == {"秦都区": 2}
    withdraw = await client.post(
        f"/api/v1/notices/{notice['id']}/withdraw", json={"reason": "决定被撤销"}, headers=xian
    )
    assert_problem(withdraw, 403, "region_forbidden")
    withdraw = await client.post(
        f"/api/v1/notices/{notice['id']}/withdraw",
        json={"reason": "决定被撤销"},
        headers=xianyang,
    )
    assert withdraw.json()["status"] == "withdrawn"
    await run_worker()
    assert (await search(client, q="电子秤", kind="notice"))["total"] == 1
    assert_problem(await client.get(f"/api/v1/notices/{notice['id']}"), 404, "notice_not_found")


async def test_notices_expire_automatically(
    client, index_engine, database: Database, settings, run_worker
) -> None:
    today = clock.today()
    async with database.transaction() as session:
        old = await service.create_notice(
            session,
            EnforcementNoticeCreate.model_validate(
                notice_payload(
                    decision_number="OLD-1",
                    party_name="张三",
                    party_uscc=None,
                    decision_date=(today - timedelta(days=120)).isoformat(),
                    published_on=(today - timedelta(days=100)).isoformat(),
                )
            ),
            actor=None,
            settings=settings.of(NoticeSettings),
        )
        current = await service.create_notice(
            session,
            EnforcementNoticeCreate.model_validate(notice_payload(decision_number="NEW-1")),
            actor=None,
            settings=settings.of(NoticeSettings),
        )
    # Past its 3-month display period: never indexed, never shown, even before the job ran.
    await run_worker()
    assert (await search(client, kind="notice"))["total"] == 1
    assert_problem(await client.get(f"/api/v1/notices/{old.id}"), 404)
    shown = (await client.get(f"/api/v1/notices/{current.id}")).json()
    assert shown["party_name"] == "咸阳惠民超市有限公司"

    async with database.transaction() as session:
        await expire_notices(session, {}, JobContext(settings=settings, state=None))
    async with database.sessionmaker() as session:
        stored = await session.get(EnforcementNotice, old.id)
        assert stored is not None
        assert stored.status is NoticeStatus.expired
        facts = await penalty_facts(session, as_of=today, usccs=["91610402MA6XN3EX15"])
        assert [f.decision_number for f in facts] == ["NEW-1"]
        assert facts[0].amount == Decimal("2000.00")
        assert await penalty_facts(session, as_of=today - timedelta(days=200)) == []


async def test_a_warning_alone_is_not_published_order_45_article_2(
    client, index_engine, make_user, auth_headers
) -> None:
    """市场监督管理行政处罚信息公示规定 第二条: 仅受到警告行政处罚的不予公示. A warning with another
    penalty is published; a notice corrected down to a warning alone is withdrawn, not kept."""
    headers = await auth_headers(await make_user(Role.regulator, region="610400"))
    warning = notice_payload(decision_number="W-1", penalty_kind="警告", penalty_amount=None)
    refused = await client.post("/api/v1/notices", json=warning, headers=headers)
    assert_problem(refused, 422, "warning_only_not_published")
    assert "第二条" in refused.json()["detail_zh"]
    # However it is typed (attack review: each of these was published).
    for typed in ["警 告", "警告。", "给予警告", "警告处罚", "警告\u200b", "警告；无", "警吿",
                  "警告（从轻）", "警告/", "警告；；"]:  # fmt: skip
        assert_problem(
            await client.post("/api/v1/notices", json={**warning, "penalty_kind": typed},
                              headers=headers),
            422,
            "warning_only_not_published",
        )  # fmt: skip
    both = await client.post(
        "/api/v1/notices",
        json={**warning, "penalty_kind": "警告；罚款", "penalty_amount": "500"},
        headers=headers,
    )
    assert both.status_code == 201, both.text
    corrected = await client.patch(
        f"/api/v1/notices/{both.json()['id']}",
        json={"penalty_kind": "警告"},
        headers=headers,
    )
    assert_problem(corrected, 422, "warning_only_not_published")
    listed = (await client.get("/api/v1/notices", headers=headers)).json()
    # Nothing of the refused warning was written; the published notice kept its penalty.
    assert [(n["decision_number"], n["penalty_kind"]) for n in listed["items"]] == [
        ("W-1", "警告；罚款")
    ]


async def test_display_period_is_bounded_by_the_rules(
    client, index_engine, make_user, auth_headers
) -> None:
    """Issue 11 finding: a 通报批评 with display_until 2099 was accepted. The period ends no later
    than the statutory one (第十三条: 3 months for 通报批评), on publication and on correction."""
    headers = await auth_headers(await make_user(Role.regulator, region="610400"))
    forever = notice_payload(
        decision_number="LONG-1", penalty_kind="通报批评", penalty_amount=None,
        display_until="2099-12-31",
    )  # fmt: skip
    assert_problem(
        await client.post("/api/v1/notices", json=forever, headers=headers),
        422,
        "invalid_display_period",
    )
    created = await client.post(
        "/api/v1/notices", json={**forever, "display_until": None}, headers=headers
    )
    assert created.status_code == 201, created.text
    notice = created.json()
    published = date.fromisoformat(notice["published_on"])
    assert notice["display_until"] == clock.add_months(published, 3).isoformat()
    extended = await client.patch(
        f"/api/v1/notices/{notice['id']}", json={"display_until": "2099-12-31"}, headers=headers
    )
    assert_problem(extended, 422, "invalid_display_period")
    shortened = await client.patch(
        f"/api/v1/notices/{notice['id']}",
        json={"display_until": (published + timedelta(days=30)).isoformat()},
        headers=headers,
    )
    assert shortened.status_code == 200, shortened.text


async def test_an_individual_is_masked_whatever_the_length_of_the_name(
    client, index_engine, make_user, auth_headers, run_worker
) -> None:
    """Issue 11 #6: a party without a credit code was taken for an enterprise when its name had
    more than 4 characters, so a 5-character personal name was published. The notice now says
    what the party is, and an individual is masked by portal/privacy.py everywhere."""
    from tests.search.test_pages import login

    regulator = await make_user(Role.regulator, region="610400")
    headers = await auth_headers(regulator)
    person = notice_payload(
        decision_number="P-1", party_name="欧阳建国华", party_uscc=None, party_kind="individual"
    )
    created = await client.post("/api/v1/notices", json=person, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["party_kind"] == "individual"
    # Unsaid and without a credit code: a person, masked too.
    unsaid = notice_payload(decision_number="P-2", party_name="司马相如之", party_uscc=None)
    second = await client.post("/api/v1/notices", json=unsaid, headers=headers)
    assert second.json()["party_kind"] == "individual"
    # A credit code without a kind: an enterprise, named.
    company = await client.post(
        "/api/v1/notices", json=notice_payload(decision_number="E-1"), headers=headers
    )
    assert company.json()["party_kind"] == "enterprise"
    await run_worker()

    notice_id = created.json()["id"]
    shown = (await client.get(f"/api/v1/notices/{notice_id}")).json()
    assert shown["party_name"] == "欧阳***"
    page = await client.get(f"/notices/{notice_id}")
    assert "欧阳***" in page.text
    assert "建国华" not in page.text
    hits = (await search(client, q="电子计价秤", kind="notice"))["items"]
    assert len(hits) == 3
    for hit in hits:
        assert "建国华" not in str(hit)
        assert "相如之" not in str(hit)
    assert "咸阳惠民超市有限公司" in str(hits)
    # Staff see the name in full (their list); the public detail masks it for everyone.
    listed = (await client.get("/api/v1/notices", headers=headers)).json()["items"]
    assert "欧阳建国华" in {n["party_name"] for n in listed}

    # The regulators' form: enterprise unless the regulator says individual.
    await login(client, regulator)
    form = {
        "title": "个人销售未经检定电子秤案",
        "decision_number": "P-3",
        "party_name": "上官婉儿乐",
        "party_kind": "individual",
        "violation": "销售未经检定的电子秤。",
        "legal_basis": "《中华人民共和国计量法》第九条",
        "penalty_kind": "通报批评",
        "authority": "咸阳市市场监督管理局",
        "region_code": "610404",
        "decision_date": clock.today().isoformat(),
    }
    assert (await client.post("/regulator/notices", data=form)).status_code == 303
    await run_worker()
    found = (await search(client, q="个人销售"))["items"]
    assert len(found) == 1
    assert "婉儿乐" not in str(found)
    assert "上官***" in (await client.get(found[0]["url"])).text


async def test_a_notice_published_on_a_later_day_is_found_from_that_day(
    client, index_engine, run_worker, database: Database, settings
) -> None:
    """An import or a regulator may set ``published_on`` ahead: on creation it is not yet on
    display (so not indexed), and on its first day the hourly job must put it in the search, or
    it stays out of it until someone rebuilds the whole index."""
    tomorrow = clock.today() + timedelta(days=1)
    async with database.transaction() as session:
        await service.create_notice(
            session,
            EnforcementNoticeCreate.model_validate(
                notice_payload(decision_number="LATER-1", published_on=tomorrow.isoformat())
            ),
            actor=None,
            settings=settings.of(NoticeSettings),
        )
    await run_worker()
    assert (await search(client, kind="notice"))["total"] == 0
    with clock.use_clock(clock.FixedClock(clock.now() + timedelta(days=1))):
        async with database.transaction() as session:
            await expire_notices(session, {}, JobContext(settings=settings, state=None))
        await run_worker()
        assert (await search(client, kind="notice"))["total"] == 1


async def test_an_import_line_with_a_field_the_import_does_not_know_is_refused(
    database: Database, settings
) -> None:
    """``gongzhi documents import --kind notice`` publishes every line: a notice exported as
    withdrawn by an old system, or a misspelt display end, must fail the import, not go public."""
    from portal import facts
    from portal.jsonlines import ImportFileInvalid

    for extra in ({"status": "withdrawn"}, {"display_untill": "2020-01-01"}):
        line = {**notice_payload(decision_number="IMP-1"), **extra}
        with pytest.raises(ImportFileInvalid) as refused:
            async with database.transaction() as session:
                await facts.import_documents(
                    session, kind="notice", rows=[(1, line)], settings=settings
                )
        assert "第 1 行" in (refused.value.detail_zh or "")
    async with database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(EnforcementNotice)) == 0


async def test_an_individuals_name_in_the_title_or_text_is_masked_too(
    client, index_engine, make_user, auth_headers, run_worker
) -> None:
    """Regulators often name the person in the title and the facts (张建国使用未经检定电子秤案):
    masking only ``party_name`` still published the full name on the page, in the API and in
    the search. Wherever the public sees the notice, the individual's name is masked in every
    field; staff still see it in full."""
    regulator = await make_user(Role.regulator, region="610400")
    headers = await auth_headers(regulator)
    person = notice_payload(
        decision_number="P-9",
        party_name="张建国",
        party_uscc=None,
        party_kind="individual",
        title="张建国使用未经检定电子计价秤案",
        violation="当事人张建国在农贸市场使用未经检定的电子计价秤。",
        legal_basis="《中华人民共和国计量法》第九条（张建国）",
    )
    created = await client.post("/api/v1/notices", json=person, headers=headers)
    assert created.status_code == 201, created.text
    notice_id = created.json()["id"]
    await run_worker()

    shown = (await client.get(f"/api/v1/notices/{notice_id}")).json()
    assert "张建国" not in str(shown)
    assert shown["title"] == "张**使用未经检定电子计价秤案"
    assert shown["violation"] == "当事人张**在农贸市场使用未经检定的电子计价秤。"
    page = await client.get(f"/notices/{notice_id}")
    assert page.status_code == 200
    assert "建国" not in page.text
    assert "张**使用未经检定电子计价秤案" in page.text
    hits = (await search(client, q="电子计价秤", kind="notice"))["items"]
    assert len(hits) == 1
    assert "建国" not in str(hits)
    assert (await search(client, q="张建国"))["total"] == 0
    listed = (await client.get("/api/v1/notices", headers=headers)).json()["items"]
    assert listed[0]["title"] == "张建国使用未经检定电子计价秤案"
