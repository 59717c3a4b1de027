"""The whole publication workflow through the API, on SQLite and PostgreSQL: members and entered
indicators → run → drafts → 公示 (working days) → objections → publish → public pages → reviews,
replies, expiry; every step in the ledger and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlmodel import select

from credit import ledger, ratings, runs
from credit.ledger import verify_stored
from portal.accounts.models import Role
from portal.audit.models import AuditEntry
from portal.db import Database
from tests.credit.support import Clock, MakeAssociation, new_uscc
from tests.support import assert_problem


async def _verify(database: Database, settings) -> None:  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        result = await verify_stored(session, ledger.signing_key(settings))
        assert result.ok, result.problems
        assert await ratings.rebuild_ratings(session) == []


async def test_full_workflow(
    client: httpx.AsyncClient,
    database: Database,
    settings,  # type: ignore[no-untyped-def]
    clock: Clock,
    make_association: MakeAssociation,
) -> None:
    assoc = await make_association()
    good = await assoc.add_member("咸阳市秦都区渭阳西路加油站有限公司", address="渭阳西路 201 号")
    weak = await assoc.add_member("咸阳市渭城区北塬加油站", region="610404")
    await assoc.set_indicators(
        good, self_commitment=True, metrology_officer=True, management_system=True
    )
    await assoc.set_indicators(weak, self_commitment=True)

    # Run: drafts with a breakdown, visible to the association only.
    response = await assoc.post("/runs", {"title": "2026 年度评价"})
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["status"] == "draft"
    assert run["enterprise_count"] == 2
    assert run["methodology"]["code"] == "metrology-integrity"
    assert run["methodology"]["version"] == 2  # the platform default's latest version
    drafts = {s["uscc"]: s for s in run["scores"]}
    # No platform facts: penalties (15) and the three entries (20) carry the score.
    assert drafts[good]["score"] == "100.00"
    assert drafts[good]["grade"] == "AAA"
    assert drafts[weak]["score"] == "57.14"
    assert drafts[weak]["grade"] == "BB"
    codes = [i["code"] for i in drafts[weak]["breakdown"]]
    assert codes[:5] == [
        "certificate_coverage",
        "overdue_days",
        "failure_share",
        "complaint_rate",
        "penalties",
    ]
    assert_problem(await client.get(f"/api/v1/credit/notices/{run['id']}"), 404, "run_not_found")

    # 公示: opened Monday 2026-03-02 09:00, 5 working days → closes Tuesday 2026-03-10 00:00 +08.
    response = await assoc.post(f"/runs/{run['id']}/notice")
    assert response.status_code == 200, response.text
    assert response.json()["notice_closes_at"].startswith("2026-03-09T16:00:00")
    notice = (await client.get(f"/api/v1/credit/notices/{run['id']}")).json()
    assert notice["accepting_objections"] is True
    assert {s["uscc"] for s in notice["scores"]} == {good, weak}

    # An objection from the enterprise; the public view hides who and what.
    response = await client.post(
        "/api/v1/credit/objections",
        json={
            "batch_id": run["id"],
            "uscc": weak,
            "objector_kind": "enterprise",
            "name": "北塬加油站 张经理",
            "contact": "13900000000",
            "text": "本站已设立计量管理员并建立管理制度，附任命文件与制度文本。",
        },
    )
    assert response.status_code == 201, response.text
    objection = response.json()
    assert "contact" not in response.text
    assert "13900000000" not in response.text
    assert "张经理" not in (await client.get(f"/api/v1/credit/notices/{run['id']}")).text

    # Publication waits for the window and for the decision.
    assert_problem(await assoc.post(f"/runs/{run['id']}/publish"), 409, "notice_still_open")
    clock.now = datetime(2026, 3, 9, 15, 59, tzinfo=UTC)  # 23:59 Beijing, last working day
    assert_problem(await assoc.post(f"/runs/{run['id']}/publish"), 409, "notice_still_open")
    clock.now = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
    assert_problem(await assoc.post(f"/runs/{run['id']}/publish"), 409, "objections_pending")
    late = await client.post(
        "/api/v1/credit/objections",
        json={
            "batch_id": run["id"],
            "uscc": good,
            "objector_kind": "public",
            "name": "李女士",
            "contact": "13800000000",
            "text": "公示期结束后才提交的异议，应当被拒绝。",
        },
    )
    assert_problem(late, 409, "notice_closed")

    # The association sees the objector's details and decides with reasons; the score changes.
    listed = (await assoc.get(f"/objections?run_id={run['id']}")).json()["items"]
    assert listed[0]["objector_contact"] == "13900000000"
    response = await assoc.post(
        f"/objections/{objection['id']}/decision",
        {
            "decision": "upheld",
            "reasons": "经现场核查，任命文件与制度文本属实，予以更正。",
            "indicators": {"metrology_officer": True, "management_system": True},
        },
    )
    assert response.status_code == 200, response.text
    decided = response.json()
    assert decided["status"] == "upheld"
    assert (decided["score_before"], decided["score_after"]) == ("57.14", "100.00")
    assert (decided["grade_before"], decided["grade_after"]) == ("BB", "AAA")
    assert_problem(
        await assoc.post(
            f"/objections/{objection['id']}/decision",
            {"decision": "rejected", "reasons": "重复处理此异议"},
        ),
        409,
        "objection_decided",
    )

    # Publish: valid three years from the publication date.
    response = await assoc.post(f"/runs/{run['id']}/publish")
    assert response.status_code == 200, response.text
    assert response.json()["valid_until"] == "2029-03-09"

    ratings = (await client.get("/api/v1/credit/ratings?industry=成品油零售")).json()
    assert ratings["total"] == 2
    assert {r["grade"] for r in ratings["items"]} == {"AAA"}
    assert (await client.get("/api/v1/credit/ratings?region=610404")).json()["total"] == 1
    assert (await client.get("/api/v1/credit/ratings?q=北塬")).json()["items"][0]["uscc"] == weak
    assert (await client.get("/api/v1/credit/ratings?grade=BB")).json()["total"] == 0
    assert_problem(await client.get("/api/v1/credit/ratings?grade=Z"), 422, "validation_error")

    page = (await client.get(f"/api/v1/credit/enterprises/{weak}")).json()
    assert page["current"]["grade"] == "AAA"
    assert page["current"]["valid_until"] == "2029-03-09"
    assert page["current"]["methodology"] == {"code": "metrology-integrity", "version": 2}
    entries = {i["code"]: i for i in page["breakdown"]}
    assert entries["metrology_officer"]["evidence"] == [
        {"type": "association_entry", "indicator": "metrology_officer", "value": True}
    ]
    kinds = [h["kind"] for h in page["history"]]
    assert kinds == ["rating.published", "objection.decided", "objection.lodged"]

    # Reply beside the grade; a downgrade on review; both in the history.
    response = await assoc.post(
        f"/ratings/{weak}/reply", {"text": "感谢协会复核，我站将持续规范计量管理。"}
    )
    assert response.status_code == 200, response.text
    response = await assoc.post(
        f"/ratings/{good}/review",
        {"outcome": "downgrade", "grade": "A", "reasons": "年度复核发现加油机铅封破损未及时报修。"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["grade"] == "A"
    assert_problem(
        await assoc.post(
            f"/ratings/{good}/review",
            {"outcome": "downgrade", "grade": "AA", "reasons": "升级不是降级"},
        ),
        422,
        "invalid_review",
    )
    page = (await client.get(f"/api/v1/credit/enterprises/{weak}")).json()
    assert page["current"]["reply"] == "感谢协会复核，我站将持续规范计量管理。"

    # Exports and the feed.
    csv_text = (await client.get("/api/v1/credit/exports/ratings.csv")).text
    assert csv_text.startswith("\ufeffuscc,name,industry")
    assert f"{good},咸阳市秦都区渭阳西路加油站有限公司" in csv_text
    exported = (await client.get("/api/v1/credit/exports/ratings.json")).json()
    assert exported["count"] == 2
    feed = await client.get("/api/v1/credit/feed.json")
    assert feed.headers["content-type"].startswith("application/feed+json")
    titles = [i["title"] for i in feed.json()["items"]]
    assert any("复核信用等级 A" in t for t in titles)
    assert any("发布信用等级 AAA" in t for t in titles)

    # Cancel on review: gone from the public list.
    response = await assoc.post(
        f"/ratings/{good}/review", {"outcome": "cancel", "reasons": "发现计量作弊，撤销等级。"}
    )
    assert response.status_code == 200, response.text
    assert (await client.get("/api/v1/credit/ratings")).json()["total"] == 1

    # Every association action is in the audit log.
    async with database.transaction() as session:
        actions = set((await session.scalars(select(AuditEntry.action))).all())
    assert {
        "credit.member.add",
        "credit.indicators.set",
        "credit.run.start",
        "credit.notice.open",
        "credit.objection.decide",
        "credit.run.publish",
        "credit.reply.publish",
        "credit.rating.review",
    } <= actions
    await _verify(database, settings)


async def test_expiry_after_validity(
    client: httpx.AsyncClient,
    database: Database,
    settings,  # type: ignore[no-untyped-def]
    clock: Clock,
    make_association: MakeAssociation,
) -> None:
    assoc = await make_association()
    member = await assoc.add_member("乾县梁山加油站", region="610424")
    run = (await assoc.post("/runs", {})).json()
    await assoc.post(f"/runs/{run['id']}/notice")
    clock.advance(days=14)
    assert (await assoc.post(f"/runs/{run['id']}/publish")).status_code == 200
    valid_until = (await client.get(f"/api/v1/credit/enterprises/{member}")).json()["current"][
        "valid_until"
    ]
    assert valid_until == "2029-03-15"

    # The day after the last valid day, the public list no longer shows it even before the job…
    clock.now = datetime(2029, 3, 15, 16, 0, tzinfo=UTC)  # 2029-03-16 00:00 Beijing
    assert (await client.get("/api/v1/credit/ratings")).json()["total"] == 0
    # …nor does the enterprise's own page call it current, or its rating active (attack review).
    before_the_job = (await client.get(f"/api/v1/credit/enterprises/{member}")).json()
    assert before_the_job["current"] is None
    assert before_the_job["grades"] == []
    assert before_the_job["ratings"][0]["status"] == "expired"
    # …and the expiry job records it in the ledger.
    async with database.transaction() as session:
        assert await ratings.expire_ratings(session, settings=settings, now=clock.now) == 1
        assert await ratings.expire_ratings(session, settings=settings, now=clock.now) == 0
    page = (await client.get(f"/api/v1/credit/enterprises/{member}")).json()
    assert page["current"] is None
    assert page["ratings"][0]["status"] == "expired"
    assert page["history"][0]["kind"] == "rating.expired"
    await _verify(database, settings)


async def test_invalid_codes_and_unknown_enterprise(
    client: httpx.AsyncClient, make_association: MakeAssociation
) -> None:
    assoc = await make_association()
    assert_problem(
        await client.get("/api/v1/credit/enterprises/91610402MA6XYZ123"), 422, "invalid_uscc"
    )
    # A code with a wrong check digit is refused too, everywhere.
    good = new_uscc()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert_problem(await client.get(f"/api/v1/credit/enterprises/{bad}"), 422, "invalid_uscc")
    response = await assoc.post(
        "/members", {"uscc": bad, "name": "校验位错误的企业", "region_code": "610402"}
    )
    assert_problem(response, 422, "invalid_uscc")
    assert_problem(
        await client.get(f"/api/v1/credit/enterprises/{good}"), 404, "enterprise_not_found"
    )
    # Lower case and separators are accepted and normalised.
    code = new_uscc()
    response = await assoc.post(
        "/members", {"uscc": code.lower(), "name": "小写代码企业", "region_code": "610402"}
    )
    assert response.status_code == 201
    assert response.json()["uscc"] == code
    assert_problem(
        await assoc.post("/members", {"uscc": code, "name": "重复", "region_code": "610402"}),
        409,
        "already_a_member",
    )
    assert_problem(
        await assoc.post(
            "/members", {"uscc": new_uscc(), "name": "错误区划", "region_code": "999999"}
        ),
        422,
        "unknown_region",
    )
    assert_problem(
        await client.put(
            f"/api/v1/credit/association/members/{code}/indicators",
            json={"values": {"fair_scale": True}},
            headers=assoc.headers,
        ),
        422,
        "unknown_indicator",
    )
    assert_problem(await assoc.post("/runs", {"as_of": "2999-01-01"}), 422, "validation_error")


async def test_run_needs_members(make_association: MakeAssociation) -> None:
    assoc = await make_association()
    assert_problem(await assoc.post("/runs", {}), 409, "no_members")


async def test_objections_are_rate_limited(
    client: httpx.AsyncClient, clock: Clock, make_association: MakeAssociation
) -> None:
    assoc = await make_association()
    member = await assoc.add_member("武功县普集加油站", region="610431")
    run = (await assoc.post("/runs", {})).json()
    await assoc.post(f"/runs/{run['id']}/notice")
    body = {
        "batch_id": run["id"],
        "uscc": member,
        "objector_kind": "public",
        "name": "赵先生",
        "contact": "13700000000",
        "text": "该站油枪计量有问题，请协会核查。",
    }
    # Six different people (one open objection per person), all from one client address.
    statuses = [
        (
            await client.post(
                "/api/v1/credit/objections", json={**body, "contact": f"1370000000{n}"}
            )
        ).status_code
        for n in range(6)
    ]
    assert statuses == [201] * 5 + [429]
    response = await client.post("/api/v1/credit/objections", json=body)
    assert_problem(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0
    # Not in the batch: refused (after the limiter reset by the fixture in another test).


async def test_objection_validation(
    client: httpx.AsyncClient, clock: Clock, make_association: MakeAssociation
) -> None:
    assoc = await make_association()
    member = await assoc.add_member("礼泉县昭陵加油站有限责任公司", region="610425")
    run = (await assoc.post("/runs", {})).json()
    body = {
        "batch_id": run["id"],
        "uscc": member,
        "objector_kind": "public",
        "name": "钱女士",
        "contact": "13600000000",
        "text": "草稿阶段不接受异议。",
    }
    assert_problem(await client.post("/api/v1/credit/objections", json=body), 404, "run_not_found")
    await assoc.post(f"/runs/{run['id']}/notice")
    other = {**body, "uscc": new_uscc()}
    assert_problem(await client.post("/api/v1/credit/objections", json=other), 422, "not_in_batch")
    assert_problem(
        await client.post("/api/v1/credit/objections", json={**body, "uscc": "123"}),
        422,
        "invalid_uscc",
    )
    assert_problem(
        await client.post("/api/v1/credit/objections", json={**body, "objector_kind": "robot"}),
        422,
        "validation_error",
    )


async def test_methodology_versions_keep_published_scores(
    client: httpx.AsyncClient,
    database: Database,
    settings,  # type: ignore[no-untyped-def]
    clock: Clock,
    make_association: MakeAssociation,
) -> None:
    assoc = await make_association()
    member = await assoc.add_member("兴平市金城加油站", region="610481")
    await assoc.set_indicators(member, self_commitment=True)
    run = (await assoc.post("/runs", {})).json()
    await assoc.post(f"/runs/{run['id']}/notice")
    clock.advance(days=14)
    await assoc.post(f"/runs/{run['id']}/publish")
    before = (await client.get(f"/api/v1/credit/enterprises/{member}")).json()
    assert (before["current"]["score"], before["current"]["grade"]) == ("57.14", "BB")

    # Version 2: the self-commitment weighs much more; the grade thresholds are stricter.
    default = (await client.get("/api/v1/credit/methodologies")).json()["items"][0]
    definition = default["definition"]
    for indicator in definition["indicators"]:
        if indicator["code"] == "self_commitment":
            indicator["weight"] = 20
        if indicator["code"] == "certificate_coverage":
            indicator["weight"] = 10
    definition["grades"][0][1] = "95"
    bad = {
        "name": "权重错误",
        "definition": {**definition, "indicators": definition["indicators"][:-1]},
    }
    assert_problem(await assoc.post("/methodologies", bad), 422, "validation_error")
    response = await assoc.post(
        "/methodologies", {"name": "协会评价方法 第 1 版", "definition": definition}
    )
    assert response.status_code == 201, response.text
    v1 = response.json()
    assert v1["version"] == 1
    assert v1["code"].endswith("-metrology-integrity")
    response = await assoc.post(
        "/methodologies", {"name": "协会评价方法 第 2 版", "definition": definition}
    )
    assert response.json()["version"] == 2

    # The published grade did not move.
    after = (await client.get(f"/api/v1/credit/enterprises/{member}")).json()
    assert after["current"] == before["current"]
    assert after["breakdown"] == before["breakdown"]

    # A new run uses the association's latest version.
    run2 = (await assoc.post("/runs", {})).json()
    assert run2["methodology"]["version"] == 2
    assert run2["scores"][0]["score"] == "70.00"  # (15 + 20) / (15 + 20 + 5 + 10) × 100
    await _verify(database, settings)


async def test_role_and_membership_rules(
    client: httpx.AsyncClient,
    clock: Clock,
    make_association: MakeAssociation,
    make_user,  # type: ignore[no-untyped-def]
    auth_headers,  # type: ignore[no-untyped-def]
) -> None:
    mine = await make_association()
    theirs = await make_association(name="咸阳市农贸市场行业协会", industry="农贸市场")
    member = await mine.add_member("三原县清河加油站有限公司", region="610422")
    run = (await mine.post("/runs", {})).json()

    # No login: 401. Other roles: 403.
    assert_problem(await client.get("/api/v1/credit/association/members"), 401)
    for role in ("citizen", "regulator", "institution", "editor"):
        user = await make_user(role=Role(role))
        response = await client.get(
            "/api/v1/credit/association/members", headers=await auth_headers(user)
        )
        assert_problem(response, 403, "forbidden")

    # Another association: not its member, not its batch.
    assert_problem(
        await theirs.post(f"/ratings/{member}/reply", {"text": "不是我的会员"}),
        404,
        "rating_not_found",
    )
    response = await client.put(
        f"/api/v1/credit/association/members/{member}/indicators",
        json={"values": {"self_commitment": True}},
        headers=theirs.headers,
    )
    assert_problem(response, 403, "not_a_member")
    assert_problem(await theirs.post(f"/runs/{run['id']}/notice"), 403, "organization_forbidden")
    assert_problem(await theirs.get(f"/runs/{run['id']}"), 403, "organization_forbidden")
    assert_problem(
        await theirs.get(f"/members?association={mine.org.code}"), 403, "organization_forbidden"
    )
    assert (await theirs.get("/members")).json()["items"] == []

    # An administrator acts for a named association only.
    admin = await make_user(role=Role.admin, region="610000")
    headers = await auth_headers(admin)
    assert_problem(
        await client.get("/api/v1/credit/association/members", headers=headers),
        422,
        "association_required",
    )
    response = await client.get(
        f"/api/v1/credit/association/members?association={mine.org.code}", headers=headers
    )
    assert [m["uscc"] for m in response.json()["items"]] == [member]

    # An enterprise in two associations: the second cannot rename it. The name it types is its
    # own label for its member (issue 11 #1); the first association's label and the registered
    # name (none yet) are unchanged.
    response = await client.post(
        "/api/v1/credit/association/members",
        json={"uscc": member, "name": "改名企图有限公司", "region_code": "610422"},
        headers=theirs.headers,
    )
    assert response.status_code == 201
    assert response.json()["name"] == "改名企图有限公司"
    assert response.json()["registered_name"] is None
    assert [m["name"] for m in (await mine.get("/members")).json()["items"]] == [
        "三原县清河加油站有限公司"
    ]

    # Removing a member ends the membership; later runs leave it out.
    response = await client.delete(
        f"/api/v1/credit/association/members/{member}", headers=mine.headers
    )
    assert response.status_code == 204
    assert_problem(await mine.post("/runs", {}), 409, "no_members")


def test_working_day_window() -> None:
    # Opened 2025-09-30 (Tuesday) before the National Day holiday (10-01 … 10-08; Saturday
    # 10-11 is a make-up working day): 5 working days are 10-09, 10-10, 10-11, 10-13, 10-14.
    opened = datetime(2025, 9, 30, 2, 0, tzinfo=UTC)
    closes = runs.notice_closes_at(opened, 5)
    assert closes == datetime(2025, 10, 14, 16, 0, tzinfo=UTC)  # 2025-10-15 00:00 Beijing
    # An ordinary week: Monday + 5 working days ends with the next Monday.
    assert runs.notice_closes_at(datetime(2026, 3, 2, 1, 0, tzinfo=UTC), 5) == datetime(
        2026, 3, 9, 16, 0, tzinfo=UTC
    )
    assert runs.notice_closes_at(opened, 0) == opened
    # Validity: three years less a day, 29 February handled.
    assert runs.validity_end(datetime(2028, 2, 29).date(), 3) == datetime(2031, 2, 27).date()
