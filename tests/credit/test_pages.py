"""The portal pages, server-rendered: ratings list, enterprise page with its SVG chart, the 公示
page and its objection form, and the association back office driven through its forms."""

from __future__ import annotations

import re

import httpx
from sqlmodel import select

from credit.models import Objection
from portal.db import Database
from tests.credit.support import Association, Clock, MakeAssociation
from tests.support import TEST_PASSWORD, assert_problem


async def _login(client: httpx.AsyncClient, assoc: Association) -> None:
    response = await client.post(
        "/login",
        data={"email": assoc.user.email, "password": TEST_PASSWORD, "next": "/credit/manage"},
    )
    assert response.status_code == 303, response.text


async def test_back_office_to_public_pages(
    client: httpx.AsyncClient, database: Database, clock: Clock, make_association: MakeAssociation
) -> None:
    assoc = await make_association()
    station = await assoc.add_member(
        "泾阳县泾干加油站", region="610423", address="泾干镇东环路 45 号"
    )
    await _login(client, assoc)

    # Indicators through the checkbox form, then a run, then the 公示.
    response = await client.post(
        f"/credit/manage/members/{station}/indicators",
        data={"self_commitment": "on", "management_system": "on"},
    )
    assert response.status_code == 303
    response = await client.post("/credit/manage/runs", data={"title": "泾阳 2026 年度评价"})
    assert response.status_code == 303
    page = (await client.get(response.headers["location"])).text
    assert "已生成评价草稿：泾阳 2026 年度评价（1 家）" in page
    run_id = re.search(r'data-run="([0-9a-f-]+)"', page)
    assert run_id is not None
    assert (await client.post(f"/credit/manage/runs/{run_id[1]}/notice")).status_code == 303

    # Publishing during the 公示 is refused with the reason, on the page.
    response = await client.post(f"/credit/manage/runs/{run_id[1]}/publish")
    assert response.status_code == 409
    assert "公示期至 2026-03-10 00:00 结束" in response.text

    # A member of the public objects through the form; the page confirms, contact not shown.
    client.cookies.clear()
    notice = await client.get(f"/credit/notices/{run_id[1]}")
    assert "提出异议" in notice.text
    response = await client.post(
        f"/credit/notices/{run_id[1]}/objections",
        data={
            "uscc": station,
            "objector_kind": "public",
            "name": "孙先生",
            "contact": "13512345678",
            "text": "该站夜间加油时油枪显示跳字，请协会核查计量情况。",
        },
    )
    # The confirmation is the objection's own page: a short reference, what happens next and
    # by when; the objector's name, contact and text are not on it (the link may be shared).
    assert response.status_code == 303
    follow = response.headers["location"]
    assert follow.startswith("/credit/objections/")
    assert follow.endswith("?new=1")
    confirmation = await client.get(follow)
    assert confirmation.status_code == 200
    assert "异议已提交" in confirmation.text
    reference = re.search(
        r'id="objection-reference" class="reference">([0-9A-F]{4}-[0-9A-F]{4})<', confirmation.text
    )
    assert reference is not None
    assert "公示期将于 2026-03-10 00:00 结束" in confirmation.text
    assert "待协会处理" in confirmation.text
    for private in ("13512345678", "孙先生", "油枪显示跳字"):
        assert private not in confirmation.text
    # The 公示 page lists it under the same reference, linking to the same page.
    notice = await client.get(f"/credit/notices/{run_id[1]}")
    assert f'<a href="{follow.removesuffix("?new=1")}">编号 {reference[1]}</a>' in notice.text
    assert "请选择" in notice.text  # no enterprise chosen for the objector
    short = await client.post(
        f"/credit/notices/{run_id[1]}/objections",
        data={
            "uscc": station,
            "objector_kind": "public",
            "name": "某",
            "contact": "123",
            "text": "短",
        },
    )
    assert short.status_code == 422
    assert "填写的内容不符合要求" in short.text
    unchosen = await client.post(
        f"/credit/notices/{run_id[1]}/objections",
        data={
            "uscc": "",
            "objector_kind": "public",
            "name": "孙先生",
            "contact": "13512345679",
            "text": "该站夜间加油时油枪显示跳字，请协会核查。",
        },
    )
    assert unchosen.status_code == 422
    assert "请选择被异议企业。" in unchosen.text

    # The association decides it in the back office, after the window, and publishes.
    await _login(client, assoc)
    clock.advance(days=14)
    async with database.transaction() as session:
        objection = (await session.scalars(select(Objection))).one()
    manage = (await client.get("/credit/manage")).text
    assert "13512345678" in manage  # the handling association sees the contact
    assert f"编号 {reference[1]}" in manage  # and the reference the objector may quote
    response = await client.post(
        f"/credit/manage/objections/{objection.id}/decision",
        data={
            "decision": "rejected",
            "reasons": "经调取监控与现场检定，油枪计量合格，异议不成立。",
        },
    )
    assert response.status_code == 303
    response = await client.post(f"/credit/manage/runs/{run_id[1]}/publish")
    assert response.status_code == 303
    assert "有效期至" in (await client.get(response.headers["location"])).text

    # Later, the objector follows the same link and reads the answer.
    client.cookies.clear()
    answered = (await client.get(follow.removesuffix("?new=1"))).text
    assert "异议办理进度" in answered
    assert "答复理由：经调取监控与现场检定，油枪计量合格，异议不成立。" in answered
    assert "13512345678" not in answered
    assert (await client.get(f"/credit/objections/{run_id[1]}")).status_code == 404

    # Public pages: the list with filters, the enterprise page with grade, validity and chart.
    client.cookies.clear()
    listing = await client.get("/credit", params={"q": "泾干"})
    assert listing.status_code == 200
    assert "泾阳县泾干加油站" in listing.text
    assert "泾阳县泾干加油站" not in (await client.get("/credit", params={"grade": "C"})).text
    assert (await client.get("/credit", params={"region": "12345"})).status_code == 422
    page = await client.get(f"/credit/enterprises/{station}")
    assert page.status_code == 200
    assert (
        'id="current-grade" class="grade-text">AA · 信用好' in page.text
    )  # (15 + 5 + 10) / 35 = 85.71
    assert "2026-03-16 至 2029-03-15" in page.text
    assert "<svg" in page.text
    assert "chart-points" in page.text
    assert "异议不成立：经调取监控与现场检定" in page.text
    assert (await client.get("/credit/enterprises/91610402XXXXXXXX")).status_code == 422
    assert (await client.get("/credit/methodology")).status_code == 200


