"""The editors' and regulators' back office, through the portal's cookie login."""

from __future__ import annotations

import httpx

from portal.accounts.models import Role
from tests.support import TEST_PASSWORD


async def login(client: httpx.AsyncClient, user) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 303, response.text


async def test_editor_writes_publishes_and_withdraws(
    client, index_engine, make_user, run_worker
) -> None:
    anonymous = await client.get("/editor/articles")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login")
    await login(client, await make_user(Role.citizen))
    assert (await client.get("/editor/articles")).status_code == 403

    await login(client, await make_user(Role.editor))
    assert (await client.get("/editor/articles/new")).status_code == 200
    missing = await client.post("/editor/articles", data={"title": "", "body": "正文"})
    assert missing.status_code in (400, 422)
    saved = await client.post(
        "/editor/articles",
        data={"title": "燃气表的检定周期", "body": "燃气表**首次强制检定**。", "tags": "燃气表, 检定",
              "intent": "publish"},
    )  # fmt: skip
    assert saved.status_code == 303
    listing = await client.get("/editor/articles")
    assert "燃气表的检定周期" in listing.text
    assert "已发布" in listing.text
    await run_worker()
    found = (await client.get("/api/v1/search", params={"q": "燃气表"})).json()
    assert found["total"] == 1
    article_url = found["items"][0]["url"]
    page = await client.get(article_url)
    assert "<strong>首次强制检定</strong>" in page.text
    withdrawn = await client.post(
        article_url.replace("/articles/", "/editor/articles/") + "/withdraw"
    )
    assert withdrawn.status_code == 303
    await run_worker()
    assert (await client.get("/api/v1/search", params={"q": "燃气表"})).json()["total"] == 0


async def test_regulator_publishes_and_withdraws_a_notice(
    client, index_engine, make_user, run_worker
) -> None:
    await login(client, await make_user(Role.regulator, region="610400"))
    form = {
        "title": "某眼镜店使用未经检定验光仪案",
        "decision_number": "咸市监处罚〔2026〕77号",
        "party_name": "咸阳明亮眼镜有限公司",
        "party_uscc": "",
        "violation": "使用未经检定的验光仪。",
        "legal_basis": "《中华人民共和国计量法》第九条",
        "penalty_kind": "通报批评",
        "penalty_amount": "",
        "authority": "咸阳市市场监督管理局",
        "region_code": "610100",
        "decision_date": "2026-01-05",
    }
    outside = await client.post("/regulator/notices", data=form)
    assert outside.status_code == 400
    assert "不在您的管辖范围" in outside.text
    published = await client.post("/regulator/notices", data={**form, "region_code": "610404"})
    assert published.status_code == 303
    listing = await client.get("/regulator/notices")
    assert "公示中" in listing.text
    await run_worker()
    found = (await client.get("/api/v1/search", params={"q": "验光仪"})).json()
    assert found["total"] == 1
    page = await client.get(found["items"][0]["url"])
    assert "咸阳明亮眼镜有限公司" in page.text
    notice_id = found["items"][0]["id"]
    assert (await client.post(f"/regulator/notices/{notice_id}/withdraw")).status_code == 303
    await run_worker()
    assert (await client.get("/api/v1/search", params={"q": "验光仪"})).json()["total"] == 0
    assert (await client.get(f"/notices/{notice_id}")).status_code == 404
