"""Articles, notices and regulations through the API, on SQLite and PostgreSQL, with the index
following the database through the outbox."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlmodel import select

from portal import facts
from portal.accounts.models import Role
from portal.audit.models import AuditEntry
from portal.db import Database
from portal.jsonlines import ImportFileInvalid
from portal.outbox.models import OutboxEvent
from search import service
from search.engine import SearchEngine
from tests.support import assert_problem

ARTICLE = {
    "title": "如何识别合格的电子计价秤",
    "summary": "三步判断电子秤是否合格。",
    "body": "## 看标志\n\n电子计价秤属于**强制检定**计量器具。<script>alert(1)</script>\n\n[链接](javascript:alert(2))",
    "tags": ["电子秤", "消费提示"],
}


async def search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/search", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_article_lifecycle_follows_into_the_index(
    client, index_engine: SearchEngine, make_user, auth_headers, run_worker, database: Database
) -> None:
    editor = await make_user(Role.editor)
    headers = await auth_headers(editor)
    created = await client.post("/api/v1/articles", json=ARTICLE, headers=headers)
    assert created.status_code == 201, created.text
    article = created.json()
    assert article["status"] == "draft"
    # Markdown is rendered without raw HTML or javascript: links.
    assert "<strong>强制检定</strong>" in article["body_html"]
    assert "<script" not in article["body_html"]
    assert "&lt;script&gt;" in article["body_html"]
    assert 'href="javascript' not in article["body_html"]

    await run_worker()
    assert (await search(client, q="电子秤"))["total"] == 0
    assert_problem(await client.get(f"/api/v1/articles/{article['id']}"), 404, "article_not_found")

    published = await client.post(f"/api/v1/articles/{article['id']}/publish", headers=headers)
    assert published.json()["status"] == "published"
    assert (await search(client, q="电子秤"))["total"] == 0  # not until the worker ran
    assert await run_worker() >= 1
    found = await search(client, q="电子秤")
    assert [h["id"] for h in found["items"]] == [article["id"]]
    assert "<mark>" in found["items"][0]["title_html"]
    assert found["items"][0]["title"] == "如何识别合格的电子计价秤"
    assert "<mark>" not in found["items"][0]["snippet_text"]
    assert (await client.get(f"/api/v1/articles/{article['id']}")).status_code == 200

    edited = await client.patch(
        f"/api/v1/articles/{article['id']}", json={"title": "识别合格的加油机"}, headers=headers
    )
    assert edited.status_code == 200
    await run_worker()
    assert (await search(client, q="加油机"))["total"] == 1

    withdrawn = await client.post(
        f"/api/v1/articles/{article['id']}/withdraw", json={"reason": "内容需更新"}, headers=headers
    )
    assert withdrawn.json()["status"] == "withdrawn"
    await run_worker()
    assert (await search(client, q="加油机"))["total"] == 0
    assert_problem(await client.get(f"/api/v1/articles/{article['id']}"), 404)
    assert (await client.get(f"/articles/{article['id']}")).status_code == 404
    # The editor still sees the withdrawn article.
    own = await client.get(f"/api/v1/articles/{article['id']}", headers=headers)
    assert own.status_code == 200

    async with database.sessionmaker() as session:
        actions = set(await session.scalars(select(AuditEntry.action)))
    assert {"article.create", "article.publish", "article.update", "article.withdraw"} <= actions
    again = await client.post(
        f"/api/v1/articles/{article['id']}/withdraw", json={"reason": "再次撤回"}, headers=headers
    )
    assert_problem(again, 409, "invalid_status_transition")


async def test_only_editors_write_articles(client, index_engine, make_user, auth_headers) -> None:
    citizen = await make_user(Role.citizen)
    response = await client.post(
        "/api/v1/articles", json=ARTICLE, headers=await auth_headers(citizen)
    )
    assert_problem(response, 403, "forbidden")
    assert_problem(await client.post("/api/v1/articles", json=ARTICLE), 401)
    editor = await make_user(Role.editor)
    bad = await client.post(
        "/api/v1/articles", json={**ARTICLE, "title": ""}, headers=await auth_headers(editor)
    )
    assert_problem(bad, 422, "validation_error")


async def test_search_api_validation_and_readiness(
    client, index_engine, make_user, auth_headers
) -> None:
    assert_problem(await client.get("/api/v1/search", params={"per_page": 500}), 422)
    assert_problem(await client.get("/api/v1/search", params={"kind": "blog"}), 422)
    assert_problem(
        await client.get(
            "/api/v1/search", params={"date_from": "2026-02-01", "date_to": "2026-01-01"}
        ),
        422,
        "validation_error",
    )
    assert_problem(await client.get("/api/v1/search/suggest", params={"q": ""}), 422)
    # The details of each check are for administrators (portal/health/routes.py).
    admin = await make_user(Role.admin)
    ready = (await client.get("/readyz", headers=await auth_headers(admin))).json()
    assert ready["checks"]["search"]["ok"] is True
    assert ready["checks"]["search"]["engine"] == "embedded"
    assert ready["checks"]["search"]["backlog"] == {"pending": 0, "failed": 0}


async def test_regulation_import_is_all_or_nothing_and_pages_render(
    client, index_engine, database: Database, run_worker, tmp_path
) -> None:
    rows = [
        {"id": "r-1", "title": "计量法", "category": "经济法", "region": None,
         "date": "2018-10-26", "body": "# 计量法\n\n第一条 为了加强计量监督管理，制定本法。"},
        {"id": "r-2", "title": "浙江省计量监督管理条例", "category": "地方法规",
         "region": "浙江", "date": "2020-01-01", "body": "第一条 为了加强计量监督管理。"},
    ]  # fmt: skip
    async with database.transaction() as session:
        report = await service.import_regulations(session, enumerate(rows, start=1))
    assert (report.created, report.updated) == (2, 0)
    async with database.transaction() as session:
        again = await service.import_regulations(session, enumerate(rows, start=1))
    assert (again.created, again.updated) == (0, 0)
    with pytest.raises(ImportFileInvalid, match="Line 2"):
        async with database.transaction() as session:
            await service.import_regulations(
                session, enumerate([{**rows[0], "id": "r-3"}, {"id": "r-4"}], start=1)
            )
    assert (await service_counts(database))["regulation"] == 2
    async with database.sessionmaker() as session:
        pending = list(await session.scalars(select(OutboxEvent.topic)))
    assert pending.count(facts.INDEX_TOPIC) == 1  # one batch event for the import

    await run_worker()
    found = await search(client, q="计量法")
    assert [h["title_html"] for h in found["items"]][0] == "<mark>计量法</mark>"
    assert [h["title"] for h in found["items"]][0] == "计量法"
    # The Page every list has: one hit per page, a link to the next while there is one.
    first = await search(client, q="计量", per_page=1)
    assert (first["total"], first["page"], first["pages"], len(first["items"])) == (2, 1, 2, 1)
    second = (await client.get(first["next"])).json()
    assert (second["page"], second["next"]) == (2, None)
    assert first["items"][0]["id"] != second["items"][0]["id"], (first, second)
    nothing = await search(client, q="量子引力波")
    assert nothing["total"] == 0
    assert nothing["facets"] == {}  # no empty boxes
    empty_page = await client.get("/search", params={"q": "量子引力波"})
    assert "分类统计" not in empty_page.text
    page = await client.get("/search", params={"q": "计量", "region": "浙江"})
    assert page.status_code == 200
    assert "<mark>计量</mark>" in page.text
    assert "浙江省" in page.text
    regulation = await client.get(found["items"][0]["url"])
    assert regulation.status_code == 200
    assert "为了加强计量监督管理" in regulation.text
    suggestions = (await client.get("/api/v1/search/suggest", params={"q": "jlf"})).json()
    assert suggestions["suggestions"][0]["title"] == "计量法"


async def service_counts(database: Database) -> dict[str, int]:
    async with database.sessionmaker() as session:
        return await service.document_counts(session)


async def test_the_search_pages_form_sent_with_blank_filters_is_a_search(
    client: httpx.AsyncClient, index_engine
) -> None:
    """A GET form sends every field, blank ones too (kind=&date_from=…): the search page's own
    form answered 422 validation_error to whoever pressed 搜索 on it."""
    blank = {"q": "计量", "kind": "", "region": "", "date_from": "", "date_to": "", "tag": ""}
    assert (await client.get("/search", params=blank)).status_code == 200
    assert (await client.get("/api/v1/search", params=blank)).status_code == 200
    assert_problem(
        await client.get("/api/v1/search", params={**blank, "kind": "novel"}),
        422,
        "validation_error",
    )