async def test_back_office_needs_an_association(
    client: httpx.AsyncClient, make_association: MakeAssociation
) -> None:
    assert (await client.get("/credit/manage")).headers["location"] == "/login?next=/credit/manage"
    assoc = await make_association()
    await _login(client, assoc)
    response = await client.post(
        "/credit/manage/members",
        data={"uscc": "91610402123", "name": "代码错误", "region_code": "610402"},
    )
    assert response.status_code == 422
    assert "不是有效的统一社会信用代码" in response.text


async def test_upheld_objection_corrects_indicators_from_the_form(
    client: httpx.AsyncClient, database: Database, clock: Clock, make_association: MakeAssociation
) -> None:
    assoc = await make_association()
    station = await assoc.add_member("武功县普集加油站", region="610431")
    run = (await assoc.post("/runs", {})).json()
    assert run["scores"][0]["grade"] == "B"  # penalties only: 15 / 35 = 42.86
    await assoc.post(f"/runs/{run['id']}/notice")
    response = await client.post(
        "/api/v1/credit/objections",
        json={
            "batch_id": run["id"],
            "uscc": station,
            "objector_kind": "enterprise",
            "name": "普集加油站",
            "contact": "029-36000000",
            "text": "本站已签署承诺、设立计量管理员并建立制度，材料已报协会。",
        },
    )
    objection_id = response.json()["id"]
    await _login(client, assoc)
    assert 'name="correct_indicators"' in (await client.get("/credit/manage")).text
    response = await client.post(
        f"/credit/manage/objections/{objection_id}/decision",
        data={
            "decision": "upheld",
            "reasons": "材料核实无误，更正三项填报指标。",
            "correct_indicators": "on",
            "self_commitment": "on",
            "metrology_officer": "on",
            "management_system": "on",
        },
    )
    assert response.status_code == 303
    assert "B → AAA" in (await client.get(response.headers["location"])).text
    members = (await assoc.get("/members")).json()["items"]
    assert members[0]["indicators"] == {
        "self_commitment": True,
        "metrology_officer": True,
        "management_system": True,
    }


async def _publish(assoc: Association, clock: Clock) -> None:
    run = (await assoc.post("/runs", {})).json()
    assert (await assoc.post(f"/runs/{run['id']}/notice")).status_code == 200
    clock.advance(days=14)
    assert (await assoc.post(f"/runs/{run['id']}/publish")).status_code == 200


async def test_region_by_name_or_code_prefix_and_every_word_of_the_name(
    client: httpx.AsyncClient, clock: Clock, make_association: MakeAssociation
) -> None:
    assoc = await make_association()
    qindu = await assoc.add_member(
        "陕西恒通石化加油站", region="610402", address="咸阳市秦都区人民路 8 号"
    )
    await assoc.add_member("泾阳县泾干加油站", region="610423", address="泾干镇东环路 45 号")
    await assoc.add_member("秦都区渭滨农贸市场", region="610402")
    await _publish(assoc, clock)

    async def found(**params: str) -> set[str]:
        response = await client.get("/api/v1/credit/ratings", params=params)
        assert response.status_code == 200, response.text
        return {item["name"] for item in response.json()["items"]}

    everyone = {"陕西恒通石化加油站", "泾阳县泾干加油站", "秦都区渭滨农贸市场"}
    # A name with or without its suffix, a 2-, 4- or 6-digit code: all through the region table.
    assert await found(region="咸阳") == everyone
    assert await found(region="咸阳市") == everyone
    assert await found(region="6104") == everyone
    assert await found(region="61") == everyone
    assert await found(region="秦都区") == {"陕西恒通石化加油站", "秦都区渭滨农贸市场"}
    assert await found(region="咸阳市秦都区") == {"陕西恒通石化加油站", "秦都区渭滨农贸市场"}
    assert await found(region="610423") == {"泾阳县泾干加油站"}
    assert await found(region="６１０４") == everyone  # full-width, from a phone keyboard
    assert_problem(
        await client.get("/api/v1/credit/ratings", params={"region": "火星市"}),
        422,
        "region_not_recognised",
    )
    assert_problem(
        await client.get("/api/v1/credit/ratings", params={"region": "610"}),
        422,
        "validation_error",
    )
    # Each word separately, in the name or the address; wildcards are plain characters.
    assert await found(q="秦都 加油站") == {"陕西恒通石化加油站"}
    assert await found(q="秦都\u3000加油站") == {"陕西恒通石化加油站"}
    assert await found(q="秦都 市场") == {"秦都区渭滨农贸市场"}
    assert await found(q="加油站 %") == set()
    assert await found(q=qindu.lower()) == {"陕西恒通石化加油站"}

    # The page: the same filters, a plain message for a name that names nothing.
    page = await client.get("/credit", params={"region": "秦都", "q": "秦都 加油站"})
    assert page.status_code == 200
    assert "陕西恒通石化加油站" in page.text
    assert "地区：陕西省咸阳市秦都区" in page.text
    unknown = await client.get("/credit", params={"region": "火星市"})
    assert unknown.status_code == 200
    assert "没有找到名为“火星市”的地区" in unknown.text
    assert "problem" not in unknown.headers["content-type"]


async def test_enterprise_page_explains_the_score_and_keeps_proof_one_click_away(
    client: httpx.AsyncClient, clock: Clock, make_association: MakeAssociation
) -> None:
    assoc = await make_association()
    station = await assoc.add_member("武功县普集加油站", region="610431")
    await _publish(assoc, clock)  # no instruments: 4 of 8 indicators have no data

    page = (await client.get(f"/credit/enterprises/{station}")).text
    # How the total is made, with this enterprise's numbers: 35 of 100 weight counts.
    assert "各项得分相加就是总分" in page
    assert "本企业有 4 项指标“无数据”" in page
    assert "权重合计 35" in page
    assert "100 ÷ 35 ≈ 2.86 分" in page
    assert "全部做到可得 42.86 分" in page
    # Per indicator, what no data means for it.
    assert "无数据：平台上没有登记该企业的计量器具，无法计算持证比例。" in page
    assert "无数据：近 24 个月平台上没有该企业器具的检定记录" in page
    assert "42.86 / 42.86" in page  # penalties: none, so all it could earn
    assert "登记器具：0" in page  # inputs in Chinese, not instruments: 0
    # Plain Chinese in front; the codes and hashes inside 技术核验信息.
    assert "计量诚信评价方法（平台默认）第 2 版" in page
    front, _, proof = page.partition("<summary>技术核验信息</summary>")
    assert "metrology-integrity" not in front
    assert "证据哈希" not in front
    assert "证据哈希" in proof
    assert "/api/v1/credit/ledger?after=" in page
    assert "账本 #" not in front
